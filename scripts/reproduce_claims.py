"""The claims courses make about recurrent networks, each run as a seeded sweep and judged by
its own numbers, into ``docs/results.md``.

    python scripts/reproduce_claims.py [--claim attention] [--out logs/claims]

A claim is an experiment, ``conf/experiment/claims/<name>.yaml``: a setting small enough for 2
CPU cores, and a sweep (``hydra.sweeper.params``) over the thing the claim is about and at
least three seeds. This script runs that sweep (``python -m rnnlab.train -m
experiment=claims/<name>``) into a fresh folder, reads its runs through ``rnnlab.report``, and
rewrites the claim's section of ``docs/results.md``: the claim, the setting, a table of mean ±
standard deviation over the seeds, the validation curves with a band per setting, and a verdict
computed from the numbers. The verdict says the claim holds where the expected setting is ahead
by more than the two settings' standard deviations together, that the numbers contradict it
where another setting is ahead by that much, and that they do not separate the two otherwise.
A claim that a setting does "as well" holds where it is not behind by more than that spread. A
claim can also name costs the expected setting must win on: ``parameters`` (the weights in a
run's last checkpoint) and ``fit_s`` (seconds from the first to the last training or validation
scalar a run logged, read from its TensorBoard events); they join the table as columns.
Other claims' sections are kept; the header states the machine and every section's wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from omegaconf import OmegaConf

from rnnlab.report import (
    build_table,
    find_runs,
    plot_curves,
    read_curve,
    seed_table,
    seeds_markdown,
    split_overrides,
)
from rnnlab.utils.atomic import atomic_path, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
CLAIMS_DIR = ROOT / "conf" / "experiment" / "claims"
RESULTS = ROOT / "docs" / "results.md"
# The sweep's wall time and torch's threads per process, kept beside its runs for --reuse.
WALL_FILE = "wall_seconds.txt"
# Overrides this script gives every run: not part of a claim's setting.
_OWN = ("experiment", "callbacks.rich_progress_bar.refresh_rate")


@dataclass(frozen=True)
class Claim:
    """What a course says, and how its sweep tests it.

    Attributes:
        statement: the claim, as courses put it.
        metric: the ``metrics.json`` key that decides it.
        mode: ``max`` or ``min``: which way ``metric`` is better.
        expect: the swept value the claim says wins (``model.attention=bahdanau``).
        curve: the TensorBoard scalar drawn over steps.
        as_good: the claim is that ``expect`` does as well on ``metric``, not better.
        cheaper: costs ``expect`` must also be lower on: ``parameters``, ``fit_s``.
        data: writes the claim's data into a folder and returns the overrides that read it,
            for a claim no built-in set can test.
        worse: the claim is that ``expect`` falls behind every other setting.
        by: a second swept key (``data.length``): the claim is judged at each of its values
            and decided at the largest.
        columns: costs shown in the table without being judged.
    """

    statement: str
    metric: str
    mode: str
    expect: str
    curve: str = "val/loss"
    as_good: bool = False
    cheaper: tuple[str, ...] = ()
    data: Callable[[Path], list[str]] | None = None
    worse: bool = False
    by: str | None = None
    columns: tuple[str, ...] = ()


def echo_stream(folder: Path, records: int = 30_000, seed: int = 0) -> list[str]:
    """A character stream for the truncated-BPTT claim: lines ``word|....................>word``
    of a random 4-letter word over ``a``-``h``, 20 dots, and the word again, so each copied
    letter is 26 characters after the one it copies and carries 3 bits to a model that kept
    it. Written to ``folder/echo.txt``; the override that reads it."""
    rng = random.Random(seed)
    path = folder / "echo.txt"
    lines = []
    for _ in range(records):
        word = "".join(rng.choice("abcdefgh") for _ in range(4))
        lines.append(f"{word}|{'.' * 20}>{word}")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return [f"data.path={path}"]


CLAIMS = {
    "architectures_forecast": Claim(
        "On a short-window forecast a recurrent net does as well as a temporal convolutional "
        "network and a Transformer with the same number of weights.",
        metric="test/mse",
        mode="min",
        expect="claim_net=forecast_lstm",
        curve="val/mse",
        as_good=True,
        columns=("parameters",),
    ),
    "architectures_lm": Claim(
        "On a character language model a temporal convolutional network beats a recurrent net "
        "with the same number of weights (Bai et al., 2018), and so does a Transformer.",
        metric="test/bpc",
        mode="min",
        expect="claim_net=lm_lstm",
        curve="val/bpc",
        worse=True,
        columns=("parameters",),
    ),
    "attention": Claim(
        "Attention lifts the encoder-decoder's bottleneck: on long inputs a decoder that attends "
        "to every encoder state beats one that reads a single fixed-size summary.",
        metric="test/exact_match",
        mode="max",
        expect="model.attention=bahdanau",
        curve="val/exact_match",
    ),
    "bidirectional": Claim(
        "Bidirectional context helps tagging: a tagger that also reads the words after each one "
        "tags better than one that reads only those before it.",
        metric="test/acc",
        mode="max",
        expect="model.bidirectional=true",
        curve="val/acc",
    ),
    "teacher_forcing": Claim(
        "Teacher forcing speeds training, but a decoder trained only on true prefixes decodes "
        "worse from its own predictions (exposure bias): a lower teacher-forcing ratio gives "
        "better greedy decoding.",
        metric="test/exact_match",
        mode="max",
        expect="task.teacher_forcing=0.5",
        curve="val/exact_match",
    ),
    "clipping": Claim(
        "Gradient clipping tames exploding gradients: clipped, a recurrent net that explodes "
        "without it takes no step whose gradient overflows.",
        metric="train/skipped_steps",
        mode="min",
        expect="trainer.gradient_clip_val=1.0",
        curve="train/loss",
    ),
    "dependency_length": Claim(
        "Gated cells fix the vanishing gradient: as the dependency grows, a vanilla RNN falls "
        "behind the LSTM and the GRU.",
        metric="test/mse",
        mode="min",
        expect="model=rnn",
        curve="val/mse",
        worse=True,
        by="data.length",
    ),
    "gru_vs_lstm": Claim(
        "A GRU has fewer parameters than an LSTM of the same width, trains faster, and does as "
        "well.",
        metric="test/mse",
        mode="min",
        expect="model=gru",
        curve="val/mse",
        as_good=True,
        cheaper=("parameters", "fit_s"),
    ),
    "packing": Claim(
        "Packing a padded batch skips the padding: an RNN trains faster on packed batches and "
        "gives the same results as one run over the padded batch.",
        metric="test/acc",
        mode="max",
        expect="model.pack=true",
        curve="val/acc",
        as_good=True,
        cheaper=("fit_s",),
    ),
    "tbptt": Claim(
        "A longer truncated-BPTT window lets a language model learn to use longer context: "
        "where each word comes back 26 characters later, a window longer than that predicts "
        "the copies better than windows shorter than it.",
        metric="test/bpc",
        mode="min",
        expect="task.tbptt_steps=64",
        curve="val/bpc",
        data=echo_stream,
    ),
}


def sweep_params(name: str) -> dict[str, str]:
    """The claim's sweep: ``{key: "a,b,c"}`` from its experiment file."""
    node = OmegaConf.load(CLAIMS_DIR / f"{name}.yaml")
    return dict(OmegaConf.select(node, "hydra.sweeper.params") or {})


def run_sweep(name: str, folder: Path, extra: list[str]) -> None:
    """Run the claim's sweep into ``folder`` (replaced), with the overrides ``extra``, and
    keep its wall time and threads beside its runs (``WALL_FILE``)."""
    shutil.rmtree(folder, ignore_errors=True)
    command = [
        sys.executable, "-m", "rnnlab.train", "-m", f"experiment=claims/{name}",
        f"hydra.sweep.dir={folder}", "callbacks.rich_progress_bar.refresh_rate=0", *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"error: the sweep of claim {name} failed:\n{done.stderr[-3000:]}")
    atomic_write_text(folder / WALL_FILE, f"{wall:.1f} {torch.get_num_threads()}\n")


def verdict(claim: Claim, groups) -> str:
    """One line: whether the numbers show the claim, with the means and spreads it rests on.
    A claim judged ``by`` a setting is judged at each of its values, and decided at the
    largest."""
    if claim.by is None:
        word, text = _verdict(claim, groups)
        return f"**{word}**: {text}"
    values = sorted({g.setting.get(claim.by) for g in groups}, key=_number)
    lines = [
        (v, _verdict(claim, [g for g in groups if g.setting.get(claim.by) == v])) for v in values
    ]
    word = lines[-1][1][0]
    each = " ".join(f"At {claim.by}={v}: {w.lower()}, {text}" for v, (w, text) in lines)
    return f"**{word}** at {claim.by}={values[-1]}. {each}"


def _verdict(claim: Claim, groups) -> tuple[str, str]:
    """The verdict's word and its reasons, over ``groups`` that differ in the expected key."""
    key, _, value = claim.expect.partition("=")
    # Hydra records a swept `true` as `True`: values are compared as written, in lower case.
    value = value.lower()
    by_value = {str(g.setting.get(key)).lower(): g.values for g in groups}
    if not by_value.get(value, {}).get(claim.metric):
        return "No verdict", f"no finished run of {claim.expect}."
    # A claim that a setting falls behind is judged as its lead in the other direction.
    mode = {"max": "min", "min": "max"}[claim.mode] if claim.worse else claim.mode
    aspects = [(claim.metric, mode, claim.as_good)]
    aspects += [(cost, "min", False) for cost in claim.cheaper]
    judged = [_judge(by_value, value, *aspect) for aspect in aspects]
    seeds = len(by_value[value][claim.metric])
    what = f"(over {seeds} seeds: {'; '.join(text for _, text in judged)})"
    failed = [name for (name, *_), (state, _) in zip(aspects, judged, strict=True) if state < 0]
    if all(state > 0 for state, _ in judged):
        won = "does as well as" if claim.as_good and not claim.cheaper else "leads"
        won = "falls behind" if claim.worse else won
        return "Holds", f"{claim.expect} {won} every other setting beyond the spread {what}."
    if failed:
        which = (
            f"{claim.expect} leads another setting"
            if claim.worse
            else (f"another setting leads {claim.expect}")
        )
        return "Contradicted", f"{which} beyond the spread on {', '.join(failed)} {what}."
    return "Not shown", f"the differences are within the seeds' spread {what}."


def _number(value) -> tuple:
    """A sort key that puts numbers in numeric order, before any other value."""
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _judge(by_value: dict, value: str, metric: str, mode: str, as_good: bool) -> tuple[int, str]:
    """Whether setting ``value`` wins on ``metric`` against every other setting (1), loses to
    one beyond the seeds' spread (-1) or neither (0); and the differences, as text. With
    ``as_good``, not being behind beyond the spread is a win. Two settings both at the data's
    chance level decide nothing."""
    expected = by_value[value].get(metric, [])
    sign = 1 if mode == "max" else -1
    parts, held, contradicted = [], bool(expected), False
    for other, values in by_value.items():
        values = values.get(metric, [])
        if other == value or not values or not expected:
            continue
        lead = sign * (statistics.mean(expected) - statistics.mean(values))
        margin = _spread(expected) + _spread(values)
        near = [s for s in (value, other) if _at_chance(by_value[s], metric)]
        chance = f"; {' and '.join(near)} within 5% of chance" if near else ""
        parts.append(
            f"{metric} {value} − {other}: {sign * lead:+.3g} (spread {margin:.2g}{chance})"
        )
        if len(near) == 2:  # both failed: neither shows anything about the other
            held = False
            continue
        held &= lead >= -margin if as_good else lead > margin
        contradicted |= lead < -margin
    state = -1 if contradicted else 1 if held else 0
    return state, "; ".join(parts) or f"{metric}: no runs"


def _at_chance(values: dict[str, list[float]], metric: str) -> bool:
    """Whether a setting's mean ``metric`` is within 5% of the data's chance level for it
    (``data/chance_<name>``, which the memory tasks record), where there is one."""
    chance = values.get(f"data/chance_{metric.rpartition('/')[2]}")
    if not chance or not values.get(metric):
        return False
    return abs(statistics.mean(values[metric]) - chance[0]) <= 0.05 * abs(chance[0])


def _constant(groups, key: str) -> bool:
    """Whether ``key`` has one and the same value in every run of every group."""
    values = {v for g in groups for v in g.values.get(key, [None])}
    return len(values) == 1 and None not in values


def checkpoint_parameters(run: Path) -> float | None:
    """The number of weights in the run's last checkpoint (the net and its head)."""
    path = run / "checkpoints" / "last.ckpt"
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return float(sum(t.numel() for t in state.values() if t.is_floating_point()))


def fit_seconds(run: Path) -> float | None:
    """Seconds from the first to the last scalar the run logged while fitting (training and
    validation, read from its TensorBoard events' wall times; the test's are left out): its
    training time, validation between epochs included."""
    # Imported here, as rnnlab.report does: reading events costs a second.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    times = []
    for path in (run / "tensorboard").rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            if tag.startswith(("train/", "val/")):
                times += [event.wall_time for event in accumulator.Scalars(tag)]
    return max(times) - min(times) if len(times) > 1 else None


COSTS = {"parameters": checkpoint_parameters, "fit_s": fit_seconds}


def _spread(values: list[float]) -> float:
    """The sample standard deviation, as the table shows it; 0 for one value."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def section(name: str, claim: Claim, folder: Path, wall: str, results: Path) -> str:
    """The claim's section of the results file ``results``; its figure is written into the
    ``results/`` folder beside it."""
    runs = find_runs(folder)
    rows, _ = build_table(runs, claim.metric, claim.mode)
    for run, row in zip(runs, rows, strict=True):
        row.update({cost: COSTS[cost](run.path) for cost in (*claim.cheaper, *claim.columns)})
    groups = seed_table(runs, rows, claim.metric, claim.mode)
    for group in groups:  # the claim's metric and costs, then the other test metrics
        shown = [claim.metric, *claim.cheaper, *claim.columns]
        shown += [k for k in group.values if k.startswith("test/") and k not in shown]
        shown.append(f"data/chance_{claim.metric.rpartition('/')[2]}")  # where the data has it
        group.values = {k: group.values[k] for k in shown if k in group.values}
    # A column equal in every row (a baseline's score, the data's chance level) says nothing
    # about the settings: it is left out of the table, though the verdict may read it.
    same = {key for key in (groups[0].values if groups else {}) if _constant(groups, key)}
    same.discard(claim.metric)
    table = [
        replace(g, values={k: v for k, v in g.values.items() if k not in same}) for g in groups
    ]
    common, _ = split_overrides(runs)
    figure = results.parent / "results" / f"{name}.png"
    figure.parent.mkdir(exist_ok=True)
    curves = {r.name: read_curve(r.path, claim.curve) for r in runs}
    with atomic_path(figure) as partial:
        plot_curves(runs, curves, None, claim.curve, partial)
    swept = ", ".join(f"`{k}={v}`" for k, v in sweep_params(name).items())
    # Paths inside the project are shown from its root, not as this machine spells them.
    shown = {k: str(v).replace(f"{ROOT}/", "") for k, v in common.items() if k not in _OWN}
    setting = ", ".join(f"`{k}={v}`" for k, v in shown.items()) or "the experiment's settings"
    return "\n".join(
        [
            f"<!-- claim:{name} -->",
            f"## {name}",
            "",
            f"**Claim.** {claim.statement}",
            "",
            f"**Run.** `python scripts/reproduce_claims.py --claim {name}`: "
            f"`python -m rnnlab.train -m experiment=claims/{name}` sweeps {swept}. "
            f"Every run: {setting}. Wall time: {wall}.",
            "",
            seeds_markdown(table),
            "",
            f"![{claim.curve} over training steps, mean and one standard deviation over seeds]"
            f"(results/{name}.png)",
            "",
            verdict(claim, groups),
            f"<!-- /claim:{name} -->",
        ]
    )


def wall_text(path: Path) -> str:
    """A sweep's wall time as its section states it: ``123 s`` and, where recorded, the
    threads each run had (``, 1 thread a run``)."""
    seconds, *threads = path.read_text().split()
    per_run = f", {threads[0]} thread{'s' * (threads[0] != '1')} a run" if threads else ""
    return f"{float(seconds):.0f} s{per_run}"


def write_results(sections: dict[str, str], results: Path) -> None:
    """Replace the named sections of the results file, keeping the others, and its header."""
    old = results.read_text(encoding="utf-8") if results.is_file() else ""
    marked = re.findall(r"(<!-- claim:(\w+) -->.*?<!-- /claim:\2 -->)", old, re.S)
    found = {name: text for text, name in marked}
    found.update(sections)
    walls = {n: float(w) for n, s in found.items() for w in re.findall(r"Wall time: (\d+) s", s)}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    header = [
        "# Claims, reproduced",
        "",
        "Each claim a course makes about recurrent networks, run as a sweep with seeds and judged "
        "by its own numbers; written by `python scripts/reproduce_claims.py` (see its docstring "
        "for how a verdict is reached). A verdict reports what these small runs show on this "
        "machine, including where they contradict the claim. Wall times are as measured, each "
        "with the threads its runs had; other work may have shared the cores.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}, torch {torch.__version__}; commit {commit or 'unknown'}. "
        f"Total wall time: {sum(walls.values()):.0f} s "
        f"({', '.join(f'{n} {w:.0f} s' for n, w in walls.items())}).",
    ]
    body = [found[n] for n in sorted(found)]
    atomic_write_text(results, "\n".join(header) + "\n\n" + "\n\n".join(body) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claim", choices=sorted(CLAIMS), action="append",
                        help="a claim to run (repeatable); all of them by default")  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "claims",
                        help="where the sweeps write their runs")  # fmt: skip
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="the Markdown file of results (default: docs/results.md)")  # fmt: skip
    parser.add_argument("--reuse", action="store_true",
                        help="write the sections from the sweeps already in --out, running "
                             "none")  # fmt: skip
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every run (repeatable), for a quick try of the "
                             "pipeline; the published results use none")  # fmt: skip
    args = parser.parse_args(argv)
    sections = {}
    for name in args.claim or sorted(CLAIMS):
        folder = args.out / name
        claim = CLAIMS[name]
        if args.reuse:
            if not (folder / WALL_FILE).is_file():
                sys.exit(f"error: {folder} holds no finished sweep of claim {name}; run it first.")
            wall = wall_text(folder / WALL_FILE)
        else:
            data = claim.data(args.out / f"{name}_data") if claim.data else []
            print(f"claim {name}: sweeping {sweep_params(name)} into {folder}", flush=True)
            run_sweep(name, folder, [*data, *args.set])
            wall = wall_text(folder / WALL_FILE)
        sections[name] = section(name, claim, folder, wall, args.results)
        print(sections[name].splitlines()[-2], flush=True)
    write_results(sections, args.results)
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
