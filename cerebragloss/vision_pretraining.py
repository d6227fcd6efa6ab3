"""Stage 0, vision pretraining on page labels: what Qwen's pretraining gives its vision encoder,
for a model built from scratch.

The paper starts from Qwen2.5-VL-3B, whose vision encoder arrives pretrained; stages 1 and 2 keep
it frozen and never train it. A randomly initialised preset (``small``) has no such encoder, and
the language-model loss alone does not teach one on small hardware (measured: a from-scratch model
trained through the LM loss answered "No" to everything). Stage 0 trains the vision encoder, with
a throw-away head, to predict per page the facts the engine already wrote and the questions of
stages 1 and 2 are about (``page_labels``): artifacts, epileptiform discharges, sleep transients,
the posterior dominant rhythm, symmetry, the prevailing background band and the sleep stage. The
head is dropped at export; stages 1 and 2 then run as in the paper with this encoder frozen.

Labels come from ``cerebragloss.synthesis.facts.page_facts``, the same facts the rule captions and
questions are written from, and the page's sleep stage from the annotation's ``sleep_state``
(hypnogram or staging classifier), so stage 0 learns nothing the engine did not write.
"""

from __future__ import annotations

import torch

from cerebragloss.labels import ARTIFACT_TYPES, WAVEFORM_CLASSES

BANDS = ("delta", "theta", "alpha", "beta")
#: the AASM stages of ``sleep_state.stage``
SLEEP_STAGES = ("W", "N1", "N2", "N3", "R")

#: One binary target per name, in this order.
PAGE_LABELS: tuple[str, ...] = (
    "artifact",
    *(f"artifact:{a}" for a in ARTIFACT_TYPES),
    "epileptiform",
    "sleep_transient",
    *(f"waveform:{c}" for c in WAVEFORM_CLASSES),
    "pdr",
    "asymmetric",
    *(f"background:{b}" for b in BANDS),
    # Why: the PDR question's answer follows the stage (until 8416d15 the engine called a PDR on
    # N2 pages and some N3 ones; since then none on either), and N2 and N3 are both delta pages
    # (background:delta) that no other label parts
    *(f"sleep:{s}" for s in SLEEP_STAGES),
)


def page_labels(annotation: dict) -> list[float]:
    """The page's targets in ``PAGE_LABELS`` order (1.0 = present). Waveform targets are 0 where
    the detector did not run, and sleep stages where no stage was found (``page_rule``): nothing is
    known, the engine's own convention of saying nothing."""
    from cerebragloss.synthesis.facts import page_facts

    facts = page_facts(annotation)
    background = facts.background
    present = {
        "artifact": bool(facts.artifacts),
        "epileptiform": bool(facts.epileptiform),
        "sleep_transient": bool(facts.sleep),
        "pdr": background.pdr_present,
        "asymmetric": not background.symmetric,
        **{f"artifact:{a}": a in facts.artifact_types for a in ARTIFACT_TYPES},
        **{f"waveform:{c}": c in facts.classes for c in WAVEFORM_CLASSES},
        **{f"background:{b}": background.prevailing_band == b for b in BANDS},
        **{f"sleep:{s}": (annotation.get("sleep_state") or {}).get("stage") == s for s in SLEEP_STAGES},
    }
    return [float(present[name]) for name in PAGE_LABELS]


class PageLabelHead(torch.nn.Module):
    """The throw-away head, built to read the visual tokens as the language model will: each token
    centred (the running mean token subtracted, see below) and RMS-normalised without a learned
    scale (a decoder layer's input norm at initialisation), mean and max over a page's tokens (max
    keeps a transient that covers a few tokens), then one linear layer whose rows keep unit norm.

    Why unit rows: with a free linear layer the head can grow its weights to read a page-dependent
    part that is a small fraction of each token (measured: 2 to 12 % of the projector output's
    spread across pages, the rest a constant the language model's attention averages in), and the
    language model, which only sees normalised tokens, then barely reads it. With the rows fixed, a
    confident label needs tokens whose page-dependent part is large.

    Why centring: even so, the mean token of the learn run's stage 0 had norm 20.5 against 1.1 for
    what varies around it (between pages and positions), so after the language model's input norm
    the page was ~5 % of every visual token. The head subtracts a running mean of the tokens
    (``token_mean``, updated in training, like a batch norm's statistics) and the export folds it
    into the projector's last bias (``fold_token_mean``): the language model then receives the
    centred tokens the head read, whose whole norm is page and position."""

    def __init__(self, hidden_size: int, labels: int = len(PAGE_LABELS), center: bool = True, momentum: float = 0.05):
        super().__init__()
        self.norm = torch.nn.RMSNorm(hidden_size, elementwise_affine=False)
        self.linear = torch.nn.Linear(2 * hidden_size, labels)
        self.center = center
        self.momentum = momentum
        self.register_buffer("token_mean", torch.zeros(hidden_size))
        self.register_buffer("mean_updates", torch.zeros((), dtype=torch.long))

    def forward(self, tokens: torch.Tensor, tokens_per_page: list[int]) -> torch.Tensor:
        if self.center:
            if self.training:
                with torch.no_grad():
                    batch_mean = tokens.detach().mean(0)
                    # the first batch sets the mean outright: the tokens of a random tower are far from 0
                    weight = 1.0 if int(self.mean_updates) == 0 else self.momentum
                    self.token_mean.lerp_(batch_mean.to(self.token_mean.dtype), weight)
                    self.mean_updates += 1
            tokens = tokens - self.token_mean.to(tokens.dtype)
        pages = torch.split(self.norm(tokens), tokens_per_page)
        pooled = torch.stack([torch.cat([p.mean(0), p.amax(0)]) for p in pages])
        return torch.nn.functional.linear(pooled, torch.nn.functional.normalize(self.linear.weight, dim=1), self.linear.bias)


#: the projector's last layer (``model.visual.merger.mlp[2]``) bias, as named in an exported state dict
PROJECTOR_OUTPUT_BIAS = "model.visual.merger.mlp.2.bias"


def fold_token_mean(state: dict[str, torch.Tensor], token_mean: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The exported model's state with the head's centring (the running ``token_mean`` it
    subtracts; None = no centring) folded into the projector's output bias, so that the model emits
    the tokens the head read (the language model has no centring of its own)."""
    if token_mean is None:
        return state
    bias = state[PROJECTOR_OUTPUT_BIAS]
    return {**state, PROJECTOR_OUTPUT_BIAS: bias - token_mean.to(device=bias.device, dtype=bias.dtype)}


def visual_tokens(model, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """The visual tokens the language model receives (the projector's output, in page order) and
    the token count of each page."""
    visual = model.model.visual
    output = visual(pixel_values.to(visual.dtype), grid_thw=image_grid_thw)
    merge = visual.spatial_merge_size**2
    return output.pooler_output, [int(t * h * w) // merge for t, h, w in image_grid_thw.tolist()]


def vision_encoder_parameters(model) -> list[torch.nn.Parameter]:
    return [p for n, p in model.model.visual.named_parameters() if not n.startswith("merger.")]


def freeze_for_vision_pretraining(model) -> dict[str, int]:
    """The vision encoder and the projector train (the whole visual tower, as Qwen's pretraining
    trained it); the language model stays as built. Returns the trainable counts and checks them.

    Why the projector too, and the head on its output: with the head on the encoder's patches
    (measured), stage 1's projector, trained through a random frozen language model, passed the
    labels on poorly (logistic probes on held-out pages, encoder -> projector output: EMG 0.94 ->
    0.72, alpha background 0.81 -> 0.53, PDR 0.66 -> 0.44) and stage 2 never read them."""
    model.requires_grad_(False)
    model.model.visual.requires_grad_(True)
    encoder = vision_encoder_parameters(model)
    counts = {"vision_encoder": sum(p.numel() for p in encoder),
              "projector": sum(p.numel() for p in model.model.visual.merger.parameters())}  # fmt: skip
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if trainable != sum(counts.values()):
        raise AssertionError(f"stage 0: {trainable} trainable parameters, expected the visual tower's {counts}")
    return counts


def rank_auc(scores: list[float], positives: list[bool]) -> float | None:
    """Area under the ROC curve as the probability that a positive outranks a negative (ties
    count half); ``None`` when one class is absent."""
    import numpy as np
    from scipy.stats import rankdata

    scores_array, positive = np.asarray(scores, dtype=float), np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores_array)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
