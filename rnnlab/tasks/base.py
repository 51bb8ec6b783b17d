"""What every task shares: the spec it reads, the net it accepts, its metrics' directions, one
step for all stages, losses and optimizers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric, MinMetric

from rnnlab.data.batch import Batch, BatchIndexSampler
from rnnlab.data.specs import Spec
from rnnlab.nets.protocol import SequenceEncoder
from rnnlab.tasks.optim import OptimizerFactory, SchedulerFactory, configure_optimizers
from rnnlab.utils.errors import ConfigError

Mode = Literal["min", "max"]
VAL_LOSS_BEST_KEY = "rnnlab_val_loss_best"  # a checkpoint's best validation loss so far


class SupervisedTask(L.LightningModule, ABC):
    """A ``LightningModule`` whose subclasses say how a batch becomes a loss, and what to measure.

    A task declares what it works with, which ``rnnlab.train`` checks before training:

    - ``spec_type``: the data spec it reads (:mod:`rnnlab.data.specs`), and
      :meth:`spec_problem`: why some data of that type does not fit it;
    - :meth:`net_problem`: why a net does not fit it (by default, one that is no
      :class:`~rnnlab.nets.protocol.SequenceEncoder`);
    - :meth:`net_arguments`: what its net is built with, from the spec (the protocol's input
      parameters);
    - ``higher_is_better``: its metrics that are maximised; every other metric it logs is
      minimised (:meth:`metric_mode`, used by best-value tracking, sweeps and reports);
    - ``headline``: the metric that TensorBoard's custom-scalars layout charts for validation
      and test beside the loss (``None``: the loss alone);
    - ``baselines``: reference forecasters it scores beside the model, as
      ``test/<baseline>_<metric>``, with their headings; baselines that the data fits
      (:mod:`rnnlab.data.baselines`) are scored by a task that also implements
      ``score_baseline`` (:class:`~rnnlab.data.baselines.ScoresBaselines`) instead.

    It logs ``{stage}/loss`` (``train/loss`` on logging steps, ``train/loss_epoch`` per epoch,
    epoch means for ``val`` and ``test``) and ``val/loss_best``, and builds the optimizer and
    scheduler from their partials.

    Args:
        net: the net it wraps.
        spec: the data's spec, of ``spec_type``.
        optimizer: a partial that builds the optimizer from ``params`` (``optimizer=...``).
        scheduler: an optional partial that builds an LR scheduler from the optimizer
            (``scheduler=...``).
        scheduler_interval: step the scheduler every ``step`` or every ``epoch``.
        monitor: metric a ``ReduceLROnPlateau`` scheduler watches.
        steps_per_batch: optimizer steps in one Lightning batch, each on its own batch of
            ``data.batch_size``. Above 1, an rnnlab datamodule hands the task that many
            batches at a time and the task optimises by hand (each step with the loss
            scaling, clipping and scheduling of the automatic loop), so that Lightning's
            per-batch work is done once for all of them: for small, fast batches. Lightning's
            batch counts (``limit_train_batches``, ``val_check_interval``,
            ``log_every_n_steps``, the progress bar and the logger's step axis) then count
            groups; ``max_steps`` and ``global_step`` still count optimizer steps.
    """

    spec_type: ClassVar[type[Spec]] = Spec
    higher_is_better: ClassVar[frozenset[str]] = frozenset()
    headline: ClassVar[str | None] = None  # the metric to watch beside the loss (TensorBoard)
    baselines: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        net: nn.Module,
        spec: Spec,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        monitor: str = "val/loss",
        steps_per_batch: int = 1,
    ):
        if not (isinstance(steps_per_batch, int) and steps_per_batch >= 1):
            raise ConfigError(
                f"task.steps_per_batch={steps_per_batch} must be a whole number of at least 1."
            )
        problem = self.spec_problem(spec)
        if problem:
            raise ConfigError(f"{type(self).__name__} cannot read this data: {problem}.")
        problem = self.net_problem(net)
        if problem:
            raise ConfigError(f"{type(self).__name__} cannot wrap {type(net).__name__}: {problem}.")
        super().__init__()
        self.spec = spec
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.monitor = monitor
        self.steps_per_batch = steps_per_batch
        # Several optimizer steps a batch are taken by hand; Lightning then refuses
        # `gradient_clip_val`, so `rnnlab.build.build_trainer` hands its settings to the task.
        self.automatic_optimization = steps_per_batch == 1
        self.gradient_clip_val: float | None = None
        self.gradient_clip_algorithm: str = "norm"
        # A NaN loss makes the epoch's mean NaN (it is "replaced" by NaN): torchmetrics' default
        # drops it, and a model that diverged on some batches would score as well as one that
        # did not. ("disable" would also drop the weights.)
        self.losses = nn.ModuleDict(
            {stage: MeanMetric(nan_strategy=float("nan")) for stage in ("val", "test")}
        )
        # The training loss's epoch mean is summed by hand: a metric's update, with its input
        # checks, costs a few per cent of a small net's step.
        self.register_buffer("train_loss_sum", torch.zeros(()), persistent=False)
        self.train_loss_count = 0
        self.val_loss_best = MinMetric()
        self._resumed_best: torch.Tensor | None = None  # a checkpoint's val_loss_best, until used

    # What the task works with.

    @classmethod
    def spec_problem(cls, spec: Spec) -> str | None:
        """Why data of ``spec`` cannot be this task's, in a few words; ``None`` when it can."""
        if not isinstance(spec, cls.spec_type):
            return (
                f"it reads {cls.spec_type.description} ({cls.spec_type.__name__}), and the data "
                f"is {spec.description} ({type(spec).__name__})"
            )
        return None

    @classmethod
    def net_problem(cls, net: nn.Module) -> str | None:
        """Why ``net`` cannot be this task's net, in a few words; ``None`` when it can."""
        if not isinstance(net, SequenceEncoder):
            return "it is no sequence encoder (rnnlab.nets.protocol.SequenceEncoder)"
        return None

    @classmethod
    def net_arguments(cls, spec: Spec) -> dict[str, Any]:
        """The constructor arguments that the data decides for this task's net."""
        return spec.inputs.net_arguments()

    @classmethod
    def metric_mode(cls, key: str) -> Mode:
        """``max`` where a higher value of metric ``key`` (``val/acc``, ``val/acc_best``,
        ``test/nearest_neighbour_acc``, ``test/acc@200``) is better, else ``min``: a
        baseline's metric is named ``<baseline>_<metric>``, and a further test set's
        ``<metric>@<set>``."""
        name = key.rsplit("/", 1)[-1].split("@", 1)[0].removesuffix("_best")
        higher = cls.higher_is_better
        return "max" if name in higher or any(name.endswith(f"_{m}") for m in higher) else "min"

    # Predicting, training, evaluating.

    @abstractmethod
    def predict(self, batch: Batch) -> Any:
        """What the model predicts for ``batch``, in the data's own terms (classes, tags,
        forecasts in original units, token ids): the one path behind ``predict_step``,
        ``python -m rnnlab.predict`` and the figures."""

    def predict_step(self, batch: Batch, batch_idx: int) -> Any:
        return self.predict(batch)

    @abstractmethod
    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, Any]:
        """The batch's mean loss, and the outputs that ``update_metrics`` needs."""

    @abstractmethod
    def update_metrics(self, stage: str, outputs: Any, batch: Batch) -> None:
        """Update and log the ``val`` or ``test`` metrics with one batch."""

    def loss_weight(self, batch: Batch) -> int | torch.Tensor:
        """How many items the batch's mean loss averages over (its sequences), so that epoch
        means weigh every item alike; a tensor count avoids a device sync."""
        return len(batch)

    def training_step(self, batch: Batch | list[Batch], batch_idx: int) -> torch.Tensor | None:
        if not self.automatic_optimization:
            return self._training_steps(batch if isinstance(batch, list) else [batch])
        loss, _ = self.compute_loss(batch)
        weight = self.loss_weight(batch)
        self.train_loss_sum.add_(loss.detach() * weight)
        self.train_loss_count += weight
        # `self.log` costs about half a millisecond of bookkeeping, a fifth of a small-batch
        # step on a CPU, so the step loss is logged only on the steps whose values the logger
        # writes (every `trainer.log_every_n_steps`).
        # Lightning also writes every step once the run should stop (waiting for min_epochs).
        trainer = self.trainer
        if (self.global_step + 1) % trainer.log_every_n_steps == 0 or trainer.should_stop:
            self.log("train/loss", loss)  # the progress bar reads it when it redraws
        return loss

    def _training_steps(self, batches: list[Batch]) -> torch.Tensor | None:
        """One optimizer step on each of ``batches`` (``steps_per_batch > 1``), stopping where
        ``trainer.max_steps`` is reached; the group's mean loss, logged as ``train/loss``."""
        optimizer = self.optimizers()
        total = torch.zeros((), device=self.device)
        count, steps = 0, 0
        for batch in batches[: self._steps_every_rank_takes(len(batches))]:
            if self.max_steps_reached():
                break
            result: dict[str, Any] = {}
            optimizer.zero_grad()
            optimizer.step(closure=self._step_closure(partial(self.compute_loss, batch), result))
            weight = self.loss_weight(batch)
            total += result["loss"] * weight
            count += weight
            steps += 1
            self._step_scheduler("step")
        if not steps:  # max_steps was reached before this batch
            return None
        self.train_loss_sum += total
        self.train_loss_count += count
        loss = total / count
        self.log("train/loss", loss)  # once for all the group's steps
        return loss

    def max_steps_reached(self) -> bool:
        """Whether ``trainer.max_steps`` optimizer steps are taken: a task that steps by hand
        stops there, even in the middle of a batch."""
        return 0 <= self.trainer.max_steps <= self.global_step

    def _steps_every_rank_takes(self, steps: int) -> int:
        """Under DDP, the fewest batches any process's group holds: each optimizer step's
        backward waits for every process's, so all must take as many, and an epoch's last group
        may be shorter on some (the others leave their group's extra batches out)."""
        if self.trainer.world_size == 1:
            return steps
        return int(self.all_gather(torch.tensor(steps, device=self.device)).min())

    def _step_closure(
        self, loss_of: Callable[[], tuple[torch.Tensor, Any]], result: dict[str, Any]
    ) -> Callable[[], torch.Tensor]:
        """``loss_of()`` (a loss and what comes with it) and its backward, as the optimizer's
        closure under hand optimisation (so that the precision plugin unscales the gradients
        and clipping runs between backward and step); the loss, detached, and what came with
        it go into ``result["loss"]`` and ``result["outputs"]``."""

        def closure() -> torch.Tensor:
            loss, result["outputs"] = loss_of()
            self.manual_backward(loss)
            result["loss"] = loss.detach()
            return loss

        return closure

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning clips only under automatic optimisation, at this point of the step.
        if not self.automatic_optimization and self.gradient_clip_val:
            self.configure_gradient_clipping(
                optimizer, self.gradient_clip_val, self.gradient_clip_algorithm
            )

    def _step_scheduler(self, interval: str) -> None:
        """Step the scheduler of ``interval`` (``step`` or ``epoch``), under hand
        optimisation, where Lightning steps none."""
        scheduler = self.lr_schedulers()
        if scheduler is None or self.scheduler_interval != interval:
            return
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            value = self.trainer.callback_metrics.get(self.monitor)
            if value is not None:
                scheduler.step(value)
        else:
            scheduler.step()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluation_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluation_step(batch, "test")

    def configure_optimizers(self):
        return configure_optimizers(
            self.parameters(),
            self.optimizer_factory,
            self.scheduler_factory,
            self.scheduler_interval,
            self.monitor,
            self.scheduled_steps(),
            self.trainer.precision,
            None if self.trainer.max_epochs in (None, -1) else self.trainer.max_epochs,
        )

    def scheduled_steps(self) -> int:
        """Optimizer steps in the whole run, which a one-cycle schedule spans.

        With several steps a batch, Lightning's estimate counts batches of ``steps_per_batch``
        steps, and an epoch's last batch may hold fewer: the steps are counted from the
        training loader's sampler where it tells them (rnnlab's own loader, every batch of the
        epoch trained), and otherwise bounded from above (the schedule may then end short of
        its last value, never run past it)."""
        trainer = self.trainer
        try:
            steps = trainer.estimated_stepping_batches * self.optimizer_steps_per_batch
        except ValueError as error:
            if isinstance(error, ConfigError):
                raise
            # Lightning checks the batch settings against the loader here, refusing some
            # (a validation interval longer than the epoch) with a plain ValueError.
            message = f"counting the training batches failed: {str(error).strip()}"
            raise ConfigError(message) from error
        sampler = getattr(trainer.train_dataloader, "sampler", None)
        epochs = trainer.max_epochs
        if (
            self.steps_per_batch > 1
            and isinstance(sampler, BatchIndexSampler)
            and trainer.num_training_batches == len(sampler)
            and epochs not in (None, -1)
        ):
            steps = sampler.num_batches() * max(epochs, 1)
        if trainer.max_steps != -1:  # the trainer's budget counts optimizer steps
            steps = min(steps, trainer.max_steps)
        return steps

    @property
    def optimizer_steps_per_batch(self) -> int:
        """Optimizer steps in one full training batch of Lightning's."""
        return self.steps_per_batch

    def on_train_start(self) -> None:
        # The sanity check's validation batches must not count towards the best value; a
        # resumed run starts from the best of the epochs before it.
        self.val_loss_best.reset()
        if self._resumed_best is not None:
            self.val_loss_best.update(self._resumed_best.to(self.device))
            self._resumed_best = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[VAL_LOSS_BEST_KEY] = self.val_loss_best.min_value.detach().cpu()  # inf: none

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._resumed_best = checkpoint.get(VAL_LOSS_BEST_KEY)

    def on_train_epoch_end(self) -> None:
        if self.train_loss_count:
            mean = self.train_loss_sum / self.train_loss_count
            self.log("train/loss_epoch", mean, sync_dist=True)  # ranks see equal batch counts
        self.train_loss_sum.zero_()
        self.train_loss_count = 0
        if not self.automatic_optimization:
            self._step_scheduler("epoch")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self.val_loss_best(self.losses["val"].compute())
        self.log("val/loss_best", self.val_loss_best.compute(), sync_dist=True)

    def _evaluation_step(self, batch: Batch, stage: str) -> None:
        loss, outputs = self.compute_loss(batch)
        self.losses[stage].update(loss, weight=self.loss_weight(batch))
        self.log(f"{stage}/loss", self.losses[stage], on_epoch=True, prog_bar=True)
        self.update_metrics(stage, outputs, batch)


def count_as_wrong(
    predicted: torch.Tensor, target: torch.Tensor, bad: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """Class ids ``predicted`` with those marked ``bad`` (all three of one shape) replaced by a
    class other than ``target``'s.

    Where a model's scores are not finite it made no prediction, and it must not earn credit:
    ``argmax`` reads a row of NaN as class 0, right wherever the target is 0.
    """
    return torch.where(bad, (target + 1) % num_classes, predicted)
