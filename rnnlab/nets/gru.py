"""``torch.nn.GRU`` with a fast training path on CPU.

On CPU, torch trains its LSTM through oneDNN's fused kernel but has no such path for its GRU,
which trains at half to two thirds of the LSTM's speed at equal size and batch 32
(``scripts/bench/gru_speed.py``). :class:`GRU` is ``torch.nn.GRU`` itself (same parameters,
state dict, initialisation and results) whose forward, when it trains on CPU, runs the
recurrence as rnnlab's own loop:

- the input side of every step, ``W_ih x_t + b_ih``, is one matrix product over the sequence;
- the time loop runs inside one :class:`torch.autograd.Function` (:class:`_GRULoop`), so
  autograd records one node per layer and direction rather than a dozen per step, and each
  step is one ``addmm`` and a few in-place element-wise kernels;
- the backward pass is the chain rule written out as a second loop, against factors (the
  gates' derivatives) that the forward computes for each block of steps while its values are
  in cache, and the gradients of ``W_hh`` and ``b_hh`` are taken as one product over all steps.

On a GPU (cuDNN), without gradients (evaluation, generation, export) and for one-step inputs
(a decoder fed a token at a time), the forward is torch's own. Padding is read through
``lengths`` (as the scratch cells read it): a row keeps its state after its last valid step,
its outputs there are zero, and its backward direction starts at that step, exactly as a
packed sequence gives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class GRU(nn.GRU):
    """``torch.nn.GRU(..., batch_first=True)`` that also takes ``lengths``, and trains on CPU
    through :class:`_GRULoop`; see the module's docstring."""

    reads_lengths = True  # fed padded batches with their lengths, never packed sequences

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.batch_first:
            raise ValueError("rnnlab's GRU reads batch-first sequences only: (B, T, F).")
        if self.proj_size:
            raise ValueError("rnnlab's GRU has no proj_size.")

    def forward(
        self,
        x: torch.Tensor,
        hx: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``x`` ``(B, T, F)``, of which row ``b`` is valid for ``lengths[b]`` steps (all
        ``T`` when None), from ``hx`` ``(L*D, B, H)`` (zeros when None).

        Returns ``output`` ``(B, T, D*H)``, zero on padded steps, and ``h_n`` ``(L*D, B, H)``,
        each row's state at its last valid step.
        """
        steps = x.shape[1]
        padded = lengths is not None and bool((lengths < steps).any())
        # torch's own kernel on a GPU, without gradients, and for a single step (a decoder
        # fed one token at a time), where the loop has nothing to batch over time.
        own_loop = x.device.type == "cpu" and steps > 1
        if not (own_loop and torch.is_grad_enabled() and self._needs_grad(x, hx)):
            if not padded:
                return super().forward(x, hx)
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, h_n = super().forward(packed, hx)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
            return out, h_n
        # Under CPU autocast torch's GRU runs in the parameters' precision; so does this one.
        with torch.autocast("cpu", enabled=False):
            dtype = self.weight_hh_l0.dtype
            hx = hx if hx is None else hx.to(dtype)
            return self._train_on_cpu(x.to(dtype), hx, lengths if padded else None)

    def _needs_grad(self, x: torch.Tensor, hx: torch.Tensor | None) -> bool:
        return (
            x.requires_grad
            or (hx is not None and hx.requires_grad)
            or any(p.requires_grad for p in self.parameters())
        )

    def _train_on_cpu(
        self, x: torch.Tensor, hx: torch.Tensor | None, lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps = x.shape[:2]
        directions = 2 if self.bidirectional else 1
        if hx is None:
            hx = x.new_zeros(self.num_layers * directions, batch, self.hidden_size)
        keep = reverse_index = None
        if lengths is not None:
            time, lengths = torch.arange(steps), lengths.cpu()[:, None]  # (T,), (B, 1)
            valid = time < lengths  # (B, T)
            keep = valid.T[..., None].to(x.dtype)  # (T, B, 1): 1 on valid steps
            # Row b read backwards within its length: lengths[b]-1, ..., 0, then the padding.
            reverse_index = torch.where(valid, lengths - 1 - time, time)
        layer_input = x.transpose(0, 1)  # (T, B, F): one step's rows are contiguous
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                suffix = f"l{layer}" + ("_reverse" if direction else "")
                inputs = layer_input if direction == 0 else _reverse(layer_input, reverse_index)
                projected = F.linear(
                    inputs, getattr(self, f"weight_ih_{suffix}"), getattr(self, f"bias_ih_{suffix}")
                )  # (T, B, 3H)
                out, h_n = _GRULoop.apply(
                    projected,
                    hx[layer * directions + direction],
                    getattr(self, f"weight_hh_{suffix}"),
                    getattr(self, f"bias_hh_{suffix}"),
                    keep if direction == 0 else _reverse(keep, reverse_index),
                )
                outputs.append(out if direction == 0 else _reverse(out, reverse_index))
                finals.append(h_n)
            layer_input = outputs[0] if directions == 1 else torch.cat(outputs, -1)
            if layer < self.num_layers - 1 and self.dropout > 0:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
        return layer_input.transpose(0, 1), torch.stack(finals)


def _reverse(x: torch.Tensor | None, index: torch.Tensor | None) -> torch.Tensor | None:
    """Reverse each row of a time-major ``x`` ``(T, B, ...)`` in time within its length
    (``index`` ``(B, T)``), or whole rows when ``index`` is None; its own inverse."""
    if x is None:
        return None
    if index is None:
        return x.flip(0)
    return x.gather(0, index.T.reshape(*index.T.shape, 1).expand_as(x))


FACTOR_BLOCK = 2**18
"""Numbers per block of steps whose backward factors :class:`_GRULoop` computes at once (a
megabyte of float32): large enough that a short sequence is one block, small enough that a
block is still in cache when it is read back."""


def _factors(rz, a2_n, to_z, to_n, to_r) -> None:
    """The backward's factors for a block of steps, in place: ``to_z`` holding ``h - n``
    becomes ``(h - n) z (1 - z)``, ``to_n`` holding ``s = sigmoid(2u)`` becomes
    ``(1 - z)(1 - n^2) = (1 - z) 4 s (1 - s)``, and ``to_r`` is ``r (1 - r) a_n``, from the
    doubled ``a2_n``."""
    size = to_z.shape[-1]
    slopes = torch.addcmul(rz, rz, rz, value=-1)  # sigmoid's slopes of r and z
    to_z.mul_(slopes[..., size:])
    torch.mul(slopes[..., :size], a2_n, out=to_r).mul_(0.5)
    to_n.addcmul_(to_n, to_n, value=-1).mul_(torch.rsub(rz[..., size:], 4.0, alpha=4.0))


class _GRULoop(torch.autograd.Function):
    """One layer-direction of the GRU over time-major projected inputs, in torch's gate order
    ``r, z, n``::

        [a_r; a_z; a_n] = W_hh h_{t-1} + b_hh
        r = σ(x_r + a_r),  z = σ(x_z + a_z),  n = tanh(x_n + r ⊙ a_n)
        h_t = n + z ⊙ (h_{t-1} - n)

    With ``keep`` ``(T, B, 1)`` (0 on padded steps) a padded step leaves the state as it was
    and outputs zero.

    Each forward step is an ``addmm`` into a buffer that already holds ``x_r + b_r``,
    ``x_z + b_z`` and ``b_n``, then six element-wise kernels: the sigmoid of ``r`` and ``z``, the
    candidate's sum and its sigmoid, ``n = 2 s - 1``, ``h - n`` and the update. ``n`` is computed
    as ``tanh(u) = 2 sigmoid(2u) - 1``, with the ``n`` rows of ``W_hh`` and ``b_hh`` and the
    projected ``x_n`` doubled once for the whole sequence: torch's ``tanh`` on CPU costs several
    times its ``sigmoid``. The factors the backward pass needs (the gates' derivatives) are
    computed in blocks of steps, about :data:`FACTOR_BLOCK` numbers each, right after the loop
    has written them: one pass per block rather than a few kernel launches per step, while the
    block is still in cache. The backward's per-step gradients live in one buffer laid out
    ``[n | r | z | x_n]``: its first three blocks are the gradient of ``W_hh h + b_hh`` (in the
    order ``n, r, z``; ``W_hh``'s rows are put in that order for the loop and back after it)
    and its last three the gradient of the projected inputs, so neither is copied out.
    """

    @staticmethod
    def forward(ctx, projected, h0, w_hh, b_hh, keep):
        steps, batch, three = projected.shape
        size = three // 3
        n_rows = slice(2 * size, None)
        # pre[t] starts as [x_r + b_r; x_z + b_z; 2 b_n] and the loop adds W_hh' h_{t-1} to it,
        # W_hh' being W_hh with its n rows doubled: the n block of pre is then 2 a_n.
        pre = projected.new_empty(steps, batch, three)
        torch.add(projected[..., : 2 * size], b_hh[: 2 * size], out=pre[..., : 2 * size])
        pre[..., n_rows] = b_hh[n_rows] * 2.0
        x2_n = projected[..., n_rows] * 2.0
        w_t = torch.cat([w_hh[: 2 * size], w_hh[n_rows] * 2.0]).T
        hs = projected.new_empty(steps + 1, batch, size)  # h_0 ... h_T
        hs[0] = h0
        rz = projected.new_empty(steps, batch, 2 * size)
        # The backward's factors: dh -> d(x_z + a_z), dh -> d(x_n + r a_n), and
        # d(x_n + r a_n) -> d(x_r + a_r). The loop leaves h - n in to_z and s = sigmoid(2u)
        # in to_n; each block of steps turns them into the factors.
        to_z, to_n, to_r = projected.new_empty(3, steps, batch, size)
        n = h0.new_empty(batch, size)
        minus_one, two = h0.new_tensor(-1.0), h0.new_tensor(2.0)
        # Each step's views, made once: indexing inside the loop costs more than the math.
        h, pre_t = hs.unbind(0), pre.unbind(0)
        rz_t, r_t, z_t = rz.unbind(0), rz[..., :size].unbind(0), rz[..., size:].unbind(0)
        pre_rz, a2_n = pre[..., : 2 * size].unbind(0), pre[..., n_rows].unbind(0)
        d_t, s_t, x_n = to_z.unbind(0), to_n.unbind(0), x2_n.unbind(0)
        block, start = max(1, FACTOR_BLOCK // (batch * size)), 0
        for t in range(steps):
            r, z = r_t[t], z_t[t]
            pre_t[t].addmm_(h[t], w_t)
            torch.sigmoid(pre_rz[t], out=rz_t[t])
            torch.addcmul(x_n[t], r, a2_n[t], out=s_t[t]).sigmoid_()  # s = sigmoid(2u)
            torch.addcmul(minus_one, s_t[t], two, out=n)  # n = tanh(u) = 2 s - 1
            torch.sub(h[t], n, out=d_t[t])
            torch.addcmul(n, z, d_t[t], out=h[t + 1])  # n + z (h - n)
            if t + 1 - start == block or t + 1 == steps:
                done = slice(start, t + 1)
                _factors(rz[done], pre[done, :, n_rows], to_z[done], to_n[done], to_r[done])
                start = t + 1
        if keep is not None:
            # Padded steps keep h. A row's padding is its last steps (the backward direction's
            # too, read reversed within its length), so no valid step follows a padded one:
            # the loop above may run on through the padding, and each padded step's h is put
            # back to the state before it here, in order. The factors computed for padded
            # steps are masked out in the backward pass.
            for t in range(steps):
                h[t + 1].sub_(h[t]).mul_(keep[t]).add_(h[t])
        ctx.save_for_backward(hs, rz, to_z, to_n, to_r, w_hh, keep)
        out = hs[1:] if keep is None else hs[1:] * keep
        return out, hs[-1].clone()

    @staticmethod
    def backward(ctx, grad_out, grad_last):
        hs, rz, to_z, to_n, to_r, w_hh, keep = ctx.saved_tensors
        steps, batch, size = to_z.shape
        r, carry = rz[..., :size], rz[..., size:]  # carry: dh_t -> dh_{t-1}, besides W_hh
        if keep is not None:
            to_z, to_n = to_z * keep, to_n * keep  # a padded step has no gate gradients
            carry = 1 - (1 - carry) * keep  # and passes dh straight through
            grad_out = grad_out * keep
        grads = to_z.new_empty(steps, batch, 4 * size)  # [a_n | a_r | a_z | x_n] per step
        g_t = grads.unbind(0)
        g_n, g_r, g_z, g_x = (grads[..., i * size : (i + 1) * size].unbind(0) for i in range(4))
        w_nrz = torch.cat([w_hh[2 * size :], w_hh[: 2 * size]])  # rows ordered n, r, z
        r_t, carry_t, out_t = r.unbind(0), carry.unbind(0), grad_out.unbind(0)
        to_z_t, to_n_t, to_r_t = to_z.unbind(0), to_n.unbind(0), to_r.unbind(0)
        dh = grad_last + out_t[-1]
        for t in range(steps - 1, -1, -1):
            torch.mul(dh, to_n_t[t], out=g_x[t])
            torch.mul(g_x[t], r_t[t], out=g_n[t])
            torch.mul(g_x[t], to_r_t[t], out=g_r[t])
            torch.mul(dh, to_z_t[t], out=g_z[t])
            carried = dh * carry_t[t] if t == 0 else torch.addcmul(out_t[t - 1], dh, carry_t[t])
            dh = torch.addmm(carried, g_t[t][:, : 3 * size], w_nrz)
        flat = grads[..., : 3 * size].reshape(-1, 3 * size)  # a view: T and B merge
        grad_w = flat.T @ hs[:-1].reshape(-1, size)  # (3H, H), rows n, r, z: every step at once
        grad_b = flat.sum(0)
        grad_w = torch.cat([grad_w[size:], grad_w[:size]])  # rows back to r, z, n
        grad_b = torch.cat([grad_b[size:], grad_b[:size]])
        return grads[..., size:], dh, grad_w, grad_b, None
