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

The cells are meant to be stacked in a pre-norm residual block (:class:`PreNormResidualBlock`):
``x + mixer(norm(x))``, then ``x + mlp(norm(x))`` with a gated MLP, as the paper's language
models are.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.nets.base import (
    Encoded,
    accumulation_dtype,
    check_dropout,
    check_sizes,
    encoded_outputs,
    linear_parts,
    token_embedding,
    valid_steps,
)
from rnnlab.nets.protocol import Capabilities
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
    """A sequence mixer: a cell's gates for every step, then the scan along time.

    Args:
        cell: maps inputs ``(..., H)`` to ``a`` and ``b`` ``(..., H)``, and by ``log_gates``
            to their logs (for ``scan=log``).
        scan: the scan form: ``loop``, ``parallel``, ``chunked`` or ``sequential`` of
            :func:`~rnnlab.nets.scan.linear_scan`, or ``log`` for
            :func:`~rnnlab.nets.scan.log_linear_scan`.
        chunk_size: steps per chunk of the ``chunked`` scan.
    """

    def __init__(self, cell: nn.Module, scan: Scan = "loop", chunk_size: int = 64):
        super().__init__()
        self.cell, self.scan, self.chunk_size = cell, scan, chunk_size

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """States ``(B, T, H)`` and the final state ``(B, H)`` for ``x`` ``(B, T, H)``, from
        ``h0`` ``(B, H)``. Where ``valid`` ``(B, T)`` is false the step is the identity
        (``a = 1``, ``b = 0``), so the final state is each row's own."""
        padded = None if valid is None else ~valid[..., None]  # (B, T, 1)
        if self.scan == "loop" and isinstance(self.cell, MinGRUCell):
            k, v = (t.to(accumulation_dtype(t)) for t in self.cell.pre_activations(x))
            h = _MinGRULoop.apply(k, v, padded, h0)  # (B, T, H)
            return h, h[:, -1]
        if self.scan == "log":
            log_a, log_b = (
                t.to(accumulation_dtype(t)) for t in self.cell.log_gates(x)
            )  # (B, T, H)
            if padded is not None:
                log_a, log_b = log_a.masked_fill(padded, 0.0), log_b.masked_fill(padded, -torch.inf)
            return log_linear_scan(log_a, log_b, h0)
        a, b = (t.to(accumulation_dtype(t)) for t in self.cell(x))  # (B, T, H) each
        if padded is not None:
            a, b = a.masked_fill(padded, 1.0), b.masked_fill(padded, 0.0)
        return linear_scan(a, b, h0, self.scan, self.chunk_size)

    def step(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """The one-step form: the state after ``x`` ``(B, H)`` from ``h`` ``(B, H)``."""
        a, b = (t.to(accumulation_dtype(t)) for t in self.cell(x))  # (B, H) each
        return b if h is None else torch.addcmul(b, a, h)


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


class GatedMLP(nn.Module):
    """``W_out (silu(W_gate x) * W_in x)``, with ``expansion * size`` hidden units."""

    def __init__(self, size: int, expansion: int):
        super().__init__()
        self.up = nn.Linear(size, 2 * expansion * size)  # W_in and W_gate stacked
        self.down = nn.Linear(expansion * size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., H)`` to ``(..., H)``."""
        value, gate = linear_parts(x, self.up, 2)  # (..., E*H) each
        return self.down(value * F.silu(gate))


class PreNormResidualBlock(nn.Module):
    """``x + mixer(norm(x))``, then ``x + mlp(norm(x))``: the block that every recurrent cell
    can be stacked in, its state carried by the mixer.

    The mixer maps ``(B, T, H)`` inputs, a ``(B, T)`` mask of valid steps and a state to
    ``(B, T, H)`` outputs and the final state, and offers ``step(x, state)`` for one ``(B, H)``
    step. The MLP is left out with ``mlp_expansion=0``.

    Args:
        mixer: the sequence mixer, such as :class:`GatedLinearRecurrence`.
        size: features of the residual stream ``H``.
        mlp_expansion: hidden units of the gated MLP per feature; 0 for none.
        dropout: dropout on the mixer's and the MLP's outputs, before each is added.
    """

    def __init__(self, mixer: nn.Module, size: int, mlp_expansion: int = 2, dropout: float = 0.0):
        super().__init__()
        self.mixer = mixer
        self.mixer_norm = nn.LayerNorm(size)
        self.mlp = GatedMLP(size, mlp_expansion) if mlp_expansion else None
        self.mlp_norm = nn.LayerNorm(size) if mlp_expansion else None
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(B, T, H)`` to ``(B, T, H)`` and the mixer's final state."""
        mixed, state = self.mixer(self.mixer_norm(x), valid, state)  # (B, T, H)
        return self._mlp(x + self.drop(mixed.to(x.dtype))), state

    def step(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step ``x`` ``(B, H)`` to ``(B, H)`` and the mixer's state after it."""
        state = self.mixer.step(self.mixer_norm(x), state)  # (B, H)
        return self._mlp(x + self.drop(state.to(x.dtype))), state

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        if self.mlp is None:
            return x
        return x + self.drop(self.mlp(self.mlp_norm(x)))


def check_mlp_expansion(mlp_expansion: int) -> None:
    """Refuse, in one sentence, a gated MLP width that is not a whole number of at least 0."""
    check(
        isinstance(mlp_expansion, int) and mlp_expansion >= 0,
        f"model.mlp_expansion={mlp_expansion} must be a whole number of at least 0 (0: no MLP).",
    )


class ResidualStack(nn.Module):
    """What the nets of stacked residual blocks share (:class:`MinimalRNN`,
    :class:`~rnnlab.nets.ssm.StateSpaceModel`): features or embedded token ids projected to
    the residual stream, and the protocol's size and capabilities. Causal and unidirectional,
    carrying state."""

    bidirectional = False

    def _stream(
        self,
        input_size: int | None,
        hidden_size: int,
        vocab_size: int | None,
        embedding_dim: int,
        pad_index: int | None,
        embedding_weights: torch.Tensor | None,
    ) -> None:
        """Build the token embedding (for ids) and the projection to ``hidden_size``."""
        self.embedding = token_embedding(
            input_size, vocab_size, embedding_dim, pad_index, embedding_weights
        )
        size = embedding_dim if self.embedding is not None else input_size
        self.project = nn.Linear(size, hidden_size)
        self.hidden_size = hidden_size

    @property
    def output_size(self) -> int:
        """Features per step of ``outputs`` and of ``last``: ``hidden_size``."""
        return self.hidden_size

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            reads="features" if self.embedding is None else "tokens", carries_state=True
        )

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(..., F)`` or ids ``(...)`` to the residual stream ``(..., H)``."""
        return self.project(x if self.embedding is None else self.embedding(x))


class MinimalRNN(ResidualStack):
    """Stacked minGRU or minLSTM layers in pre-norm residual blocks.

    Inputs (features or token ids) are projected to ``hidden_size``, read by ``num_layers``
    :class:`PreNormResidualBlock` s around a :class:`GatedLinearRecurrence`, and normalised.
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
        super().__init__()
        check_sizes(hidden_size=hidden_size, num_layers=num_layers, chunk_size=chunk_size)
        check_dropout(dropout=dropout)
        if vocab_size is not None:
            check_sizes(embedding_dim=embedding_dim)
        check(cell in _CELLS, f"model.cell={cell!r} is not one of {', '.join(_CELLS)}.")
        check(scan in SCANS, f"model.scan={scan!r} is not one of {', '.join(SCANS)}.")
        check_mlp_expansion(mlp_expansion)
        self._stream(
            input_size, hidden_size, vocab_size, embedding_dim, pad_index, embedding_weights
        )
        self.blocks = nn.ModuleList(
            PreNormResidualBlock(
                GatedLinearRecurrence(_CELLS[cell](hidden_size, hidden_size), scan, chunk_size),
                hidden_size,
                mlp_expansion,
                dropout,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self.num_layers = num_layers

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: torch.Tensor | None = None,
    ) -> Encoded:
        """Encode ``x`` ``(B, T, F)`` or ids ``(B, T)``, of which row ``b`` is valid for
        ``lengths[b]`` steps, continuing from ``state`` ``(L, B, H)``. Returns outputs
        ``(B, T, H)`` (zero on padded steps), the output at each row's last valid step
        ``(B, H)`` and each layer's state at each row's end ``(L, B, H)``."""
        h = self._embed(x)  # (B, T, H)
        self._check_state(state, h.shape[0])
        valid = valid_steps(lengths, h)  # (B, T), or None
        states = []
        for layer, block in enumerate(self.blocks):
            h, last = block(h, valid, None if state is None else state[layer])
            states.append(last)
        encoded = encoded_outputs(self.norm(h), lengths)
        return Encoded(encoded.outputs, encoded.last, torch.stack(states))  # state (L, B, H)

    def step(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The one-step form: the output ``(B, H)`` for one step ``x`` (features ``(B, F)``
        or ids ``(B,)``) and the state after it ``(L, B, H)``, from ``state``."""
        h = self._embed(x)  # (B, H)
        self._check_state(state, h.shape[0])
        states = []
        for layer, block in enumerate(self.blocks):
            h, last = block.step(h, None if state is None else state[layer])
            states.append(last)
        return self.norm(h), torch.stack(states)

    def _check_state(self, state: torch.Tensor | None, batch: int) -> None:
        expected = (self.num_layers, batch, self.hidden_size)
        check(
            state is None or (isinstance(state, torch.Tensor) and tuple(state.shape) == expected),
            f"the state is {_describe(state)}, not "
            f"(num_layers, B, hidden_size) = {expected}; carry the state this net returned.",
        )


def _describe(state: object) -> str:
    return str(tuple(state.shape)) if isinstance(state, torch.Tensor) else type(state).__name__
