"""RNN, LSTM and GRU written from their textbook equations: ``model.impl=scratch``.

Each module is a drop-in for ``torch.nn.RNN``/``LSTM``/``GRU`` with ``batch_first=True``: the
same constructor arguments, the same parameter names and shapes (``weight_ih_l{k}[_reverse]``,
``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}``, gates stacked in torch's order), the same
initialisation, and the same ``(output, h_n)`` result, so ``scratch.load_state_dict(
fused.state_dict())`` gives the same function. They read padded batches through ``lengths``
instead of packed sequences.

The time loop is plain Python, made usable by doing all the work that does not depend on the
previous state up front: the input projection ``W_ih x_t + b`` of every step is one matmul over
``(B, T, F)``, and each step only adds the hidden projection and applies the gates.

:class:`LayerNormLSTM` (``model.impl=scratch_ln``) is the layer-normalised LSTM of Ba, Kiros and
Hinton (2016), which has no fused kernel.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Nonlinearity = Literal["tanh", "relu"]
States = tuple[torch.Tensor, ...]  # one layer-direction's state: (h,) or (h, c), each (B, H)

_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


class _ScratchRecurrent(nn.Module, ABC):
    """What the scratch cells share: parameters per layer and direction, stacking, direction
    reversal, padding masks and the time loop.

    A subclass says how many gate blocks its weights stack (``gates``) and how many tensors its
    state holds (``state_tensors``), and implements :meth:`_step` (one step of the recurrence);
    it overrides :meth:`_project` and :meth:`_hidden_params` where both biases cannot be added
    on the input side.
    """

    gates: int = 1
    state_tensors: int = 1
    reads_lengths = True  # fed padded batches with their lengths, never packed sequences

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        batch_first: bool = True,
    ):
        super().__init__()
        if not batch_first:
            raise ValueError("the scratch cells read batch-first sequences only: (B, T, F).")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout should be a number in range [0, 1], not {dropout}.")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.batch_first = True
        self.num_directions = 2 if bidirectional else 1
        self._keys: list[str] = []  # "l{k}", "l{k}_reverse": h_n's (layer, direction) order
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in ("", "_reverse")[: self.num_directions]:
                key = f"l{layer}{suffix}"
                for name, shape in self._shapes(layer_input).items():
                    self.register_parameter(f"{name}_{key}", nn.Parameter(torch.empty(shape)))
                self._keys.append(key)
        self.reset_parameters()

    def _shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        """One layer-direction's parameters, named and shaped as torch names them."""
        rows = self.gates * self.hidden_size
        return {
            "weight_ih": (rows, input_size),
            "weight_hh": (rows, self.hidden_size),
            "bias_ih": (rows,),
            "bias_hh": (rows,),
        }

    def reset_parameters(self) -> None:
        """Every weight and bias uniform in ``±1/sqrt(H)``, as torch initialises its RNNs."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s + (", bidirectional=True" if self.bidirectional else "")

    def _project(self, x: torch.Tensor, key: str) -> torch.Tensor:
        """The input side of every step at once, ``(B, T, F)`` to ``(B, T, G*H)``:
        ``W_ih x_t + b_ih + b_hh``, as both biases add to the pre-activations unchanged."""
        bias = getattr(self, f"bias_ih_{key}") + getattr(self, f"bias_hh_{key}")
        return F.linear(x, getattr(self, f"weight_ih_{key}"), bias)

    def _hidden_params(self, key: str) -> tuple[torch.Tensor, ...]:
        """The parameters :meth:`_step` needs, looked up once per layer-direction."""
        return (getattr(self, f"weight_hh_{key}"),)

    @abstractmethod
    def _step(self, x_t: torch.Tensor, state: States, *params: torch.Tensor) -> States:
        """One step: projected input ``(B, G*H)`` and state to the next state."""

    def forward(
        self,
        x: torch.Tensor,
        hx: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        """Run ``x`` ``(B, T, F)``, of which row ``b`` is valid for ``lengths[b]`` steps.

        Args:
            x: the input sequences ``(B, T, F)``.
            hx: the initial state ``(L*D, B, H)`` (LSTM: a pair ``(h_0, c_0)``); zeros if None.
            lengths: valid steps per row ``(B,)``; None when every row fills all ``T`` steps.
                A row's state stops at its last valid step, its outputs after it are zero,
                and the backward direction starts from that step.

        Returns:
            ``output`` ``(B, T, D*H)`` (the top layer at every step, directions concatenated)
            and ``h_n`` ``(L*D, B, H)`` (LSTM: ``(h_n, c_n)``), as ``torch.nn.RNN`` returns them.
        """
        batch, steps = x.shape[:2]
        if hx is None:
            zeros = x.new_zeros(len(self._keys), batch, self.hidden_size)  # (L*D, B, H)
            hx = (zeros,) * self.state_tensors
        elif isinstance(hx, torch.Tensor):
            hx = (hx,)
        valid = reverse_index = None
        if lengths is not None:
            lengths = lengths.to(x.device)
            time = torch.arange(steps, device=x.device)
            valid = time < lengths[:, None]  # (B, T)
            # Row b read backwards within its length: lengths[b]-1, ..., 0, then the padding.
            reverse_index = torch.where(valid, lengths[:, None] - 1 - time, time)  # (B, T)

        finals: list[States] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                key = self._keys[index]
                inputs = layer_input
                if direction == 1:
                    inputs = _reverse(inputs, reverse_index)
                out, final = self._scan(
                    self._project(inputs, key),  # (B, T, G*H)
                    tuple(h[index] for h in hx),
                    valid,
                    self._hidden_params(key),
                )
                outputs.append(out if direction == 0 else _reverse(out, reverse_index))
                finals.append(final)
            layer_input = torch.cat(outputs, dim=-1)  # (B, T, D*H)
            if layer < self.num_layers - 1 and self.dropout > 0:
                layer_input = F.dropout(layer_input, self.dropout, self.training)

        h_n = tuple(torch.stack(t) for t in zip(*finals, strict=True))  # each (L*D, B, H)
        return layer_input, (h_n if self.state_tensors > 1 else h_n[0])

    def _scan(
        self,
        projected: torch.Tensor,
        state: States,
        valid: torch.Tensor | None,
        params: tuple[torch.Tensor, ...],
    ) -> tuple[torch.Tensor, States]:
        """The time loop of one layer-direction over ``projected`` ``(B, T, G*H)``.

        Returns the hidden state at every step ``(B, T, H)``, zero where ``valid`` is False,
        and the final state, taken at each row's last valid step.
        """
        keeps = (None,) * projected.shape[1] if valid is None else valid.T[..., None].unbind(0)
        hs = []
        for x_t, keep in zip(projected.unbind(1), keeps, strict=True):
            new = self._step(x_t, state, *params)
            if keep is not None:  # (B, 1): padded rows keep their state
                new = tuple(torch.where(keep, n, s) for n, s in zip(new, state, strict=True))
            state = new
            hs.append(state[0])
        out = torch.stack(hs, dim=1)  # (B, T, H)
        if valid is not None:
            out = out.masked_fill(~valid[..., None], 0.0)
        return out, state


def _reverse(x: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
    """Reverse each row of ``x`` ``(B, T, F)`` in time within its length (``index`` ``(B, T)``
    from :meth:`_ScratchRecurrent.forward`), or whole rows when ``index`` is None.

    Applying it twice gives ``x`` back, so it also puts a backward output in forward order.
    """
    if index is None:
        return x.flip(1)
    return x.gather(1, index[..., None].expand_as(x))


class ScratchRNN(_ScratchRecurrent):
    """Elman RNN: ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (or ``relu``).

    Drop-in for ``torch.nn.RNN(..., batch_first=True)``; see :class:`_ScratchRecurrent.forward`.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        batch_first: bool = True,
        nonlinearity: Nonlinearity = "tanh",
    ):
        if nonlinearity not in _ACTIVATIONS:
            raise ValueError(f"nonlinearity={nonlinearity!r} is not one of 'tanh', 'relu'.")
        super().__init__(input_size, hidden_size, num_layers, dropout, bidirectional, batch_first)
        self.nonlinearity = nonlinearity
        self._activation = _ACTIVATIONS[nonlinearity]

    def _step(self, x_t: torch.Tensor, state: States, w_hh: torch.Tensor) -> States:
        (h,) = state
        return (self._activation(torch.addmm(x_t, h, w_hh.T)),)  # (B, H)


class ScratchLSTM(_ScratchRecurrent):
    """LSTM, gates stacked in torch's order ``i, f, g, o``::

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate
        f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   candidate cell
        o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)

    Drop-in for ``torch.nn.LSTM(..., batch_first=True)``; the state is the pair ``(h, c)``.
    """

    gates = 4
    state_tensors = 2

    def _step(self, x_t: torch.Tensor, state: States, w_hh: torch.Tensor) -> States:
        h, c = state
        i, f, g, o = torch.addmm(x_t, h, w_hh.T).chunk(4, dim=1)  # each (B, H)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class ScratchGRU(_ScratchRecurrent):
    """GRU in torch's formulation, gates stacked ``r, z, n``::

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)             reset gate
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)             update gate
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))  candidate
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    The reset gate scales the hidden projection after its bias, which is why ``b_hn`` cannot
    join the input side. Drop-in for ``torch.nn.GRU(..., batch_first=True)``.
    """

    gates = 3

    def _project(self, x: torch.Tensor, key: str) -> torch.Tensor:
        return F.linear(x, getattr(self, f"weight_ih_{key}"), getattr(self, f"bias_ih_{key}"))

    def _hidden_params(self, key: str) -> tuple[torch.Tensor, ...]:
        return getattr(self, f"weight_hh_{key}"), getattr(self, f"bias_hh_{key}")

    def _step(
        self, x_t: torch.Tensor, state: States, w_hh: torch.Tensor, b_hh: torch.Tensor
    ) -> States:
        (h,) = state
        x_r, x_z, x_n = x_t.chunk(3, dim=1)  # each (B, H)
        h_r, h_z, h_n = torch.addmm(b_hh, h, w_hh.T).chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return (n + z * (h - n),)  # = (1 - z) n + z h


class LayerNormLSTM(_ScratchRecurrent):
    """Layer-normalised LSTM (Ba, Kiros and Hinton, 2016, "Layer Normalization", §6.2)::

        [i; f; g; o] = LN(W_ih x_t; α_ih) + LN(W_hh h_{t-1}; α_hh) + b
        c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)
        h_t = σ(o) ⊙ tanh(LN(c_t; α_c, β_c))

    ``LN(v; α, β)`` normalises ``v`` over its features to zero mean and unit variance, then
    scales by the gain ``α`` and shifts by ``β``. The input and hidden projections are normalised
    separately, over all four gates together as in the paper; their shifts would duplicate ``b``,
    so they have gains only. The cell is normalised before its output ``tanh`` but carried on
    unnormalised.

    Parameters per layer ``k`` (``_reverse`` for the backward direction): ``weight_ih_l{k}``
    ``(4H, F_k)``, ``weight_hh_l{k}`` ``(4H, H)``, ``bias_l{k}`` ``(4H,)``, ``ln_ih_weight_l{k}``
    and ``ln_hh_weight_l{k}`` ``(4H,)``, ``ln_cell_weight_l{k}`` and ``ln_cell_bias_l{k}``
    ``(H,)``. Weights and ``b`` start uniform in ``±1/sqrt(H)``, gains at 1 and the cell shift
    at 0. Same interface as :class:`ScratchLSTM`.
    """

    gates = 4
    state_tensors = 2

    def _shapes(self, input_size: int) -> dict[str, tuple[int, ...]]:
        rows = self.gates * self.hidden_size
        return {
            "weight_ih": (rows, input_size),
            "weight_hh": (rows, self.hidden_size),
            "bias": (rows,),
            "ln_ih_weight": (rows,),
            "ln_hh_weight": (rows,),
            "ln_cell_weight": (self.hidden_size,),
            "ln_cell_bias": (self.hidden_size,),
        }

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name, p in self.named_parameters():
            if name.startswith("ln_cell_bias"):
                nn.init.zeros_(p)
            elif name.startswith("ln_"):
                nn.init.ones_(p)
            else:
                nn.init.uniform_(p, -bound, bound)

    def _project(self, x: torch.Tensor, key: str) -> torch.Tensor:
        projected = F.linear(x, getattr(self, f"weight_ih_{key}"))  # (B, T, 4H)
        gain = getattr(self, f"ln_ih_weight_{key}")
        return F.layer_norm(projected, gain.shape, gain) + getattr(self, f"bias_{key}")

    def _hidden_params(self, key: str) -> tuple[torch.Tensor, ...]:
        names = ("weight_hh", "ln_hh_weight", "ln_cell_weight", "ln_cell_bias")
        return tuple(getattr(self, f"{name}_{key}") for name in names)

    def _step(
        self,
        x_t: torch.Tensor,
        state: States,
        w_hh: torch.Tensor,
        gain_hh: torch.Tensor,
        gain_c: torch.Tensor,
        shift_c: torch.Tensor,
    ) -> States:
        h, c = state
        hidden = F.layer_norm(h @ w_hh.T, gain_hh.shape, gain_hh)  # (B, 4H)
        i, f, g, o = (x_t + hidden).chunk(4, dim=1)  # each (B, H)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(F.layer_norm(c, gain_c.shape, gain_c, shift_c))
        return h, c
