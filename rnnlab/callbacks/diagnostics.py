"""Gradient-flow diagnostics: how much of the loss's gradient reaches each time step.

For a fixed batch, the callback measures ``‖∂L/∂h_t‖``, the norm of the loss gradient with
respect to the recurrent state at every step ``t``. This is the quantity that vanishes in a
vanilla RNN (Bengio et al., 1994; Pascanu et al., 2013) and that gating preserves. It is
measured exactly with any recurrent encoder, fused kernels included, by cutting the sequence
at ``t``. The net reads ``x[:, :t]``, its state ``h_t`` becomes a leaf that requires grad, the
net reads the rest from ``h_t``, and ``h_t`` also stands in for the first part's last output.
Every path from ``h_t`` to the loss then runs through that leaf.
"""

from __future__ import annotations

import lightning as L
import matplotlib
import torch
from lightning.pytorch import Callback
from torch import nn

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnnlab.callbacks.forward import in_step_precision  # noqa: E402
from rnnlab.data.batch import Batch  # noqa: E402
from rnnlab.nets.base import Encoded  # noqa: E402
from rnnlab.nets.protocol import Capabilities, SequenceEncoder  # noqa: E402
from rnnlab.tasks.base import SupervisedTask  # noqa: E402
from rnnlab.utils.run_output import tensorboard_loggers  # noqa: E402


def measures_state_gradients(net: nn.Module) -> bool:
    """Whether the state gradient can be measured through ``net``: a unidirectional
    :class:`~rnnlab.nets.protocol.SequenceEncoder` that carries its state between chunks."""
    if not isinstance(net, SequenceEncoder):
        return False
    capabilities = net.capabilities
    return capabilities.carries_state and not capabilities.bidirectional


class _CutAt(nn.Module):
    """``net`` run in two parts around step ``t``, with the state between them a leaf."""

    def __init__(self, net: SequenceEncoder, t: int):
        super().__init__()
        self.net, self.t = net, t
        self.leaf: torch.Tensor | None = None

    @property
    def output_size(self) -> int:
        return self.net.output_size

    @property
    def capabilities(self) -> Capabilities:
        return self.net.capabilities

    def forward(self, x, lengths=None, state=None) -> Encoded:
        first = self.net(x[:, : self.t], state=state)
        pair = isinstance(first.state, tuple)  # an LSTM's (h, c), S6's (state, conv), sLSTM's 4
        h = (first.state[0] if pair else first.state).detach().requires_grad_(True)
        self.leaf = h
        carried = (h, *(s.detach() for s in first.state[1:])) if pair else h
        rest = self.net(x[:, self.t :], state=carried)
        # Where the output at step t is the top layer's state (the classic stacks), the leaf
        # stands in for it, so that the loss at step t counts too. Elsewhere (residual blocks,
        # state-space layers, whose outputs are read out of the state) that output stays as the
        # first part computed it, and the gradient is what reaches h_t through the later steps.
        last = first.outputs[:, -1]  # (B, D*H)
        if h.dim() == 3 and h.shape[-1] == last.shape[-1] and torch.equal(h[-1].detach(), last):
            last = h[-1]
        outputs = torch.cat([first.outputs[:, :-1], last[:, None], rest.outputs], 1)
        return Encoded(outputs, rest.last, rest.state)


def state_gradient_norms(task: L.LightningModule, batch: Batch) -> torch.Tensor:
    """``‖∂L/∂h_t‖`` for ``t = 1 .. T-1``, ``(T-1,)``: the norm, over all layers and the whole
    batch, of the loss gradient with respect to the state after reading step ``t``. ``task``
    has a net that :func:`measures_state_gradients` as ``net`` and a ``compute_loss(batch)``
    that returns the loss first; the batch's sequences are all ``T`` steps long."""
    net = task.net
    norms = []
    try:
        for t in range(1, batch.x.shape[1]):
            task.net = _CutAt(net, t)
            loss = task.compute_loss(batch)[0]
            (grad,) = torch.autograd.grad(loss, task.net.leaf)
            norms.append(grad.norm())
    finally:
        task.net = net
    return torch.stack(norms)


def parameter_gradient_norms(task: L.LightningModule, batch: Batch) -> dict[str, float]:
    """The gradient norm of each of the task's parameter tensors, by name."""
    named = [(n, p) for n, p in task.named_parameters() if p.requires_grad]
    loss = task.compute_loss(batch)[0]
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    return {n: float(g.norm()) for (n, _), g in zip(named, grads, strict=True) if g is not None}


class GradientFlow(Callback):
    """Logs gradient flow through time and through the layers on a fixed batch.

    Every ``every_n_epochs`` training epochs (and before the first), on the first
    ``num_sequences`` sequences of the first validation batch:

    - ``diagnostics/state_grad`` (IMAGES): ``‖∂L/∂h_t‖`` against ``t``, on a log scale, with
      scalars ``diagnostics/state_grad_first``, ``..._last`` and ``..._ratio`` (first over
      last: a vanishing gradient is a ratio many orders of magnitude below 1);
    - ``diagnostics/grad_norm/<parameter>``: each parameter tensor's gradient norm.

    The state part needs a unidirectional net that carries its state (as its capabilities
    say) and sequences of one length; other nets and padded batches get the parameter part
    only.

    Args:
        num_sequences: sequences of the fixed batch.
        every_n_epochs: measure at every n-th epoch.
    """

    def __init__(self, num_sequences: int = 32, every_n_epochs: int = 1):
        self.num_sequences = num_sequences
        self.every_n_epochs = every_n_epochs
        self._batch: Batch | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._measure(trainer, pl_module, step=0)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._measure(trainer, pl_module, step=trainer.global_step)

    def _measure(self, trainer: L.Trainer, pl_module: L.LightningModule, step: int) -> None:
        writer = next(iter(tensorboard_loggers(trainer)), None)
        if not (writer and trainer.is_global_zero and isinstance(pl_module, SupervisedTask)):
            return
        was_training = pl_module.training
        pl_module.eval()  # no dropout: the same batch gives the same numbers
        try:
            with torch.enable_grad(), in_step_precision(trainer) as convert:
                batch = convert(self._fixed_batch(trainer).to(pl_module.device))
                for name, value in parameter_gradient_norms(pl_module, batch).items():
                    writer.experiment.add_scalar(f"diagnostics/grad_norm/{name}", value, step)
                padded = batch.lengths is not None and bool(
                    (batch.lengths < batch.x.shape[1]).any()
                )
                if measures_state_gradients(pl_module.net) and not padded:
                    norms = state_gradient_norms(pl_module, batch).float().cpu()
                    self._log_states(writer.experiment, norms, step)
        finally:
            pl_module.train(was_training)

    def _fixed_batch(self, trainer: L.Trainer) -> Batch:
        if self._batch is None:
            batch = next(iter(trainer.datamodule.val_dataloader()))
            n = min(self.num_sequences, len(batch.x))

            def first(t):
                return None if t is None else t[:n]

            self._batch = Batch(
                first(batch.x), first(batch.y), first(batch.lengths), first(batch.mask)
            )
        return self._batch

    @staticmethod
    def _log_states(writer, norms: torch.Tensor, step: int) -> None:
        writer.add_scalar("diagnostics/state_grad_first", float(norms[0]), step)
        writer.add_scalar("diagnostics/state_grad_last", float(norms[-1]), step)
        ratio = float(norms[0] / norms[-1].clamp_min(1e-30))
        writer.add_scalar("diagnostics/state_grad_ratio", ratio, step)
        fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
        ax.semilogy(torch.arange(1, len(norms) + 1), norms.clamp_min(1e-30), lw=1.5)
        ax.set_xlabel("time step t")
        ax.set_ylabel("‖∂L/∂h_t‖")
        ax.set_title(f"gradient reaching each step's state (step {step})")
        fig.tight_layout()
        writer.add_figure("diagnostics/state_grad", fig, global_step=step)
        plt.close(fig)
