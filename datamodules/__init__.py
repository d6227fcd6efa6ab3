from datamodules.clinical import ClinicalDataModule
from datamodules.shards import ShardDataModule

__all__ = ["ClinicalDataModule", "ShardDataModule"]
