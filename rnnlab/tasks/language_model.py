"""Next-token language modelling with truncated backpropagation through time.

Lightning 2 removed truncated BPTT from its Trainer, so this task optimises by hand
(``automatic_optimization = False``) and keeps what the automatic loop guarantees: the loss
is scaled and unscaled by the trainer's precision plugin, ``trainer.gradient_clip_val`` and
``trainer.gradient_clip_algorithm`` are applied at the same point of the step (after the
unscale, before the optimizer), and the LR scheduler and ``global_step`` advance with every
optimizer step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.data.batch import Batch
from rnnlab.data.specs import StreamSpec
from rnnlab.nets.base import State
from rnnlab.tasks.base import SupervisedTask
from rnnlab.tasks.optim import OptimizerFactory, SchedulerFactory
from rnnlab.utils.errors import ConfigError, NumericalFault

LN2 = math.log(2.0)
CARRIED_STATE_KEY = "rnnlab_carried_state"  # the training state of a checkpoint, and its epoch


def detach_state(state: State | None) -> State | None:
    """``state`` cut from the graph that produced it: gradients stop at the chunk boundary."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class LanguageModelTask(SupervisedTask):
    """Predicts every next token of a stream with a unidirectional net and a linear head.

    Each training batch ``(B, T)`` continues the previous one lane by lane. It is cut into
    chunks of ``tbptt_steps``; every chunk is one optimizer step, and the final state of a
    chunk, detached, starts the next chunk and the next batch (with ``carry_state``). The state
    is reset at the start of every epoch and every validation or test pass, which run over
    their whole stream with the state carried throughout.

    Metrics: ``loss`` (cross-entropy in nats per token), ``bpc`` (bits per character, loss
    over ln 2) and ``ppl`` (perplexity, e to the loss), all from the token-weighted mean loss.

    Args:
        net: a causal :class:`~rnnlab.nets.protocol.SequenceEncoder` of token ids.
        spec: the data's :class:`~rnnlab.data.specs.StreamSpec`: the vocabulary the head
            scores, and the tokens of each lane in a training batch (``seq_len``).
        optimizer, scheduler, scheduler_interval, monitor: as for
            :class:`~rnnlab.tasks.base.SupervisedTask`; a ``step`` scheduler steps with every
            optimizer step (every chunk).
        tbptt_steps: tokens per truncated-BPTT chunk; ``None`` for one chunk per batch.
        carry_state: start each training chunk from the previous chunk's final state
            (``False`` starts every chunk from zeros, the baseline that carrying is measured
            against).
        steps_per_batch: 1 only: every chunk is already an optimizer step, and longer lanes
            (``data.seq_len``) give a batch more of them.
    """

    spec_type = StreamSpec
    headline = "bpc"

    @classmethod
    def net_arguments(cls, spec: StreamSpec) -> dict:
        # A net that can be made causal (attention) is: each next token from the ones before.
        return {**super().net_arguments(spec), "causal": True}

    @classmethod
    def net_problem(cls, net: nn.Module) -> str | None:
        problem = super().net_problem(net)
        if problem is None and not net.capabilities.causal:
            return (
                "a language model predicts each next token from the ones before it, and this "
                "net reads later steps too; make it causal (model.bidirectional=false)"
            )
        return problem

    def __init__(
        self,
        net: nn.Module,
        spec: StreamSpec,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        monitor: str = "val/loss",
        tbptt_steps: int | None = None,
        carry_state: bool = True,
        steps_per_batch: int = 1,
    ):
        if tbptt_steps is not None and tbptt_steps < 1:
            raise ConfigError(f"task.tbptt_steps={tbptt_steps} must be at least 1 (or null).")
        if steps_per_batch != 1:
            raise ConfigError(
                f"task.steps_per_batch={steps_per_batch}: a language model already takes one "
                "optimizer step per truncated-BPTT chunk of a batch; for more steps a batch, "
                "make the lanes longer (data.seq_len, a multiple of task.tbptt_steps)."
            )
        super().__init__(net, spec, optimizer, scheduler, scheduler_interval, monitor)
        self.save_hyperparameters(ignore=["net", "spec", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.seq_len = spec.seq_len
        self.head = nn.Linear(net.output_size, len(spec.inputs.vocab))
        self.automatic_optimization = False  # clipped and scheduled by the base class
        self._states: dict[str, State | None] = {}
        self._resumed: dict | None = None  # the carried state a checkpoint brought, and its epoch

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Next-token logits ``(B, T, V)`` for ids ``x`` ``(B, T)``, and the final state."""
        encoded = self.net(x, state=state)
        return self.head(encoded.outputs), encoded.state

    # Training: one optimizer step per chunk, the state carried between chunks.

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor | None:
        optimizer = self.optimizers()
        steps = self.hparams.tbptt_steps or batch.x.shape[1]
        state = self._states.get("train") if self.hparams.carry_state else None
        total, count = torch.zeros((), device=self.device), 0
        for x, y in zip(batch.x.split(steps, 1), batch.y.split(steps, 1), strict=True):
            if self.max_steps_reached():
                break  # the budget ends inside the batch
            result: dict = {}
            optimizer.zero_grad()
            loss_of = partial(self.compute_loss, Batch(x=x, y=y), state)
            optimizer.step(closure=self._step_closure(loss_of, result))
            state = detach_state(result["outputs"]) if self.hparams.carry_state else None
            total += result["loss"] * y.numel()
            count += y.numel()
            self._step_scheduler("step")
        self._states["train"] = state
        if not count:  # max_steps was reached before this batch
            return None
        loss = total / count
        self.train_loss_sum += total
        self.train_loss_count += count
        self.log("train/loss", loss)  # the progress bar reads it when it redraws
        self.log("train/bpc", loss / LN2)
        return loss

    def on_train_start(self) -> None:
        super().on_train_start()
        # A run resumed in the middle of an epoch (where Lightning calls no
        # `on_train_epoch_start`) goes on from the state its checkpoint carried.
        resumed, self._resumed = self._resumed, None
        state = None
        if resumed is not None and resumed["epoch"] == self.current_epoch:
            state = _state_to(resumed["state"], self.device)
        self._states["train"] = state

    def on_train_epoch_start(self) -> None:
        self._states["train"] = None

    # The loss; evaluation reads the whole stream, the state carried from batch to batch.

    def compute_loss(self, batch: Batch, state: State | None = None) -> tuple[torch.Tensor, State]:
        """The mean next-token cross-entropy of ``batch`` read from ``state``, and the final
        state."""
        logits, state = self(batch.x, state)
        return F.cross_entropy(logits.flatten(0, 1).float(), batch.y.flatten()), state

    def loss_weight(self, batch: Batch) -> int:
        return batch.y.numel()  # the loss is a mean over tokens

    def update_metrics(self, stage: str, outputs: State, batch: Batch) -> None:
        pass  # bpc and ppl follow from the epoch's mean loss, in `_log_derived`

    def _evaluation_step(self, batch: Batch, stage: str) -> None:
        loss, self._states[stage] = self.compute_loss(batch, self._states.get(stage))
        self.losses[stage].update(loss, weight=self.loss_weight(batch))
        self.log(f"{stage}/loss", self.losses[stage], on_epoch=True, prog_bar=True)

    def on_validation_epoch_start(self) -> None:
        self._states["val"] = None

    def on_test_epoch_start(self) -> None:
        self._states["test"] = None

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_derived("val")

    def on_test_epoch_end(self) -> None:
        self._log_derived("test")

    def _log_derived(self, stage: str) -> None:
        loss = self.losses[stage].compute()
        self.log(f"{stage}/bpc", loss / LN2, sync_dist=True)
        self.log(f"{stage}/ppl", loss.exp(), sync_dist=True)

    @property
    def chunks_per_batch(self) -> int:
        """Truncated-BPTT chunks in one full training batch."""
        tbptt = self.hparams.tbptt_steps or self.seq_len
        return -(-self.seq_len // tbptt)

    @property
    def optimizer_steps_per_batch(self) -> int:
        return self.chunks_per_batch  # one step per chunk

    # Checkpoints carry the training state, so that a resumed epoch goes on from it.

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        state = self._states.get("train")
        checkpoint[CARRIED_STATE_KEY] = {
            "epoch": self.current_epoch,
            "state": None if state is None else _state_to(state, "cpu"),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        self._resumed = checkpoint.get(CARRIED_STATE_KEY)

    # Predicting and sampling.

    def predict(self, batch: Batch) -> torch.Tensor:
        """The likeliest next token after each token of ``batch.x`` ``(B, T)``, read from a
        fresh state: ``(B, T)`` ids."""
        return self(batch.x)[0].argmax(-1)

    @torch.no_grad()
    def sample(
        self,
        prompt: Sequence[int],
        length: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> list[int]:
        """``length`` token ids that follow ``prompt`` (at least one id).

        Each token is drawn from the softmax of the logits over ``temperature``, among the
        ``top_k`` likeliest when given; ``temperature=0`` takes the likeliest token, so the
        result is deterministic.
        """
        if not prompt:
            raise ValueError("the prompt needs at least one token.")
        if temperature < 0:
            raise ValueError(f"temperature={temperature} must not be negative.")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k={top_k} must be at least 1 (or null for all tokens).")
        was_training = self.training
        self.eval()
        ids = torch.tensor([list(prompt)], device=self.device)  # (1, T)
        logits, state = self(ids)
        tokens: list[int] = []
        for _ in range(length):
            token = _pick(logits[0, -1].float(), temperature, top_k, generator)
            tokens.append(token)
            logits, state = self(torch.tensor([[token]], device=self.device), state)
        self.train(was_training)
        return tokens


def _state_to(state: State | None, device: torch.device | str) -> State | None:
    """``state`` (a tensor or a tuple of them, such as an LSTM's ``(h, c)``) on ``device``."""
    if isinstance(state, (tuple, list)):
        return tuple(s.to(device) for s in state)
    return None if state is None else state.to(device)


def _pick(
    logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> int:
    """One token id from ``logits`` ``(V,)``."""
    if temperature == 0:
        return int(logits.argmax())
    if top_k is not None and top_k < logits.numel():
        threshold = logits.topk(top_k).values[-1]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    probs = torch.softmax(logits / temperature, dim=-1)
    if not bool(torch.isfinite(probs).all()):
        raise NumericalFault(
            "the model's next-token probabilities are not finite (NaN or inf): its weights have "
            "diverged, and no text can be sampled from it."
        )
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))


def encode(text: str, vocab: Sequence[str]) -> list[int]:
    """The ids of ``text``'s characters; a character outside ``vocab`` is a user's mistake."""
    index = {token: i for i, token in enumerate(vocab)}
    unknown = sorted({c for c in text if c not in index})
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:5])
        raise ConfigError(
            f"the prompt holds {shown}, not in the model's vocabulary of {len(vocab)} "
            f"characters ({''.join(v for v in vocab if v.isprintable())!r})."
        )
    return [index[c] for c in text]


def prompt_ids(text: str, vocab: Sequence[str]) -> list[int]:
    """The ids a sample starts from: ``text``'s, or for an empty prompt a newline (the first
    token, if the vocabulary has no newline)."""
    return encode(text, vocab) or [vocab.index("\n") if "\n" in vocab else 0]


def decode(ids: Sequence[int], vocab: Sequence[str]) -> str:
    """The text of token ``ids``."""
    return "".join(vocab[i] for i in ids)
