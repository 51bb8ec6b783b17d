"""Tasks: one ``LightningModule`` per problem shape, wrapping a net from ``rnnlab.nets``."""

from rnnlab.tasks.classification import ClassificationTask
from rnnlab.tasks.forecasting import ForecastingTask
from rnnlab.tasks.language_model import LanguageModelTask
from rnnlab.tasks.seq2seq import Seq2SeqTask
from rnnlab.tasks.tagging import TaggingTask

__all__ = [
    "ClassificationTask",
    "ForecastingTask",
    "LanguageModelTask",
    "Seq2SeqTask",
    "TaggingTask",
]
