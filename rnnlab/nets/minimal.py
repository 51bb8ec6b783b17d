"""minGRU and minLSTM (Feng et al., 2024, "Were RNNs All We Needed?"): ``model=mingru``,
``model=minlstm``.

Both cells drop the previous state from their gates, so the gates of every step come from the
inputs alone, in one matmul over ``(B, T, F)``, and the recurrence left is linear and
elementwise, ``h_t = a_t * h_{t-1} + b_t``, computed by :mod:`rnnlab.nets.scan`:

- minGRU: ``z_t = sigmoid(W_z x_t)``, ``h~_t = g(W_h x_t)``, ``h_t = (1 - z_t) h_{t-1} + z_t h~_t``;
- minLSTM: ``f_t = sigmoid(W_f x_t)``, ``i_t = sigmoid(W_i x_t)``, normalised to
  ``f'_t = f_t / (f_t + i_t)`` and ``i'_t = i_t / (f_t + i_t)``, and
  ``h_t = f'_t h_{t-1} + i'_t h~_t``.

``g(v) = v + 1/2`` for ``v >= 0`` and ``sigmoid(v)`` below keeps ``h~`` positive, as the paper's
log-space form needs; every scan form computes the same model, so ``scan=log`` (the paper's
``logcumsumexp`` scan) and the faster ones are interchangeable. The gates are computed in log
space for ``scan=log`` (``log(1 - z) = -softplus(W_z x)`` and so on) and directly for the
others, each written to stay finite where a gate saturates.

The cells are meant to be stacked in a pre-norm residual block
(:class:`~rnnlab.nets.residual.PreNormResidualBlock`): ``x + mixer(norm(x))``, then
``x + mlp(norm(x))`` with a gated MLP, as the paper's language models are.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.nets.base import accumulation_dtype, check_sizes, linear_parts
from rnnlab.nets.residual import LayerState, MixerStack
from rnnlab.nets.scan import linear_scan, log_linear_scan, scan_, scan_reverse_
from rnnlab.utils.errors import check

CellName = Literal["mingru", "minlstm"]
Scan = Literal["loop", "parallel", "chunked", "log", "sequential"]
SCANS = ("loop", "parallel", "chunked", "log", "sequential")


def g(v: torch.Tensor) -> torch.Tensor:
    """The paper's positive candidate: ``v + 1/2`` for ``v >= 0``, ``sigmoid(v)`` below."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v: torch.Tensor) -> torch.Tensor:
    """``log g(v)``: ``log(v + 1/2)`` for ``v >= 0``, ``log sigmoid(v)`` below (continuous at 0,
    where both are ``log 1/2``)."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


class MinGRUCell(nn.Module):
    """The minGRU's gates: ``a = 1 - z`` and ``b = z g(h~)``, or their logs."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(input_size, 2 * hidden_size)  # W_z and W_h stacked
        self.hidden_size = hidden_size

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(..., F)`` to ``a`` and ``b``, each ``(..., H)``."""
        k, v = self.pre_activations(x)  # (..., H) each
        # sigmoid(-k), not 1 - sigmoid(k): exact where z is near 1 and a near 0.
        return torch.sigmoid(-k), torch.sigmoid(k) * g(v)

    def log_gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(..., F)`` to ``log a`` and ``log b``, each ``(..., H)``."""
        k, v = self.pre_activations(x)  # (..., H) each
        return -F.softplus(k), -F.softplus(-k) + log_g(v)

    def pre_activations(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(..., F)`` to ``W_z x`` and ``W_h x``, each ``(..., H)``."""
        return linear_parts(x, self.linear, 2)


class MinLSTMCell(nn.Module):
    """The minLSTM's gates: ``a = f'`` and ``b = i' g(h~)``, or their logs."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(input_size, 3 * hidden_size)  # W_f, W_i and W_h stacked
        self.hidden_size = hidden_size

    def _log_ratio(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f, i, v = linear_parts(x, self.linear, 3)  # (..., H) each
        # log(i / f) = log sigmoid(i) - log sigmoid(f); then f' = 1 / (1 + i / f) and
        # i' = 1 / (1 + f / i), functions of it alone that stay finite where f and i underflow.
        return F.softplus(-f) - F.softplus(-i), v  # (..., H) each

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(..., F)`` to ``a`` and ``b``, each ``(..., H)``."""
        ratio, v = self._log_ratio(x)
        return torch.sigmoid(-ratio), torch.sigmoid(ratio) * g(v)

    def log_gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(..., F)`` to ``log a`` and ``log b``, each ``(..., H)``."""
        ratio, v = self._log_ratio(x)
        return -F.softplus(ratio), -F.softplus(-ratio) + log_g(v)


_CELLS: dict[str, type[nn.Module]] = {"mingru": MinGRUCell, "minlstm": MinLSTMCell}


class GatedLinearRecurrence(nn.Module):
    """A sequence mixer (:mod:`rnnlab.nets.residual`): a cell's gates for every step, then the
    scan along time. Its output is its state ``h``; the state it carries is ``(h,)``.

    Args:
        cell: maps inputs ``(..., H)`` to ``a`` and ``b`` ``(..., H)``, and by ``log_gates``
            to their logs (for ``scan=log``); its ``hidden_size`` is ``H``.
        scan: the scan form: ``loop``, ``parallel``, ``chunked`` or ``sequential`` of
            :func:`~rnnlab.nets.scan.linear_scan`, or ``log`` for
            :func:`~rnnlab.nets.scan.log_linear_scan`.
        chunk_size: steps per chunk of the ``chunked`` scan.
    """

    def __init__(self, cell: nn.Module, scan: Scan = "loop", chunk_size: int = 64):
        super().__init__()
        self.cell, self.scan, self.chunk_size = cell, scan, chunk_size

    def state_shapes(self, batch: int) -> tuple[tuple[int, ...], ...]:
        return ((batch, self.cell.hidden_size),)

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """States ``(B, T, H)`` for ``x`` ``(B, T, H)`` from ``state`` ``(h0,)``, and the final
        state ``(h,)``, ``h`` ``(B, H)``. Where ``valid`` ``(B, T)`` is false the step is the
        identity (``a = 1``, ``b = 0``), so the final state is each row's own."""
        h = self._states(x, valid, None if state is None else state[0])
        return h, (h[:, -1],)

    def _states(
        self, x: torch.Tensor, valid: torch.Tensor | None, h0: torch.Tensor | None
    ) -> torch.Tensor:
        """Every state ``(B, T, H)`` from ``h0`` ``(B, H)``, by the chosen scan."""
        padded = None if valid is None else ~valid[..., None]  # (B, T, 1)
        if self.scan == "loop" and isinstance(self.cell, MinGRUCell):
            k, v = (t.to(accumulation_dtype(t)) for t in self.cell.pre_activations(x))
            return _MinGRULoop.apply(k, v, padded, h0)  # (B, T, H)
        if self.scan == "log":
            log_a, log_b = (
                t.to(accumulation_dtype(t)) for t in self.cell.log_gates(x)
            )  # (B, T, H)
            if padded is not None:
                log_a, log_b = log_a.masked_fill(padded, 0.0), log_b.masked_fill(padded, -torch.inf)
            return log_linear_scan(log_a, log_b, h0)[0]
        a, b = (t.to(accumulation_dtype(t)) for t in self.cell(x))  # (B, T, H) each
        if padded is not None:
            a, b = a.masked_fill(padded, 1.0), b.masked_fill(padded, 0.0)
        return linear_scan(a, b, h0, self.scan, self.chunk_size)[0]

    def step(
        self, x: torch.Tensor, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """The one-step form: the state ``h`` ``(B, H)`` after ``x`` ``(B, H)``, as the output
        and as ``(h,)``."""
        a, b = (t.to(accumulation_dtype(t)) for t in self.cell(x))  # (B, H) each
        h = b if state is None else torch.addcmul(b, a, state[0])
        return h, (h,)


class _MinGRULoop(torch.autograd.Function):
    """The minGRU's gates and its ``loop`` scan as one function of the pre-activations
    ``k, v`` ``(B, T, H)``: ``a = sigmoid(-k)``, ``b = sigmoid(k) g(v)``, then
    ``h_t = a_t h_{t-1} + b_t`` in place (:func:`~rnnlab.nets.scan.scan_`). The backward is
    written out: the reverse recurrence ``G_t = a_{t+1} G_{t+1} + dL/dh_t``, then
    ``dL/dk = G z a (g(v) - h_{t-1})`` and ``dL/dv = G z g'(v)``. Equal to
    :class:`GatedLinearRecurrence` with ``scan=loop`` over a :class:`MinGRUCell`, in a
    fraction of autograd's passes over ``(B, T, H)`` tensors. ``padded`` ``(B, T, 1)`` (or
    ``None``) marks the identity steps."""

    @staticmethod
    def forward(ctx, k, v, padded, h0):
        z = torch.sigmoid(k)
        a = torch.neg(k).sigmoid_()  # sigmoid(-k): exact where z is near 1
        gv = v.clamp(max=0).sigmoid_().add_(v.clamp(min=0))  # g(v): v + 1/2, or sigmoid(v)
        h = z * gv  # b, then the states
        if padded is not None:
            a.masked_fill_(padded, 1.0)
            h.masked_fill_(padded, 0.0)
        if h0 is not None:
            h[:, 0].addcmul_(a[:, 0], h0.to(h.dtype))
        scan_(h, a)
        ctx.save_for_backward(v, z, a, gv, h, padded, h0)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        v, z, a, gv, h, padded, h0 = ctx.saved_tensors
        g = scan_reverse_(grad_h.contiguous().clone(), a)  # G_t
        grad_h0 = (a[:, 0] * g[:, 0]).to(h0.dtype) if h0 is not None else None
        jump = gv.clone()  # g(v_t) - h_{t-1}
        jump[:, 1:] -= h[:, :-1]
        if h0 is not None:
            jump[:, 0] -= h0.to(h.dtype)
        grad_v = torch.mul(g, z)  # G z
        grad_k = torch.mul(grad_v, a).mul_(jump)
        # g'(v): 1 for v >= 0, else sigmoid's slope g (1 - g). (The comparison written as 0s
        # and 1s and taken by maximum, since slope < 1: on CPU a boolean mask's fill or where
        # costs several times more.)
        slope = torch.neg(gv).add_(1.0).mul_(gv)
        torch.maximum(slope, torch.ge(v, 0.0, out=torch.empty_like(v)), out=slope)
        grad_v.mul_(slope)
        if padded is not None:
            grad_k.masked_fill_(padded, 0.0)
            grad_v.masked_fill_(padded, 0.0)
        return grad_k, grad_v, None, grad_h0


class MinimalRNN(MixerStack):
    """Stacked minGRU or minLSTM layers in pre-norm residual blocks.

    Inputs (features or token ids) are projected to ``hidden_size``, read by ``num_layers``
    :class:`~rnnlab.nets.residual.PreNormResidualBlock` s around a
    :class:`GatedLinearRecurrence`, and normalised.
    Causal and unidirectional; the state is each layer's ``h``, ``(L, B, H)`` as
    ``torch.nn.GRU`` returns it, so reading a sequence in chunks equals reading it whole, and
    :meth:`step` reads one step at a time.

    Args:
        input_size: features per step; or ``None`` with ``vocab_size`` for token ids.
        cell: ``mingru`` or ``minlstm``.
        hidden_size: features of the residual stream and of each layer's state.
        num_layers: stacked residual blocks.
        dropout: dropout on each block's mixer and MLP outputs.
        scan: how the recurrence is computed along time (the results agree): ``loop`` (fastest
            on CPU), ``parallel`` (log-depth), ``chunked`` (log-depth within chunks),
            ``log`` (``logcumsumexp``, as published) or ``sequential`` (the reference).
        chunk_size: steps per chunk of the ``chunked`` scan.
        mlp_expansion: hidden units of each block's gated MLP per feature; 0 for no MLP.
        vocab_size, embedding_dim, pad_index, embedding_weights: token ids are embedded first,
            as in :class:`~rnnlab.nets.recurrent.RecurrentEncoder`.
    """

    def __init__(
        self,
        input_size: int | None = None,
        cell: CellName = "mingru",
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        scan: Scan = "loop",
        chunk_size: int = 64,
        mlp_expansion: int = 2,
        vocab_size: int | None = None,
        embedding_dim: int = 64,
        pad_index: int | None = None,
        embedding_weights: torch.Tensor | None = None,
    ):
        check_sizes(chunk_size=chunk_size)
        check(cell in _CELLS, f"model.cell={cell!r} is not one of {', '.join(_CELLS)}.")
        check(scan in SCANS, f"model.scan={scan!r} is not one of {', '.join(SCANS)}.")
        super().__init__(
            lambda: GatedLinearRecurrence(_CELLS[cell](hidden_size, hidden_size), scan, chunk_size),
            input_size,
            hidden_size,
            num_layers,
            dropout,
            mlp_expansion,
            vocab_size,
            embedding_dim,
            pad_index,
            embedding_weights,
        )
