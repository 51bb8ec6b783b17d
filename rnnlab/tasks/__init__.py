"""Tasks: one ``LightningModule`` per problem shape, wrapping a net from ``rnnlab.nets``."""

from rnnlab.tasks.classification import ClassificationTask
from rnnlab.tasks.forecasting import ForecastingTask
from rnnlab.tasks.language_model import LanguageModelTask
from rnnlab.tasks.tagging import TaggingTask

__all__ = ["ClassificationTask", "ForecastingTask", "LanguageModelTask", "TaggingTask"]
