"""Pages and their engine labels, for stage 0 (vision pretraining; ``cerebragloss.vision_pretraining``).

It reads the same shard sets as the stages after it (each rule sample carries its page and the
SegmentAnnotation the text came from), keeps each page once, and batches pages with their
``page_labels``: the subject split is the shards', so held-out subjects stay held out.
"""

from __future__ import annotations

import torch

from datamodules.shards import ShardDataModule


class PageDataset(torch.utils.data.Dataset):
    """Unique pages of some shard sets: ``(png bytes, label vector)``, decoded and resized by the
    processor when first read and kept (``cache``): stage 0 reads each page ~24 times, and decoding
    and resizing it every time cost a fifth of a CPU step (0.67 s per step of 8 before, 0.54 s after, on one
    core). Where workers load it, each worker keeps its own copy (~1.8 MB per page at 98 visual
    tokens), so run it with ``num_workers: 0`` on small hardware."""

    def __init__(self, directories: list[str], processor, cache: bool = True):
        from cerebragloss.shards import iter_shard_set
        from cerebragloss.vision_pretraining import page_labels

        self.processor = processor
        self.cache = cache
        self._encoded: dict[int, dict] = {}
        self.pages: list[tuple[bytes, list[float]]] = []
        self.keys: list[str] = []
        seen = set()
        for directory in directories:
            for sample, png in iter_shard_set(directory):
                key = sample.get("page") or sample["id"]
                if key in seen or not sample.get("annotation"):
                    continue
                seen.add(key)
                self.keys.append(key)
                self.pages.append((png, page_labels(sample["annotation"])))
        if not self.pages:
            raise ValueError(f"no annotated pages in {directories}: stage 0 needs rule shards (tools/synthesize.py)")

    def __len__(self) -> int:
        return len(self.pages)

    def __getitem__(self, index: int) -> dict:
        from cerebragloss.batching import load_image

        if index in self._encoded:
            return self._encoded[index]
        png, labels = self.pages[index]
        encoded = self.processor.image_processor(images=[load_image(png)], return_tensors="pt")
        item = {"pixel_values": encoded["pixel_values"], "image_grid_thw": encoded["image_grid_thw"], "targets": torch.tensor(labels)}
        if self.cache:
            self._encoded[index] = item
        return item


def collate_pages(items: list[dict]) -> dict:
    return {"pixel_values": torch.cat([i["pixel_values"] for i in items]), "image_grid_thw": torch.cat([i["image_grid_thw"] for i in items]),
            "targets": torch.stack([i["targets"] for i in items])}  # fmt: skip


class PageLabelDataModule(ShardDataModule):
    """Batches of pages and their labels from the shard sets of ``train`` and ``val`` (each page
    once, whatever its number of samples; ``tasks`` filters are irrelevant here).

    Epochs: ``samples_per_epoch`` pages drawn by shuffled passes over the unique pages (several
    passes per epoch when it exceeds them); default one pass. Other arguments as ShardDataModule.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.datasets: dict[str, PageDataset] = {}

    def _pages(self, split: str) -> PageDataset:
        if split not in self.datasets:
            from cerebragloss.model import load_processor

            if not self.sources[split]:
                raise ValueError(f"no data.{split} sources configured")
            self.datasets[split] = PageDataset(sorted({s.path for s in self.sources[split]}), load_processor(self.processor_source, self.pixels))
        return self.datasets[split]

    def epoch_samples(self, split: str = "train") -> int:
        if split == "train" and self.samples_per_epoch:
            return self.samples_per_epoch
        return len(self._pages(split))

    def _page_loader(self, split: str) -> torch.utils.data.DataLoader:
        dataset = self._pages(split)
        sampler = None
        if split == "train":
            generator = torch.Generator().manual_seed(self.settings.seed + (self.trainer.current_epoch if self.trainer else 0))
            sampler = torch.utils.data.RandomSampler(dataset, num_samples=self.epoch_samples("train"), generator=generator)
        return torch.utils.data.DataLoader(dataset, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
                                           collate_fn=collate_pages,
                                           persistent_workers=False)  # fmt: skip

    def train_dataloader(self):
        return self._page_loader("train")

    def val_dataloader(self):
        return self._page_loader("val") if self.sources["val"] else []

    def test_dataloader(self):
        return self._page_loader("test")
