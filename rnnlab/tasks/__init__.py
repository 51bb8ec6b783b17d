"""Tasks: one ``LightningModule`` per problem shape, wrapping a net from ``rnnlab.nets``."""

from rnnlab.tasks.classification import ClassificationTask
from rnnlab.tasks.forecasting import ForecastingTask

__all__ = ["ClassificationTask", "ForecastingTask"]
