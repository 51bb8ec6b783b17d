"""A linear-chain conditional random field over per-step tag scores (Lafferty et al. 2001), the
output layer of the BiLSTM-CRF tagger (Huang et al. 2015; Lample et al. 2016).

A tag sequence ``y`` of a sentence with emission scores ``e`` (``(T, C)``, from the encoder's
head) scores ``start[y_0] + sum_t e[t, y_t] + sum_t transitions[y_{t-1}, y_t] + end[y_{T-1}]``;
the model's probability of ``y`` is its exponentiated score over the sum for every sequence
(the partition function, computed by the forward algorithm). Decoding finds the best sequence
by Viterbi. Both are exact and run in ``O(T C^2)``.

Masks are ``(B, T)`` bool, each row a run of valid steps from step 0 (every sequence has at
least one step), as :class:`~rnnlab.data.batch.Batch` builds them.
"""

from __future__ import annotations

import torch
from torch import nn


class LinearChainCRF(nn.Module):
    """Transition scores between tags, with the partition function, sequence scores and
    Viterbi decoding of a linear chain.

    Args:
        num_tags: the number of tags ``C``.
    """

    def __init__(self, num_tags: int):
        super().__init__()
        self.num_tags = num_tags
        # All zero at first: the untrained CRF scores a sequence by its emissions alone, as a
        # softmax tagger does.
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # (from, to)
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    def forward(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """The negative log-likelihood ``(B,)`` of each row of ``tags`` ``(B, T)`` (anything,
        such as ``IGNORE``, on masked steps) given ``emissions`` ``(B, T, C)``."""
        return self.log_partition(emissions, mask) - self.score(emissions, tags, mask)

    def score(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """The unnormalised score ``(B,)`` of each tag sequence ``(B, T)``."""
        tags = tags.clamp(0, self.num_tags - 1) * mask.long()  # (B, T); masked steps: tag 0
        lengths = mask.sum(1)  # (B,)
        mask = mask.to(emissions.dtype)
        emitted = emissions.gather(-1, tags.unsqueeze(-1)).squeeze(-1)  # (B, T)
        moved = self.transitions[tags[:, :-1], tags[:, 1:]]  # (B, T-1)
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)  # (B,)
        return (
            self.start[tags[:, 0]]
            + (emitted * mask).sum(1)
            + (moved * mask[:, 1:]).sum(1)
            + self.end[last]
        )

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The log of the sum of the exponentiated scores of every tag sequence, ``(B,)``."""
        alpha = self.start + emissions[:, 0]  # (B, C): log-sum of the paths ending in each tag
        for t in range(1, emissions.shape[1]):
            step = alpha.unsqueeze(2) + self.transitions  # (B, C_from, C_to)
            nxt = torch.logsumexp(step, dim=1) + emissions[:, t]  # (B, C)
            alpha = torch.where(mask[:, t, None], nxt, alpha)  # padded steps carry it on
        return torch.logsumexp(alpha + self.end, dim=-1)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The best tag sequence ``(B, T)`` by Viterbi; 0 on masked steps."""
        batch, steps, _ = emissions.shape
        best = self.start + emissions[:, 0]  # (B, C): the best path's score ending in each tag
        back = []  # per step t >= 1, the best previous tag for each tag, (B, C)
        for t in range(1, steps):
            step = best.unsqueeze(2) + self.transitions  # (B, C_from, C_to)
            top, previous = step.max(dim=1)  # (B, C)
            best = torch.where(mask[:, t, None], top + emissions[:, t], best)
            back.append(previous)
        best = best + self.end
        lengths = mask.sum(1)  # (B,)
        final = best.argmax(-1)  # (B,): the last valid step's tag
        tags = emissions.new_zeros(batch, steps, dtype=torch.long)
        current = final
        for t in range(steps - 1, -1, -1):
            current = torch.where(lengths - 1 == t, final, current)  # each row's own end
            tags[:, t] = current
            if t > 0:
                current = back[t - 1].gather(1, current.unsqueeze(1)).squeeze(1)
        return tags * mask.long()
