"""Datasets: one ``LightningDataModule`` each, yielding ``rnnlab.data.batch.Batch`` objects."""

from rnnlab.data.batch import Batch, DataSpec
from rnnlab.data.sine import SineDataModule

__all__ = ["Batch", "DataSpec", "SineDataModule"]
