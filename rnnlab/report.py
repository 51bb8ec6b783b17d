"""A sweep's runs as one table and one figure: ``python -m rnnlab.report multirun/<date>/<time>``.

Every folder under the directory that holds a ``metrics.json`` is a run; one with ``.hydra`` but
no ``metrics.json`` is listed as unfinished, as failed where its log file records the error that
ended it, or as pruned or failed where it was an Optuna trial.
The table has a column per override that differs between runs (the ones they share go to a
``common:`` line), then the final metrics; the best run by ``metric`` is marked. It is printed
and written as ``report.md`` and ``report.csv``, and the ``curve`` scalar of every run, read from
its TensorBoard event files, is drawn in ``curves.png``.

Where the runs differ in ``seed`` (``seed=1,2,3`` in a multirun), the runs that differ in
nothing else are one setting: a second table gives each setting's metrics as the mean ± the
standard deviation over its seeds, with their count (``report_seeds.csv`` holds the numbers),
and ``curves.png`` draws a setting as its mean curve in a band of one standard deviation.

Where the finished runs differ in ``length_key`` (``data.length``: a long-range memory sweep such
as ``experiment=long_range/adding``), the memory-versus-length figure ``memory_vs_length.png``
draws a final metric against it, one line per setting of the other overrides that differ (the
model), runs that differ only in ``seed`` averaged (mean, with one standard deviation as bars),
and the data's chance level (``data/chance_acc``, ``data/chance_mse``, ``data/chance_loss``)
dashed where the runs report it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig

from rnnlab.cli import FAILURE_PREFIX, run, write_output
from rnnlab.sweeps.trial import TRIAL_FILE
from rnnlab.utils.atomic import atomic_path
from rnnlab.utils.errors import ConfigError, check
from rnnlab.utils.run_files import METRICS_FILE, MODES_FILE, NONFINITE_KEY

# Folders a run keeps its own files in: never runs themselves, and slow to walk.
_NOT_RUNS = {".hydra", "tensorboard", "checkpoints"}
# Hydra's command-line flags that take the next argument as their value.
_FLAGS_WITH_VALUES = {
    *("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd"),
    *("--cfg", "-c", "--package", "-p", "--info", "-i", "--experimental-rerun"),
}


@dataclass
class Run:
    """One run directory: its name relative to the report's root, overrides and metrics."""

    path: Path
    name: str
    overrides: dict[str, str]
    metrics: dict[str, Any] | None  # None: the run has not finished
    trial_state: str | None = None  # an Optuna trial's state (complete, pruned, failed)
    modes: dict[str, str] | None = None  # "min" or "max" per metric, from metric_modes.json
    failure: str | None = None  # the error that ended it, as its log file records it

    @property
    def status(self) -> str:
        """``ok``; ``pruned`` or ``failed`` for an Optuna trial that did not complete, and
        ``failed`` for a run whose log file records the error that ended it; else ``no
        metrics`` (still running, or stopped without a word: killed)."""
        if self.metrics is not None:
            return "ok"
        if self.trial_state in ("pruned", "failed"):
            return self.trial_state
        return "failed" if self.failure else "no metrics"

    def label(self, keys: Sequence[str]) -> str:
        """The run's values of ``keys`` as ``key=value, ...``; its name where ``keys`` is empty."""
        parts = [_override(k, self.overrides[k]) for k in keys if k in self.overrides]
        return ", ".join(parts) or self.name


def report(
    dir: str | os.PathLike,
    metric: str | None = None,
    mode: str | None = None,
    output: str | os.PathLike | None = None,
    curve: str = "val/loss",
    length_key: str | None = "data.length",
) -> list[dict[str, Any]]:
    """Compare the runs under ``dir``: print the table, write ``report.md``, ``report.csv`` and
    ``curves.png`` into ``output`` (default: ``dir``) and return the table's rows; where the
    runs differ in ``seed``, the table over seeds goes into ``report.md`` and
    ``report_seeds.csv`` too (:func:`seed_table`); where they differ in ``length_key``, write
    ``memory_vs_length.png`` too (:func:`length_metric` names what it draws; ``length_key=None``
    never draws it).

    Each row maps ``run`` (its path relative to ``dir``), ``best`` (bool), ``status`` (``ok``,
    ``no metrics``, or an Optuna trial's ``pruned`` or ``failed``), each differing override key
    and each metric key to its value (None where the run lacks it), in the table's column order.
    """
    root = Path(dir)
    check(root.exists(), f"dir={dir} does not exist.")
    check(root.is_dir(), f"dir={dir} is not a directory.")
    check(mode in (None, "min", "max"), f"mode={mode} must be min or max (or null).")
    runs = find_runs(root)
    check(bool(runs), f"dir={dir} holds no runs (no folder with a metrics.json or a .hydra).")
    if metric is None and (root / "study.yaml").is_file():  # an Optuna sweep: its objective
        study = yaml.safe_load((root / "study.yaml").read_text(encoding="utf-8")) or {}
        metric = study.get("objective")
        mode = mode or {"minimize": "min", "maximize": "max"}.get(study.get("direction"))

    ranked = _ranked_metric(runs, metric)  # `metric` stays as given: the length figure's default
    mode = mode or recorded_mode(runs, ranked)
    rows, notes = build_table(runs, ranked, mode)
    seeds = seed_table(runs, rows, ranked, mode)
    if seeds:
        notes.append(seeds_markdown(seeds))
    series = None
    if length_key and len({_run_value(r, length_key) for r in runs if r.metrics} - {None}) > 1:
        shown = length_metric(runs, metric)
        series = length_series(runs, shown, length_key)
        notes.append(length_table(series, shown, length_key))
    markdown = "\n\n".join([*notes, markdown_table(rows)]) + "\n"

    best = next((r for r, row in zip(runs, rows, strict=True) if row["best"]), None)
    curves = {r.name: read_curve(r.path, curve) for r in runs}

    out = Path(output) if output else root
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.md", out / "report.csv"]
    write_output(markdown, str(written[0]))
    write_output(csv_table(rows), str(written[1]))
    if seeds:
        written.append(out / "report_seeds.csv")
        write_output(seeds_csv(seeds), str(written[-1]))
    print(markdown)
    if any(curves.values()):
        figure = out / "curves.png"
        with atomic_path(figure) as partial:
            plot_curves(runs, curves, best, curve, partial)
        written.append(figure)
    else:
        print(
            f"note: no run logged {curve} to TensorBoard; curves.png not written.", file=sys.stderr
        )
    if series is not None:
        figure = out / "memory_vs_length.png"
        with atomic_path(figure) as partial:
            plot_memory(series, shown, length_key, partial)
        written.append(figure)
    for path in written:
        print(f"wrote {path}")
    return rows


def build_table(
    runs: Sequence[Run], metric: str | None, mode: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The table's rows (see :func:`report`) and the lines above it: the overrides every run
    shares, and which run is best by ``metric`` (defaults resolved as in ``conf/report.yaml``)."""
    finished = [r.metrics for r in runs if r.metrics is not None]
    metric = _ranked_metric(runs, metric)
    available = sorted({key for m in finished for key in m})
    check(
        not finished or metric in available,
        f"metric={metric} is in no run's metrics.json; choose one of: {', '.join(available)}.",
    )
    mode = mode or recorded_mode(runs, metric)
    tasks = sorted({t for r in runs if r.metrics is not None and (t := _task(r))})
    # A loss means something else from one task to the next (an MSE, a cross-entropy).
    best = best_run(runs, metric, mode) if len(tasks) < 2 else None

    common, differing = split_overrides(runs)
    metric_keys = sorted((k for k in available if _shown(k)), key=lambda k: _column(k, available))
    if metric not in metric_keys and metric in available:
        metric_keys.append(metric)  # the ranking key is always shown
    rows = [
        {
            "run": r.name,
            "best": r is best,
            "status": r.status,
            **{key: r.overrides.get(key) for key in differing},
            **{key: (r.metrics or {}).get(key) for key in metric_keys},
        }
        for r in runs
    ]
    notes = []
    if common:
        notes.append("common: " + ", ".join(_override(k, v) for k, v in common.items()))
    if best is not None:
        notes.append(f"best: {best.name} by {metric} ({mode})")
    elif len(tasks) > 1:
        notes.append(
            f"no best run: these runs train {len(tasks)} tasks ({', '.join(tasks)}), whose "
            "metrics do not compare; report each task's runs on their own."
        )
    notes += [f"failed: {r.name}: {r.failure}" for r in runs if r.status == "failed" and r.failure]
    return rows, notes


def _ranked_metric(runs: Sequence[Run], metric: str | None) -> str:
    """``metric``, or by default ``test/loss`` where every finished run has it, else
    ``val/loss_best``."""
    if metric is not None:
        return metric
    finished = [r.metrics for r in runs if r.metrics is not None]
    return "test/loss" if all("test/loss" in m for m in finished) else "val/loss_best"


@dataclass
class SeedGroup:
    """The finished runs of one setting (their overrides but ``seed``) and each metric's
    values over them; ``best`` where the mean of the ranking metric is the best."""

    setting: dict[str, str | None]
    runs: list[str]
    values: dict[str, list[float]]
    best: bool = False


def seed_table(
    runs: Sequence[Run], rows: Sequence[dict[str, Any]], metric: str, mode: str
) -> list[SeedGroup]:
    """The table's finished rows grouped by every differing override but ``seed``, in the
    order of their first run, the best by the mean of ``metric`` marked; empty where the runs
    do not differ in ``seed``."""
    _, differing = split_overrides(runs)
    if "seed" not in differing:
        return []
    keys = [k for k in differing if k != "seed"]
    metrics = [k for k in rows[0] if k not in ("run", "best", "status", *differing)]
    groups: dict[tuple, SeedGroup] = {}
    for row in rows:
        if row["status"] != "ok":
            continue
        setting = tuple(row[k] for k in keys)
        group = groups.setdefault(setting, SeedGroup(dict(zip(keys, setting, strict=True)), [], {}))
        group.runs.append(row["run"])
        for key in metrics:
            if _is_number(row[key]) and math.isfinite(row[key]):
                group.values.setdefault(key, []).append(float(row[key]))
    ranked = [g for g in groups.values() if g.values.get(metric)]
    if ranked:
        pick = min if mode == "min" else max
        pick(ranked, key=lambda g: _mean(g.values[metric])).best = True
    return list(groups.values())


def seeds_markdown(groups: Sequence[SeedGroup]) -> str:
    """The seed table as Markdown: a row per setting, its number of seeds, and each metric's
    mean ± standard deviation over them; the best setting in bold."""
    metrics = list(dict.fromkeys(key for g in groups for key in g.values))
    keys = list(groups[0].setting)
    header = [*(keys or ["setting"]), "seeds", *metrics]
    lines = [_md_row(header), _md_row(["---"] * len(header))]
    for g in groups:
        cells = [_cell(g.setting[k]) for k in keys] or ["all runs"]
        cells.append(str(len(g.runs)))
        for key in metrics:
            values = g.values.get(key, [])
            spread = f" ± {_std(values):.3g}" if len(values) > 1 else ""
            cells.append(f"{_mean(values):.4g}{spread}" if values else "")
        if g.best:
            cells = [f"**{cell}**" if cell else cell for cell in cells]
        lines.append(_md_row(cells))
    return "over seeds (mean ± standard deviation):\n\n" + "\n".join(lines)


def seeds_csv(groups: Sequence[SeedGroup]) -> str:
    """The seed table as CSV: per metric its mean, standard deviation and number of values."""
    metrics = list(dict.fromkeys(key for g in groups for key in g.values))
    keys = list(groups[0].setting)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    parts = ("mean", "std", "n")
    writer.writerow([*keys, "best", "seeds", *(f"{m}_{part}" for m in metrics for part in parts)])
    for g in groups:
        cells: list[Any] = ["" if g.setting[k] is None else g.setting[k] for k in keys]
        cells += ["*" if g.best else "", len(g.runs)]
        for key in metrics:
            values = g.values.get(key, [])
            cells += [_mean(values), _std(values), len(values)] if values else ["", "", 0]
        writer.writerow(cells)
    return buffer.getvalue()


def recorded_mode(runs: Sequence[Run], metric: str) -> str:
    """Which way ``metric`` is better, as the runs' tasks recorded it; ``min`` where no run
    recorded it (runs of rnnlab 0.1, or a key no task logged)."""
    modes = {r.modes[metric] for r in runs if r.modes and metric in r.modes}
    check(
        len(modes) <= 1,
        f"the runs disagree on whether a higher or a lower {metric} is better; give mode=min "
        "or mode=max.",
    )
    return modes.pop() if modes else "min"


def find_runs(root: Path) -> list[Run]:
    """The runs under ``root`` (``root`` itself included), in natural order (2 before 10)."""
    runs = []
    for folder, subfolders, files in os.walk(root):
        # Pruning in place keeps os.walk out of checkpoints, event files and hidden folders.
        subfolders[:] = [d for d in subfolders if d not in _NOT_RUNS and not d.startswith(".")]
        path = Path(folder)
        finished = METRICS_FILE in files
        if finished or (path / ".hydra").is_dir():
            name = path.relative_to(root).as_posix()
            metrics = read_metrics(path / METRICS_FILE) if finished else None
            trial = path / TRIAL_FILE
            state = _read_json(trial).get("state") if trial.is_file() else None
            modes = _read_json(path / MODES_FILE) if (path / MODES_FILE).is_file() else None
            failure = None if finished else read_failure(path)
            runs.append(Run(path, name, read_overrides(path), metrics, state, modes, failure))
    return sorted(runs, key=lambda r: _natural(r.name))


def read_failure(run_dir: Path) -> str | None:
    """The error that ended the run in ``run_dir``, as its log files (``<job name>.log``)
    record it (:func:`rnnlab.cli._log_failure`); ``None`` where they record none."""
    for log in sorted(run_dir.glob("*.log")):
        with log.open(encoding="utf-8", errors="replace") as file:
            for line in file:
                _, found, failure = line.rstrip("\n").partition(f"] - {FAILURE_PREFIX}")
                if found:
                    return failure
    return None


def read_metrics(path: Path) -> dict[str, Any]:
    """A run's ``metrics.json``, each metric written as ``null`` because it was not finite
    read back as the NaN or infinity its ``nonfinite`` note names."""
    metrics = _read_json(path)
    nonfinite = metrics.pop(NONFINITE_KEY, None) or {}
    spelled = ("nan", "inf", "-inf")
    check(
        isinstance(nonfinite, dict) and all(v in spelled for v in nonfinite.values()),
        f"{path}: {NONFINITE_KEY} should map metrics to one of {', '.join(spelled)}.",
    )
    for key, value in nonfinite.items():
        if metrics.get(key) is None:
            metrics[key] = float(value)
    return metrics


def read_overrides(run_dir: Path) -> dict[str, str]:
    """The run's command-line overrides (``.hydra/overrides.yaml``) as ``{key: value}``."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    try:
        items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    check(isinstance(items, list), f"{path} should hold a YAML list of overrides.")
    overrides = {}
    for item in map(str, items):
        key, _, value = item.partition("=")
        # `+key=v` adds what `key=v` would set; the same setting, so the same column.
        overrides[key.lstrip("+")] = value
    return overrides


def split_overrides(runs: Sequence[Run]) -> tuple[dict[str, str], list[str]]:
    """The overrides every run shares (``{key: value}``) and the keys whose values differ, each
    in the order they were first given."""
    keys = list(dict.fromkeys(key for r in runs for key in r.overrides))
    common, differing = {}, []
    for key in keys:
        values = {r.overrides.get(key) for r in runs}
        if len(values) == 1 and None not in values:
            common[key] = values.pop()
        else:
            differing.append(key)
    return common, differing


def best_run(runs: Sequence[Run], metric: str, mode: str) -> Run | None:
    """The run with the lowest (``mode=min``) or highest ``metric``; the first on ties; None
    where no run has a finite value of it."""
    scored = [
        (r, float(r.metrics[metric]))
        for r in runs
        if r.metrics is not None and _is_number(r.metrics.get(metric))
    ]
    scored = [(r, value) for r, value in scored if math.isfinite(value)]
    if not scored:
        return None
    pick = min if mode == "min" else max
    return pick(scored, key=lambda item: item[1])[0]


def read_curve(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    """The scalar ``tag`` as ``(step, value)`` pairs from every event file of the run's
    ``tensorboard/`` folder, by step; a step logged twice (a resumed run) keeps its latest value.

    rnnlab logs the final metrics once more at step 0, beside the hparams summary, for
    TensorBoard's HPARAMS tab; that copy is left out where other files hold the real curve.
    """
    # Imported here: reading events costs a second that a failing command should not pay.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events, copies = [], []
    for path in sorted((run_dir / "tensorboard").rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        if tag not in accumulator.Tags()["scalars"]:
            continue
        try:
            accumulator.PluginTagToContent("hparams")
            target = copies
        except KeyError:
            target = events
        target.extend(accumulator.Scalars(tag))
    latest: dict[int, tuple[float, float]] = {}
    for event in events or copies:
        if event.step not in latest or event.wall_time >= latest[event.step][0]:
            latest[event.step] = (event.wall_time, event.value)
    return [(step, value) for step, (_, value) in sorted(latest.items())]


def plot_curves(
    runs: Sequence[Run],
    curves: dict[str, list[tuple[int, float]]],
    best: Run | None,
    tag: str,
    path: Path,
) -> None:
    """Draw each run's curve as PNG, labelled by the overrides that differ between the runs
    drawn, the best run's line on top and thicker. Runs that differ only in ``seed`` are one
    line, their mean at the steps they all logged, in a band of one standard deviation."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawn = [r for r in runs if curves[r.name]]
    _, keys = split_overrides(drawn)
    settings = [k for k in keys if k != "seed"]
    lines: dict[str, list[Run]] = {}
    for r in drawn:
        label = (r.label(settings) if settings else "all runs") if "seed" in keys else r.label(keys)
        lines.setdefault(label, []).append(r)
    figure = Figure(figsize=(8, 5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, members in lines.items():
        is_best = best in members
        steps = sorted(set.intersection(*({s for s, _ in curves[r.name]} for r in members)))
        by_step = [dict(curves[r.name]) for r in members]
        values = [[run[step] for run in by_step] for step in steps]  # (steps, seeds)
        means = [_mean(v) for v in values]
        text = textwrap.fill(label, 40)
        text += f" ({len(members)} seeds)" if len(members) > 1 else ""
        (line,) = axes.plot(
            steps,
            means,
            marker="o" if len(steps) < 30 else None,
            markersize=3,
            linewidth=2.5 if is_best else 1.2,
            alpha=1.0 if is_best else 0.6,
            zorder=3 if is_best else 2,
            label=text + (" (best)" if is_best else ""),
        )
        if len(members) > 1:
            spreads = [_std(v) for v in values]
            low = [m - d for m, d in zip(means, spreads, strict=True)]
            high = [m + d for m, d in zip(means, spreads, strict=True)]
            axes.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    axes.set_xlabel("step")
    axes.set_ylabel(tag)
    axes.set_title(f"{tag} per run" if "seed" not in keys else f"{tag}: mean over seeds ± 1 sd")
    axes.grid(alpha=0.3)
    # Beside the axes, so that many runs or long labels never cover the curves.
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight")


def length_metric(runs: Sequence[Run], metric: str | None) -> str:
    """What the memory-versus-length figure draws: ``metric`` where given, else the first of
    ``test/acc``, ``test/mse`` and ``test/loss`` that every finished run has (accuracy for a
    classification task, the MSE for a regression such as the adding problem)."""
    finished = [r.metrics for r in runs if r.metrics is not None]
    if metric is not None:
        return metric
    for key in ("test/acc", "test/mse", "test/loss"):
        if all(key in m for m in finished):
            return key
    return "val/loss_best"


@dataclass
class LengthSeries:
    """The memory-versus-length figure's data: ``lines`` maps each line's label to
    ``{length: [value of each seed]}``; ``chance`` maps lengths to the data's chance level."""

    lines: dict[str, dict[float, list[float]]]
    chance: dict[float, float]


def length_series(runs: Sequence[Run], metric: str, length_key: str) -> LengthSeries:
    """Each finished run's ``metric`` by its ``length_key`` (an override, else the value in its
    ``.hydra/config.yaml``), one line per setting of the other differing overrides but ``seed``."""
    finished = [r for r in runs if r.metrics is not None and _is_number(r.metrics.get(metric))]
    _, differing = split_overrides(finished)
    keys = [k for k in differing if k not in (length_key, "seed")]
    lines: dict[str, dict[float, list[float]]] = {}
    chances: dict[float, list[float]] = {}
    fact = "data/chance_" + metric.rpartition("/")[2]  # test/acc -> data/chance_acc
    for r in finished:
        length = _run_value(r, length_key)
        if length is None:
            continue
        length = float(length)
        line = lines.setdefault(r.label(keys) if keys else "runs", {})
        line.setdefault(length, []).append(float(r.metrics[metric]))
        if _is_number(r.metrics.get(fact)):
            chances.setdefault(length, []).append(float(r.metrics[fact]))
    chance = {length: sum(v) / len(v) for length, v in chances.items()}
    return LengthSeries(lines, chance)


def length_table(series: LengthSeries, metric: str, length_key: str) -> str:
    """The figure's numbers as Markdown: a row per line, a column per length, each cell the
    mean over seeds with one standard deviation and the number of seeds, and a chance row."""
    lengths = sorted({x for by_length in series.lines.values() for x in by_length})
    header = [f"{metric} by {length_key}", *(f"{x:g}" for x in lengths)]
    rows = [_md_row(header), _md_row(["---"] * len(header))]
    for label, by_length in series.lines.items():
        cells = [label]
        for x in lengths:
            values = by_length.get(x, [])
            spread = f" ± {_std(values):.3g}" if len(values) > 1 else ""
            cells.append(f"{_mean(values):.4g}{spread} ({len(values)})" if values else "")
        rows.append(_md_row(cells))
    if series.chance:
        rows.append(_md_row(["chance", *(_cell(series.chance.get(x)) for x in lengths)]))
    return "\n".join(rows)


def plot_memory(series: LengthSeries, metric: str, length_key: str, path: Path) -> None:
    """Draw ``metric`` against ``length_key`` as PNG: a line per label, the mean over seeds with
    one standard deviation as error bars, and the chance level dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    lengths: set[float] = set()
    for label, by_length in series.lines.items():
        xs = sorted(by_length)
        means = [_mean(by_length[x]) for x in xs]
        spreads = [_std(by_length[x]) for x in xs]
        seeds = max(len(v) for v in by_length.values())
        text = textwrap.fill(label, 40) + (f" ({seeds} seeds)" if seeds > 1 else "")
        axes.errorbar(xs, means, yerr=spreads, marker="o", capsize=3, label=text)
        lengths.update(xs)
    if series.chance:
        xs = sorted(series.chance)
        chance = [series.chance[x] for x in xs]
        axes.plot(xs, chance, linestyle="--", color="grey", label="chance")
    if lengths and max(lengths) >= 8 * min(lengths) > 0:
        axes.set_xscale("log")  # lengths such as 50, 200, 500 spread evenly
    axes.set_xticks(sorted(lengths), [f"{x:g}" for x in sorted(lengths)])
    axes.minorticks_off()
    axes.set_xlabel(length_key)
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} against {length_key}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    figure.savefig(path, format="png", dpi=100, bbox_inches="tight")


def _task(run: Run) -> str | None:
    """The name of the task the run trained (``forecasting``, ...), from its saved
    ``.hydra/config.yaml``; None where that is not there."""
    path = run.path / ".hydra" / "config.yaml"
    if not path.is_file():
        return None
    saved = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    target = (saved.get("task") or {}).get("_target_") if isinstance(saved, dict) else None
    if not isinstance(target, str):
        return None
    return target.rpartition(".")[2].removesuffix("Task").lower() or None


def _run_value(run: Run, key: str) -> Any:
    """``key``'s number in the run: its override, else its saved ``.hydra/config.yaml``; None
    where neither has a number there."""
    path = run.path / ".hydra" / "config.yaml"
    if key in run.overrides:
        value = yaml.safe_load(run.overrides[key] or "null")
    elif path.is_file():
        value = yaml.safe_load(path.read_text(encoding="utf-8"))
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    else:
        return None
    return value if _is_number(value) else None


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _std(values: Sequence[float]) -> float:
    """The sample standard deviation; 0 for a single value."""
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` as a Markdown table; the best row's cells in bold."""
    columns = list(rows[0])
    lines = [_md_row(columns), _md_row(["---"] * len(columns))]
    for row in rows:
        # An escaped star: a bare one inside bold (`***`) would read as emphasis.
        cells = [_cell(row[c]) if c != "best" else ("\\*" if row[c] else "") for c in columns]
        if row["best"]:
            cells = [f"**{cell}**" if cell else cell for cell in cells]
        lines.append(_md_row(cells))
    return "\n".join(lines)


def csv_table(rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` as CSV with plain values: full-precision numbers, ``*`` for the best run."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(rows[0]))
    for row in rows:
        writer.writerow(
            ("*" if v else "") if k == "best" else ("" if v is None else v) for k, v in row.items()
        )
    return buffer.getvalue()


def _shown(key: str) -> bool:
    """Whether the table has a column for the metric ``key``."""
    return key.startswith(("test/", "data/")) or (key.startswith("val/") and key.endswith("_best"))


def _column(key: str, keys: Sequence[str]) -> tuple[int, bool, str]:
    """Where ``key`` goes: test, then best validation, then data columns; within a stage the
    model's own metrics before derived ones such as a baseline's (``test/naive_mae`` beside
    ``test/mae``)."""
    stage, _, name = key.partition("/")
    derived = "_" in name and f"{stage}/{name.rsplit('_', 1)[-1]}" in keys
    return ({"test": 0, "val": 1}.get(stage, 2), derived, name)


def _override(key: str, value: str) -> str:
    return f"{key}={value}" if value else key


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = f"{value:.4g}" if _is_number(value) else str(value)
    return text.replace("|", "\\|")


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _natural(name: str) -> tuple[list[Any], ...]:
    # Digits compare as numbers; re.split puts text at even and numbers at odd positions.
    return tuple(
        [int(c) if i % 2 else c for i, c in enumerate(re.split(r"(\d+)", part))]
        for part in name.split("/")
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON: {error}.") from None
    check(isinstance(data, dict), f"{path} should hold one JSON object of metrics.")
    return data


def _main(cfg: DictConfig) -> None:
    report(str(cfg.dir), cfg.metric, cfg.mode, cfg.output, str(cfg.curve), cfg.length_key)


def _positional_dir(args: Sequence[str]) -> list[str]:
    """``args`` with the first bare argument (``python -m rnnlab.report DIR``) as ``dir=DIR``;
    Hydra itself only takes ``key=value``. An existing folder counts as bare even with a ``=``
    in its name, as Hydra's ``override_dirname`` sweep folders have."""
    out, done = list(args), False
    for i, arg in enumerate(args):
        after_flag = i > 0 and args[i - 1] in _FLAGS_WITH_VALUES
        if done or arg.startswith("-") or after_flag or arg.startswith("dir="):
            continue
        if "=" not in arg or Path(arg).is_dir():
            out[i], done = f"dir={_quote(arg)}", True
    return out


def _quote(text: str) -> str:
    """``text`` as a single-quoted Hydra value. Hydra reads backslashes literally except in a
    run before a quote or the closing quote, where each one is doubled."""
    text = re.sub(r"(\\*)'", lambda m: m[1] * 2 + "\\'", text)
    text = re.sub(r"(\\+)$", lambda m: m[1] * 2, text)
    return f"'{text}'"


def main() -> None:
    sys.argv[1:] = _positional_dir(sys.argv[1:])
    run(_main, config_name="report")


if __name__ == "__main__":
    main()
