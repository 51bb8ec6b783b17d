"""Callbacks: TensorBoard figures and the run-directory contract."""

from rnnlab.callbacks.forecast_figure import ForecastFigure
from rnnlab.callbacks.run_config import RunConfig

__all__ = ["ForecastFigure", "RunConfig"]
