"""Export a trained model for inference: ``python -m rnnlab.export ckpt_path=... format=onnx``.

The net and its head are written as one program that needs neither rnnlab nor Python's
Lightning stack to run: an ONNX model (``format=onnx``, for onnxruntime and every ONNX
runtime) or a ``torch.export`` program (``format=torch_export``, a ``.pt2`` file that
``torch.export.load`` reads). Beside it, ``preprocessing.json`` holds what a user must do to
the raw data before the program reads it, and what its outputs mean: the vocabulary and the
tokeniser's settings, the scaler, the class names, the input and output shapes.

Each task exports the form it is used in:

================  ==============================  ============================================
task              inputs                          outputs
================  ==============================  ============================================
forecaster        ``x`` ``(B, window, F)``        ``forecast`` ``(B, horizon, C)``, in
                  scaled; ``future`` ``(B,        original units
                  horizon, K)`` scaled, with
                  known-future covariates
classifier        ``x`` ``(B, length)`` ids (or   ``logits`` ``(B, classes)``
                  features ``(B, length, F)``,
                  or frames) and ``lengths``
                  ``(B,)``
tagger            ``x`` ``(B, length)`` ids and   ``scores`` ``(B, length, tags)``
                  ``lengths`` ``(B,)``
language model    ``token`` ``(B, 1)`` and the    ``logits`` ``(B, vocab)`` of the next token
                  state (``state_0``, ...)        and the new state (``next_state_0``, ...)
================  ==============================  ============================================

The batch size is free; the number of steps is fixed at export, since torch's fused
recurrences are traced step by step: a forecaster reads its training window, a language model
one token at a time, and a classifier or tagger ``length`` steps (``data.max_len`` by default),
shorter sequences padded with the padding id and given their ``lengths``. A language model
starts from a state of zeros, shaped as ``preprocessing.json`` says.

Padded batches leave no trace of padding in any output, as in training, where torch's kernels
read them packed; packing depends on the data, so the export replaces each torch RNN, LSTM and
GRU by :class:`PaddedRecurrence`, the same weights run layer by layer and direction by
direction with every row's backward direction started at its last valid step.

After writing, the program is run on the test split's first batch and its outputs compared with
rnnlab's own (``check=true``), through onnxruntime where it is installed and through
``torch.export`` otherwise; a program that differs by more than ``tolerance`` is refused.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import logging
import math
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from rnnlab.build import build_model
from rnnlab.checkpoints import load_run, load_weights
from rnnlab.cli import run
from rnnlab.data.batch import Batch
from rnnlab.data.specs import ClassesSpec, ForecastSpec, Spec, StreamSpec
from rnnlab.data.text import UNKNOWN
from rnnlab.data.vocab import Vocabulary
from rnnlab.tasks.base import SupervisedTask
from rnnlab.utils.atomic import atomic_write_text
from rnnlab.utils.errors import ConfigError, check, check_not_negative
from rnnlab.utils.instantiate import instantiate

FORMATS = {"onnx": "model.onnx", "torch_export": "model.pt2"}
PREPROCESSING = "preprocessing.json"
# The ONNX opset written: onnxruntime 1.17 and later run it.
OPSET = 18


class PaddedRecurrence(nn.Module):
    """A torch ``RNN``, ``LSTM`` or ``GRU`` (batch-first) that reads padded batches through
    their ``lengths`` with tensor operations alone, for export; without ``lengths`` it is the
    module it wraps.

    Each layer and direction runs as a one-layer module holding that layer's weights. The
    forward direction reads the padded rows as they are (padding comes after each row's valid
    steps, so it changes none of them); the backward direction reads each row reversed within
    its length, so it starts at the row's last valid step, as a packed sequence starts it.
    Outputs are zero on padded steps. The state returned holds the top layer's final ``h``,
    ``(D, B, H)``: the summary an encoder reads; a padded batch's full final state (lower
    layers, an LSTM's ``c``) is not computed, and no exported program returns it.
    """

    reads_lengths = True  # called by rnnlab's encoders with the lengths of a padded batch

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        check(
            rnn.batch_first and not getattr(rnn, "proj_size", 0),
            "export reads batch-first recurrences without proj_size; this net has another.",
        )
        self.rnn = rnn
        self.num_directions = 2 if rnn.bidirectional else 1
        kinds = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN_TANH": nn.RNN, "RNN_RELU": nn.RNN}
        extra = {}
        if rnn.mode.startswith("RNN"):
            extra["nonlinearity"] = "relu" if rnn.mode == "RNN_RELU" else "tanh"
        names = (
            ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            if rnn.bias
            else ("weight_ih", "weight_hh")
        )
        self.layers = nn.ModuleList()
        for layer in range(rnn.num_layers):
            size = rnn.input_size if layer == 0 else rnn.hidden_size * self.num_directions
            for suffix in ("", "_reverse")[: self.num_directions]:
                one = kinds[rnn.mode](
                    size, rnn.hidden_size, bias=rnn.bias, batch_first=True, **extra
                )
                one = one.to(rnn.weight_ih_l0)
                with torch.no_grad():
                    for name in names:
                        getattr(one, f"{name}_l0").copy_(getattr(rnn, f"{name}_l{layer}{suffix}"))
                self.layers.append(one)

    def forward(
        self,
        x: torch.Tensor,
        hx: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
        lengths: torch.Tensor | None = None,
    ):
        if lengths is None:
            return self.rnn(x, hx)
        steps = torch.arange(x.shape[1], device=x.device)
        lengths = lengths.to(x.device)
        valid = steps[None] < lengths[:, None]  # (B, T)
        # Step t of a row read backwards within its length; padded steps stay where they are.
        backwards = torch.where(valid, lengths[:, None] - 1 - steps[None], steps[None])  # (B, T)
        rows = torch.arange(x.shape[0], device=x.device)
        h, finals = x, []
        for layer in range(self.rnn.num_layers):
            outputs, finals = [], []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                state = None if hx is None else _layer_state(hx, index)
                reverse = direction == 1
                inputs = _reorder(h, backwards) if reverse else h
                out, _ = self.layers[index](inputs, state)
                if reverse:
                    out = _reorder(out, backwards)
                    finals.append(out[:, 0])  # it has read the whole row at its first step
                else:
                    finals.append(out[rows, lengths - 1])  # (B, H)
                outputs.append(out)
            h = torch.cat(outputs, -1) * valid[..., None]  # (B, T, D*H)
        return h, torch.stack(finals)  # (D, B, H)


def _layer_state(hx, index: int):
    if isinstance(hx, tuple):
        return tuple(part[index : index + 1] for part in hx)
    return hx[index : index + 1]


def _reorder(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """``x`` ``(B, T, F)`` with the steps of each row taken in ``order`` ``(B, T)``."""
    return x.gather(1, order[..., None].expand(-1, -1, x.shape[-1]))


def exportable(task: nn.Module) -> nn.Module:
    """A copy of ``task`` in evaluation mode whose torch recurrences read padded batches
    without packing (:class:`PaddedRecurrence`), so that it can be traced."""
    task = copy.deepcopy(task).eval()
    owners = [
        (module, name, child)
        for module in task.modules()
        for name, child in module.named_children()
        if isinstance(child, nn.RNNBase) and child.batch_first
    ]
    for module, name, child in owners:
        setattr(module, name, PaddedRecurrence(child))
    return task


# The programs: each is a task's inference in the shape a user calls it.


class Forecast(nn.Module):
    """Scaled windows ``(B, T, F)`` (and scaled known-future covariates ``(B, H, K)``) to the
    forecast ``(B, H, C)`` in original units."""

    def __init__(self, task: SupervisedTask):
        super().__init__()
        self.task = task

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        return self.task.unscale(self.task(x, None, future))


class Classify(nn.Module):
    """Padded sequences and their lengths to one row of scores per sequence (a classifier's
    logits ``(B, C)``) or per step (a tagger's ``(B, T, C)``)."""

    def __init__(self, task: SupervisedTask):
        super().__init__()
        self.task = task

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(x.shape[1], device=x.device)[None] < lengths[:, None]
        return self.task(x, lengths, mask)


class NextToken(nn.Module):
    """A language model's one step: a token per row ``(B, 1)`` and the state to the next
    token's logits ``(B, V)`` and the new state, its tensors in the same order."""

    def __init__(self, task: SupervisedTask):
        super().__init__()
        self.task = task

    def forward(self, token: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        carried = state[0] if len(state) == 1 else tuple(state)
        logits, new = self.task(token, carried)
        return (logits[:, -1], *_parts(new))


def _parts(state) -> tuple[torch.Tensor, ...]:
    return (state,) if isinstance(state, torch.Tensor) else tuple(state)


@dataclass
class Program:
    """A task's inference program, the example inputs it is traced with and what
    ``preprocessing.json`` says of it."""

    module: nn.Module
    inputs: dict[str, torch.Tensor]
    dynamic: dict[str, dict[int, Any]]  # input name: {dimension: torch.export.Dim}
    outputs: list[str]
    facts: dict[str, Any] = field(default_factory=dict)


def program(task: SupervisedTask, spec: Spec, saved: DictConfig, length: int | None) -> Program:
    """The inference program of ``task`` (weights loaded) for data ``spec``, trained with the
    config ``saved``; ``length`` fixes the steps a classifier or tagger reads."""
    batch = torch.export.Dim("batch", min=1)
    task = exportable(task)
    data = OmegaConf.to_container(saved.data, resolve=True)
    facts: dict[str, Any] = {"task": _task_name(spec), "data": data}
    if isinstance(spec, ForecastSpec):
        return _forecast_program(task, spec, saved, batch, facts)
    if isinstance(spec, StreamSpec):
        return _next_token_program(task, spec, batch, facts)
    if isinstance(spec, ClassesSpec):
        return _classify_program(task, spec, saved, length, batch, facts)
    raise ConfigError(
        f"rnnlab.export writes forecasters, classifiers, taggers and language models; this "
        f"checkpoint's task reads {spec.description}, whose decoding loop stays in Python "
        "(use rnnlab.translate)."
    )


def _task_name(spec: Spec) -> str:
    if isinstance(spec, ForecastSpec):
        return "forecaster"
    if isinstance(spec, StreamSpec):
        return "language_model"
    return "tagger" if getattr(spec, "aligned", False) else "classifier"


def _forecast_program(task, spec: ForecastSpec, saved, batch, facts) -> Program:
    window = saved.data.get("window")
    check(window is not None, "this forecaster's data has no data.window to export it with.")
    features, future = spec.inputs.features, spec.num_future_covariates
    inputs = {"x": torch.zeros(2, int(window), features)}
    dynamic: dict[str, dict[int, Any]] = {"x": {0: batch}}
    if future:
        inputs["future"] = torch.zeros(2, spec.horizon, future)
        dynamic["future"] = {0: batch}
    scaled = spec.scaler_mean is not None
    facts |= {
        "inputs": {
            "x": _described(
                ["batch", int(window), features],
                "float32",
                "the window: the targets' past values first, then the covariates, each "
                + ("scaled as (value - mean) / std" if scaled else "as in the data"),
            ),
        },
        "outputs": {
            "forecast": _described(
                ["batch", spec.horizon, spec.num_targets],
                "float32",
                "the next horizon steps of each target, in original units",
            )
        },
        "horizon": spec.horizon,
        "target_names": list(spec.target_names),
        "scaler": {"mean": list(spec.scaler_mean), "std": list(spec.scaler_std)}
        if scaled
        else None,
    }
    if future:
        facts["inputs"]["future"] = _described(
            ["batch", spec.horizon, future],
            "float32",
            "the known-future covariates at the forecast steps, scaled as the window's last ones",
        )
    return Program(Forecast(task).eval(), inputs, dynamic, ["forecast"], facts)


def _classify_program(task, spec: ClassesSpec, saved, length, batch, facts) -> Program:
    aligned, inputs_spec = spec.aligned, spec.inputs
    length = saved.data.get("max_len") if length is None else length
    check(
        length is not None and int(length) >= 1,
        f"length={length} must be a whole number of at least 1: the steps the exported program "
        "reads.",
    )
    length = int(length)
    facts |= {"classes": list(spec.class_names), "length": length}
    check(
        inputs_spec.chars is None,
        "a tagger that spells its words (data.chars=true) does not export: its character "
        "encoder picks out each step's word by the data, which a trace cannot follow; export one "
        "trained with data.chars=false.",
    )
    if inputs_spec.kind == "tokens":
        x = torch.full((2, length), Vocabulary.unk_index, dtype=torch.long)
        if aligned:  # a sentence arrives as tokens
            tokenize = {"level": "given", "lower": bool(saved.data.get("lower", False))}
        else:
            tokenize = {
                "level": saved.data.get("level", "word"),
                "lower": bool(saved.data.get("lower", False)),
                "max_len": saved.data.get("max_len"),
            }
        facts |= _token_facts(inputs_spec, tokenize, Vocabulary.unk_index)
        described = _described(
            ["batch", length],
            "int64",
            "token ids from vocab (tokenised as tokenize says), padded with pad_index",
        )
    elif inputs_spec.kind == "frames":
        x = torch.zeros(2, length, *inputs_spec.frame_shape)
        described = _described(
            ["batch", length, *inputs_spec.frame_shape],
            "float32",
            "frames (channels, height, width) per step, scaled as in training, zero-padded",
        )
    else:
        x = torch.zeros(2, length, inputs_spec.features)
        described = _described(
            ["batch", length, inputs_spec.features], "float32", "features per step, zero-padded"
        )
    dynamic: dict[str, dict[int, Any]] = {"x": {0: batch}, "lengths": {0: batch}}
    output = "scores" if aligned else "logits"
    facts["inputs"] = {
        "x": described,
        "lengths": _described(["batch"], "int64", "the valid steps of each row, 1 to length"),
    }
    facts["outputs"] = {
        output: _described(
            ["batch", length, spec.num_classes] if aligned else ["batch", spec.num_classes],
            "float32",
            (
                "each step's tag scores: its tag is classes[argmax]"
                if aligned
                else "each sequence's class logits: its class is classes[argmax]"
            ),
        )
    }
    if aligned:
        check(
            getattr(task, "crf", None) is None,
            "a tagger with a CRF decodes its tags by Viterbi, which the exported program does not "
            "carry; export one trained with task.crf=false.",
        )
    lengths = torch.full((2,), length, dtype=torch.long)
    return Program(Classify(task).eval(), {"x": x, "lengths": lengths}, dynamic, [output], facts)


def _next_token_program(task, spec: StreamSpec, batch, facts) -> Program:
    check(
        task.net.capabilities.carries_state,
        "a language model exports its one-step form, which carries the state between steps; "
        "this net carries none (model=" + type(task.net).__name__ + ").",
    )
    with torch.no_grad():
        two = _parts(task(torch.zeros(2, 1, dtype=torch.long))[1])
        three = _parts(task(torch.zeros(3, 1, dtype=torch.long))[1])
    state_facts, inputs = [], {"token": torch.zeros(2, 1, dtype=torch.long)}
    dynamic: dict[str, dict[int, Any]] = {"token": {0: batch}}
    for index, (a, b) in enumerate(zip(two, three, strict=True)):
        (axis,) = [d for d in range(a.dim()) if a.shape[d] != b.shape[d]]
        shape: list[Any] = list(a.shape)
        shape[axis] = "batch"
        inputs[f"state_{index}"] = torch.zeros_like(a)
        dynamic[f"state_{index}"] = {axis: batch}
        state_facts.append({"name": f"state_{index}", "shape": shape, "dtype": "float32"})
    vocab = spec.inputs.vocab
    unknown = vocab.index(UNKNOWN) if UNKNOWN in vocab else None
    facts |= _token_facts(spec.inputs, {"level": "char"}, unknown)
    facts["inputs"] = {
        "token": _described(["batch", 1], "int64", "the last token of each row, an id from vocab"),
        **{
            s["name"]: _described(
                s["shape"],
                s["dtype"],
                "the state: zeros at the start, then the next_state the program returned",
            )
            for s in state_facts
        },
    }
    facts["outputs"] = {
        "logits": _described(
            ["batch", len(spec.inputs.vocab)], "float32", "the next token's logits"
        ),
        **{
            f"next_{s['name']}": _described(s["shape"], s["dtype"], "the state after the token")
            for s in state_facts
        },
    }
    outputs = ["logits", *(f"next_{s['name']}" for s in state_facts)]
    return Program(NextToken(task).eval(), inputs, dynamic, outputs, facts)


def _token_facts(inputs, tokenize: dict[str, Any], unknown: int | None) -> dict[str, Any]:
    """The vocabulary and how text becomes its ids."""
    return {
        "vocab": list(inputs.vocab),
        "pad_index": inputs.pad_index,
        "unk_index": unknown,
        "tokenize": tokenize,
    }


def _described(shape: list, dtype: str, meaning: str) -> dict[str, Any]:
    return {"shape": shape, "dtype": dtype, "meaning": meaning}


# Writing and checking.


def write(prog: Program, fmt: str, folder: Path) -> tuple[Path, torch.export.ExportedProgram]:
    """Write ``prog`` as ``fmt`` into ``folder`` (it exists): the file's path, and the
    ``torch.export`` program it was made from (an ONNX file is translated from one)."""
    path = folder / FORMATS[fmt]
    args = tuple(prog.inputs.values())
    dynamic = [prog.dynamic.get(name) for name in prog.inputs]
    if isinstance(prog.module, NextToken):  # its state arrives as one tuple, *state
        dynamic = [dynamic[0], tuple(dynamic[1:])]
    with _torch_notes_hidden():
        try:
            if fmt == "torch_export":
                exported = torch.export.export(prog.module, args, dynamic_shapes=tuple(dynamic))
                torch.export.save(exported, path)
                return path, exported
            onnx_program = torch.onnx.export(
                prog.module,
                args,
                dynamo=True,
                dynamic_shapes=tuple(dynamic),
                input_names=list(prog.inputs),
                output_names=prog.outputs,
                opset_version=OPSET,
                verbose=False,
            )
            onnx_program.save(str(path), external_data=False)
            return path, onnx_program.exported_program
        except Exception as error:  # noqa: BLE001 - tracing fails in many ways; one sentence
            also = " (format=torch_export writes every net torch.export traces)" * (fmt == "onnx")
            raise ConfigError(
                f"format={fmt} cannot export this net: {_reason(error)}{also}."
            ) from None


def _reason(error: BaseException) -> str:
    """The root of a tracing failure in one line: the error a converter wraps (as ``<class
    'RuntimeError'>: ...`` in its message) or the first line of its own message."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    wrapped = re.findall(r"^<class '[\w.]+'>: (.+)$", text, re.MULTILINE)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = wrapped[-1] if wrapped else lines[0] if lines else type(error).__name__
    return reason.rstrip(".")


@contextlib.contextmanager
def _torch_notes_hidden() -> Iterator[None]:
    """While the block runs, torch's notes on its own internals are not shown: its deprecation
    notices, the exporter's log (operators of a torchvision that is not installed), the RNN
    weights that tracing re-assigns. They are not the user's to act on."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*_flat_weights.*assigned during export")
            warnings.filterwarnings("ignore", message="# The axis name: .* will not be used")
            yield
    finally:
        logger.setLevel(level)


class Runner:
    """Runs an exported program as its users will: an ONNX file through onnxruntime where it
    is installed; otherwise (and for a ``.pt2``) the ``torch.export`` program it came from."""

    def __init__(self, path: Path, exported: torch.export.ExportedProgram):
        self.session = None
        if path.suffix == ".onnx" and importlib.util.find_spec("onnxruntime") is not None:
            import onnxruntime

            self.session = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"]
            )
        self.module = None if self.session else exported.module()
        self.name = "onnxruntime" if self.session else "torch.export"

    def __call__(self, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        if self.session is not None:
            feed = {name: tensor.numpy() for name, tensor in inputs.items()}
            return [torch.from_numpy(out) for out in self.session.run(None, feed)]
        with torch.no_grad(), _torch_notes_hidden():
            return list(_parts(self.module(*inputs.values())))


def data_module(saved: DictConfig):
    """The run's data, rebuilt from its config and set up."""
    datamodule = instantiate(saved.data, "data")
    datamodule.setup("test")
    return datamodule


def longest_sequence(datamodule) -> int:
    """The most steps of any sequence in the run's data, which sets no ``max_len``."""
    datasets = getattr(datamodule, "datasets", {})
    lengths = [int(d.lengths.max()) for d in datasets.values() if hasattr(d, "lengths")]
    check(
        bool(lengths),
        "give length=N, the steps the exported program reads (shorter sequences are padded to "
        "it): this run's data sets no max_len.",
    )
    return max(lengths)


def compare(
    run_program: Runner, prog: Program, task: SupervisedTask, spec: Spec, batch: Batch
) -> tuple[float, int]:
    """The largest difference between the exported program's outputs (run by
    ``run_program``) and ``task``'s own on ``batch``, and the number of rows compared."""
    task.eval()
    with torch.no_grad():
        if isinstance(spec, ForecastSpec):
            inputs = {"x": batch.x.float()} | (
                {"future": batch.future} if "future" in prog.inputs else {}
            )
            ours = task.predict(batch)
            theirs = run_program(inputs)[0]
            return float((ours - theirs).abs().max()), len(batch)
        if isinstance(spec, StreamSpec):
            return _compare_steps(run_program, prog, task, batch.x)
        length = prog.facts["length"]
        x, lengths = batch.x, batch.lengths
        if lengths is None:
            lengths = torch.full((len(batch),), x.shape[1], dtype=torch.long)
        check(
            x.shape[1] <= length,
            f"the test split's first batch has {x.shape[1]} steps and the program reads "
            f"{length}; export with length={x.shape[1]} or more.",
        )
        valid = torch.arange(x.shape[1])[None] < lengths[:, None]  # (B, T)
        ours = task(x, lengths, valid)
        padded = _pad_to(x, length, spec.inputs.pad_index or 0)
        theirs = run_program({"x": padded, "lengths": lengths})[0]
        if spec.aligned:  # only the valid steps are compared: padded ones carry no tag
            return float((ours[valid] - theirs[:, : x.shape[1]][valid]).abs().max()), len(batch)
        return float((ours - theirs).abs().max()), len(batch)


def _compare_steps(run_program: Runner, prog, task, x: torch.Tensor) -> tuple[float, int]:
    """A language model's logits over ``x`` ``(B, T)`` (its first 32 steps) read whole from a
    fresh state, against the one-step program fed the same tokens one at a time from a state
    of zeros."""
    x = x[:, :32]
    ours = task(x)[0]  # (B, T, V)
    state = {}
    for name, template in prog.inputs.items():
        if name != "token":
            shape = list(template.shape)
            (axis,) = prog.dynamic[name]  # the batch axis
            shape[axis] = x.shape[0]
            state[name] = torch.zeros(shape, dtype=template.dtype)
    worst = 0.0
    for t in range(x.shape[1]):
        logits, *carried = run_program({"token": x[:, t : t + 1]} | state)
        state = dict(zip(state, carried, strict=True))
        worst = max(worst, float((ours[:, t] - logits).abs().max()))
    return worst, x.shape[0]


def _pad_to(x: torch.Tensor, length: int, value: int | float) -> torch.Tensor:
    pad = length - x.shape[1]
    if pad == 0:
        return x
    filler = torch.full((x.shape[0], pad, *x.shape[2:]), value, dtype=x.dtype)
    return torch.cat([x, filler], 1)


def export(cfg: DictConfig) -> dict[str, Any]:
    """Export ``cfg.ckpt_path`` as ``cfg.format`` into ``cfg.output_dir`` (the run's
    ``export/`` by default); what it wrote and, with ``cfg.check``, how far the program's
    outputs are from rnnlab's on the test split's first batch."""
    fmt = cfg.format
    check(fmt in FORMATS, f"format={fmt} is not one of {', '.join(FORMATS)}.")
    check_not_negative("tolerance", cfg.tolerance)
    if fmt == "onnx":
        missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
        check(
            not missing,
            f"format=onnx needs the {' and '.join(missing)} package{'s' * (len(missing) > 1)}: "
            "pip install 'rnnlab[export]'.",
        )
    saved, spec, checkpoint = load_run(cfg.ckpt_path)
    traced_scan(saved, cfg.get("scan", "auto"))
    _, task = build_model(saved, spec)
    load_weights(task, checkpoint, f"ckpt_path={cfg.ckpt_path}")
    task.eval()
    datamodule, length = None, cfg.get("length")
    # A classifier or tagger reads data.max_len steps (program's default), or where the data
    # sets none, as many as its longest sequence.
    if isinstance(spec, ClassesSpec) and length is None and saved.data.get("max_len") is None:
        datamodule = data_module(saved)
        length = longest_sequence(datamodule)
    prog = program(task, spec, saved, length)
    target = Path(cfg.output_dir) if cfg.get("output_dir") else _default_folder(cfg.ckpt_path)
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        return _export_into(target, prog, cfg, task, spec, lambda: datamodule or data_module(saved))
    except BaseException:
        if created and not any(target.iterdir()):  # a first export that failed leaves nothing
            target.rmdir()
        raise


def _export_into(target: Path, prog: Program, cfg: DictConfig, task, spec, data) -> dict:
    """Write ``prog`` into ``target`` as ``cfg.format`` with its ``preprocessing.json``, and
    check it against ``task`` on the first test batch of ``data()``, as :func:`export` says.

    The program is written into a fresh folder inside the target and moved into place only once
    it has passed its check: a failed export leaves the last good one as it was.
    """
    fmt = cfg.format
    with tempfile.TemporaryDirectory(dir=target, prefix=".export-") as scratch:
        path, exported = write(prog, fmt, Path(scratch))
        result: dict[str, Any] = {"program": str(target / path.name)}
        if cfg.get("check", True):
            batch = next(iter(data().test_dataloader()))
            runner = Runner(path, exported)
            worst, rows = compare(runner, prog, task, spec, batch)
            check(
                math.isfinite(worst) and worst <= cfg.tolerance,
                f"the exported program's outputs differ from rnnlab's by {worst:.3g} on the test "
                f"split's first batch, over tolerance={cfg.tolerance}; nothing was written.",
            )
            result |= {"max_difference": worst, "rows_checked": rows, "checked_by": runner.name}
        checked = {
            k: result[k] for k in ("rows_checked", "max_difference", "checked_by") if k in result
        }
        facts = prog.facts | {"format": fmt, "program": path.name, "check": checked or None}
        shutil.move(str(path), str(target / path.name))
    atomic_write_text(target / PREPROCESSING, json.dumps(facts, indent=2) + "\n")
    result["preprocessing"] = str(target / PREPROCESSING)
    return result


def traced_scan(saved: DictConfig, scan: str) -> None:
    """Set the scan form the net is traced with, for nets with ``model.scan`` (every form
    computes the same model from the same weights): ``auto`` replaces the ``loop`` form, which
    a trace unrolls into a few operations per step, by the log-depth ``parallel`` one."""
    if "scan" not in saved.model:
        return
    if scan == "auto":
        scan = "parallel" if saved.model.scan == "loop" else saved.model.scan
    saved.model.scan = scan


def _default_folder(ckpt_path: str) -> Path:
    """``<run>/export`` for a checkpoint in ``<run>/checkpoints/``; beside it otherwise."""
    path = Path(ckpt_path).absolute()
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return run_dir / "export"


def _main(cfg: DictConfig) -> None:
    result = export(cfg)
    line = f"wrote {result['program']} and {result['preprocessing']}"
    if "max_difference" in result:
        line += (
            f"; on the test split's first batch ({result['rows_checked']} rows) its outputs are "
            f"within {result['max_difference']:.2g} of rnnlab's (run by {result['checked_by']})"
        )
    print(line + ".")


def main() -> None:
    run(_main, config_name="export")


if __name__ == "__main__":
    main()
