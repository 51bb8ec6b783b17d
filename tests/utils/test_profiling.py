"""The callback dispatch of unprofiled trainers: the same calls as Lightning's, minus empty ones."""

from __future__ import annotations

import dis

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.trainer import call
from torch import nn
from torch.utils.data import DataLoader

from rnnlab.utils.profiling import NullProfiler, skip_inherited_callback_hooks

# The hooks Lightning dispatches through `_call_callback_hooks` (everything on `Callback` that
# takes the trainer and the module, less the checkpoint hooks, which it calls directly).
HOOKS = sorted(
    name
    for name, fn in vars(Callback).items()
    if callable(fn) and (name.startswith("on_") or name in ("setup", "teardown"))
)


def test_the_hooks_it_skips_do_nothing():
    """Skipping `Callback`'s own hooks is only the same as calling them while they are empty."""
    empty = {"RESUME", "NOP", "LOAD_CONST", "RETURN_VALUE", "RETURN_CONST"}
    assert len(HOOKS) > 30
    for name in HOOKS:
        ops = {ins.opname for ins in dis.get_instructions(getattr(Callback, name))}
        assert ops <= empty, f"Callback.{name} does something: {sorted(ops - empty)}"


class Recorder(Callback):
    """Records every hook it is called with, in order, with the module's running hook name."""

    def __init__(self, log: list, name: str, hooks: list[str]):
        self.name = name
        for hook in hooks:
            setattr(self, hook, self._recorder(log, hook))

    def _recorder(self, log: list, hook: str):
        def record(trainer, pl_module, *args, **kwargs):
            kinds = [type(a).__name__ for a in args] + sorted(kwargs)
            log.append((self.name, hook, pl_module._current_fx_name, *kinds))

        return record


class OnlyBatchEnd(Callback):
    """A callback of its own class overriding one hook; the rest are `Callback`'s."""

    def __init__(self, log: list):
        self.calls = log

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.calls.append(("only", "on_train_batch_end", batch_idx))


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch).pow(2).mean()
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self.layer(batch).pow(2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def run_and_record(profiler, tmp_path) -> list:
    torch.manual_seed(0)
    log: list = []
    callbacks = [
        Recorder(log, "all", HOOKS),
        Recorder(log, "some", ["on_train_batch_start", "on_before_backward", "teardown"]),
        OnlyBatchEnd(log),
    ]
    trainer = L.Trainer(
        max_epochs=2,
        limit_train_batches=3,
        limit_val_batches=2,
        num_sanity_val_steps=1,
        callbacks=callbacks,
        profiler=profiler,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    data = DataLoader(torch.randn(6, 2), batch_size=2)
    model = Tiny()
    trainer.fit(model, data, data)
    trainer.validate(model, data)
    return log


def test_unprofiled_trainers_make_the_same_calls_as_lightning(tmp_path):
    assert skip_inherited_callback_hooks()
    assert skip_inherited_callback_hooks()  # a second install changes nothing
    assert call._call_callback_hooks._rnnlab
    ours = run_and_record(NullProfiler(), tmp_path)
    lightnings = run_and_record(PassThroughProfiler(), tmp_path)  # Lightning's own dispatch
    assert ours == lightnings
    hooks = {entry[1] for entry in ours}
    assert {"setup", "on_validation_batch_end", "on_before_optimizer_step", "teardown"} <= hooks
    assert [e for e in ours if e[0] == "only"] == [
        ("only", "on_train_batch_end", i) for i in (0, 1, 2)
    ] * 2
    # The module is told which hook runs, as Lightning tells it.
    assert all(entry[2] == entry[1] for entry in ours if entry[0] != "only")


def test_unprofiled_trainers_skip_inherited_hooks(tmp_path, monkeypatch):
    """The saving is real: a hook a callback inherits from `Callback` is not called at all."""
    skip_inherited_callback_hooks()
    called: list[str] = []

    def on_before_backward(self, trainer, pl_module, loss):  # stands in for the empty hook
        called.append(type(self).__name__)

    monkeypatch.setattr(Callback, "on_before_backward", on_before_backward)
    run_and_record(PassThroughProfiler(), tmp_path)  # Lightning's own dispatch calls it
    assert called == ["OnlyBatchEnd"] * 6  # 3 batches x 2 epochs; the recorders override it
    called.clear()
    run_and_record(NullProfiler(), tmp_path)
    assert called == []
