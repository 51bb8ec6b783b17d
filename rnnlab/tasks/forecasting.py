"""Forecasting: predict the next ``horizon`` values of a series from a window of its past.

Three strategies turn a window into ``H`` future values (``task.strategy``):

- ``direct``: one head reads the window's summary and emits all ``H`` steps at once;
- ``recursive``: one head emits the next step; at evaluation that forecast is appended to the
  window (which drops its oldest step) and the net runs again, ``H`` times;
- ``seq2seq``: a recurrent decoder starts from the window's summary and unrolls ``H`` steps,
  reading the true previous value in training (teacher forcing) and its own forecast otherwise.

Metrics are computed in the data's original units (the data's scaler is undone), and the test
also scores the naive forecast (the last observed value, held) and the seasonal-naive forecast
(the value one season before) on the same windows, so every report shows whether the model
beats them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric

from rnnlab.data.batch import Batch
from rnnlab.data.specs import ForecastSpec
from rnnlab.tasks.base import SupervisedTask
from rnnlab.tasks.optim import OptimizerFactory, SchedulerFactory
from rnnlab.utils.errors import ConfigError

Strategy = Literal["direct", "recursive", "seq2seq"]
STRATEGIES = ("direct", "recursive", "seq2seq")
METRICS = ("mse", "mae", "rmse", "mape", "smape", "mase")


class ForecastErrors(Metric):
    """MSE, MAE, RMSE, MAPE, sMAPE and MASE over all steps, and MAE at each horizon step.

    Sums are kept per horizon step and reduced across processes by addition. MAPE skips true
    values of zero; sMAPE is ``2|ŷ - y| / (|ŷ| + |y|)`` (zero where both are zero), both in
    per cent. MASE divides each target's absolute error by ``mase_scale`` (the in-sample
    seasonal-naive error of the training span), and is left out where the data gives none.
    One forecast that is not finite makes every metric NaN: sMAPE, for one, would otherwise
    score a NaN forecast as perfect.
    """

    full_state_update = False

    def __init__(self, horizon: int, mase_scale: Sequence[float] | None):
        super().__init__()
        scale = None if mase_scale is None else torch.tensor(list(mase_scale), dtype=torch.float64)
        self.register_buffer("scale", scale)  # None: no MASE
        for name in ("sq", "abs", "scaled", "ape", "sape"):
            self.add_state(name, torch.zeros(horizon, dtype=torch.float64), dist_reduce_fx="sum")
        for name in ("count", "ape_count"):
            self.add_state(name, torch.zeros(horizon, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("nonfinite", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """``pred`` and ``target``: ``(B, H, C)`` in original units."""
        pred, target = pred.double(), target.double()
        self.nonfinite += (~torch.isfinite(pred)).sum()
        error = (pred - target).abs()
        self.sq += (error**2).sum((0, 2))
        self.abs += error.sum((0, 2))
        if self.scale is not None:
            self.scaled += (error / self.scale).sum((0, 2))
        nonzero = target != 0
        self.ape += torch.where(nonzero, error / target.abs().clamp_min(1e-300), 0).sum((0, 2))
        self.ape_count += nonzero.sum((0, 2))
        both = pred.abs() + target.abs()
        self.sape += torch.where(both > 0, 2 * error / both.clamp_min(1e-300), 0).sum((0, 2))
        self.count += error.shape[0] * error.shape[2]  # values per step

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.count.sum()
        mse = self.sq.sum() / n
        out = {
            "mse": mse,
            "mae": self.abs.sum() / n,
            "rmse": mse.sqrt(),
            "mape": 100 * self.ape.sum() / self.ape_count.sum().clamp_min(1),
            "smape": 100 * self.sape.sum() / n,
        }
        if self.scale is not None:
            out["mase"] = self.scaled.sum() / n
        if len(self.count) > 1:
            for h, value in enumerate(self.abs / self.count, 1):
                out[f"mae_step{h}"] = value
        nan = torch.full_like(n, float("nan"))
        return {key: torch.where(self.nonfinite > 0, nan, v).float() for key, v in out.items()}


class ForecastingTask(SupervisedTask):
    """Wraps a sequence encoder and forecasts the next ``horizon`` steps by a ``strategy``.

    The loss is the mean squared error on the data's (scaled) values. Validation and test
    report ``mse``, ``mae``, ``rmse``, ``mape``, ``smape`` and (where the spec gives its
    ``mase_scale``) ``mase`` in original units, and
    ``mae_step{h}`` for each step of a horizon above one; the test adds the same metrics of the
    ``naive`` and ``seasonal_naive`` baselines (``test/naive_mase``, ...). Any regression of a
    whole sequence onto ``horizon x output_size`` numbers (the adding problem) runs through this
    task too, with the ``direct`` strategy and no baselines.

    Args:
        net: a :class:`~rnnlab.nets.protocol.SequenceEncoder`.
        spec: the data's :class:`~rnnlab.data.specs.ForecastSpec`: the horizon, the targets,
            the covariates, the scaler (metrics undo it on the targets), the season of the
            seasonal-naive baseline and the scale of MASE. The recursive and seq2seq
            strategies, window normalisation, differencing and the baselines need data whose
            inputs start with the targets' past values (``targets_in_input``).
        optimizer, scheduler, scheduler_interval, monitor, steps_per_batch: as for
            :class:`~rnnlab.tasks.base.SupervisedTask`.
        strategy: ``direct``, ``recursive`` or ``seq2seq``.
        teacher_forcing: ``seq2seq`` only: the share of training steps that read the true
            previous value rather than the decoder's own forecast.
        window_norm: standardise each window's target values by their own mean and standard
            deviation before the net, and undo it on the forecast (reversible instance
            normalisation, Kim et al., 2022), so a series whose level and swing grow beyond the
            training span's (air passengers) is forecast from its shape.
        difference: give the net the window's first differences of the targets and have it
            forecast differences, summed onto the last observed value; with ``window_norm`` the
            differences are what each window standardises. The loss and metrics stay on the
            values themselves.
    """

    spec_type = ForecastSpec
    headline = "mse"
    baselines = {"naive": "naive", "seasonal_naive": "seasonal naive"}

    def __init__(
        self,
        net: nn.Module,
        spec: ForecastSpec,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        monitor: str = "val/loss",
        strategy: Strategy = "direct",
        teacher_forcing: float = 1.0,
        window_norm: bool = False,
        difference: bool = False,
        steps_per_batch: int = 1,
    ):
        super().__init__(
            net, spec, optimizer, scheduler, scheduler_interval, monitor, steps_per_batch
        )
        targets_in_input = spec.targets_in_input  # the base has checked the spec's type
        if strategy not in STRATEGIES:
            raise ConfigError(f"task.strategy={strategy!r} is not one of {', '.join(STRATEGIES)}.")
        if (strategy != "direct" or window_norm or difference) and not targets_in_input:
            raise ConfigError(
                f"task.strategy={strategy} with task.window_norm={window_norm} and "
                f"task.difference={difference} needs data whose inputs start with the targets' "
                "past values (sine, csv); this data's do not."
            )
        if strategy == "recursive" and spec.num_past_covariates:
            raise ConfigError(
                "task.strategy=recursive cannot roll past covariates forward (their future values "
                "are unknown); move them to data.future_covariates or use direct or seq2seq."
            )
        if not 0.0 <= teacher_forcing <= 1.0:
            raise ConfigError(f"task.teacher_forcing={teacher_forcing} must be in [0, 1].")
        # Factories stay out of the checkpoint, which then loads with ``weights_only=True``.
        self.save_hyperparameters(ignore=["net", "spec", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.strategy = strategy
        self.horizon, self.num_targets = spec.horizon, spec.num_targets
        self.num_future = spec.num_future_covariates
        self.season = spec.season
        horizon = self.horizon
        c, k, size = self.num_targets, self.num_future, net.output_size
        if strategy == "direct":
            self.head = nn.Linear(size + horizon * k, horizon * c)
        elif strategy == "recursive":
            self.head = nn.Linear(size + k, c)
        else:
            self.bridge = nn.Linear(size, size)
            self.decoder = nn.GRUCell(c + k, size)
            self.head = nn.Linear(size, c)
        mean = torch.tensor(list(spec.scaler_mean or [0.0] * c)[:c], dtype=torch.float32)
        std = torch.tensor(list(spec.scaler_std or [1.0] * c)[:c], dtype=torch.float32)
        self.register_buffer("target_mean", mean, persistent=False)
        self.register_buffer("target_std", std, persistent=False)
        scale = None if spec.mase_scale is None else list(spec.mase_scale)
        # The baselines forecast from the targets' past, which they need among the inputs.
        self.scored_baselines = tuple(self.baselines) if targets_in_input else ()
        self.metrics = nn.ModuleDict(
            {
                "val": nn.ModuleDict({"model": ForecastErrors(horizon, scale)}),
                "test": nn.ModuleDict(
                    {
                        name: ForecastErrors(horizon, scale)
                        for name in ("model", *self.scored_baselines)
                    }
                ),
            }
        )

    # Forecasting.

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        future: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        steps: int | None = None,
    ) -> torch.Tensor:
        """Forecast ``(B, horizon, output_size)`` from windows ``x`` ``(B, T, F)`` and the
        known-future covariates ``future`` ``(B, horizon, K)``. ``target`` (scaled, ``(B, H,
        C)``) is read only by a training ``seq2seq`` decoder, for teacher forcing; ``steps``
        only by ``recursive`` training, which forecasts one step."""
        c = self.num_targets
        if self.hparams.difference:
            if x.shape[1] < 2:
                raise ConfigError(
                    f"task.difference=true needs windows of at least 2 steps; data.window is "
                    f"{x.shape[1]}."
                )
            last = x[:, -1:, :c]  # (B, 1, C): the differences are summed onto it
            x = torch.cat([x[:, 1:, :c] - x[:, :-1, :c], x[:, 1:, c:]], -1)  # (B, T-1, F)
            lengths = None if lengths is None else lengths - 1
            if target is not None:
                target = torch.diff(target, dim=1, prepend=last)  # (B, H, C)
        if self.hparams.window_norm:
            past = x[..., :c]
            mean = past.mean(1, keepdim=True)  # (B, 1, C)
            std = past.std(1, keepdim=True).nan_to_num(1.0).clamp_min(1e-3)
            x = torch.cat([(past - mean) / std, x[..., c:]], -1)
            target = None if target is None else (target - mean) / std
        pred = self._forecast(x, lengths, future, target, steps)  # (B, H, C)
        if self.hparams.window_norm:
            pred = pred * std + mean
        if self.hparams.difference:
            pred = last + pred.cumsum(1)
        return pred

    def _forecast(self, x, lengths, future, target, steps) -> torch.Tensor:
        if self.strategy == "direct":
            summary = self.net(x, lengths).last  # (B, D*H)
            if self.num_future:
                summary = torch.cat([summary, future.flatten(1)], -1)  # (B, D*H + H*K)
            return self.head(summary).view(x.shape[0], self.horizon, self.num_targets)
        if self.strategy == "recursive":
            return self._recursive(x, lengths, future, steps)
        return self._seq2seq(x, lengths, future, target)

    def _recursive(self, x, lengths, future, steps: int | None = None) -> torch.Tensor:
        """Next-step forecasts fed back ``steps`` times (``horizon`` by default)."""
        out = []
        for step in range(steps or self.horizon):
            summary = self.net(x, lengths).last
            ahead = future[:, step] if self.num_future else None
            if ahead is not None:
                summary = torch.cat([summary, ahead], -1)
            pred = self.head(summary)  # (B, C)
            out.append(pred)
            row = pred if ahead is None else torch.cat([pred, ahead], -1)
            x = torch.cat([x[:, 1:], row[:, None].to(x.dtype)], 1)
        return torch.stack(out, 1)

    def _seq2seq(self, x, lengths, future, target) -> torch.Tensor:
        c = self.num_targets
        state = torch.tanh(self.bridge(self.net(x, lengths).last))
        previous = x[:, -1, :c]  # the last observed values
        forcing = self.training and target is not None
        out = []
        for step in range(self.horizon):
            inputs = previous if not self.num_future else torch.cat([previous, future[:, step]], -1)
            state = self.decoder(inputs, state)
            pred = self.head(state)
            out.append(pred)
            previous = pred
            if forcing:
                truth = target[:, step]
                ratio = self.hparams.teacher_forcing
                if ratio >= 1.0:
                    previous = truth
                elif ratio > 0.0:
                    keep = torch.rand(truth.shape[0], 1, device=truth.device) < ratio
                    previous = torch.where(keep, truth, pred)
        return torch.stack(out, 1)

    def predict(self, batch: Batch) -> torch.Tensor:
        """The forecast ``(B, horizon, C)`` of each window, in original units."""
        return self.unscale(self(batch.x, batch.lengths, batch.future))

    def unscale(self, values: torch.Tensor) -> torch.Tensor:
        """Scaled target values ``(..., C)`` in original units."""
        return values * self.target_std + self.target_mean

    # Training and evaluation.

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and self.strategy == "recursive":
            # One-step training; the roll-out happens only when forecasting.
            pred = self(batch.x, batch.lengths, batch.future, steps=1)
            return F.mse_loss(pred, batch.y[:, :1]), pred
        pred = self(batch.x, batch.lengths, batch.future, batch.y)  # (B, H, C)
        return F.mse_loss(pred, batch.y), pred

    def update_metrics(self, stage: str, pred: torch.Tensor, batch: Batch) -> None:
        metrics = self.metrics[stage]
        truth = self.unscale(batch.y)
        metrics["model"].update(self.unscale(pred), truth)
        for name in self.scored_baselines if stage == "test" else ():
            metrics[name].update(self.baseline(name, batch.x), truth)

    def baseline(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """The ``naive`` or ``seasonal_naive`` forecast ``(B, H, C)`` from windows ``x``, in
        original units. The seasonal-naive value at step ``h`` is the last observed value of
        the same phase of the season (with a season of 1, the naive forecast)."""
        h, c = self.horizon, self.num_targets
        past = self.unscale(x[..., :c])
        if name == "naive" or self.season == 1:
            return past[:, -1:].expand(-1, h, -1)
        m = self.season
        if past.shape[1] < m:
            raise ConfigError(
                f"data.window={past.shape[1]} is shorter than data.season={m}; the seasonal-"
                "naive baseline needs a window of at least one season."
            )
        phase = torch.arange(h, device=x.device) % m
        return past[:, past.shape[1] - m + phase]

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def _log_metrics(self, stage: str) -> None:
        """Log the stage's metrics (already reduced across processes), and keep each
        forecaster's MAE by horizon step in ``step_errors`` for the figures."""
        self.step_errors: dict[str, torch.Tensor] = {}
        for name, metric in self.metrics[stage].items():
            prefix = f"{stage}/" if name == "model" else f"{stage}/{name}_"
            values = metric.compute()
            for key, value in values.items():
                if name == "model" or not key.startswith("mae_step"):
                    self.log(prefix + key, value)
            steps = [values[k] for k in sorted(values, key=_step_number) if k.startswith("mae_")]
            self.step_errors[name] = (torch.stack(steps) if steps else values["mae"][None]).cpu()
            metric.reset()


def _step_number(key: str) -> int:
    return int(key[len("mae_step") :]) if key.startswith("mae_step") else 0
