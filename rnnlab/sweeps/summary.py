"""What an Optuna sweep ends with: a table of its trials, the study's counts and best
parameters, ``trials.csv`` and ``study.yaml`` in the sweep directory, and one
``optuna_trial.json`` in each trial's job directory."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.table import Table

from rnnlab.cli import write_output
from rnnlab.sweeps.space import override_value

STATES = {
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
    TrialState.RUNNING: "running",
    TrialState.WAITING: "waiting",
}


@dataclass
class TrialRecord:
    """One trial as the sweep reports it."""

    number: int
    state: str  # complete, pruned, failed, running or waiting
    value: float | None  # the objective; a pruned trial's last reported value
    params: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # why it did not complete
    job_dir: str | None = None
    duration_s: float | None = None

    @classmethod
    def of(cls, trial: FrozenTrial, job_dir: Path | None = None) -> TrialRecord:
        value = trial.value
        if value is None and trial.state == TrialState.PRUNED and trial.intermediate_values:
            value = trial.intermediate_values[max(trial.intermediate_values)]
        return cls(
            number=trial.number,
            state=STATES[trial.state],
            value=value,
            params=dict(trial.params),
            reason=trial.user_attrs.get("reason"),
            job_dir=str(job_dir) if job_dir else trial.user_attrs.get("job_dir"),
            duration_s=trial.duration.total_seconds() if trial.duration else None,
        )

    def write(self, path: Path, study: str, storage: str, objective: str) -> None:
        """The record as JSON, for ``rnnlab.report`` and for whoever opens the job's folder."""
        record = {"study": study, "storage": storage, "objective": objective, **vars(self)}
        write_output(json.dumps(record, indent=2, default=str) + "\n", str(path))


def report_sweep(
    study: optuna.Study,
    session: Sequence[TrialRecord],
    sweep_dir: Path,
    objective: str,
    storage: str,
) -> optuna.Study:
    """Print this sweep's trials, the study's counts and its best trial; write ``trials.csv``
    (every trial of the study) and ``study.yaml`` into ``sweep_dir``. Exits with status 1 when
    every trial this sweep ran failed."""
    trials = [TrialRecord.of(t) for t in study.get_trials(deepcopy=False)]
    counts = {name: sum(t.state == name for t in trials) for name in STATES.values()}
    best = _best(study)

    console = Console()
    if not console.is_terminal:  # a log file: room for every parameter's column
        console = Console(width=200)
    if session:
        console.print(trial_table(session, objective))
    total = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    print(f"[rnnlab] study {study.study_name!r}: {len(trials)} trials ({total})")
    if best is not None:
        print(f"[rnnlab] best: trial {best.number}, {objective} = {best.value:.6g}")
        print("[rnnlab] best parameters: " + _params(best.params))

    summary = {
        "study": study.study_name,
        "storage": storage,
        "direction": study.direction.name.lower(),
        "objective": objective,
        "trials": counts,
        "best": None
        if best is None
        else {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "job_dir": best.user_attrs.get("job_dir"),
        },
    }
    write_output(yaml.safe_dump(summary, sort_keys=False), str(sweep_dir / "study.yaml"))
    write_output(trials_csv(trials), str(sweep_dir / "trials.csv"))
    print(f"[rnnlab] wrote {sweep_dir / 'study.yaml'} and {sweep_dir / 'trials.csv'}")

    if session and all(t.state == "failed" for t in session):
        print(
            f"error: all {len(session)} trials of this sweep failed; the first: "
            f"{session[0].reason}",
            file=sys.stderr,
        )
        sys.exit(1)
    return study


def trial_table(records: Sequence[TrialRecord], objective: str) -> Table:
    """The trials as a table: number, state, objective, then one column per parameter."""
    keys = list(dict.fromkeys(k for r in records for k in r.params))
    table = Table(title="trials of this sweep")
    for heading in ("trial", "state", objective, *keys):
        table.add_column(heading, justify="right" if heading != "state" else "left")
    table.add_column("why not complete")
    for r in records:
        value = "" if r.value is None else f"{r.value:.6g}"
        cells = [override_value(r.params[k]) if k in r.params else "" for k in keys]
        table.add_row(str(r.number), r.state, value, *cells, r.reason or "")
    return table


def trials_csv(records: Sequence[TrialRecord]) -> str:
    """Every trial as one CSV row: number, state, value, duration, job folder, reason, then the
    parameters."""
    keys = list(dict.fromkeys(k for r in records for k in r.params))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "state", "value", "duration_s", "job_dir", "reason", *keys])
    for r in records:
        head = [r.number, r.state, _cell(r.value), _cell(r.duration_s)]
        writer.writerow(
            [*head, r.job_dir or "", r.reason or "", *(_cell(r.params.get(k)) for k in keys)]
        )
    return out.getvalue()


def _best(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={override_value(v)}" for k, v in params.items())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    return str(value)
