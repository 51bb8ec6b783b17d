"""Diagonal state-space layers: LRU, S4D and S6 (``model=lru``, ``model=s4d``, ``model=s6``).

Each is a sequence mixer whose recurrence is diagonal and linear in the state,
``h_t = a_t * h_{t-1} + b_t``, so a whole sequence runs through :mod:`rnnlab.nets.scan` and one
step at a time runs the same update:

- LRU (Orvieto et al., 2023): ``h_t = lambda * h_{t-1} + gamma * (B x_t)``, complex
  ``lambda = exp(-exp(nu) + i exp(theta))`` initialised on a ring ``r_min <= |lambda| <= r_max``
  with phases up to ``max_phase``, ``gamma = sqrt(1 - |lambda|^2)`` at initialisation (then
  trained), ``y_t = Re(C h_t) + D * x_t``.
- S4D (Gu et al., 2022): per channel a state of ``N`` complex modes,
  ``A = -exp(log_A_real) + i A_imag`` (S4D-Lin: ``A_n = -1/2 + i pi n``), a step ``Delta`` per
  channel (log-uniform in ``[dt_min, dt_max]``), zero-order hold ``A_bar = exp(Delta A)``,
  ``B_bar = (A_bar - 1) / A * B``; ``h_t = A_bar h_{t-1} + B_bar x_t``,
  ``y_t = Re(C h_t) + D x_t``. Nothing depends on the input: a linear time-invariant layer.
- S6 (Mamba's selective layer, Gu and Dao, 2023): ``x, z = W_in u``; ``x`` through a short
  causal depthwise convolution and SiLU; from ``x`` the step ``Delta_t = softplus(W_dt (W_r x)
  + b)`` per channel and ``B_t``, ``C_t`` (``N`` each); ``A = -exp(A_log)`` real (S4D-Real:
  ``A_n = -(n + 1)``); ``h_t = exp(Delta_t A) h_{t-1} + Delta_t B_t x_t`` per channel and mode,
  ``y_t = (C_t . h_t + D x_t) * silu(z_t)``, then ``W_out``. The step, ``B`` and ``C`` read the
  input: the layer can choose what to keep.

A padded step is the identity of the recurrence (``a = 1``, ``b = 0``; in S6 ``Delta = 0``), and
the complex scans of LRU and S4D are :func:`complex_scan`. S4D trains by default as the causal
convolution it is (:meth:`S4D._convolve`), S6 through the fused
:func:`~rnnlab.nets.scan.selective_scan`. The carried state of every layer is
real: the complex states as their real parts then their imaginary parts, and for S6 also the
convolution's last ``conv_kernel - 1`` inputs, so reading a sequence in chunks equals reading it
whole.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.nets.base import CausalDepthwiseConv, accumulation_dtype, check_sizes, linear_parts
from rnnlab.nets.residual import LayerState, MixerStack
from rnnlab.nets.scan import ScanForm, linear_scan, selective_scan
from rnnlab.utils.errors import check

MixerName = Literal["lru", "s4d", "s6"]
SCANS = ("loop", "parallel", "chunked", "sequential")
# S4D is time-invariant: a convolution too, its fastest form (see S4D).
CONVOLVED_SCANS = ("convolution", *SCANS)


def complex_scan(
    a: torch.Tensor,
    b: torch.Tensor,
    h0: torch.Tensor | None = None,
    form: ScanForm = "loop",
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~rnnlab.nets.scan.linear_scan` for complex ``a``, ``b`` ``(B, T, N)``.

    The scan's kernels compute complex states correctly, but its backward is written for real
    tensors; here the backward is the same reverse recurrence with the conjugates PyTorch's
    complex gradients take: ``G_t = conj(a_{t+1}) G_{t+1} + dL/dh_t``, ``dL/db_t = G_t``,
    ``dL/da_t = G_t conj(h_{t-1})``, ``dL/dh0 = conj(a_1) G_1``. ``sequential`` is autograd's.
    """
    if h0 is None:
        h0 = b.new_zeros(b.shape[0], b.shape[2])
    if form == "sequential":
        return linear_scan(a, b, h0, form, chunk_size)
    h = _ComplexScan.apply(a, b, h0, form, chunk_size)
    return h, h[:, -1]


class _ComplexScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, h0, form, chunk_size):
        with torch.no_grad():
            h = linear_scan(a, b, h0, form, chunk_size)[0]  # (B, T, N)
        ctx.save_for_backward(a, h, h0)
        ctx.form, ctx.chunk_size = form, chunk_size
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, h, h0 = ctx.saved_tensors
        a_next = torch.cat([a[:, 1:], a.new_ones(a.shape[0], 1, a.shape[2])], 1).conj()
        # The reverse recurrence as a forward scan over the reversed steps.
        g = linear_scan(a_next.flip(1), grad_h.flip(1), None, ctx.form, ctx.chunk_size)[0]
        g = g.flip(1)  # (B, T, N): G_t
        before = torch.cat([h0[:, None], h[:, :-1]], 1)  # (B, T, N): h_{t-1}
        return g * before.conj(), g, a[:, 0].conj() * g[:, 0], None, None


def _split(state: torch.Tensor) -> torch.Tensor:
    """A real ``(B, 2N)`` state, real parts then imaginary parts, as complex ``(B, N)``."""
    real, imag = state.chunk(2, -1)
    return torch.complex(real, imag)


def _join(h: torch.Tensor) -> torch.Tensor:
    """A complex ``(B, N)`` state as real ``(B, 2N)``."""
    return torch.cat([h.real, h.imag], -1)


def _identity_where_padded(
    a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``a = 1`` and ``b = 0`` where ``valid`` ``(B, T)`` is false: the state passes unchanged."""
    if valid is None:
        return a, b
    padded = ~valid[..., None]  # (B, T, 1)
    return a.masked_fill(padded, 1.0), b.masked_fill(padded, 0.0)


class LRU(nn.Module):
    """The Linear Recurrent Unit: a complex diagonal recurrence of ``state_size`` modes.

    Args:
        size: features in and out, ``H``.
        state_size: complex modes of the state, ``N``.
        r_min, r_max: the ring the eigenvalues' moduli are drawn from (uniformly in area).
        max_phase: the eigenvalues' phases are drawn uniformly from ``[0, max_phase]``.
        scan: the scan form (see :func:`complex_scan`).
        chunk_size: steps per chunk of the ``chunked`` scan.
    """

    def __init__(
        self,
        size: int,
        state_size: int,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = 2 * math.pi,
        scan: ScanForm = "loop",
        chunk_size: int = 64,
    ):
        super().__init__()
        u1, u2 = torch.rand(state_size), torch.rand(state_size)
        # |lambda| = exp(-nu) uniform in the ring's area: |lambda|^2 uniform in [r_min^2, r_max^2].
        nu = -0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)
        self.nu_log = nn.Parameter(nu.log())
        self.theta_log = nn.Parameter((max_phase * u2).clamp_min(1e-8).log())
        self.gamma_log = nn.Parameter(0.5 * torch.log(1 - torch.exp(-2 * nu)))
        # B and C as real and imaginary parts: real parameters for every optimizer.
        self.b_real, self.b_imag = (nn.Linear(size, state_size, bias=False) for _ in range(2))
        self.c_real, self.c_imag = (nn.Linear(state_size, size, bias=False) for _ in range(2))
        with torch.no_grad():
            for linear in (self.b_real, self.b_imag):
                linear.weight.normal_(0, (2 * size) ** -0.5)
            for linear in (self.c_real, self.c_imag):
                linear.weight.normal_(0, state_size**-0.5)
        self.d = nn.Parameter(torch.randn(size))
        self.state_size, self.scan, self.chunk_size = state_size, scan, chunk_size

    def state_shapes(self, batch: int) -> tuple[tuple[int, ...], ...]:
        return ((batch, 2 * self.state_size),)

    def _lambda(self) -> torch.Tensor:
        """``(N,)`` complex: ``exp(-exp(nu) + i exp(theta))``."""
        return torch.exp(torch.complex(-self.nu_log.exp(), self.theta_log.exp()))

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        """``gamma * (B x)``: ``(..., H)`` to complex ``(..., N)``."""
        x = x.to(accumulation_dtype(x))
        gamma = self.gamma_log.exp()
        return torch.complex(self.b_real(x) * gamma, self.b_imag(x) * gamma)

    def _output(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``Re(C h) + D x``: complex ``(..., N)`` and ``(..., H)``."""
        return self.c_real(h.real) - self.c_imag(h.imag) + self.d * x

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """Outputs ``(B, T, H)`` for ``x`` ``(B, T, H)``, and the final state ``((B, 2N),)``."""
        b = self._input(x)  # (B, T, N)
        a = self._lambda().expand_as(b)  # (B, T, N)
        a, b = _identity_where_padded(a, b, valid)
        h0 = None if state is None else _split(state[0])
        h, last = complex_scan(a, b, h0, self.scan, self.chunk_size)  # (B, T, N), (B, N)
        return self._output(h, x.to(h.real.dtype)), (_join(last),)

    def step(
        self, x: torch.Tensor, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """One step ``x`` ``(B, H)`` to its output ``(B, H)`` and the state after it."""
        h = self._input(x)  # (B, N)
        if state is not None:
            h = h + self._lambda() * _split(state[0])
        return self._output(h, x.to(h.real.dtype)), (_join(h),)


class S4D(nn.Module):
    """The diagonal state-space layer S4D: ``state_size`` complex modes per channel, fixed in
    time, discretised by zero-order hold.

    Nothing in the recurrence reads the input, so the layer is a causal convolution of each
    channel with the kernel ``K_l = Re(sum_n C_n A_bar_n^l B_bar_n)``; ``scan="convolution"``
    (the default) computes it so, through the FFT, in ``O(T log T)`` per channel and without
    the ``(B, T, H, N)`` states the scans write. A carried state enters as
    ``Re(C A_bar^(t+1) h0)``, and the final state is a contraction of the inputs with the
    kernel's powers taken from each row's last valid step.

    Args:
        size: channels in and out, ``H``.
        state_size: complex modes per channel, ``N``.
        dt_min, dt_max: each channel's step ``Delta`` starts log-uniform in this range.
        scan: ``convolution``, or a scan form of :func:`complex_scan`; all give the same
            results.
        chunk_size: steps per chunk of the ``chunked`` scan.
    """

    def __init__(
        self,
        size: int,
        state_size: int,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        scan: ScanForm | Literal["convolution"] = "convolution",
        chunk_size: int = 64,
    ):
        super().__init__()
        log_dt = torch.rand(size) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)  # (H,)
        # S4D-Lin: A_n = -1/2 + i pi n for every channel.
        self.log_a_real = nn.Parameter(torch.full((size, state_size), math.log(0.5)))
        self.a_imag = nn.Parameter(math.pi * torch.arange(state_size).float().expand(size, -1))
        self.b_real = nn.Parameter(torch.ones(size, state_size))
        self.b_imag = nn.Parameter(torch.zeros(size, state_size))
        # C ~ complex normal of variance 1 (1/2 on each part).
        self.c_real = nn.Parameter(torch.randn(size, state_size) * 0.5**0.5)
        self.c_imag = nn.Parameter(torch.randn(size, state_size) * 0.5**0.5)
        self.d = nn.Parameter(torch.randn(size))
        self.size, self.state_size, self.scan, self.chunk_size = size, state_size, scan, chunk_size

    def state_shapes(self, batch: int) -> tuple[tuple[int, ...], ...]:
        return ((batch, 2 * self.size * self.state_size),)

    def _discretised(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``Delta A`` (``log A_bar``), ``A_bar`` and ``B_bar``, complex ``(H, N)``."""
        a = torch.complex(-self.log_a_real.exp(), self.a_imag)  # (H, N)
        dt_a = self.log_dt.exp()[:, None] * a  # (H, N)
        a_bar = torch.exp(dt_a)
        return dt_a, a_bar, (a_bar - 1) / a * torch.complex(self.b_real, self.b_imag)

    def _output(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``Re(C h) + D x`` per channel: complex ``(..., H, N)``, ``(..., H)`` to ``(..., H)``."""
        return (h.real * self.c_real - h.imag * self.c_imag).sum(-1) + self.d * x

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """Outputs ``(B, T, H)`` for ``x`` ``(B, T, H)``, and the final state ``((B, 2HN),)``."""
        x = x.to(accumulation_dtype(x))
        h0 = None if state is None else _split(state[0]).view(-1, self.size, self.state_size)
        lengths = _prefix_lengths(valid, x)
        if self.scan == "convolution" and lengths is not None:
            # Mixed precision stays out: the kernel's powers and the FFT need the full width.
            with torch.autocast(x.device.type, enabled=False):
                return self._convolve(x, valid, lengths, h0)
        _, a_bar, b_bar = self._discretised()
        batch, steps, size = x.shape
        b = (x[..., None] * b_bar).flatten(2)  # (B, T, H*N)
        a = a_bar.flatten().expand_as(b)  # (B, T, H*N)
        a, b = _identity_where_padded(a, b, valid)
        h0 = None if h0 is None else h0.flatten(1)
        # A mask that is not a prefix of each row (not one rnnlab's nets make) is scanned.
        scan = "loop" if self.scan == "convolution" else self.scan
        h, last = complex_scan(a, b, h0, scan, self.chunk_size)  # (B, T, H*N), (B, H*N)
        h = h.view(batch, steps, size, self.state_size)  # (B, T, H, N)
        return self._output(h, x), (_join(last),)

    def step(
        self, x: torch.Tensor, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """One step ``x`` ``(B, H)`` to its output ``(B, H)`` and the state after it."""
        x = x.to(accumulation_dtype(x))
        _, a_bar, b_bar = self._discretised()
        h = x[..., None] * b_bar  # (B, H, N)
        if state is not None:
            h = h + a_bar * _split(state[0]).view_as(h)
        return self._output(h, x), (_join(h.flatten(1)),)

    def _convolve(
        self,
        x: torch.Tensor,
        valid: torch.Tensor | None,
        lengths: torch.Tensor,
        h0: torch.Tensor | None,
    ) -> tuple[torch.Tensor, LayerState]:
        """The convolution form of :meth:`forward` for ``x`` ``(B, T, H)``, row ``b`` valid for
        its first ``lengths[b]`` steps (``valid`` ``(B, T)``, or ``None`` where all are), from
        ``h0`` complex ``(B, H, N)`` or ``None``."""
        steps = x.shape[1]
        dt_a, _, b_bar = self._discretised()
        c = torch.complex(self.c_real, self.c_imag)  # (H, N)
        # A_bar^l for l = 0 .. T, complex (H, N, T + 1): the Vandermonde matrix of the modes.
        powers = torch.exp(dt_a[..., None] * torch.arange(steps + 1, device=x.device))
        kernel = torch.einsum("hn,hnl->hl", c * b_bar, powers[..., :steps]).real  # (H, T)
        x_in = x if valid is None else x * valid[..., None]  # the padding reads nothing
        # Causal convolution along time: zero-padded to 2T, no step wraps onto an earlier one.
        size = 2 * steps
        spectrum = torch.fft.rfft(x_in, n=size, dim=1) * torch.fft.rfft(kernel, n=size).T
        y = torch.fft.irfft(spectrum, n=size, dim=1)[:, :steps] + self.d * x  # (B, T, H)
        # Each row's final state sum_s A_bar^(len - 1 - s) B_bar x_s: the inputs moved right so
        # that every row ends on the last step, against the powers counted back from it.
        shift = torch.arange(steps, device=x.device)[None] - (steps - lengths)[:, None]  # (B, T)
        aligned = x_in.gather(1, shift.clamp(min=0)[..., None].expand_as(x_in))
        aligned = aligned * (shift >= 0)[..., None]  # (B, T, H)
        back = powers[..., :steps].flip(-1)  # (H, N, T): A_bar^(T - 1 - s)
        summed = torch.complex(
            torch.einsum("bsh,hns->bhn", aligned, back.real),
            torch.einsum("bsh,hns->bhn", aligned, back.imag),
        )
        last = b_bar * summed  # (B, H, N)
        if h0 is not None:
            h0 = h0.to(last.dtype)
            # Re(C A_bar^(t + 1) h0) on every step, and A_bar^len h0 in the final state.
            y = y + torch.einsum("bhn,hnl->blh", c * h0, powers[..., 1:]).real
            last = last + torch.exp(dt_a * lengths[:, None, None]) * h0
        if valid is not None:  # where padded the state stays the last, as the scans keep it
            y = torch.where(valid[..., None], y, self._output(last[:, None], x))
        return y, (_join(last.flatten(1)),)


def _prefix_lengths(valid: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """Each row's valid steps ``(B,)`` where every row of ``valid`` ``(B, T)`` is valid for its
    first steps only (every step of ``x`` ``(B, T, ...)`` without a mask); ``None`` for any
    other mask. A trace (``torch.export``) cannot branch on the mask's values: it takes the
    mask for a prefix one, as every mask rnnlab's nets make from ``lengths`` is."""
    batch, steps = x.shape[:2]
    if valid is None:
        return torch.full((batch,), steps, device=x.device)
    lengths = valid.sum(1)  # (B,)
    if torch.compiler.is_compiling():
        return lengths
    prefix = torch.arange(steps, device=valid.device)[None] < lengths[:, None]
    return lengths if bool((valid == prefix).all()) else None


class S6(nn.Module):
    """Mamba's selective state-space layer in plain PyTorch.

    Args:
        size: features in and out, ``H``.
        state_size: modes per inner channel, ``N``.
        expansion: inner channels per feature, ``E`` (``E*H`` channels).
        conv_kernel: steps read by the causal depthwise convolution.
        dt_rank: rank of the projection that gives ``Delta``; ``None`` for ``ceil(H / 16)``.
        dt_min, dt_max: ``Delta`` starts log-uniform in this range (through its bias).
        scan: the scan form of :func:`~rnnlab.nets.scan.linear_scan`.
        chunk_size: steps per chunk of the ``chunked`` scan.
    """

    def __init__(
        self,
        size: int,
        state_size: int,
        expansion: int = 2,
        conv_kernel: int = 4,
        dt_rank: int | None = None,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        scan: ScanForm = "loop",
        chunk_size: int = 64,
    ):
        super().__init__()
        inner, rank = expansion * size, dt_rank or math.ceil(size / 16)
        self.in_proj = nn.Linear(size, 2 * inner, bias=False)  # x and z stacked
        self.conv = CausalDepthwiseConv(inner, conv_kernel)
        self.x_proj = nn.Linear(inner, rank + 2 * state_size, bias=False)  # Delta's, B, C
        self.dt_proj = nn.Linear(rank, inner)
        dt = torch.exp(torch.rand(inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.weight.uniform_(-(rank**-0.5), rank**-0.5)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus(bias) = dt
        # S4D-Real: A_n = -(n + 1) for every channel.
        a = torch.arange(1, state_size + 1, dtype=torch.float32).expand(inner, -1)
        self.a_log = nn.Parameter(a.log().clone())  # (E*H, N)
        self.d = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, size, bias=False)
        self.inner, self.rank, self.state_size = inner, rank, state_size
        self.kernel, self.scan, self.chunk_size = conv_kernel, scan, chunk_size

    def state_shapes(self, batch: int) -> tuple[tuple[int, ...], ...]:
        return (batch, self.inner * self.state_size), (batch, self.kernel - 1, self.inner)

    def _selection(self, x: torch.Tensor, valid: torch.Tensor | None):
        """``Delta`` ``(..., E*H)`` (0 where padded), ``B`` and ``C`` ``(..., N)`` from the
        convolved inputs ``x`` ``(..., E*H)``."""
        dt_low, b, c = self.x_proj(x).split([self.rank, self.state_size, self.state_size], -1)
        dt = F.softplus(self.dt_proj(dt_low))  # (..., E*H)
        if valid is not None:  # Delta = 0: A_bar = 1 and B_bar x = 0, the identity
            dt = dt * valid[..., None]
        return (
            dt.to(accumulation_dtype(dt)),
            b.to(accumulation_dtype(b)),
            c.to(accumulation_dtype(c)),
        )

    def _gates(self, dt: torch.Tensor, b: torch.Tensor, x: torch.Tensor):
        """``A_bar = exp(Delta A)`` and ``B_bar x = Delta B x``, each ``(..., E*H, N)``."""
        a = -self.a_log.exp()  # (E*H, N)
        return torch.exp(dt[..., None] * a), (dt * x)[..., None] * b[..., None, :]

    def forward(
        self, u: torch.Tensor, valid: torch.Tensor | None = None, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """Outputs ``(B, T, H)`` for ``u`` ``(B, T, H)``, and the final state: the SSM's
        ``(B, E*H*N)`` and the convolution's last inputs ``(B, K-1, E*H)``."""
        x, z = linear_parts(u, self.in_proj, 2)  # (B, T, E*H) each
        x, conv_state = self.conv(x, valid, None if state is None else state[1])
        x = F.silu(x)  # (B, T, E*H): causal, each step reads itself and K-1 before
        dt, b, c = self._selection(x, valid)
        x = x.to(dt.dtype)
        h0 = None if state is None else state[0]
        if self.scan == "loop":  # the fused loop: no (B, T, E*H, N) tensor but its states
            shape = (x.shape[0], self.inner, self.state_size)
            y, last = selective_scan(
                dt, -self.a_log.exp(), b, c, dt * x, None if h0 is None else h0.view(shape)
            )  # (B, T, E*H), (B, E*H, N)
            y, last = y + self.d * x, last.flatten(1)
        else:
            a_bar, bx = self._gates(dt, b, x)  # (B, T, E*H, N) each
            h, last = linear_scan(
                a_bar.flatten(2), bx.flatten(2), h0, self.scan, self.chunk_size
            )  # (B, T, E*H*N), (B, E*H*N)
            y = (h.view_as(a_bar) * c[..., None, :]).sum(-1) + self.d * x  # (B, T, E*H)
        return self._out(y, z), (last, conv_state.to(dt.dtype))

    def step(
        self, u: torch.Tensor, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """One step ``u`` ``(B, H)`` to its output ``(B, H)`` and the state after it."""
        x, z = linear_parts(u, self.in_proj, 2)  # (B, E*H) each
        x, conv_state = self.conv.step(x, None if state is None else state[1])
        x = F.silu(x)  # (B, E*H)
        dt, b, c = self._selection(x, None)
        x = x.to(dt.dtype)
        a_bar, bx = self._gates(dt, b, x)  # (B, E*H, N) each
        h = bx if state is None else a_bar * state[0].view_as(a_bar) + bx
        y = (h * c[..., None, :]).sum(-1) + self.d * x  # (B, E*H)
        return self._out(y, z), (h.flatten(1), conv_state.to(dt.dtype))

    def _out(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Gated by ``silu(z)`` and projected back: ``(..., E*H)`` to ``(..., H)``."""
        return self.out_proj((y * F.silu(z.to(y.dtype))).to(self.out_proj.weight.dtype))


_MIXERS = ("lru", "s4d", "s6")


class StateSpaceModel(MixerStack):
    """Stacked LRU, S4D or S6 layers in pre-norm residual blocks.

    Inputs (features or token ids) are projected to ``hidden_size``, read by ``num_layers``
    :class:`~rnnlab.nets.residual.PreNormResidualBlock` s around the chosen mixer, and
    normalised. Causal and unidirectional. The state is each layer's, stacked: for ``lru``
    ``(L, B, 2 state_size)`` and for ``s4d`` ``(L, B, 2 hidden_size state_size)`` (complex
    states as real parts then imaginary parts); for ``s6`` a pair, the SSM's
    ``(L, B, E hidden_size state_size)`` and the convolution's last inputs
    ``(L, B, conv_kernel - 1, E hidden_size)``, carried as an LSTM's ``(h, c)`` is. Reading a
    sequence in chunks equals reading it whole, and :meth:`step` reads one step at a time.

    Args:
        input_size: features per step; or ``None`` with ``vocab_size`` for token ids.
        mixer: ``lru``, ``s4d`` or ``s6``.
        hidden_size: features of the residual stream ``H``.
        num_layers: stacked residual blocks.
        dropout: dropout on each block's mixer and MLP outputs.
        state_size: complex modes of the LRU's state; complex modes per channel of S4D; real
            modes per inner channel of S6.
        scan: how the recurrence is computed along time (the results agree): ``loop``
            (fastest on CPU), ``parallel``, ``chunked`` or ``sequential`` (the reference);
            for ``s4d`` also ``convolution``, its FFT form; ``None``: the mixer's fastest
            (``convolution`` for ``s4d``, ``loop`` for the others).
        chunk_size: steps per chunk of the ``chunked`` scan.
        mlp_expansion: hidden units of each block's gated MLP per feature; 0 for no MLP (S6
            gates its own output, as Mamba's blocks have no MLP).
        r_min, r_max, max_phase: the LRU's eigenvalue ring and phase range.
        dt_min, dt_max: the range S4D's and S6's step ``Delta`` starts in.
        expansion, conv_kernel, dt_rank: S6's inner channels per feature, convolution width
            and the rank of ``Delta``'s projection (``None``: ``ceil(hidden_size / 16)``).
        vocab_size, embedding_dim, pad_index, embedding_weights: token ids are embedded first,
            as in :class:`~rnnlab.nets.recurrent.RecurrentEncoder`.
    """

    def __init__(
        self,
        input_size: int | None = None,
        mixer: MixerName = "s6",
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        state_size: int = 16,
        scan: ScanForm | Literal["convolution"] | None = None,
        chunk_size: int = 64,
        mlp_expansion: int = 2,
        r_min: float = 0.9,
        r_max: float = 0.999,
        max_phase: float = 2 * math.pi,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        expansion: int = 2,
        conv_kernel: int = 4,
        dt_rank: int | None = None,
        vocab_size: int | None = None,
        embedding_dim: int = 64,
        pad_index: int | None = None,
        embedding_weights: torch.Tensor | None = None,
    ):
        check(mixer in _MIXERS, f"model.mixer={mixer!r} is not one of {', '.join(_MIXERS)}.")
        forms = CONVOLVED_SCANS if mixer == "s4d" else SCANS
        if scan is None:
            scan = forms[0]
        check(scan in forms, f"model.scan={scan!r} is not one of {', '.join(forms)} for {mixer}.")
        check_sizes(
            chunk_size=chunk_size,
            state_size=state_size,
            expansion=expansion,
            conv_kernel=conv_kernel,
        )
        if dt_rank is not None:
            check_sizes(dt_rank=dt_rank)
        check(
            0 <= r_min <= r_max < 1,
            f"model.r_min={r_min} and model.r_max={r_max} must satisfy 0 <= r_min <= r_max < 1: "
            "the moduli of the LRU's eigenvalues.",
        )
        check(max_phase > 0, f"model.max_phase={max_phase} must be above 0.")
        check(
            0 < dt_min <= dt_max,
            f"model.dt_min={dt_min} and model.dt_max={dt_max} must satisfy 0 < dt_min <= dt_max.",
        )
        make = {
            "lru": lambda: LRU(hidden_size, state_size, r_min, r_max, max_phase, scan, chunk_size),
            "s4d": lambda: S4D(hidden_size, state_size, dt_min, dt_max, scan, chunk_size),
            "s6": lambda: S6(
                hidden_size,
                state_size,
                expansion,
                conv_kernel,
                dt_rank,
                dt_min,
                dt_max,
                scan,
                chunk_size,
            ),
        }[mixer]
        super().__init__(
            make,
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
