"""``python -m rnnlab.export``: each exported program, run on its own, gives rnnlab's outputs."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.build import build_model
from rnnlab.checkpoints import load_run, load_weights
from rnnlab.data.vocab import tokenize
from rnnlab.export import data_module, export
from rnnlab.predict import predict
from rnnlab.train import train
from tests.conftest import compose_config, run_main, tree_digest

QUICK = [
    "model.hidden_size=16",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "logger=none",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]
RUNS = {
    # Scaled targets and a known-future covariate; each window standardised (the csv default).
    "forecaster": ["data=csv", "data.target=y", "data.future_covariates=[x]", "data.horizon=3"],
    # Texts cut at 40 tokens: tracing an LSTM takes time in proportion to its steps.
    "classifier": ["data=text_cls", "data.max_len=40", "model.num_layers=2"],
    "tagger": ["data=conll", "model.bidirectional=true", "model.num_layers=2"],
    "language_model": ["data=text", "model=gru", "data.seq_len=32", "data.batch_size=8"],
}
ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))
FORMATS = [
    "torch_export",
    pytest.param("onnx", marks=pytest.mark.skipif(not ONNX, reason="pip install rnnlab[export]")),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny trained run per task, each in its own folder."""
    series = tmp_path_factory.mktemp("series") / "series.csv"
    t = np.arange(400)
    y = 10 + 3 * np.sin(t / 6) + 0.01 * t
    x = np.cos(t / 6)
    series.write_text("y,x\n" + "".join(f"{a:.4f},{b:.4f}\n" for a, b in zip(y, x, strict=True)))
    out = {}
    for name, overrides in RUNS.items():
        folder = tmp_path_factory.mktemp(name)
        extra = [f"data.path={series}"] if name == "forecaster" else []
        train(compose_config("train", [*overrides, *extra, *QUICK], folder))
        out[name] = folder
    return out


def exported(run_dir, fmt, *overrides):
    ckpt = f"ckpt_path={run_dir}/checkpoints/last.ckpt"
    cfg = compose_config("export", [ckpt, f"format={fmt}", *overrides], run_dir)
    result = export(cfg)
    facts = json.loads((run_dir / "export" / "preprocessing.json").read_text())
    return result, facts


def run_program(path, inputs):
    """The exported program's outputs, run by its own runtime, with no rnnlab code."""
    if str(path).endswith(".onnx"):
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {name: value.numpy() for name, value in inputs.items()}
        return [torch.from_numpy(out) for out in session.run(None, feed)]
    program = torch.export.load(str(path)).module()
    with torch.no_grad():
        out = program(*inputs.values())
    return list(out) if isinstance(out, tuple) else [out]


def trained(run_dir):
    """The run's task with its weights, and the first batch of its test split."""
    saved, spec, checkpoint = load_run(run_dir / "checkpoints" / "last.ckpt")
    _, task = build_model(saved, spec)
    load_weights(task, checkpoint, "test")
    task.eval()
    batch = next(iter(data_module(saved).test_dataloader()))
    return task, batch


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_forecaster_matches_rnnlab_in_original_units(runs, fmt):
    result, facts = exported(runs["forecaster"], fmt)
    task, batch = trained(runs["forecaster"])
    theirs = run_program(result["program"], {"x": batch.x, "future": batch.future})[0]
    with torch.no_grad():
        ours = task.predict(batch)  # (B, 3, 1), original units
    assert theirs.shape == ours.shape == (len(batch), 3, 1)
    assert torch.allclose(theirs, ours, rtol=0, atol=1e-5)
    assert ours.mean() > 5  # in original units: the series sits near 10, its scaled form near 0
    # The facts a user needs to feed it: the scaler of every input, the targets' names.
    assert facts["task"] == "forecaster" and facts["target_names"] == ["y"]
    assert len(facts["scaler"]["mean"]) == len(facts["scaler"]["std"]) == 2
    assert facts["scaler"]["mean"][0] == pytest.approx(11.4, abs=0.5)  # the first 70 % of y
    assert facts["inputs"]["x"]["shape"] == ["batch", 24, 2]
    assert facts["inputs"]["future"]["shape"] == ["batch", 3, 1]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_classifier_matches_rnnlab_on_a_padded_batch(runs, fmt):
    result, facts = exported(runs["classifier"], fmt)
    task, batch = trained(runs["classifier"])
    assert bool((batch.lengths < batch.x.shape[1]).any())  # padded rows are compared too
    length = facts["inputs"]["x"]["shape"][1]
    x = torch.nn.functional.pad(batch.x, (0, length - batch.x.shape[1]), value=facts["pad_index"])
    theirs = run_program(result["program"], {"x": x, "lengths": batch.lengths})[0]
    with torch.no_grad():
        ours = task(batch.x, batch.lengths, batch.mask)
    assert torch.allclose(theirs, ours, rtol=0, atol=1e-5)
    assert torch.equal(theirs.argmax(-1), task.predict(batch))
    assert result["max_difference"] <= 1e-5 and result["rows_checked"] == len(batch)


@pytest.mark.parametrize("model", ["mingru", "minlstm", "mlstm", "s4d"])
def test_a_modern_classifier_exports_at_any_batch_size(model, tmp_path):
    # An exported program leaves the batch free, so a trace must not branch on the batch's
    # size (these nets split their projections by the rows of a batch) or values (S4D's
    # convolution form reads the padding mask as lengths).
    overrides = [*RUNS["classifier"], *QUICK, f"model={model}", "model.num_layers=1"]
    train(compose_config("train", overrides, tmp_path))
    result, facts = exported(tmp_path, "torch_export")
    task, batch = trained(tmp_path)
    length = facts["inputs"]["x"]["shape"][1]
    x = torch.nn.functional.pad(batch.x, (0, length - batch.x.shape[1]), value=facts["pad_index"])
    for rows in (len(batch), 3):  # the checked batch, and another size
        theirs = run_program(result["program"], {"x": x[:rows], "lengths": batch.lengths[:rows]})
        with torch.no_grad():
            ours = task(batch.x[:rows], batch.lengths[:rows], batch.mask[:rows])
        assert torch.allclose(theirs[0], ours, rtol=0, atol=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_tagger_matches_rnnlab_on_every_valid_step(runs, fmt):
    result, facts = exported(runs["tagger"], fmt)
    task, batch = trained(runs["tagger"])
    length = facts["length"]
    x = torch.nn.functional.pad(batch.x, (0, length - batch.x.shape[1]))
    theirs = run_program(result["program"], {"x": x, "lengths": batch.lengths})[0]
    with torch.no_grad():
        ours = task(batch.x, batch.lengths, batch.mask)
    valid = batch.mask
    assert torch.allclose(theirs[:, : batch.x.shape[1]][valid], ours[valid], rtol=0, atol=1e-5)
    tags = theirs.argmax(-1)
    rows = zip(tags.tolist(), batch.lengths.tolist(), strict=True)
    assert [row[:n] for row, n in rows] == task.predict(batch)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_language_model_one_step_form_matches_reading_whole(runs, fmt):
    result, facts = exported(runs["language_model"], fmt)
    task, batch = trained(runs["language_model"])
    assert_steps_read_as_whole(result["program"], facts, task, batch.x[:, :20])
    assert facts["outputs"]["logits"]["shape"] == ["batch", len(facts["vocab"])]
    assert facts["tokenize"] == {"level": "char"}


def test_a_modern_language_models_one_step_program_runs_at_any_batch_size(tmp_path):
    overrides = [*RUNS["language_model"], *QUICK, "model=lru", "model.num_layers=1"]
    train(compose_config("train", overrides, tmp_path))
    result, facts = exported(tmp_path, "torch_export")
    task, batch = trained(tmp_path)
    for rows in (len(batch), 3):
        assert_steps_read_as_whole(result["program"], facts, task, batch.x[:rows, :4])


def assert_steps_read_as_whole(program, facts, task, x):
    """The exported one-step ``program``, fed the tokens of ``x`` ``(B, T)`` one at a time from
    a zero state, gives the logits that ``task`` gives reading ``x`` whole."""
    with torch.no_grad():
        ours = task(x)[0]  # (B, T, V), read whole from a fresh state
    state = {
        name: torch.zeros([len(x) if d == "batch" else d for d in value["shape"]])
        for name, value in facts["inputs"].items()
        if name.startswith("state_")
    }
    for t in range(x.shape[1]):
        logits, *carried = run_program(program, {"token": x[:, t : t + 1], **state})
        assert torch.allclose(logits, ours[:, t], rtol=0, atol=1e-5), f"{len(x)} rows, step {t}"
        state = dict(zip(state, carried, strict=True))


def test_the_preprocessing_facts_alone_label_new_text_as_rnnlab_predict_does(runs, tmp_path):
    run_dir = runs["classifier"]
    result, facts = exported(run_dir, "torch_export")
    texts = ["a wonderful film , truly moving", "dull and far too long", "zzqx unseen words"]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    cfg = compose_config(
        "predict",
        [f"ckpt_path={run_dir}/checkpoints/last.ckpt", f"input={tmp_path}/texts.txt"],
        tmp_path,
    )
    expected = [line.split("\t")[1] for line in predict(cfg).splitlines()]

    index = {token: i for i, token in enumerate(facts["vocab"])}
    rule = facts["tokenize"]
    rows = [
        [index.get(t, facts["unk_index"]) for t in tokenize(text, rule["level"], rule["lower"])]
        for text in texts
    ]
    length = facts["length"]
    x = torch.tensor([row + [facts["pad_index"]] * (length - len(row)) for row in rows])
    lengths = torch.tensor([len(row) for row in rows])
    logits = run_program(result["program"], {"x": x, "lengths": lengths})[0]
    assert [facts["classes"][i] for i in logits.argmax(-1).tolist()] == expected


def test_the_check_tells_a_program_that_does_not_match(runs):
    """The difference the export reports is measured: a net with other weights is far off."""
    from rnnlab.export import Runner, compare, program

    run_dir = runs["classifier"]
    result, _ = exported(run_dir, "torch_export")
    saved, spec, _ = load_run(run_dir / "checkpoints" / "last.ckpt")
    task, batch = trained(run_dir)
    prog = program(task, spec, saved, None)
    runner = Runner(Path(result["program"]), torch.export.load(result["program"]))
    assert compare(runner, prog, task, spec, batch)[0] <= 1e-5
    with torch.no_grad():
        task.head.bias.add_(1.0)
    worst, _ = compare(runner, prog, task, spec, batch)
    assert math.isclose(worst, 1.0, abs_tol=1e-4)


def test_a_failed_export_leaves_the_last_one_as_it_was(runs):
    run_dir = runs["classifier"]
    exported(run_dir, "torch_export")
    before = tree_digest(run_dir / "export")
    ckpt = f"ckpt_path={run_dir}/checkpoints/last.ckpt"
    done = run_main("rnnlab.export", ckpt, "length=2", cwd=run_dir)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: the test split's first batch has")
    assert len(done.stderr.strip().splitlines()) == 1
    assert tree_digest(run_dir / "export") == before  # no stray temporary either


def test_a_first_export_that_fails_leaves_no_folder(runs, tmp_path):
    ckpt = f"ckpt_path={runs['classifier']}/checkpoints/last.ckpt"
    done = run_main("rnnlab.export", ckpt, "length=2", f"output_dir={tmp_path}/out", cwd=tmp_path)
    assert done.returncode == 2
    assert not (tmp_path / "out").exists()


def test_a_cnn_rnn_over_frames_exports(tmp_path):
    pytest.importorskip("sklearn")  # the moving digits are scikit-learn's
    overrides = ["model=cnn_lstm", "data=moving_digits", "data.num_train=64", "data.num_val=32",
                 "data.num_test=32", *QUICK]  # fmt: skip
    train(compose_config("train", overrides, tmp_path))
    result, facts = exported(tmp_path, "torch_export")
    task, batch = trained(tmp_path)
    theirs = run_program(result["program"], {"x": batch.x, "lengths": batch.lengths})[0]
    with torch.no_grad():
        ours = task(batch.x, batch.lengths, batch.mask)
    assert torch.allclose(theirs, ours, rtol=0, atol=1e-5)
    assert facts["inputs"]["x"]["shape"] == ["batch", 8, 1, 24, 24]


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["format=keras"], "format=keras is not one of onnx, torch_export."),
        (["length=0"], "length=0 must be a whole number of at least 1"),
    ],
)
def test_bad_settings_are_one_sentence(runs, overrides, says):
    run_dir = runs["classifier"]
    ckpt = f"ckpt_path={run_dir}/checkpoints/last.ckpt"
    done = run_main("rnnlab.export", ckpt, *overrides, cwd=run_dir)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {says}") and len(done.stderr.splitlines()) == 1


def test_a_seq2seq_checkpoint_is_refused(tmp_path):
    overrides = ["experiment=reverse_attention", *QUICK, "trainer.limit_val_batches=1"]
    train(compose_config("train", overrides, tmp_path))
    done = run_main("rnnlab.export", f"ckpt_path={tmp_path}/checkpoints/last.ckpt", cwd=tmp_path)
    assert done.returncode == 2
    assert "rnnlab.export writes forecasters, classifiers, taggers and language models" in (
        done.stderr
    )
    assert not (tmp_path / "export").exists()
