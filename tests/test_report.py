"""`python -m rnnlab.report`: a real sweep's runs as one table and one figure."""

import csv
import json
import shutil
import statistics

import pytest
import yaml

from rnnlab.report import find_runs, length_metric, length_series, read_curve, report
from tests.conftest import TINY, run_cli

# Two epochs, so every run's val/loss curve has two points.
FAST = [
    *TINY,
    "trainer.max_epochs=2",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "~callbacks.rich_progress_bar",
    "~callbacks.rich_model_summary",
]


def multirun(tmp_path_factory, name: str, *overrides: str):
    """The folder of a real ``python -m rnnlab.train -m <overrides>``."""
    root = tmp_path_factory.mktemp(name)
    result = run_cli("rnnlab.train", "-m", *overrides, f"hydra.sweep.dir={root}", cwd=root)
    assert result.returncode == 0, result.stderr[-2000:]
    return root


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A real two-job multirun (model=rnn,gru on sine), shared by every test here."""
    return multirun(tmp_path_factory, "sweep", "model=rnn,gru", "data=sine", *FAST)


def metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def test_each_job_is_a_row_with_its_model_and_final_metrics(sweep, tmp_path):
    rows = report(sweep, output=tmp_path)
    assert [row["run"] for row in rows] == ["0", "1"]
    assert [row["model"] for row in rows] == ["rnn", "gru"]
    assert [row["status"] for row in rows] == ["ok", "ok"]
    for row in rows:
        saved = metrics(sweep / row["run"])
        assert row["test/mse"] == saved["test/mse"]
        assert row["val/loss_best"] == saved["val/loss_best"]
        assert "data.length" not in row  # the same in both runs: a common setting, not a column
    text = (tmp_path / "report.md").read_text()
    assert "common: data=sine, data.length=3000" in text
    assert "| run | best | status | model | test/loss |" in text


@pytest.mark.parametrize(
    "metric, mode, pick",
    [(None, None, min), ("test/mse", "max", max), ("val/loss_best", None, min)],
)
def test_the_best_run_by_the_metric_is_marked(sweep, tmp_path, metric, mode, pick):
    key = metric or "test/loss"  # the default where every run was tested
    expected = pick(["0", "1"], key=lambda job: metrics(sweep / job)[key])
    rows = report(sweep, metric=metric, mode=mode, output=tmp_path)
    assert [row["run"] for row in rows if row["best"]] == [expected]
    assert f"best: {expected} by {key} ({mode or 'min'})" in (tmp_path / "report.md").read_text()
    table = (tmp_path / "report.md").read_text().splitlines()
    assert any(line.startswith(f"| **{expected}** | **\\*** |") for line in table)
    with open(tmp_path / "report.csv", newline="") as file:
        marked = [row["run"] for row in csv.DictReader(file) if row["best"] == "*"]
    assert marked == [expected]


def test_writes_markdown_csv_and_a_png_figure(sweep, tmp_path):
    rows = report(sweep, output=tmp_path / "out")
    out = tmp_path / "out"
    with open(out / "report.csv", newline="") as file:
        table = list(csv.DictReader(file))
    assert [row["run"] for row in table] == ["0", "1"]
    assert float(table[1]["test/loss"]) == rows[1]["test/loss"]  # full precision
    png = (out / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1024
    assert not list(out.glob(".*partial"))


def test_curves_are_read_from_all_event_files_of_a_run(sweep):
    # Fitting and testing write separate event files; the final metrics, copied at step 0 for
    # the HPARAMS tab, must not become the first point of a curve.
    run = sweep / "0"
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) > 1
    loss = read_curve(run, "val/loss")
    assert len(loss) == 2 and loss[0][0] < loss[1][0]
    best = read_curve(run, "val/loss_best")
    assert [step for step, _ in best] == [step for step, _ in loss]
    assert best[-1][1] == pytest.approx(metrics(run)["val/loss_best"])
    assert read_curve(run, "test/loss")[-1][1] == pytest.approx(metrics(run)["test/loss"])
    assert read_curve(run, "no/such_tag") == []


def test_an_unfinished_run_is_listed_as_such_in_natural_order(sweep, tmp_path):
    root = tmp_path / "sweep"
    shutil.copytree(sweep, root, ignore=shutil.ignore_patterns("checkpoints"))
    for job in ("10", "2"):  # started, crashed before writing metrics.json
        (root / job / ".hydra").mkdir(parents=True)
        (root / job / ".hydra" / "overrides.yaml").write_text("- model=lstm\n- data=sine\n")
    rows = report(root)
    assert [row["run"] for row in rows] == ["0", "1", "2", "10"]
    assert [row["status"] for row in rows] == ["ok", "ok", "no metrics", "no metrics"]
    assert rows[2]["model"] == "lstm" and rows[2]["test/loss"] is None
    assert not rows[2]["best"] and not rows[3]["best"]
    assert sum(row["best"] for row in rows) == 1
    assert "| 10 |  | no metrics | lstm |" in (root / "report.md").read_text()


def test_a_run_that_failed_is_listed_as_failed_with_the_sentence_that_ended_it(sweep, tmp_path):
    root = tmp_path / "sweep"
    shutil.copytree(sweep, root, ignore=shutil.ignore_patterns("checkpoints"))
    diverging = ["model=lstm", "optimizer.lr=1e30", "trainer.gradient_clip_val=null"]
    result = run_cli("rnnlab.train", *FAST, *diverging, f"hydra.run.dir={root / '2'}", cwd=tmp_path)
    assert result.returncode == 3, result.stderr[-2000:]
    rows = report(root)
    assert [row["status"] for row in rows] == ["ok", "ok", "failed"]
    sentence = result.stderr.strip().splitlines()[-1].removeprefix("error: ")
    assert sentence.startswith("training stopped at step")
    assert f"failed: 2: {sentence}" in (root / "report.md").read_text()


def test_runs_of_different_tasks_get_no_best_run(sweep, tmp_path):
    root = tmp_path / "mixed"
    shutil.copytree(sweep, root / "sine", ignore=shutil.ignore_patterns("checkpoints"))
    lm = root / "text" / "0"  # a language model's run: its test/loss is a cross-entropy
    (lm / ".hydra").mkdir(parents=True)
    (lm / ".hydra" / "overrides.yaml").write_text("- data=text\n")
    (lm / ".hydra" / "config.yaml").write_text(
        "task:\n  _target_: rnnlab.tasks.LanguageModelTask\n"
    )
    (lm / "metrics.json").write_text('{"test/loss": 0.0001}\n')
    rows = report(root)
    assert not any(row["best"] for row in rows)
    assert (
        "no best run: these runs train 2 tasks (forecasting, languagemodel)"
        in (root / "report.md").read_text()
    )


def test_runs_are_ranked_the_way_their_task_recorded(sweep, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(sweep, root)
    for job, value in (("0", 0.2), ("1", 0.7)):  # a metric only a task of its own would know
        saved = metrics(root / job)
        (root / job / "metrics.json").write_text(json.dumps({**saved, "test/iou": value}))
        modes = json.loads((root / job / "metric_modes.json").read_text())
        assert modes["test/mse"] == "min"  # written by the run, as its task says
        (root / job / "metric_modes.json").write_text(json.dumps({**modes, "test/iou": "max"}))
    rows = report(root, metric="test/iou", output=tmp_path)
    assert [row["best"] for row in rows] == [False, True]


def test_command_line_prints_the_table_and_the_files_it_wrote(sweep, tmp_path):
    # `python -m rnnlab.report DIR`: the directory may be given bare, as a positional argument.
    result = run_cli("rnnlab.report", str(sweep), f"output={tmp_path}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| run | best | status | model |" in result.stdout
    for name in ("report.md", "report.csv", "curves.png"):
        assert f"wrote {tmp_path / name}" in result.stdout
    assert not list(tmp_path.glob(".hydra")) and not list(tmp_path.glob("*.log"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["dir={tmp}/missing"], "error: dir={tmp}/missing does not exist."),
        (["dir={tmp}"], "error: dir={tmp} holds no runs"),
        (["dir={sweep}", "metric=test/acc"], "error: metric=test/acc is in no run's metrics"),
    ],
)
def test_mistakes_end_with_one_line_and_exit_status_2(sweep, tmp_path, args, message):
    def fill(text):
        return text.format(tmp=tmp_path, sweep=sweep)

    result = run_cli("rnnlab.report", *map(fill, args), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(fill(message))
    if "metric=" in message:
        assert "choose one of: " in result.stderr and "test/loss" in result.stderr
    assert not list(tmp_path.glob("report.*"))


@pytest.fixture(scope="module")
def length_sweep(tmp_path_factory):
    """A real tiny long-range sweep: experiment=long_range/parity, 2 models x 2 lengths."""
    return multirun(
        tmp_path_factory,
        "length_sweep",
        "experiment=long_range/parity",
        "model=rnn,gru",
        "data.length=4,8",
        *("data.num_train=64", "data.num_val=32", "data.num_test=32", "trainer=cpu"),
        *("trainer.max_epochs=1", "~callbacks.rich_progress_bar", "~callbacks.rich_model_summary"),
    )


def test_a_length_sweep_draws_its_metric_against_length_a_line_per_model(length_sweep, tmp_path):
    report(length_sweep, output=tmp_path)
    png = (tmp_path / "memory_vs_length.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1024
    runs = find_runs(length_sweep)
    assert length_metric(runs, None) == "test/acc"  # a classification sweep: accuracy
    series = length_series(runs, "test/acc", "data.length")
    expected = {}
    for job in sorted(length_sweep.glob("[0-9]")):
        given = dict(
            line.split("=", 1)
            for line in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        )
        line = expected.setdefault(f"model={given['model']}", {})
        line[float(given["data.length"])] = [metrics(job)["test/acc"]]
    assert series.lines == expected and set(expected) == {"model=rnn", "model=gru"}
    assert series.chance == {4.0: 0.5, 8.0: 0.5}  # parity's data/chance_acc, from metrics.json


def test_seeds_are_averaged_and_the_length_may_come_from_the_saved_config(length_sweep, tmp_path):
    root = tmp_path / "sweep"
    shutil.copytree(length_sweep, root, ignore=shutil.ignore_patterns("checkpoints"))
    for job in sorted(root.glob("[0-9]")):  # a second seed of every job, 0.25 more accurate
        twin = root / f"{job.name}_seed2"
        shutil.copytree(job, twin)
        overrides = twin / ".hydra" / "overrides.yaml"
        overrides.write_text(overrides.read_text() + "- seed=2\n")
        saved = metrics(twin)
        (twin / "metrics.json").write_text(
            json.dumps({**saved, "test/acc": saved["test/acc"] + 0.25})
        )
    for overrides in root.glob("*/.hydra/overrides.yaml"):  # data.length only in config.yaml
        kept = [line for line in overrides.read_text().splitlines() if "data.length" not in line]
        overrides.write_text("\n".join(kept) + "\n")
    series = length_series(find_runs(root), "test/acc", "data.length")
    assert set(series.lines) == {"model=rnn", "model=gru"}  # seed makes no line of its own
    for line in series.lines.values():
        assert sorted(line) == [4.0, 8.0]
        for values in line.values():
            assert len(values) == 2 and values[1] - values[0] == pytest.approx(0.25)
    report(root, output=tmp_path / "out", metric="test/loss")
    assert (tmp_path / "out" / "memory_vs_length.png").is_file()

    # report.md gives the figure's numbers: mean ± standard deviation (seeds) per length.
    report(root, output=tmp_path / "acc")
    text = (tmp_path / "acc" / "report.md").read_text()
    assert "| test/acc by data.length | 4 | 8 |" in text
    for label, line in series.lines.items():
        cells = [
            f"{statistics.mean(line[x]):.4g} ± {statistics.stdev(line[x]):.3g} (2)" for x in (4, 8)
        ]
        assert f"| {label} | {cells[0]} | {cells[1]} |" in text
    assert "| chance | 0.5 | 0.5 |" in text


def test_no_length_figure_where_the_runs_share_one_length(sweep, length_sweep, tmp_path):
    report(sweep, output=tmp_path / "same")  # model=rnn,gru at one length
    assert not (tmp_path / "same" / "memory_vs_length.png").exists()
    report(length_sweep, output=tmp_path / "off", length_key=None)
    assert not (tmp_path / "off" / "memory_vs_length.png").exists()


@pytest.fixture(scope="module")
def seed_sweep(tmp_path_factory):
    """A real multirun of two models over three seeds: model=rnn,gru seed=1,2,3."""
    overrides = ("model=rnn,gru", "seed=1,2,3", "data=sine", *FAST)
    return multirun(tmp_path_factory, "seed_sweep", *overrides)


def test_runs_that_differ_only_in_seed_are_one_row_with_mean_and_spread(seed_sweep, tmp_path):
    rows = report(seed_sweep, output=tmp_path)
    assert len(rows) == 6  # the table of runs keeps every run
    by_model: dict[str, list[float]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(metrics(seed_sweep / row["run"])["test/mse"])
    text = (tmp_path / "report.md").read_text()
    assert "over seeds (mean ± standard deviation):" in text
    header = text.split("over seeds (mean ± standard deviation):\n\n", 1)[1].splitlines()[0]
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[:2] == ["model", "seeds"] and "test/mse" in columns
    where = columns.index("test/mse")
    for model, values in by_model.items():
        assert len(values) == 3
        line = next(
            row
            for row in text.splitlines()
            if row.startswith(f"| {model} |") or row.startswith(f"| **{model}** |")
        )
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        assert cells[1] == "3"
        expected = f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.3g}"
        assert cells[where] == expected

    with (tmp_path / "report_seeds.csv").open() as f:
        table = {row["model"]: row for row in csv.DictReader(f)}
    assert set(table) == {"rnn", "gru"}
    for model, values in by_model.items():
        assert float(table[model]["test/mse_mean"]) == pytest.approx(statistics.mean(values))
        assert float(table[model]["test/mse_std"]) == pytest.approx(statistics.stdev(values))
        assert table[model]["seeds"] == table[model]["test/mse_n"] == "3"
    losses = {m: statistics.mean(v) for m, v in by_model.items()}  # test/loss is the MSE here
    best = min(losses, key=losses.get)
    assert [m for m, row in table.items() if row["best"] == "*"] == [best]
    png = (tmp_path / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1024


def test_a_sweep_without_seeds_has_no_seed_table(sweep, tmp_path):
    report(sweep, output=tmp_path)
    assert "over seeds" not in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "report_seeds.csv").exists()
