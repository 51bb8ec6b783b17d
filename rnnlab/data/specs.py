"""What a datamodule tells the rest of rnnlab about its data: one typed spec per problem shape.

Every spec has :class:`Inputs`, what each step of a batch's ``x`` holds, which is all a net
needs to know of the data; the rest of a spec is for the task that consumes it (a task names
its spec type in ``spec_type``). A spec is stored in every checkpoint (:func:`spec_to_dict`),
so a trained model can be rebuilt and used without its data.

=================  ===============================================  ===========================
spec               the data                                         tasks
=================  ===============================================  ===========================
``ForecastSpec``   windows of a series and the next ``horizon``     forecasting (and any
                   steps of its targets                             regression of a sequence)
``ClassesSpec``    sequences with one class each, or one per step   classification, tagging
                   (``aligned``)
``StreamSpec``     one token stream, read in lanes of ``seq_len``   language model
``PairsSpec``      source and target token sequences                seq2seq
=================  ===============================================  ===========================

A new problem shape adds its own ``Spec`` subclass next to its task; nothing here lists them.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from rnnlab.utils.errors import ConfigError

InputKind = Literal["features", "tokens", "frames"]


@dataclass(frozen=True)
class Inputs:
    """What each step of ``Batch.x`` holds: float features, token ids or image frames.

    Exactly one of ``features``, ``vocab`` and ``frame_shape`` is set.

    Attributes:
        features: float features per step; ``x`` is ``(B, T, F)``.
        vocab: the token of each id; ``x`` is ``(B, T)`` ids.
        pad_index: the padding token's id (token inputs).
        embedding_weights: starting embedding rows ``(V, E)``, such as pretrained word vectors
            (token inputs); kept out of checkpoints, whose weights hold them already.
        frame_shape: ``(C, H, W)`` of each frame; ``x`` is ``(B, T, C, H, W)``.
        chars: the character of each id, for token inputs that also spell each word (id 0
            pads, 1 is unknown); ``x`` is then ``(B, T, 1 + W)``: the word's id, then its
            characters' ids.
    """

    features: int | None = None
    vocab: tuple[str, ...] | None = None
    pad_index: int | None = None
    embedding_weights: torch.Tensor | None = field(default=None, compare=False, repr=False)
    frame_shape: tuple[int, int, int] | None = None
    chars: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        given = [v is not None for v in (self.features, self.vocab, self.frame_shape)]
        if sum(given) != 1:
            raise ValueError("Inputs needs exactly one of features, vocab and frame_shape.")
        if self.chars is not None and self.vocab is None:
            raise ValueError("Inputs.chars spells the words of token inputs; give vocab too.")

    @property
    def kind(self) -> InputKind:
        """``features``, ``tokens`` or ``frames``."""
        if self.features is not None:
            return "features"
        return "tokens" if self.vocab is not None else "frames"

    def net_arguments(self) -> dict[str, Any]:
        """The constructor arguments through which a net learns what it reads (the encoder
        protocol's input parameters, :mod:`rnnlab.nets.protocol`): ``input_size`` for
        features; ``vocab_size``, ``pad_index`` and, where the data has them,
        ``embedding_weights`` and ``char_vocab_size`` (words spelled out) for tokens;
        ``in_channels`` for frames."""
        if self.kind == "features":
            return {"input_size": self.features}
        if self.kind == "frames":
            return {"in_channels": self.frame_shape[0]}
        arguments = {"vocab_size": len(self.vocab), "pad_index": self.pad_index}
        if self.embedding_weights is not None:
            arguments["embedding_weights"] = self.embedding_weights
        if self.chars is not None:
            arguments["char_vocab_size"] = len(self.chars)
        return arguments

    def describe(self) -> str:
        """A few words for error messages: ``3 features per step``, ``token ids``, ..."""
        if self.kind == "features":
            return f"{self.features} feature{'' if self.features == 1 else 's'} per step"
        if self.kind == "tokens":
            spelled = " with each word's characters" if self.chars is not None else ""
            return f"token ids from a vocabulary of {len(self.vocab)}{spelled}"
        return "frames of shape {}x{}x{}".format(*self.frame_shape)


@dataclass(frozen=True)
class Spec:
    """The base of every spec: the inputs, and the facts a run reports about its data."""

    inputs: Inputs

    description = "data"  # a few words naming the problem shape, for error messages

    def facts(self) -> dict[str, float]:
        """Dataset facts for ``metrics.json``, keyed ``data/<name>`` (none by default)."""
        return {}


@dataclass(frozen=True)
class ForecastSpec(Spec):
    """Windows of a series, and the next ``horizon`` steps of its targets.

    Attributes:
        horizon: steps to forecast.
        target_names: the name of each target variable.
        targets_in_input: the first inputs of each step are the targets' past values (the
            recursive and seq2seq strategies and the naive baselines need them).
        num_past_covariates: inputs after the targets known only up to the forecast origin.
        num_future_covariates: inputs known ahead (they come last); their values at the target
            steps arrive as ``Batch.future``.
        scaler_mean, scaler_std: the scaler of every input feature; metrics undo it on the
            targets. ``None``: the data is not scaled.
        season: the seasonal-naive baseline's period.
        mase_scale: each target's in-sample seasonal-naive MAE of the training span.
        time_step: the series' time step in words (``1 day``), where it has timestamps.
        noise_floor: the variance of the noise on the targets, where the data knows it: the
            lowest MSE any forecaster can reach.
        chance_mse: the MSE of always predicting the targets' mean, where the data knows it:
            the score of a model that learned nothing of the inputs.
    """

    horizon: int = 1
    target_names: tuple[str, ...] = ("y0",)
    targets_in_input: bool = False
    num_past_covariates: int = 0
    num_future_covariates: int = 0
    scaler_mean: tuple[float, ...] | None = None
    scaler_std: tuple[float, ...] | None = None
    season: int = 1
    mase_scale: tuple[float, ...] | None = None
    time_step: str | None = None
    noise_floor: float | None = None
    chance_mse: float | None = None

    description = "a series to forecast"

    @property
    def num_targets(self) -> int:
        return len(self.target_names)

    def facts(self) -> dict[str, float]:
        known = {"data/noise_floor": self.noise_floor, "data/chance_mse": self.chance_mse}
        return {key: value for key, value in known.items() if value is not None}


@dataclass(frozen=True)
class ClassesSpec(Spec):
    """Sequences with one class each, or with ``aligned``, one class per step (tags).

    Attributes:
        class_names: the name of each class (tag); targets are their indices.
        aligned: one target per step rather than per sequence.
        chance_acc: the accuracy of guessing without reading the inputs, where the data knows
            it (0.5 for balanced binary labels).
    """

    class_names: tuple[str, ...] = ()
    aligned: bool = False
    chance_acc: float | None = None

    description = "labelled sequences"

    def facts(self) -> dict[str, float]:
        return {} if self.chance_acc is None else {"data/chance_acc": self.chance_acc}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass(frozen=True)
class StreamSpec(Spec):
    """One token stream, each batch ``(B, seq_len)`` continuing the previous lane by lane;
    the target of each token is the next one.

    Attributes:
        seq_len: tokens of each lane in a training batch.
    """

    seq_len: int = 128

    description = "a token stream"


@dataclass(frozen=True)
class PairsSpec(Spec):
    """Source token sequences (the inputs) and target token sequences.

    Attributes:
        target_vocab: the target token of each id; ids 0-3 are padding, unknown, start and end.
        max_target_length: the longest target, ``<eos>`` included.
        source_level, target_level: ``char`` or ``word`` tokens, or ``bpe`` subwords of words.
        lower: text is lower-cased before tokenising.
        source_subwords, target_subwords: the learned subword model of a ``bpe`` side (JSON
            text, :class:`~rnnlab.data.vocab.Subwords`); ``None`` for the other levels.
    """

    target_vocab: tuple[str, ...] = ()
    max_target_length: int = 1
    source_level: str = "char"
    target_level: str = "char"
    lower: bool = False
    source_subwords: str | None = None
    target_subwords: str | None = None

    description = "pairs of token sequences"


def spec_to_dict(spec: Spec) -> dict[str, Any]:
    """``spec`` as plain lists and dicts, which ``torch.load(weights_only=True)`` reads, with
    its type's import path; tensors (pretrained embeddings) are left out, since the model's
    weights hold them."""
    fields = {}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if isinstance(value, Inputs):
            value = {k: _plain(v) for k, v in vars(value).items() if k != "embedding_weights"}
        fields[f.name] = _plain(value)
    kind = type(spec)
    return {"type": f"{kind.__module__}:{kind.__qualname__}", "fields": fields}


def spec_from_dict(saved: dict[str, Any], where: str) -> Spec:
    """The spec that :func:`spec_to_dict` wrote; anything else is refused in one sentence
    naming ``where`` it came from."""
    if not isinstance(saved, dict) or "type" not in saved:
        raise ConfigError(
            f"{where} holds a data spec of an earlier rnnlab release (untyped); retrain the "
            "model with this release to use it."
        )
    module, _, name = saved["type"].partition(":")
    try:
        kind = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ConfigError(
            f"{where} was trained on data whose spec type {saved['type']} cannot be imported; "
            "install the project that defines it."
        ) from None
    if not (isinstance(kind, type) and issubclass(kind, Spec)):
        raise ConfigError(f"{where}: {saved['type']} is not a data spec type.")
    fields = dict(saved["fields"])
    inputs = {k: _tuples(v) for k, v in fields.pop("inputs").items()}
    return kind(inputs=Inputs(**inputs), **{k: _tuples(v) for k, v in fields.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _tuples(value: Any) -> Any:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(_tuples(v) for v in value)
    return value
