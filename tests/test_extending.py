"""rnnlab as a library: a user's own project adds a net, a dataset and an experiment (the
example of docs/extending.md, run as written), a built wheel trains from any directory, and a
call from Python composes and trains as the command line does, leaving the process alone."""

import importlib.util
import json
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import torch

import rnnlab.utils.memory
from rnnlab.testing import check_encoder
from rnnlab.train import run
from rnnlab.utils.errors import ConfigError
from tests.conftest import ROOT, TINY, run_cli, run_main

DOC = ROOT / "docs" / "extending.md"
FAST = [*TINY, "~callbacks.rich_progress_bar", "~callbacks.rich_model_summary"]


def write_doc_project(root: Path) -> None:
    """Every code block of docs/extending.md that starts with ``# file: <path>`` (after a
    Hydra ``# @package`` header, which must come first), written whole as that file under
    ``root``, as a reader pastes it."""
    found = re.findall(
        r"```(?:python|yaml)\n((?:# @package \S+\n)?# file: (\S+)\n.*?)```", DOC.read_text(), re.S
    )
    blocks = [(path, text) for text, path in found]
    assert {path for path, _ in blocks} >= {
        "myproject/nets.py",
        "myproject/mixers.py",
        "myproject/data.py",
        "conf/model/mean_gru.yaml",
        "conf/model/moving_average.yaml",
        "tests/test_moving_average.py",
        "conf/data/square.yaml",
        "conf/experiment/square_gru.yaml",
    }
    for path, text in blocks:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "myproject" / "__init__.py").write_text("")


def test_a_user_project_adds_a_net_a_dataset_and_an_experiment(tmp_path):
    write_doc_project(tmp_path)
    out = tmp_path / "run"
    result = run_cli(
        "rnnlab.train",
        f"hydra.searchpath=[file://{tmp_path}/conf]",
        "experiment=square_gru",
        "trainer.max_epochs=1",
        *FAST,
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data/noise_floor"] == pytest.approx(0.01) and metrics["test/mse"] > 0
    saved = (out / ".hydra" / "config.yaml").read_text()
    assert "myproject.nets.MeanGRU" in saved and "myproject.data.SquareWaveDataModule" in saved
    # rnnlab.predict sets the user's module up as Lightning does, with a stage.
    ckpt = f"ckpt_path={out}/checkpoints/last.ckpt"
    table = run_cli("rnnlab.predict", ckpt, "split=all", cwd=tmp_path)
    assert table.returncode == 0, table.stderr[-3000:]
    lines = table.stdout.splitlines()
    assert lines[0] == "split,origin,time,step,y0_forecast,y0_actual"
    assert {line.split(",")[0] for line in lines[1:]} == {"train", "val", "test"}


def test_a_users_net_trains_on_rnnlabs_data_and_unknown_names_still_fail(tmp_path):
    write_doc_project(tmp_path)
    searchpath = f"hydra.searchpath=[file://{tmp_path}/conf]"
    out = tmp_path / "run"
    result = run_cli(
        "rnnlab.train", searchpath, "model=mean_gru", "data=sine", *FAST,
        f"hydra.run.dir={out}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test/mse" in json.loads((out / "metrics.json").read_text())
    wrong = run_main("rnnlab.train", searchpath, "model=mean_gr", cwd=tmp_path)
    assert wrong.returncode == 2
    message = wrong.stderr.strip()
    assert message.startswith("error: model=mean_gr is not available; choose one of: ")
    assert "mean_gru" in message and "lstm" in message


def test_a_users_mixer_keeps_the_protocol_in_rnnlabs_backbone(tmp_path):
    write_doc_project(tmp_path)
    # The file the docs hold, loaded on its own: no `myproject` left behind in sys.modules.
    spec = importlib.util.spec_from_file_location("mixers", tmp_path / "myproject" / "mixers.py")
    mixers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mixers)
    checked = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0 and "1 passed" in checked.stdout, checked.stdout[-3000:]
    torch.manual_seed(0)
    features = mixers.MovingAverageNet(input_size=3, hidden_size=8)
    check_encoder(features, torch.randn(3, 7, 3))  # padding, causality, chunks, step by step
    assert features(torch.randn(3, 7, 3)).state.shape == (2, 3, 8)  # (L, B, H)
    tokens = mixers.MovingAverageNet(vocab_size=10, pad_index=0, hidden_size=8)
    check_encoder(tokens, torch.randint(1, 10, (3, 7)))


def test_a_users_mixer_trains_a_language_model_and_generates(tmp_path):
    write_doc_project(tmp_path)
    out = tmp_path / "run"
    trained = run_cli(
        "rnnlab.train", f"hydra.searchpath=[file://{tmp_path}/conf]", "model=moving_average",
        "data=text", "model.hidden_size=16", *[o for o in FAST if not o.startswith("data.")],
        f"hydra.run.dir={out}", cwd=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "test/bpc" in json.loads((out / "metrics.json").read_text())
    sampled = run_cli(
        "rnnlab.generate", f"ckpt_path={out}/checkpoints/last.ckpt", "prompt=To be", "length=30",
        cwd=tmp_path,
    )  # fmt: skip
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    assert sampled.stdout.startswith("To be") and len(sampled.stdout.rstrip("\n")) == 35


def test_a_built_wheel_ships_its_configs_and_trains_from_another_directory(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("rnnlab-*.whl")
    # A fresh environment that sees this one's dependencies, with rnnlab from the wheel only.
    env_dir = tmp_path / "env"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = "import rnnlab, rnnlab.cli as cli; print(rnnlab.__file__, cli.CONFIG_DIR)"
    where = subprocess.run(
        [python, "-c", probe],
        cwd=elsewhere, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert all(str(env_dir) in path for path in where), where  # the wheel's package and configs
    done = subprocess.run(
        [python, "-m", "rnnlab.train", "model=lstm", "data=sine", *FAST, "hydra.run.dir=run"],
        cwd=elsewhere, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test/mse" in json.loads((elsewhere / "run" / "metrics.json").read_text())


def test_run_from_python_trains_as_the_command_line_does(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rnnlab.utils.memory, "_mallopt", lambda *args: calls.append(args) or True)
    out = tmp_path / "run"
    metrics, objects = run([*FAST, "model=gru", f"hydra.run.dir={out}"])
    assert calls == []  # the notebook's allocator is left as it was
    assert metrics == pytest.approx(json.loads((out / "metrics.json").read_text()))
    assert set(objects) == {"datamodule", "net", "task", "trainer"}
    assert objects["net"].rnn.mode == "GRU"
    assert "model=gru" in (out / ".hydra" / "overrides.yaml").read_text()
    assert (out / ".hydra" / "config.yaml").is_file() and (out / "checkpoints").is_dir()
    with pytest.raises(ConfigError, match="^model=nope is not available; choose one of"):
        run(["model=nope"])


def test_only_the_command_line_sets_the_allocator(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rnnlab.utils.memory, "_mallopt", lambda *args: calls.append(args) or True)
    monkeypatch.setattr(rnnlab.utils.memory, "_glibc", lambda: True)
    out = tmp_path / "run"
    result = run_main("rnnlab.train", *FAST, f"hydra.run.dir={out}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    mmap, trim = rnnlab.utils.memory._M_MMAP_THRESHOLD, rnnlab.utils.memory._M_TRIM_THRESHOLD
    assert calls == [
        (mmap, rnnlab.utils.memory.MMAP_THRESHOLD),
        (trim, rnnlab.utils.memory.TRIM_THRESHOLD),
    ]
