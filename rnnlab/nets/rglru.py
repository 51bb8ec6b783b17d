"""Hawk's recurrent net: the RG-LRU of Griffin and Hawk (De et al., 2024, "Griffin: Mixing Gated
Linear Recurrences with Local Attention for Efficient Language Models"), ``model=rglru``.

The Real-Gated Linear Recurrent Unit is a diagonal linear recurrence per channel whose two gates
read the input only, never the state, so a whole sequence runs through
:func:`~rnnlab.nets.scan.linear_scan` and one step at a time runs the same update:

- recurrence gate ``r_t = sigmoid(W_a x_t + b_a)``, input gate ``i_t = sigmoid(W_x x_t + b_x)``;
- decay ``a_t = a^(c r_t)`` with ``a = sigmoid(Lambda)`` per channel and a fixed ``c = 8``,
  computed as ``log a_t = -c r_t softplus(-Lambda)``;
- ``h_t = a_t h_{t-1} + sqrt(1 - a_t^2) (i_t x_t)``, and the output is ``h_t`` itself.

The gate ``r_t`` lets a step shorten the memory (``a_t`` from ``a^c`` up to 1, where the state is
kept and the input ignored), and ``sqrt(1 - a_t^2)`` keeps the state's scale whatever the decay.

Griffin's recurrent block (its temporal-mixing block, :class:`RGLRUMixer`) wraps the unit in two
branches of the normed input ``u``: ``GeLU(W_g u)``, and ``W_x u`` through a short causal
depthwise convolution and the RG-LRU; their product is projected back by ``W_out``. Hawk stacks
it in residual blocks with a gated MLP (:class:`RGLRUNet`). Two simplifications, for small
models: the gates' matrices are dense (the paper's are block-diagonal, one block per head), and
the branches' width is a whole multiple ``expansion`` of ``hidden_size`` (the paper uses about
4/3 of it). The normalisations are LayerNorm, as in every rnnlab residual stack (the paper's
are RMSNorm).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.nets.base import CausalDepthwiseConv, accumulation_dtype, check_sizes, linear_parts
from rnnlab.nets.residual import LayerState, MixerStack
from rnnlab.nets.scan import ScanForm, linear_scan
from rnnlab.nets.ssm import SCANS
from rnnlab.utils.errors import check

# The derivative of sqrt(v) is 1 / (2 sqrt(v)): unbounded where a_t reaches 1, which a
# saturated recurrence gate (r_t = 0 in float32) gives. Its backward is capped here.
SQRT_GRAD_LIMIT = 1000.0


class _SqrtWithBoundedGrad(torch.autograd.Function):
    """``sqrt(v)`` whose gradient is at most :data:`SQRT_GRAD_LIMIT` times the incoming one."""

    @staticmethod
    def forward(ctx, v):
        root = torch.sqrt(v)
        ctx.save_for_backward(root)
        return root

    @staticmethod
    def backward(ctx, grad):
        (root,) = ctx.saved_tensors
        return grad / (2 * root).clamp_min(1 / SQRT_GRAD_LIMIT)


class RGLRU(nn.Module):
    """The Real-Gated Linear Recurrent Unit: ``width`` channels, each its own recurrence.

    Args:
        width: channels in, out and of the state, ``W``.
        c: the fixed power of the decay, ``a_t = a^(c r_t)``.
        a_min, a_max: the range ``a = sigmoid(Lambda)`` starts in, ``a^c`` uniformly in
            ``[a_min^c, a_max^c]`` (the paper's initialisation).
        scan: the scan form of :func:`~rnnlab.nets.scan.linear_scan`.
        chunk_size: steps per chunk of the ``chunked`` scan.
    """

    def __init__(
        self,
        width: int,
        c: float = 8.0,
        a_min: float = 0.9,
        a_max: float = 0.999,
        scan: ScanForm = "loop",
        chunk_size: int = 64,
    ):
        super().__init__()
        self.gates = nn.Linear(width, 2 * width)  # W_a and W_x stacked, with b_a and b_x
        a_c = torch.rand(width, dtype=torch.float64) * (a_max**c - a_min**c) + a_min**c
        a = a_c ** (1 / c)  # (W,): sigmoid(Lambda)
        self.lam = nn.Parameter((a.log() - torch.log1p(-a)).float())  # Lambda = logit(a)
        self.c, self.scan, self.chunk_size = c, scan, chunk_size

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``a_t`` and ``b_t = sqrt(1 - a_t^2) i_t x_t`` for inputs ``x`` ``(..., W)``, each
        ``(..., W)``, in float32 at least."""
        dtype = accumulation_dtype(x)
        r, i = (torch.sigmoid(t.to(dtype)) for t in linear_parts(x, self.gates, 2))  # (..., W)
        log_a = -self.c * r * F.softplus(-self.lam.to(dtype))  # log sigmoid(Lambda)^(c r)
        # 1 - a^2 as -expm1(2 log a): exact where a is near 1, where 1 - a*a cancels.
        scale = _SqrtWithBoundedGrad.apply(-torch.expm1(2 * log_a))
        return log_a.exp(), scale * i * x.to(dtype)

    def forward(
        self, x: torch.Tensor, valid: torch.Tensor | None = None, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """States ``(B, T, W)`` and the final state ``(B, W)`` for ``x`` ``(B, T, W)``, from
        ``h0`` ``(B, W)``. Where ``valid`` ``(B, T)`` is false the step is the identity
        (``a = 1``, ``b = 0``), so the final state is each row's own."""
        a, b = self.coefficients(x)  # (B, T, W) each
        if valid is not None:
            padded = ~valid[..., None]  # (B, T, 1)
            a, b = a.masked_fill(padded, 1.0), b.masked_fill(padded, 0.0)
        return linear_scan(a, b, h0, self.scan, self.chunk_size)

    def step(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """The one-step form: the state after ``x`` ``(B, W)`` from ``h`` ``(B, W)``."""
        a, b = self.coefficients(x)  # (B, W) each
        return b if h is None else torch.addcmul(b, a, h)


class RGLRUMixer(nn.Module):
    """Griffin's recurrent block: ``W_out(GeLU(W_g u) * RG-LRU(conv(W_x u)))``.

    Its state is a pair: the RG-LRU's ``(B, W)`` and the convolution's last ``conv_kernel - 1``
    inputs ``(B, K-1, W)``, so reading a sequence in chunks equals reading it whole.

    Args:
        size: features in and out, ``H``.
        expansion: channels of each branch per feature, ``W = expansion * H``.
        conv_kernel: steps read by the causal depthwise convolution, ``K``.
        c, a_min, a_max, scan, chunk_size: the RG-LRU's (see :class:`RGLRU`).
    """

    def __init__(
        self,
        size: int,
        expansion: int = 1,
        conv_kernel: int = 4,
        c: float = 8.0,
        a_min: float = 0.9,
        a_max: float = 0.999,
        scan: ScanForm = "loop",
        chunk_size: int = 64,
    ):
        super().__init__()
        width = expansion * size
        self.in_proj = nn.Linear(size, 2 * width)  # W_x and W_g stacked
        self.conv = CausalDepthwiseConv(width, conv_kernel)
        self.rglru = RGLRU(width, c, a_min, a_max, scan, chunk_size)
        self.out_proj = nn.Linear(width, size)
        self.width, self.kernel = width, conv_kernel

    def state_shapes(self, batch: int) -> tuple[tuple[int, ...], ...]:
        return (batch, self.width), (batch, self.kernel - 1, self.width)

    def forward(
        self, u: torch.Tensor, valid: torch.Tensor | None = None, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """Outputs ``(B, T, H)`` for ``u`` ``(B, T, H)``, and the final state: the RG-LRU's
        ``(B, W)`` and the convolution's last inputs ``(B, K-1, W)``."""
        x, g = linear_parts(u, self.in_proj, 2)  # (B, T, W) each
        # (B, T, W): causal, each step reads itself and K-1 before
        x, conv_state = self.conv(x, valid, None if state is None else state[1])
        h, last = self.rglru(x, valid, None if state is None else state[0])  # (B, T, W), (B, W)
        return self._out(h, g), (last, conv_state.to(h.dtype))

    def step(
        self, u: torch.Tensor, state: LayerState | None = None
    ) -> tuple[torch.Tensor, LayerState]:
        """One step ``u`` ``(B, H)`` to its output ``(B, H)`` and the state after it."""
        x, g = linear_parts(u, self.in_proj, 2)  # (B, W) each
        x, conv_state = self.conv.step(x, None if state is None else state[1])  # (B, W)
        h = self.rglru.step(x, None if state is None else state[0])  # (B, W)
        return self._out(h, g), (h, conv_state.to(h.dtype))

    def _out(self, h: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The recurrent branch gated by ``GeLU(g)`` and projected back: ``(..., W)`` to
        ``(..., H)``."""
        return self.out_proj((h * F.gelu(g.to(h.dtype))).to(self.out_proj.weight.dtype))


class RGLRUNet(MixerStack):
    """Hawk: stacked Griffin recurrent blocks (:class:`RGLRUMixer`) in pre-norm residual blocks
    with a gated MLP.

    Inputs (features or token ids) are projected to ``hidden_size``, read by ``num_layers``
    :class:`~rnnlab.nets.residual.PreNormResidualBlock` s, and normalised. Causal and
    unidirectional. The state is each layer's pair, stacked: the RG-LRU's ``(L, B, W)`` and the
    convolution's last inputs ``(L, B, conv_kernel - 1, W)``, ``W = expansion * hidden_size``,
    carried as an LSTM's ``(h, c)`` is. Reading a sequence in chunks equals reading it whole,
    and :meth:`step` reads one step at a time.

    Args:
        input_size: features per step; or ``None`` with ``vocab_size`` for token ids.
        hidden_size: features of the residual stream ``H``.
        num_layers: stacked residual blocks.
        dropout: dropout on each block's mixer and MLP outputs.
        expansion: channels of the recurrent block's branches (and of the state) per feature;
            a whole number (the paper's 4/3 is not), 1 for small models.
        conv_kernel: steps read by the causal depthwise convolution before the RG-LRU.
        c: the fixed power of the decay, ``a_t = sigmoid(Lambda)^(c r_t)``.
        a_min, a_max: ``sigmoid(Lambda)`` starts in this range (``0 < a_min <= a_max < 1``).
        scan: how the recurrence is computed along time (the results agree): ``loop``
            (fastest on CPU), ``parallel``, ``chunked`` or ``sequential`` (the reference).
        chunk_size: steps per chunk of the ``chunked`` scan.
        mlp_expansion: hidden units of each block's gated MLP per feature; 0 for no MLP.
        vocab_size, embedding_dim, pad_index, embedding_weights: token ids are embedded first,
            as in :class:`~rnnlab.nets.recurrent.RecurrentEncoder`.
    """

    def __init__(
        self,
        input_size: int | None = None,
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        expansion: int = 1,
        conv_kernel: int = 4,
        c: float = 8.0,
        a_min: float = 0.9,
        a_max: float = 0.999,
        scan: ScanForm = "loop",
        chunk_size: int = 64,
        mlp_expansion: int = 2,
        vocab_size: int | None = None,
        embedding_dim: int = 64,
        pad_index: int | None = None,
        embedding_weights: torch.Tensor | None = None,
    ):
        check(scan in SCANS, f"model.scan={scan!r} is not one of {', '.join(SCANS)}.")
        check_sizes(
            hidden_size=hidden_size,
            num_layers=num_layers,
            chunk_size=chunk_size,
            expansion=expansion,
            conv_kernel=conv_kernel,
        )
        check(
            isinstance(c, int | float) and math.isfinite(c) and c > 0,
            f"model.c={c} must be a number above 0: the power of the RG-LRU's decay.",
        )
        check(
            isinstance(a_min, int | float)
            and isinstance(a_max, int | float)
            and 0 < a_min <= a_max < 1,
            f"model.a_min={a_min} and model.a_max={a_max} must satisfy 0 < a_min <= a_max < 1: "
            "the range the RG-LRU's decay sigmoid(Lambda) starts in.",
        )
        super().__init__(
            lambda: RGLRUMixer(
                hidden_size, expansion, conv_kernel, c, a_min, a_max, scan, chunk_size
            ),
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
