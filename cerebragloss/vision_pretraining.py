"""Stage 0, vision pretraining on page labels: what Qwen's pretraining gives its vision encoder,
for a model built from scratch.

The paper starts from Qwen2.5-VL-3B, whose vision encoder arrives pretrained; stages 1 and 2 keep
it frozen and never train it. A randomly initialised preset (``small``) has no such encoder, and
the language-model loss alone does not teach one on small hardware (measured: a from-scratch model
trained through the LM loss answered "No" to everything). Stage 0 trains the vision encoder, with
a throw-away head, to predict per page the facts the engine already wrote and the questions of
stages 1 and 2 are about (``page_labels``): artifacts, epileptiform discharges, sleep transients,
the posterior dominant rhythm, symmetry and the prevailing background band. The head is dropped at
export; stages 1 and 2 then run as in the paper with this encoder frozen.

Labels come from ``cerebragloss.synthesis.facts.page_facts``, the same facts the rule captions and
questions are written from, so stage 0 sees nothing the later stages could not.
"""

from __future__ import annotations

import torch

from cerebragloss.labels import ARTIFACT_TYPES, WAVEFORM_CLASSES

BANDS = ("delta", "theta", "alpha", "beta")

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
)


def page_labels(annotation: dict) -> list[float]:
    """The page's targets in ``PAGE_LABELS`` order (1.0 = present). Waveform targets are 0 where
    the detector did not run (nothing is known): the engine's own convention of saying nothing."""
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
    }
    return [float(present[name]) for name in PAGE_LABELS]


class PageLabelHead(torch.nn.Module):
    """The throw-away head: layer norm of the encoder's patch features, mean and max over a
    page's patches (max keeps a transient that covers a few patches), one linear layer."""

    def __init__(self, hidden_size: int, labels: int = len(PAGE_LABELS)):
        super().__init__()
        self.norm = torch.nn.LayerNorm(hidden_size)
        self.linear = torch.nn.Linear(2 * hidden_size, labels)

    def forward(self, patches: torch.Tensor, patches_per_page: list[int]) -> torch.Tensor:
        pages = torch.split(self.norm(patches), patches_per_page)
        pooled = torch.stack([torch.cat([p.mean(0), p.amax(0)]) for p in pages])
        return self.linear(pooled)


def encoder_patch_features(model, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """Qwen2.5-VL's vision encoder output per patch (before the projector) and the patch count of
    each page. The encoder permutes patches into windows, but only within a page, so each page's
    patches stay one contiguous block."""
    visual = model.model.visual
    output = visual(pixel_values.to(visual.dtype), grid_thw=image_grid_thw)
    return output.last_hidden_state, [int(t * h * w) for t, h, w in image_grid_thw.tolist()]


def vision_encoder_parameters(model) -> list[torch.nn.Parameter]:
    return [p for n, p in model.model.visual.named_parameters() if not n.startswith("merger.")]


def freeze_for_vision_pretraining(model) -> dict[str, int]:
    """Only the vision encoder trains (the projector and the language model stay as built: stage 1
    and 2 train them); returns the trainable count and checks it."""
    model.requires_grad_(False)
    encoder = vision_encoder_parameters(model)
    for parameter in encoder:
        parameter.requires_grad_(True)
    counts = {"vision_encoder": sum(p.numel() for p in encoder)}
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if trainable != counts["vision_encoder"]:
        raise AssertionError(f"stage 0: {trainable} trainable parameters, expected the vision encoder's {counts['vision_encoder']}")
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
