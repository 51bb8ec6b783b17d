"""The linear recurrence ``h_t = a_t * h_{t-1} + b_t``, computed several ways.

Every gated linear recurrence (minGRU, minLSTM, and the diagonal state-space layers) reduces to
this elementwise recurrence once its gates are computed, because the gates read the input only,
never the previous state: all the matrix work is done for every step at once, and what is left
along time is this cheap scan. Shapes are batch-first, ``a`` and ``b`` ``(B, T, H)``, with an
initial state ``h0`` ``(B, H)`` (zeros when ``None``); each form returns every state
``(B, T, H)`` and the final one ``(B, H)``. A step with ``a = 1, b = 0`` is the identity, so a
padded step leaves the state as it was and the final state is each row's own.

The forms (``form=`` of :func:`linear_scan`), all with the same results:

- ``sequential``: a Python loop that autograd records step by step; the reference.
- ``loop``: the same loop over time, but inside one :class:`torch.autograd.Function` that runs
  it in place on time-major tensors without building a graph, and whose backward is the reverse
  recurrence ``g_{t-1} = a_t g_t + dL/dh_{t-1}`` run as a second loop. The loop takes the steps
  in blocks of about ``sqrt(T)``, all blocks at once (:func:`scan_`), so that ``T`` steps cost
  about ``3 sqrt(T)`` small kernels instead of ``T``; nothing is stored but ``a`` and the
  states. The fastest form on CPU, where a kernel launch costs microseconds and there is little
  parallelism to win (see ``scripts/bench/scan_speed.py``).
- ``parallel``: a log-depth scan (Hillis and Steele's doubling): ``log2 T`` vectorised rounds,
  each combining every step with the one ``2^k`` before it. ``O(T log T)`` work; it pays where
  the hardware is wide (a GPU), not on two CPU cores.
- ``chunked``: the doubling scan inside chunks of ``chunk_size`` steps, all chunks at once, and
  the state carried from chunk to chunk by a loop over the chunks. ``O(T log C)`` work, for long
  sequences.

The last three share one backward (the reverse recurrence, run by the same form).
:func:`log_linear_scan` is the textbook log-space form for positive ``a`` and ``b`` (Heinsen,
2023), through :func:`torch.logcumsumexp`, as minGRU and minLSTM were published with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from rnnlab.utils.errors import check

ScanForm = Literal["sequential", "loop", "parallel", "chunked"]
# A kernel: time-major a, b (T, B, H) and h0 (B, H) to every state (T, B, H), run without
# autograd. With `reverse=True` it runs the backward's recurrence instead, from the last step to
# the first with each step's coefficient taken from the step after: G_t = a_{t+1} G_{t+1} + b_t.
Kernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None, bool, int], torch.Tensor]


def linear_scan(
    a: torch.Tensor,
    b: torch.Tensor,
    h0: torch.Tensor | None = None,
    form: ScanForm = "loop",
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every state of ``h_t = a_t * h_{t-1} + b_t`` and the final one.

    Args:
        a: the decay of each step, ``(B, T, H)``.
        b: the input of each step, ``(B, T, H)``.
        h0: the state before the first step, ``(B, H)``; zeros when ``None``.
        form: ``sequential`` (the reference), ``loop`` (the fast CPU form), ``parallel`` or
            ``chunked``: see the module's docstring.
        chunk_size: steps per chunk of the ``chunked`` form.

    Returns:
        ``h`` ``(B, T, H)`` and the final state ``h[:, -1]`` ``(B, H)``.
    """
    check(form in _FORMS, f"scan={form!r} is not one of {', '.join(_FORMS)}.")
    check(
        isinstance(chunk_size, int) and chunk_size >= 1,
        f"chunk_size={chunk_size} must be a whole number of at least 1.",
    )
    check(
        a.shape == b.shape and a.dim() == 3,
        f"a {tuple(a.shape)} and b {tuple(b.shape)} must both be (B, T, H).",
    )
    if h0 is None:
        h0 = b.new_zeros(b.shape[0], b.shape[2])
    check(
        h0.shape == (b.shape[0], b.shape[2]),
        f"the initial state is {tuple(h0.shape)}, not (B, H) = ({b.shape[0]}, {b.shape[2]}).",
    )
    if form == "sequential":
        h = _sequential(a, b, h0)
    else:
        h = _Scan.apply(a, b, h0, _FORMS[form], chunk_size)
    return h, h[:, -1]


def log_linear_scan(
    log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`linear_scan` of ``a = exp(log_a)``, ``b = exp(log_b)`` in log space.

    ``h_t = A_t (h0 + sum_{s <= t} b_s / A_s)`` with ``A_t = a_1 ... a_t``, the sum taken as
    ``logcumsumexp(log_b - log A)`` so that neither the products nor their inverses leave the
    floating-point range. ``h0`` (any sign) is added as ``A_t h0``. A ``log_b`` of ``-inf`` is
    ``b = 0`` (a padded step, with ``log_a = 0``).

    Args:
        log_a: ``(B, T, H)``, at most 0 for a decaying state.
        log_b: ``(B, T, H)``; ``-inf`` where ``b`` is 0.
        h0: ``(B, H)``; zeros when ``None``.

    Returns:
        ``h`` ``(B, T, H)`` and the final state ``(B, H)``.
    """
    log_decay = log_a.cumsum(1)  # (B, T, H): log A_t
    # Where b = 0 the term is -inf whatever A is: written so, the NaN that logcumsumexp's
    # backward gives at a leading -inf stops here instead of reaching log_a.
    terms = torch.where(log_b == -torch.inf, -torch.inf, log_b - log_decay)  # (B, T, H)
    summed = torch.logcumsumexp(terms, 1)  # (B, T, H): log sum_s b_s / A_s
    # Before any input (steps of padding only) the sum is -inf and the state is h0 alone.
    finite = torch.isfinite(summed)
    h = torch.exp(log_decay + torch.where(finite, summed, 0.0)) * finite
    if h0 is not None:
        h = h + torch.exp(log_decay) * h0[:, None]  # (B, T, H)
    return h, h[:, -1]


def _sequential(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """The reference: one step at a time, recorded by autograd."""
    states, h = [], h0
    # unbind, not a[:, t]: the backward of T selections would write T zero-filled (B, T, H).
    for a_step, b_step in zip(a.unbind(1), b.unbind(1), strict=True):
        h = a_step * h + b_step  # (B, H)
        states.append(h)
    return torch.stack(states, 1)  # (B, T, H)


class _Scan(torch.autograd.Function):
    """The scan by a forward kernel, with the reverse recurrence as its backward.

    With ``G_t = dL/dh_t`` through every later step, ``G_t = a_{t+1} G_{t+1} + dL/dh_t`` (the
    same recurrence run backwards, with ``a`` shifted by one step), and then
    ``dL/db_t = G_t``, ``dL/da_t = G_t h_{t-1}`` and ``dL/dh0 = a_1 G_1``.
    """

    @staticmethod
    def forward(ctx, a, b, h0, kernel: Kernel, chunk_size: int):
        dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), h0.dtype)
        # Time-major and contiguous: each step's (B, H) slice is one block of memory.
        a_t = a.transpose(0, 1).to(dtype).contiguous()  # (T, B, H)
        b_t = b.transpose(0, 1).to(dtype).contiguous()  # (T, B, H)
        h = kernel(a_t, b_t, h0.to(dtype), False, chunk_size)  # (T, B, H)
        ctx.save_for_backward(a_t, h, h0)
        ctx.kernel, ctx.chunk_size = kernel, chunk_size
        return h.transpose(0, 1)  # (B, T, H)

    @staticmethod
    def backward(ctx, grad_h):
        a_t, h, h0 = ctx.saved_tensors
        grad = grad_h.transpose(0, 1).to(h.dtype).contiguous()  # (T, B, H)
        g = ctx.kernel(a_t, grad, None, True, ctx.chunk_size)  # (T, B, H): G_t
        grad_a = grad_b = grad_h0 = None
        if ctx.needs_input_grad[0]:
            grad_a = torch.empty_like(g)  # (T, B, H): G_t h_{t-1}, without joining h0 to h
            torch.mul(g[0], h0.to(h.dtype), out=grad_a[0])
            torch.mul(g[1:], h[:-1], out=grad_a[1:])
            grad_a = grad_a.transpose(0, 1)
        if ctx.needs_input_grad[1]:
            grad_b = g.transpose(0, 1)
        if ctx.needs_input_grad[2]:
            grad_h0 = (a_t[0] * g[0]).to(h0.dtype)
        return grad_a, grad_b, grad_h0, None, None


def _loop(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None, reverse: bool, chunk_size: int
) -> torch.Tensor:
    """Fused multiply-adds in place, by :func:`scan_` (or :func:`scan_reverse_`)."""
    h = b.clone()  # (T, B, H)
    if reverse:  # G_t = a_{t+1} G_{t+1} + b_t from G_T = b_T
        return scan_reverse_(h[None], a[None])[0]
    h[0].addcmul_(a[0], h0)
    return scan_(h[None], a[None])[0]


def scan_(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``x_t += a_t x_{t-1}`` along dim 1, in place and without autograd: ``x`` (holding the
    inputs ``b``) becomes the states of ``h_t = a_t h_{t-1} + b_t`` from a zero state.

    A loop over ``T`` steps costs ``T`` kernel launches of ``(N, ...)`` elements each, and on a
    CPU the launch (microseconds) outweighs the arithmetic. So the steps are taken in blocks of
    ``L`` (about ``sqrt(T)``), all blocks at once: ``L`` launches of ``T / L`` times as many
    elements scan each block from a zero state and carry the products ``P`` of its decays;
    ``T / L`` small launches carry the state from block to block; and one launch adds to each
    step its block's incoming state times ``P``. Exact up to rounding (a ``P`` that underflows
    to 0 marks an incoming state that no longer reaches the step).

    Args:
        x: ``(N, T, ...)``, contiguous: the inputs, overwritten by the states.
        a: the decays, shaped as ``x``.

    Returns:
        ``x``.
    """
    steps = x.shape[1]
    block, blocks, whole = _blocks(x)
    if blocks < 2:
        return _loop_(x, a, 1, steps)
    xv, av = _blocked(x, block, blocks), _blocked(a, block, blocks)  # (N, C, L, ...)
    p = torch.empty_like(av)  # P: each block's decays multiplied up to each of its steps
    xs, as_, ps = xv.unbind(2), av.unbind(2), p.unbind(2)  # (N, C, ...) views
    ps[0].copy_(as_[0])
    for i in range(1, block):
        xs[i].addcmul_(as_[i], xs[i - 1])
        torch.mul(ps[i - 1], as_[i], out=ps[i])
    ends, decays = xs[-1], ps[-1]  # (N, C, ...): each block's end from a zero state, and P
    incoming = ends[:, :-1].clone()  # (N, C - 1, ...): the state each later block starts from
    for c in range(1, blocks - 1):
        incoming[:, c].addcmul_(decays[:, c], incoming[:, c - 1])
    xv[:, 1:].addcmul_(p[:, 1:], incoming.unsqueeze(2))
    return _loop_(x, a, whole, steps)


def scan_reverse_(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``x_t += a_{t+1} x_{t+1}`` along dim 1 from the last step to the first, in place and
    without autograd: the backward's recurrence ``G_t = a_{t+1} G_{t+1} + dL/dh_t`` on ``x``
    (holding ``dL/dh``), in blocks as :func:`scan_` (``Q``: the decays from each step to its
    block's end multiplied up).

    Args:
        x: ``(N, T, ...)``, contiguous: ``dL/dh``, overwritten by ``G``.
        a: the decays of the forward recurrence, shaped as ``x`` (``a_1`` is not read).

    Returns:
        ``x``.
    """
    steps = x.shape[1]
    block, blocks, whole = _blocks(x)
    if blocks < 2:
        return _loop_reverse_(x, a, 0, steps)
    _loop_reverse_(x, a, whole - 1, steps)  # the steps after the blocks, and the link into them
    xv, av = _blocked(x, block, blocks), _blocked(a, block, blocks)  # (N, C, L, ...)
    q = torch.empty_like(av)  # Q: a_{t+1} ... a_L of each block
    xs, as_, qs = xv.unbind(2), av.unbind(2), q.unbind(2)  # (N, C, ...) views
    qs[-1].fill_(1.0)
    for i in range(block - 2, -1, -1):
        xs[i].addcmul_(as_[i + 1], xs[i + 1])
        torch.mul(qs[i + 1], as_[i + 1], out=qs[i])
    # incoming[c]: what block c's end receives from block c + 1, a_{first of c+1} G_{first of c+1}
    incoming = torch.empty_like(xs[0][:, :-1])  # (N, C - 1, ...)
    start = xs[0][:, -1]  # the last block's first G, final already
    for c in range(blocks - 2, -1, -1):
        torch.mul(as_[0][:, c + 1], start, out=incoming[:, c])
        start = torch.addcmul(xs[0][:, c], qs[0][:, c], incoming[:, c])
    xv[:, :-1].addcmul_(q[:, :-1], incoming.unsqueeze(2))
    return x


def _blocks(x: torch.Tensor) -> tuple[int, int, int]:
    """The block length ``L`` (about ``sqrt(T)``) for ``x`` ``(N, T, ...)``, the number of
    whole blocks, and the steps they cover. No blocks (a plain loop) below 64 steps, or where
    a step alone has 16,384 elements or more: there the launches are not what costs, and the
    blocks' products would be one more pass over a large tensor."""
    steps = x.shape[1]
    if steps < 64 or x.numel() >= 16384 * steps:
        return steps, 0, 0
    block = round(steps**0.5)
    return block, steps // block, steps // block * block


def _blocked(x: torch.Tensor, block: int, blocks: int) -> torch.Tensor:
    """The first ``blocks * block`` steps of ``x`` ``(N, T, ...)`` as ``(N, C, L, ...)``."""
    return x[:, : blocks * block].view(x.shape[0], blocks, block, *x.shape[2:])


def _loop_(x: torch.Tensor, a: torch.Tensor, first: int, stop: int) -> torch.Tensor:
    """``x_t += a_t x_{t-1}`` in place for ``first <= t < stop``, step by step."""
    first = max(first, 1)
    if first < stop:
        # (N, ...) views of the steps taken and the one before, made at once
        xs, as_ = x[:, first - 1 : stop].unbind(1), a[:, first - 1 : stop].unbind(1)
        for t in range(1, len(xs)):
            xs[t].addcmul_(as_[t], xs[t - 1])
    return x


def _loop_reverse_(x: torch.Tensor, a: torch.Tensor, first: int, stop: int) -> torch.Tensor:
    """``x_t += a_{t+1} x_{t+1}`` in place for ``t`` from ``stop - 2`` down to ``first``."""
    first = max(first, 0)
    if first < stop - 1:
        xs, as_ = x[:, first:stop].unbind(1), a[:, first:stop].unbind(1)
        for t in range(len(xs) - 2, -1, -1):
            xs[t].addcmul_(as_[t + 1], xs[t + 1])
    return x


def _doubling(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive scan along dim 0 from a zero state: the products ``A`` of ``a`` up to each
    step, and the states ``h``. Round ``k`` folds into each step the one ``2^k`` before it."""
    a, b = a.clone(), b.clone()
    steps, shift = a.shape[0], 1
    while shift < steps:
        # Step t takes (a_t, b_t) after (a_{t-s}, b_{t-s}): (a_t a_{t-s}, a_t b_{t-s} + b_t).
        b[shift:] = torch.addcmul(b[shift:], a[shift:], b[:-shift])
        a[shift:] = a[shift:] * a[:-shift]
        shift *= 2
    return a, b


def _reversed(kernel: Kernel, a: torch.Tensor, b: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``G_t = a_{t+1} G_{t+1} + b_t`` from ``G_T = b_T`` by a forward kernel: the steps taken
    last to first, each with the next step's ``a``."""
    a_next = torch.cat([a[1:], a.new_ones(1, *a.shape[1:])])  # (T, B, H): a_{t+1}
    zeros = b.new_zeros(b.shape[1:])
    return kernel(a_next.flip(0), b.flip(0), zeros, False, chunk_size).flip(0)


def _parallel(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None, reverse: bool, chunk_size: int
) -> torch.Tensor:
    """The doubling scan over the whole sequence, ``h0`` folded into the first input."""
    if reverse:
        return _reversed(_parallel, a, b, chunk_size)
    b = torch.cat([torch.addcmul(b[:1], a[:1], h0[None]), b[1:]])  # b_1 + a_1 h0
    return _doubling(a, b)[1]


def _chunked(
    a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None, reverse: bool, chunk_size: int
) -> torch.Tensor:
    """The doubling scan inside each chunk, all chunks at once; then the state each chunk
    starts from, carried from one chunk to the next; then each chunk's states corrected by it."""
    if reverse:
        return _reversed(_chunked, a, b, chunk_size)
    steps = a.shape[0]
    chunks = -(-steps // chunk_size)
    pad = chunks * chunk_size - steps  # identity steps (a = 1, b = 0) to fill the last chunk
    if pad:
        a = torch.cat([a, a.new_ones(pad, *a.shape[1:])])
        b = torch.cat([b, b.new_zeros(pad, *b.shape[1:])])
    shape = (chunks, chunk_size, *a.shape[1:])
    decay, local = _doubling(a.reshape(shape).transpose(0, 1), b.reshape(shape).transpose(0, 1))
    # decay, local: (C, N, B, H), each chunk's products and states from a zero state
    starts = torch.empty_like(local[0])  # (N, B, H): the state before each chunk
    state = h0
    for n in range(chunks):
        starts[n] = state
        state = torch.addcmul(local[-1, n], decay[-1, n], state)  # (B, H)
    h = torch.addcmul(local, decay, starts[None])  # (C, N, B, H)
    return h.transpose(0, 1).reshape(chunks * chunk_size, *a.shape[1:])[:steps]


_FORMS: dict[str, Kernel | None] = {
    "sequential": None,  # autograd records the Python loop; no kernel
    "loop": _loop,
    "parallel": _parallel,
    "chunked": _chunked,
}


def selective_scan(
    dt: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    u: torch.Tensor,
    h0: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The selective state space's recurrence and read-out (Mamba's S6), as one loop.

    Per channel ``d`` and mode ``n``, ``h_t = exp(dt_t a) h_{t-1} + u_t b_t`` and
    ``y_t = sum_n c_t h_t``: the loop form of :func:`linear_scan` for ``exp(dt a)`` and
    ``u b`` (equal to it), with the decays and inputs of every step computed in one pass each,
    the read-out as one batched matmul, and a backward written out (the reverse recurrence
    ``G_t = exp(dt_{t+1} a) G_{t+1} + c_t dL/dy_t``, then ``dL/dc_t = sum_d dL/dy_t h_t``,
    ``dL/db_t = sum_d u_t G_t``, ``dL/du_t = sum_n G_t b_t`` and, with
    ``P_t = G_t exp(dt_t a) h_{t-1}``, ``dL/ddt_t = sum_n P_t a`` and ``dL/da = sum P_t dt_t``),
    so autograd keeps no intermediate of the ``(B, T, D, N)`` states but the decays and the
    states themselves.

    Args:
        dt: the step of each channel, ``(B, T, D)``; 0 makes a step the identity.
        a: the diagonal state matrix, ``(D, N)``.
        b, c: the input and output vectors of each step, ``(B, T, N)``.
        u: each step's input, already scaled by its step (``dt * x``), ``(B, T, D)``.
        h0: the state before the first step, ``(B, D, N)``; zeros when ``None``.

    Returns:
        ``y`` ``(B, T, D)`` and the final state ``(B, D, N)``.
    """
    check(
        dt.shape == u.shape and dt.dim() == 3 and b.shape == c.shape == (*dt.shape[:2], a.shape[1]),
        f"dt {tuple(dt.shape)}, u {tuple(u.shape)}, b {tuple(b.shape)}, c {tuple(c.shape)} and "
        f"a {tuple(a.shape)} must be (B, T, D), (B, T, D), (B, T, N), (B, T, N) and (D, N).",
    )
    # Under mixed precision the read-out's matmul would run at half width: the scan is kept
    # in the inputs' own dtype.
    with torch.autocast(dt.device.type, enabled=False):
        return _SelectiveScan.apply(dt, a, b, c, u, h0)


class _SelectiveScan(torch.autograd.Function):
    """:func:`selective_scan`: time-major ``(T, B, D, N)`` decays and states, one in-place
    multiply-add per step along time, the rest as whole-tensor operations."""

    @staticmethod
    def forward(ctx, dt, a, b, c, u, h0):
        steps, batch, (channels, modes) = dt.shape[1], dt.shape[0], a.shape
        # Time-major and contiguous (so are the products): each step one block of memory.
        dt_t, u_t, b_t, c_t = (t.transpose(0, 1).contiguous() for t in (dt, u, b, c))
        decay = torch.mul(dt_t[..., None], a).exp_()  # (T, B, D, N): exp(dt a)
        h = torch.mul(u_t[..., None], b_t[:, :, None, :])  # (T, B, D, N): u b, then the states
        if h0 is not None:
            h[0].addcmul_(decay[0], h0)
        scan_(h[None], decay[None])
        flat = (steps * batch, channels, modes)
        y = torch.bmm(h.view(flat), c_t.view(-1, modes, 1)).view(steps, batch, channels)
        ctx.save_for_backward(dt_t, a, b_t, c_t, u_t, h0, decay, h)
        return y.transpose(0, 1), h[-1].clone()

    @staticmethod
    def backward(ctx, grad_y, grad_last):
        dt_t, a, b_t, c_t, u_t, h0, decay, h = ctx.saved_tensors
        steps, batch, channels, modes = h.shape
        flat = (steps * batch, channels, modes)
        grad_y = grad_y.transpose(0, 1).contiguous()  # (T, B, D)
        g = torch.mul(grad_y[..., None], c_t[:, :, None, :])  # (T, B, D, N), then G_t
        if grad_last is not None:
            g[-1] += grad_last
        scan_reverse_(g[None], decay[None])
        grad_h0 = decay[0] * g[0] if h0 is not None and ctx.needs_input_grad[5] else None
        grad_c = torch.bmm(grad_y.view(-1, 1, channels), h.view(flat)).view(steps, batch, modes)
        grad_b = torch.bmm(u_t.view(-1, 1, channels), g.view(flat)).view(steps, batch, modes)
        grad_u = torch.bmm(g.view(flat), b_t.view(-1, modes, 1)).view(steps, batch, channels)
        # P_t = G_t exp(dt_t a) h_{t-1}, written over G (no longer needed; the saved tensors
        # stay as they are, for a second backward through the same graph).
        p = g.mul_(decay)
        p[1:].mul_(h[:-1])
        if h0 is None:
            p[0].zero_()
        else:
            p[0].mul_(h0)
        grad_a = (p * dt_t[..., None]).sum((0, 1))  # (D, N)
        grad_dt = p.mul_(a).sum(-1)  # (T, B, D), P last needed here: scaled in place
        return (
            grad_dt.transpose(0, 1),
            grad_a,
            grad_b.transpose(0, 1),
            grad_c.transpose(0, 1),
            grad_u.transpose(0, 1),
            grad_h0,
        )
