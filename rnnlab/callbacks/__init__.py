"""Callbacks: TensorBoard figures, the progress bar, and the run-directory contract."""

from rnnlab.callbacks.confusion_figure import ConfusionFigure
from rnnlab.callbacks.diagnostics import GradientFlow
from rnnlab.callbacks.forecast_figure import ForecastFigure
from rnnlab.callbacks.model_summary import ModelSummary
from rnnlab.callbacks.progress import ProgressBar
from rnnlab.callbacks.run_config import RunConfig
from rnnlab.callbacks.text_sample import TextSample
from rnnlab.callbacks.translation_samples import TranslationSamples

__all__ = [
    "ConfusionFigure",
    "ForecastFigure",
    "GradientFlow",
    "ModelSummary",
    "ProgressBar",
    "RunConfig",
    "TextSample",
    "TranslationSamples",
]
