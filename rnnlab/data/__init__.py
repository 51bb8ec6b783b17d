"""Datasets: one ``LightningDataModule`` each, yielding ``rnnlab.data.batch.Batch`` objects."""

from rnnlab.data.batch import Batch, DataSpec
from rnnlab.data.sine import SineDataModule
from rnnlab.data.synthetic import AddingDataModule, CountDataModule, ParityDataModule

__all__ = [
    "AddingDataModule",
    "Batch",
    "CountDataModule",
    "DataSpec",
    "ParityDataModule",
    "SineDataModule",
]
