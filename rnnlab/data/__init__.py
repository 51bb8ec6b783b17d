"""Datasets: one ``LightningDataModule`` each, yielding ``rnnlab.data.batch.Batch`` objects."""

from rnnlab.data.batch import Batch
from rnnlab.data.sine import SineDataModule
from rnnlab.data.specs import (
    ClassesSpec,
    ForecastSpec,
    Inputs,
    PairsSpec,
    Spec,
    StreamSpec,
)
from rnnlab.data.synthetic import AddingDataModule, CountDataModule, ParityDataModule

__all__ = [
    "AddingDataModule",
    "Batch",
    "CountDataModule",
    "ClassesSpec",
    "ForecastSpec",
    "Inputs",
    "PairsSpec",
    "ParityDataModule",
    "SineDataModule",
    "Spec",
    "StreamSpec",
]
