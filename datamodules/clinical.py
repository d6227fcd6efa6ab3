"""LightningDataModule for the clinical tasks (TUSZ seizure detection, HMC sleep staging): pages
of raw recordings asked as multiple-choice questions, for ``cerebragloss test``."""

from __future__ import annotations

import io
from pathlib import Path

import lightning as L
import torch

from cerebragloss.batching import collate_prompts, encode_prompt
from cerebragloss.evaluation.clinical import (
    ClinicalReport,
    ClinicalSettings,
    answer_letter,
    clinical_pages,
    clinical_question,
)
from cerebragloss.model import PixelRange

OPTION_LETTERS = "ABCDE"


def clinical_sample(task: str, page, label: str) -> dict:
    """The question a page is asked (the answer is the label's option letter)."""
    question, options = clinical_question(task)
    letter = answer_letter(task, label)
    segment = page.segment
    prompt = question + "".join(f"\n{OPTION_LETTERS[i]}. {o}" for i, o in enumerate(options)) + "\nAnswer with the letter of the correct option."
    return {
        "id": f"{segment.recording}-{segment.start_s:g}s", "task": task, "source": "clinical", "subject": segment.subject,
        "recording": segment.recording, "label": label, "options": options, "answer": letter,
        "messages": [{"role": "user", "content": f"<image>\n{prompt}"},
                     {"role": "assistant", "content": f"{letter}. {options[OPTION_LETTERS.index(letter)]}"}],
    }  # fmt: skip


class ClinicalPages(torch.utils.data.IterableDataset):
    def __init__(self, task: str, folder: Path, processor_factory, batch_size: int, max_length: int, max_pages: int | None,
                 settings: ClinicalSettings, page_settings=None, montage: str | None = None):  # fmt: skip
        super().__init__()
        self.page_settings, self.montage = page_settings, montage
        self.task, self.folder, self.processor_factory = task, folder, processor_factory
        self.batch_size, self.max_length, self.max_pages, self.settings = batch_size, max_length, max_pages, settings
        self.report = ClinicalReport()

    def __iter__(self):
        processor = self.processor_factory()
        items = []
        for count, (page, label) in enumerate(clinical_pages(self.task, self.folder, self.settings, self.report, self.page_settings, self.montage)):
            if self.max_pages is not None and count >= self.max_pages:
                break
            buffer = io.BytesIO()
            page.image.save(buffer, format="PNG")
            item = encode_prompt(clinical_sample(self.task, page, label), page.image, processor, self.max_length)
            if item is None:
                continue
            item["png"] = buffer.getvalue()
            items.append(item)
            if len(items) == self.batch_size:
                yield collate_prompts(items, processor.tokenizer.pad_token_id)
                items = []
        if items:
            yield collate_prompts(items, processor.tokenizer.pad_token_id)


class ClinicalDataModule(L.LightningDataModule):
    """Pages of TUSZ or HMC recordings with their labels, as prompts for generation.

    Args:
        task: ``tusz`` (seizure vs background) or ``hmc`` (W/N1/N2/N3/R).
        folder: the task's recordings (searched recursively), under ``root``.
        root: base folder (an overlay can move it).
        processor: checkpoint directory whose processor to use; empty = the offline one.
        pixels: page pixel range; empty = the one the model was trained with (its
            ``cerebragloss_page.json``), else the library default.
        batch_size: pages per generation batch.
        num_workers: kept for overlay compatibility; pages are read in the main process.
        max_length: prompts longer than this are skipped.
        samples_per_epoch: at most this many pages (a quick look at a large set); all when empty.
        min_seizure_fraction: TUSZ page labelled seizure from this share of seizure on.
        montage: montage of the pages; empty = the one the model was trained on (its
            ``cerebragloss_page.json``), else the task's (TUSZ double banana, HMC as recorded).
            Another montage than the model's is refused, as are other filters or geometry:
            pages are always drawn as the model's training data were.
    """

    def __init__(self, task: str = "tusz", folder: str = "tusz", root: str = ".", processor: str | None = None,
                 pixels: PixelRange | None = None, batch_size: int = 4, num_workers: int = 0, max_length: int = 4096,
                 samples_per_epoch: int | None = None, min_seizure_fraction: float = 0.5, montage: str | None = None):  # fmt: skip
        super().__init__()
        if task not in ("tusz", "hmc"):
            raise ValueError(f"task must be 'tusz' or 'hmc', got {task!r}")
        self.task, self.root, self.folder = task, root, Path(root) / folder
        self.pixels = pixels
        self.processor_source = processor
        self.batch_size, self.max_length, self.max_pages = batch_size, max_length, samples_per_epoch
        self.settings = ClinicalSettings(min_seizure_fraction=min_seizure_fraction)
        self.montage = montage
        self.dataset: ClinicalPages | None = None

    def test_dataloader(self):
        if not self.folder.is_dir():
            raise FileNotFoundError(f"data.folder: {self.folder} is not a folder of {self.task.upper()} recordings")
        from cerebragloss.settings import model_page, page_for_model
        from cerebragloss.streaming import default_processor_factory

        montage, page_settings = page_for_model(self.model_dir(), self.montage)
        pixels = self.pixels or PixelRange(**(model_page(self.model_dir()) or {}).get("pixels", {}))
        self.dataset = ClinicalPages(self.task, self.folder, default_processor_factory(self.processor_source, pixels),
                                     self.batch_size, self.max_length, self.max_pages, self.settings, page_settings, montage)  # fmt: skip
        return torch.utils.data.DataLoader(self.dataset, batch_size=None, num_workers=0)

    def model_dir(self) -> str | None:
        """The model's checkpoint directory (whose ``cerebragloss_page.json`` says how to draw pages)."""
        hparams = getattr(self.trainer.lightning_module, "hparams", {}) if self.trainer is not None else {}
        return hparams.get("init_from") or hparams.get("pretrained")

    def predict_dataloader(self):
        return self.test_dataloader()

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
