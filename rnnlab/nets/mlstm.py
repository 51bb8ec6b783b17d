"""xLSTM's mLSTM (Beck et al., 2024): a matrix memory with exponential gating (``model=mlstm``).

Per head (``num_heads`` heads of ``d`` channels) the cell keeps a matrix memory ``C`` ``(d, d)``,
a normaliser ``n`` ``(d,)`` and a stabiliser ``m``; from the step's query ``q_t``, key ``k_t``
(scaled by ``1/sqrt(d)``), value ``v_t``, input gate ``i_t = exp(i~_t)`` and forget gate
``f_t = sigmoid(f~_t)`` (scalars per head):

- ``m_t = max(log f_t + m_{t-1}, i~_t)``;
- ``C_t = exp(log f_t + m_{t-1} - m_t) C_{t-1} + exp(i~_t - m_t) v_t k_t^T``;
- ``n_t = exp(log f_t + m_{t-1} - m_t) n_{t-1} + exp(i~_t - m_t) k_t``;
- ``h~_t = C_t q_t / max(|n_t . q_t|, exp(-m_t))``, and ``h_t = o_t * h~_t``.

``C`` and ``n`` are stored divided by ``exp(m_t)``, so no ``exp`` ever exceeds 1; the output
does not depend on ``m`` (it is ``C q / max(|n . q|, 1)`` of the unscaled memory). The gates
read the inputs only, never the previous state, so the recurrence has a parallel form, like
attention with a causal matrix of log-gates ``D_ts = sum_{s<r<=t} log f_r + i~_s``
(:func:`mlstm_cell`, ``form=``):

- ``sequential``: the loop above, one step at a time; the reference, and :func:`mlstm_step`
  is its step (the one-step form).
- ``parallel``: the quadratic form, ``h~ = (Q K^T * exp(D - m)) V / max(|row sums|,
  exp(-m))`` with ``m_t`` the row maximum of ``D`` and of the carried state's term (log weight
  ``sum_{r<=t} log f_r + m_0``). ``O(T^2)`` time and memory.
- ``chunked``: the parallel form inside chunks of ``chunk_size`` steps (all chunks at once),
  the state ``(C, n, m)`` carried from chunk to chunk by a loop over chunks. ``O(T C)``.

The three compute the same ``m_t`` (the row maximum of ``D`` is the unrolled recursion of
``m``), so they agree on the outputs and on the final state ``(C, n, m)`` alike. A padded step
is the identity: ``log f = 0`` and its input term is left out (``i~ = -inf``, masked so that
no gradient meets an infinity), so the final state is each row's own.

The mixer (:class:`MLSTM`) is xLSTM's mLSTM block (pre up-projection): ``x, z = W_up u``
(``expansion * H`` channels each); ``x`` through a causal depthwise convolution and SiLU gives
``q`` and ``k``; ``v`` and the output gate ``o`` read ``x`` before the convolution; the gates
``i~`` and ``f~`` read both; the cell; a norm per head; plus a learnable skip of the
convolution's output; gated by ``silu(z)``; ``W_down``. Simplified from the paper: ``q``, ``k``,
``v`` are dense projections (the paper's are block-diagonal), and the gates read the
convolved and raw ``x`` branches instead of ``q``, ``k``, ``v``. Gate initialisation follows
the paper's code: gate weights zero, forget-gate biases spread over ``[3, 6]`` (long memory
at the start), input-gate biases near 0.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.nets.base import CausalDepthwiseConv, accumulation_dtype, check_sizes, linear_parts
from rnnlab.nets.residual import LayerState, MixerStack
from rnnlab.utils.errors import check

CellForm = Literal["sequential", "parallel", "chunked"]
FORMS = ("sequential", "parallel", "chunked")
# The cell's state per head: memory C (B, NH, d, d), normaliser n (B, NH, d), stabiliser m (B, NH).
CellState = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _normalised(cq: torch.Tensor, nq: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``h~ = C q / max(|n . q|, exp(-m))`` from ``C q`` ``(..., d)``, ``n . q`` and ``m``
    ``(...)``.

    Both are first multiplied by ``exp(min(m, 0))``, which cancels: so no ``exp`` exceeds 1
    (``exp(-m)`` alone overflows, and its gradient with it, where every gate is closed and
    ``m`` is far below 0). The denominator is floored at the dtype's epsilon: in these units
    the largest term of ``n`` has weight 1, so a smaller ``|n . q|`` is rounding noise, and the
    floor is reached only where also ``exp(-m)`` is below it (``m`` above 16 in float32, 36 in
    float64), as where an input gate saturates; without it ``C q / |n . q|`` and its gradient
    overflow there.
    """
    scale = torch.clamp_max(m, 0.0).detach()  # cancels: no gradient needed through it
    denominator = torch.maximum(nq.abs() * scale.exp(), torch.exp(scale - m))
    return cq * (scale.exp() / denominator.clamp_min(torch.finfo(m.dtype).eps))[..., None]


def mlstm_step(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    log_f: torch.Tensor,
    log_i: torch.Tensor,
    state: CellState,
) -> tuple[torch.Tensor, CellState]:
    """One step of the cell: ``q``, ``k``, ``v`` ``(B, NH, d)``, ``log f`` and ``i~``
    ``(B, NH)``, the state before; returns ``h~`` ``(B, NH, d)`` and the state after."""
    c, n, m = state
    m_new = torch.maximum(log_f + m, log_i)  # (B, NH)
    decay = torch.exp(log_f + m - m_new)[..., None]  # (B, NH, 1)
    weight = torch.exp(log_i - m_new)[..., None]  # (B, NH, 1)
    c = decay[..., None] * c + weight[..., None] * v[..., :, None] * k[..., None, :]  # (B,NH,d,d)
    n = decay * n + weight * k  # (B, NH, d)
    h = _normalised((c @ q[..., None])[..., 0], (n * q).sum(-1), m_new)  # (B, NH, d)
    return h, (c, n, m_new)


def zero_state(q: torch.Tensor) -> CellState:
    """The state before anything is read, for queries ``q`` ``(B, NH, ..., d)``: ``C = 0``,
    ``n = 0`` and ``m = 0``."""
    batch, heads, size = q.shape[0], q.shape[1], q.shape[-1]
    zeros = q.new_zeros
    return zeros(batch, heads, size, size), zeros(batch, heads, size), zeros(batch, heads)


def _sequential(q, k, v, log_f, log_i, valid, state: CellState, chunk_size: int):
    if valid is not None:  # i~ = -inf: a padded step adds nothing
        log_i = log_i.masked_fill(~valid, -torch.inf)
    hs = []
    for t in range(q.shape[2]):
        h, state = mlstm_step(
            q[:, :, t], k[:, :, t], v[:, :, t], log_f[..., t], log_i[..., t], state
        )
        hs.append(h)
    return torch.stack(hs, 2), state  # (B, NH, T, d)


def _within(q, k, v, log_f, log_i, valid, state: CellState) -> torch.Tensor:
    """The parallel form over the last time axis ``L``: ``q``, ``k``, ``v`` ``(..., L, d)``,
    gates and ``valid`` ``(..., L)``, the state before the first step ``(..., d, d)``,
    ``(..., d)``, ``(...)``. Returns ``h~`` ``(..., L, d)``."""
    c0, n0, m0 = state
    steps = q.shape[-2]
    cum = log_f.cumsum(-1)  # (..., L): sum_{r<=t} log f_r
    log_d = cum[..., :, None] - cum[..., None, :] + log_i[..., None, :]  # (..., L, L)
    causal = torch.ones(steps, steps, dtype=torch.bool, device=q.device).tril()
    keep = causal if valid is None else causal & valid[..., None, :]  # padded inputs left out
    log_d = log_d.masked_fill(~keep, -torch.inf)
    log_d0 = cum + m0[..., None]  # (..., L): the carried state's log weight
    m = torch.maximum(log_d0, log_d.amax(-1))  # (..., L)
    scores = (q @ k.transpose(-1, -2)) * torch.exp(log_d - m[..., None])  # (..., L, L)
    w0 = torch.exp(log_d0 - m)[..., None]  # (..., L, 1)
    numerator = scores @ v + w0 * (q @ c0.transpose(-1, -2))  # (..., L, d): C0 q per step
    nq = scores.sum(-1) + w0[..., 0] * (q @ n0[..., None])[..., 0]  # (..., L)
    return _normalised(numerator, nq, m)


def _summary(k, v, log_f, log_i, valid):
    """What a stretch of steps (the last time axis ``L``) adds to a state that starts at zero:
    its total ``log f`` ``(...)``, the log weight of its largest input term ``a`` ``(...)``
    (``-inf`` if every step is padded), and its memory and normaliser scaled by ``exp(-a)``,
    ``(..., d, d)`` and ``(..., d)``."""
    cum = log_f.cumsum(-1)  # (..., L)
    total = cum[..., -1]  # (...)
    log_w = total[..., None] - cum + log_i  # (..., L): each input's log weight at the end
    if valid is not None:
        log_w = log_w.masked_fill(~valid, -torch.inf)
    a = log_w.amax(-1)  # (...)
    # The scale exp(-a) cancels in _combine: no gradient needs to pass through it.
    a_safe = torch.where(torch.isfinite(a), a, torch.zeros_like(a)).detach()
    w = torch.exp(log_w - a_safe[..., None])  # (..., L)
    memory = (v * w[..., None]).transpose(-1, -2) @ k  # (..., d, d): sum_s w_s v_s k_s^T
    normaliser = (k * w[..., None]).sum(-2)  # (..., d)
    return total, a, a_safe, memory, normaliser


def _combine(state: CellState, total, a, a_safe, memory, normaliser) -> CellState:
    """The state after a stretch of steps (its :func:`_summary`) from the state before it."""
    c, n, m = state
    m_new = torch.maximum(total + m, a)  # (...): the recursion of m, unrolled
    decay = torch.exp(total + m - m_new)
    # exp(a - m_new) <= 1; zero (and no gradient) for a stretch of padding only.
    scale = torch.exp(torch.where(torch.isfinite(a), a_safe - m_new, -torch.inf))
    c = decay[..., None, None] * c + scale[..., None, None] * memory
    n = decay[..., None] * n + scale[..., None] * normaliser
    return c, n, m_new


def _parallel(q, k, v, log_f, log_i, valid, state: CellState, chunk_size: int):
    h = _within(q, k, v, log_f, log_i, valid, state)
    return h, _combine(state, *_summary(k, v, log_f, log_i, valid))


def _chunked(q, k, v, log_f, log_i, valid, state: CellState, chunk_size: int):
    batch, heads, steps, size = q.shape
    chunks = -(-steps // chunk_size)
    extra = chunks * chunk_size - steps
    if valid is None:
        valid = torch.ones(batch, heads, steps, dtype=torch.bool, device=q.device)
    if extra:  # padded steps at the end: the identity, so the final state is unchanged
        q, k, v = (F.pad(t, (0, 0, 0, extra)) for t in (q, k, v))
        log_f, log_i = F.pad(log_f, (0, extra)), F.pad(log_i, (0, extra))
        valid = torch.cat([valid, valid.new_zeros(batch, heads, extra)], -1)
    shape = (batch, heads, chunks, chunk_size)
    q, k, v = (t.reshape(*shape, size) for t in (q, k, v))  # (B, NH, NC, L, d)
    log_f, log_i, valid = (t.reshape(shape) for t in (log_f, log_i, valid))  # (B, NH, NC, L)
    summaries = _summary(k, v, log_f, log_i, valid)  # each (B, NH, NC, ...)
    starts = []  # the state entering each chunk
    for chunk in range(chunks):
        starts.append(state)
        state = _combine(state, *(s[:, :, chunk] for s in summaries))
    entering = tuple(torch.stack(parts, 2) for parts in zip(*starts, strict=True))
    h = _within(q, k, v, log_f, log_i, valid, entering)  # (B, NH, NC, L, d)
    return h.reshape(batch, heads, chunks * chunk_size, size)[:, :, :steps], state


def mlstm_cell(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    log_f: torch.Tensor,
    log_i: torch.Tensor,
    valid: torch.Tensor | None = None,
    state: CellState | None = None,
    form: CellForm = "chunked",
    chunk_size: int = 64,
) -> tuple[torch.Tensor, CellState]:
    """The mLSTM cell over a sequence, in any of its three forms (the results agree).

    Args:
        q, k, v: queries, keys (already scaled by ``1/sqrt(d)``) and values ``(B, NH, T, d)``.
        log_f: log forget gates ``(B, NH, T)``, at most 0.
        log_i: input gate pre-activations ``i~`` ``(B, NH, T)``.
        valid: ``(B, T)``, false on padded steps (the identity), or ``None``.
        state: ``(C, n, m)`` before the first step, ``(B, NH, d, d)``, ``(B, NH, d)``,
            ``(B, NH)``; ``None`` for zeros (and ``m = 0``).
        form: ``sequential``, ``parallel`` or ``chunked``.
        chunk_size: steps per chunk of the ``chunked`` form.

    Returns:
        ``h~`` ``(B, NH, T, d)`` and the state after each row's last valid step.
    """
    if valid is not None:  # log f = 0 on padded steps: the state is kept as it was
        valid = valid[:, None].expand_as(log_f)  # (B, NH, T)
        log_f = log_f.masked_fill(~valid, 0.0)
    state = zero_state(q) if state is None else state
    return _FORMS[form](q, k, v, log_f, log_i, valid, state, chunk_size)


_FORMS = {"sequential": _sequential, "parallel": _parallel, "chunked": _chunked}


class MLSTM(nn.Module):
    """xLSTM's mLSTM block as a sequence mixer (see the module's docstring).

    Args:
        size: features in and out, ``H``.
        num_heads: heads of the cell, each with its own ``(d, d)`` memory.
        expansion: inner channels per feature (``E*H``, split into the heads).
        conv_kernel: steps read by the causal depthwise convolution.
        form: the cell's form (:func:`mlstm_cell`).
        chunk_size: steps per chunk of the ``chunked`` form.
    """

    def __init__(
        self,
        size: int,
        num_heads: int = 4,
        expansion: int = 2,
        conv_kernel: int = 4,
        form: CellForm = "chunked",
        chunk_size: int = 64,
    ):
        super().__init__()
        inner = expansion * size
        self.up = nn.Linear(size, 2 * inner, bias=False)  # x and z stacked
        self.conv = CausalDepthwiseConv(inner, conv_kernel)
        self.qk = nn.Linear(inner, 2 * inner, bias=False)  # from the convolved x
        self.v = nn.Linear(inner, inner, bias=False)  # from x before the convolution
        self.o = nn.Linear(inner, inner)  # the output gate, per channel
        self.gates = nn.Linear(2 * inner, 2 * num_heads)  # i~ and f~ per head
        with torch.no_grad():
            self.gates.weight.zero_()
            self.gates.bias[:num_heads].normal_(0.0, 0.1)
            self.gates.bias[num_heads:].copy_(torch.linspace(3.0, 6.0, num_heads))
        self.norm_weight = nn.Parameter(torch.ones(inner))  # the norm per head's scale
        self.skip = nn.Parameter(torch.ones(inner))
        self.down = nn.Linear(inner, size, bias=False)
        self.inner, self.heads, self.head_size = inner, num_heads, inner // num_heads
        self.kernel, self.form, self.chunk_size = conv_kernel, form, chunk_size

    def state_shapes(self, batch: int) -> tuple[tuple[int, ...], ...]:
        d = self.head_size
        return (
            (batch, self.heads, d, d),
            (batch, self.heads, d),
            (batch, self.heads),
            (batch, self.kernel - 1, self.inner),
        )

    def _inputs(self, xc: torch.Tensor, x: torch.Tensor):
        """The cell's inputs from the convolved ``xc`` and raw ``x`` ``(..., E*H)``: ``q``,
        ``k``, ``v`` ``(..., NH, d)``, ``log f`` and ``i~`` ``(..., NH)``, in the cell's dtype."""
        q, k = linear_parts(xc, self.qk, 2)  # (..., E*H) each
        v = self.v(x)
        log_i, f = linear_parts(torch.cat([xc, x], -1), self.gates, 2)  # (..., NH) each
        dtype = accumulation_dtype(q)
        q, k, v = (t.unflatten(-1, (self.heads, self.head_size)).to(dtype) for t in (q, k, v))
        return q, k / math.sqrt(self.head_size), v, F.logsigmoid(f.to(dtype)), log_i.to(dtype)

    def _out(self, h: torch.Tensor, x: torch.Tensor, xc: torch.Tensor, z: torch.Tensor):
        """``h~`` ``(..., NH, d)`` to the block's output ``(..., H)``: output gate, norm per
        head, skip, ``silu(z)`` gate, down-projection."""
        h = torch.sigmoid(self.o(x)).to(h.dtype) * h.flatten(-2)  # (..., E*H)
        h = F.layer_norm(h.unflatten(-1, (self.heads, self.head_size)), (self.head_size,))
        h = h.flatten(-2) * self.norm_weight + self.skip * xc.to(h.dtype)
        return self.down((h * F.silu(z.to(h.dtype))).to(self.down.weight.dtype))

    def forward(
        self, u: torch.Tensor, valid: torch.Tensor | None = None, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """Outputs ``(B, T, H)`` for ``u`` ``(B, T, H)``, and the final state: ``C``
        ``(B, NH, d, d)``, ``n`` ``(B, NH, d)``, ``m`` ``(B, NH)`` and the convolution's last
        inputs ``(B, K-1, E*H)``."""
        x, z = linear_parts(u, self.up, 2)  # (B, T, E*H) each
        xc, conv_state = self.conv(x, valid, None if state is None else state[3])
        xc = F.silu(xc)  # (B, T, E*H): causal, each step reads K-1 before
        q, k, v, log_f, log_i = self._inputs(xc, x)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, NH, T, d)
        log_f, log_i = log_f.transpose(1, 2), log_i.transpose(1, 2)  # (B, NH, T)
        cell_state = None if state is None else tuple(s.to(q.dtype) for s in state[:3])
        # The cell in float32 at least, even under autocast (its sums run over every step).
        with torch.autocast(u.device.type, enabled=False):
            h, (c, n, m) = mlstm_cell(
                q, k, v, log_f, log_i, valid, cell_state, self.form, self.chunk_size
            )
        y = self._out(h.transpose(1, 2), x, xc, z)  # (B, T, H)
        return y, (c, n, m, conv_state.to(q.dtype))

    def step(
        self, u: torch.Tensor, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """One step ``u`` ``(B, H)`` to its output ``(B, H)`` and the state after it."""
        x, z = linear_parts(u, self.up, 2)  # (B, E*H) each
        xc, conv_state = self.conv.step(x, None if state is None else state[3])
        xc = F.silu(xc)  # (B, E*H)
        q, k, v, log_f, log_i = self._inputs(xc, x)
        cell_state = zero_state(q) if state is None else tuple(s.to(q.dtype) for s in state[:3])
        with torch.autocast(u.device.type, enabled=False):
            h, (c, n, m) = mlstm_step(q, k, v, log_f, log_i, cell_state)
        return self._out(h, x, xc, z), (c, n, m, conv_state.to(q.dtype))


class MLSTMNet(MixerStack):
    """Stacked mLSTM blocks in pre-norm residual blocks: xLSTM's ``[1:0]`` (mLSTM only) model.

    Inputs (features or token ids) are projected to ``hidden_size``, read by ``num_layers``
    :class:`~rnnlab.nets.residual.PreNormResidualBlock` s around :class:`MLSTM`, and normalised.
    Causal and unidirectional. The state is each layer's, stacked, four tensors carried as an
    LSTM's ``(h, c)`` is: ``C`` ``(L, B, NH, d, d)``, ``n`` ``(L, B, NH, d)``, ``m``
    ``(L, B, NH)`` and the convolution's last inputs ``(L, B, conv_kernel - 1, E hidden_size)``,
    with ``d = expansion hidden_size / num_heads``. Reading a sequence in chunks equals reading
    it whole, and :meth:`step` reads one step at a time.

    Args:
        input_size: features per step; or ``None`` with ``vocab_size`` for token ids.
        hidden_size: features of the residual stream ``H``.
        num_layers: stacked residual blocks.
        dropout: dropout on each block's mixer and MLP outputs.
        num_heads: heads of the cell; must divide ``expansion * hidden_size``.
        expansion: inner channels per feature of the mLSTM block's up-projection.
        conv_kernel: steps read by the causal depthwise convolution.
        scan: the cell's form (the results agree): ``chunked`` (fastest on CPU at T = 256 to
            1024, memory ``O(T chunk_size)``), ``parallel`` (quadratic in ``T``: for short
            sequences) or ``sequential`` (the reference).
        chunk_size: steps per chunk of ``scan=chunked``.
        mlp_expansion: hidden units of each block's gated MLP per feature; 0 (the default)
            for none, as the mLSTM block has its own up-projection.
        vocab_size, embedding_dim, pad_index, embedding_weights: token ids are embedded first,
            as in :class:`~rnnlab.nets.recurrent.RecurrentEncoder`.
    """

    def __init__(
        self,
        input_size: int | None = None,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        num_heads: int = 4,
        expansion: int = 2,
        conv_kernel: int = 4,
        scan: CellForm = "chunked",
        chunk_size: int = 64,
        mlp_expansion: int = 0,
        vocab_size: int | None = None,
        embedding_dim: int = 64,
        pad_index: int | None = None,
        embedding_weights: torch.Tensor | None = None,
    ):
        check(scan in FORMS, f"model.scan={scan!r} is not one of {', '.join(FORMS)}.")
        check_sizes(
            hidden_size=hidden_size,
            num_layers=num_layers,
            num_heads=num_heads,
            expansion=expansion,
            conv_kernel=conv_kernel,
            chunk_size=chunk_size,
        )
        inner = expansion * hidden_size
        check(
            inner % num_heads == 0,
            f"model.num_heads={num_heads} must divide model.expansion * model.hidden_size = "
            f"{inner}: each head takes an equal share of the inner channels.",
        )
        super().__init__(
            lambda: MLSTM(hidden_size, num_heads, expansion, conv_kernel, scan, chunk_size),
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
