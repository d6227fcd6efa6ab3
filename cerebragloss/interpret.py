"""Ask a trained model about one page of a recording.

``Interpreter(model_dir)`` loads an exported checkpoint (``ExportHuggingFace``: model +
processor) with transformers alone. ``open_page`` reads a recording, cuts the page at ``start_s``
in the montage asked (by default the best the recording allows), renders it, runs the engine
(background, artifacts, detector, sleep stage and sleep transients from the recording around the
page, cleaning) and draws the detections; ``engine_summary`` says in a
few lines what the engine found;
``ask`` puts a question about the page to the model, keeping the conversation so far, so a chat
continues turn by turn with the page in the first turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

DESCRIBE = "Describe this EEG page in detail."


@dataclass
class PageContext:
    page: object  # render.Page
    annotation: dict
    drawn: object  # PIL image with the detections outlined
    montage: object  # signals.MontageChoice: the montage drawn and why


def open_page(recording: str | Path, start_s: float, montage: str = "auto", detector: str | Path | None = "default",
              page_settings=None) -> PageContext:  # fmt: skip
    """Render the page of ``recording`` at ``start_s`` in ``montage`` (``auto``: the best the
    recording allows) and annotate it with the engine. ``page_settings`` (filters, flags,
    geometry): a model's from ``settings.page_for_model``; default ``PageSettings()``."""
    from cerebragloss.detection.detector import DEFAULT_WEIGHTS, WaveformDetector, detect_recording
    from cerebragloss.detection.draw import draw_boxes
    from cerebragloss.engine.annotate import EngineSettings, annotate
    from cerebragloss.engine.sleep import PAGES_PER_WINDOW, recording_contexts
    from cerebragloss.render import render_segment
    from cerebragloss.settings import PageSettings
    from cerebragloss.signals import choose_montage, read_recording, segments_from_recording

    data = read_recording(recording)
    if not 0 <= start_s <= data.duration_s - 10.0 + 1e-6:
        raise ValueError(f"{recording}: --start {start_s} s is outside the recording (0 to {data.duration_s - 10:.1f} s for a 10 s page)")
    choice = choose_montage(data.electrodes, montage)
    page_settings = page_settings or PageSettings()
    # The page is read as tools/annotate.py reads it, in its recording: its sleep stage from the
    # recording's hypnogram or the staging classifier, and sleep transients detected over the pages
    # around it (up to PAGES_PER_WINDOW), whose relative thresholds one page alone cannot set.
    before = min(int((start_s + 1e-6) // 10.0), PAGES_PER_WINDOW // 2)
    window = list(segments_from_recording(data, choice.name, start_s=start_s - 10.0 * before, max_segments=PAGES_PER_WINDOW,
                                          filters=page_settings.filters, flag_settings=page_settings.flags))  # fmt: skip
    if len(window) <= before:
        raise ValueError(f"{recording}: no page at {start_s} s")
    settings = EngineSettings()
    context = recording_contexts(data, window, settings.sleep)[before]
    page = render_segment(window[before], page_settings.render)
    events = None
    if detector:
        weights = DEFAULT_WEIGHTS if detector == "default" else detector
        events = detect_recording(WaveformDetector(weights), data, [page.segment], [page], filters=page_settings.filters,
                                  flag_settings=page_settings.flags, render_settings=page_settings.render)[0]  # fmt: skip
    annotation = annotate(page.segment, page, events, settings, context)
    kept = (annotation.get("findings") or {}).get("events") or []
    # signal-domain events (spindles from the trace, ...) have no pixel box to draw
    drawn = draw_boxes(page.image, [{"label": e["class"], "box": e["box"], "confidence": e["confidence"]} for e in kept if e.get("box")])
    return PageContext(page, annotation, drawn, choice)


def engine_summary(annotation: dict) -> list[str]:
    """What the engine found on a page, in a few lines for a terminal."""
    findings = annotation.get("findings") or {}
    kept = findings.get("events") or []
    artifacts = annotation.get("artifacts") or []
    lines = [f"background: {annotation['background']['summary']}"]
    lines.append(
        "artifacts: "
        + (", ".join(f"{a['type']} {a['start_s']:.1f}-{a['end_s']:.1f} s ({' '.join(a['channels'])})" for a in artifacts) or "none")
    )
    if not (annotation.get("detector") or {}).get("ran", True):
        lines.append("waveforms: not detected (no detector)")
    else:
        lines.append(
            f"waveforms kept after cleaning: {len(kept)}"
            + "".join(f"\n  {e['class']} {e['start_s']:.2f}-{e['end_s']:.2f} s on {' '.join(e['channels'])} "
                      f"(confidence {e.get('confidence', 1.0):.2f}, {e.get('source', 'detector')})" for e in kept)  # fmt: skip
        )
    decisions = findings.get("decisions") or []
    if decisions:
        lines.append(f"cleaning decisions: {len(decisions)}")
    return lines


@dataclass
class Interpreter:
    """A model and processor from an exported checkpoint directory."""

    model_dir: str | Path
    max_new_tokens: int = 384
    messages: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        path = Path(self.model_dir)
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"--model {self.model_dir}: no config.json (expected an exported checkpoint, e.g. outputs/stage2/hf)")
        self.model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path)
        self.model.eval()
        self.processor = AutoProcessor.from_pretrained(path)

    def reset(self) -> None:
        self.messages = []

    @torch.no_grad()
    def ask(self, image, question: str) -> str:
        """The model's answer to ``question`` about ``image``, after the conversation so far."""
        if not self.messages:
            self.messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]})
        else:
            self.messages.append({"role": "user", "content": question})
        text = self.processor.apply_chat_template(self.messages, tokenize=False, add_generation_prompt=True)
        inputs = self.processor(text=[text], images=[image], return_tensors="pt")
        output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        answer = self.processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        self.messages.append({"role": "assistant", "content": answer})
        return answer
