from datamodules.shards import ShardDataModule

__all__ = ["ShardDataModule"]
