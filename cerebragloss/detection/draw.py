"""Draw labelled or detected boxes on a page, for looking at datasets and detections."""

from __future__ import annotations

from PIL import Image, ImageDraw

from cerebragloss.labels import WAVEFORM_CLASSES

#: One colour per class, readable on white paper with black traces.
CLASS_COLOURS = (
    (214, 39, 40), (255, 127, 14), (148, 103, 189), (140, 86, 75), (227, 119, 194),
    (31, 119, 180), (44, 160, 44), (188, 189, 34), (23, 190, 207),
)  # fmt: skip


def draw_boxes(image: Image.Image, boxes: list[dict], width: int = 2) -> Image.Image:
    """An RGB copy of ``image`` with each ``{"label", "box", ["confidence"]}`` outlined and named."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    for item in boxes:
        label = item["label"]
        colour = CLASS_COLOURS[WAVEFORM_CLASSES.index(label) % len(CLASS_COLOURS)] if label in WAVEFORM_CLASSES else (0, 0, 0)
        x0, y0, x1, y1 = item["box"]
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        text = label if "confidence" not in item else f"{label} {item['confidence']:.2f}"
        draw.text((x0 + 2, max(0, y0 - 12)), text, fill=colour)
    return canvas
