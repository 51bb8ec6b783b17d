"""scripts/reproduce_claims.py: each claim's sweep, its table over seeds and a verdict computed
from the numbers, written into its own section of the results file."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rnnlab.report import SeedGroup
from tests.conftest import compose_config

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "reproduce_claims.py"
_spec = importlib.util.spec_from_file_location("reproduce_claims", SCRIPT)
claims = importlib.util.module_from_spec(_spec)
sys.modules["reproduce_claims"] = claims  # its dataclass looks its module up there
_spec.loader.exec_module(claims)

CLAIM = claims.Claim("A beats B.", metric="test/acc", mode="max", expect="model.kind=a")


def groups(a: list[float], b: list[float]) -> list[SeedGroup]:
    return [
        SeedGroup({"model.kind": "a"}, [f"a{i}" for i in range(len(a))], {"test/acc": a}),
        SeedGroup({"model.kind": "b"}, [f"b{i}" for i in range(len(b))], {"test/acc": b}),
    ]


@pytest.mark.parametrize(
    ("a", "b", "word"),
    [
        ([0.90, 0.91, 0.92], [0.70, 0.71, 0.72], "**Holds**"),
        ([0.70, 0.71, 0.72], [0.90, 0.91, 0.92], "**Contradicted**"),
        ([0.80, 0.70, 0.90], [0.78, 0.88, 0.68], "**Not shown**"),  # within the spread
    ],
)
def test_the_verdict_follows_the_numbers(a, b, word):
    line = claims.verdict(CLAIM, groups(a, b))
    assert line.startswith(word)
    assert "over 3 seeds" in line and "a − b:" in line


def test_a_lower_is_better_metric_turns_the_verdict_around():
    loss = claims.Claim("A beats B.", metric="test/acc", mode="min", expect="model.kind=a")
    assert claims.verdict(loss, groups([0.1, 0.11, 0.12], [0.5, 0.51, 0.52])).startswith("**Holds")


@pytest.mark.parametrize("name", sorted(claims.CLAIMS))
def test_every_claim_sweeps_three_seeds_over_what_it_names(name, tmp_path):
    params = claims.sweep_params(name)
    assert len(str(params["seed"]).split(",")) >= 3
    key, _, value = claims.CLAIMS[name].expect.partition("=")
    swept = {k.lstrip("+"): (k, v) for k, v in params.items()}  # `+claim_net`: a group added
    written, values = swept[key]
    assert value in str(values).split(",")
    # The experiment composes with the expected setting, which either sets a key or adds a
    # group (whose config sets the net).
    cfg = compose_config("train", [f"experiment=claims/{name}", f"{written}={value}"], tmp_path)
    assert written.startswith("+") or OmegaConf.select(cfg, key) is not None


def test_a_claim_rewrites_its_own_section_and_keeps_the_others(tmp_path):
    results = tmp_path / "results.md"
    results.write_text(
        "# old header\n\n<!-- claim:other -->\n## other\nWall time: 7 s.\n<!-- /claim:other -->\n"
    )
    tiny = ["data.num_train=64", "data.num_val=32", "data.num_test=32", "trainer.max_epochs=1",
            "model.hidden_size=8", "data.min_length=3", "data.max_length=5"]  # fmt: skip
    args = ["--claim", "attention", "--out", str(tmp_path / "runs"), "--results", str(results)]
    claims.main([*args, *(f"--set={o}" for o in tiny)])
    text = results.read_text()
    assert "<!-- claim:other -->" in text and "## attention" in text
    section = text.split("<!-- claim:attention -->")[1]
    assert "| model.attention | seeds | " in section
    assert re.search(r"\| (\*\*)?none(\*\*)? \| (\*\*)?3(\*\*)? \|", section)  # bold if best
    assert any(section.count(w) for w in ("**Holds**", "**Contradicted**", "**Not shown**"))
    assert (tmp_path / "results" / "attention.png").stat().st_size > 0
    assert "Total wall time:" in text and "other 7 s" in text
    # --reuse writes the same section from the sweep on disk, running nothing.
    wall = re.search(r"Wall time: (\d+) s", section).group(1)
    results.write_text("")
    claims.main([*args, "--reuse"])
    assert f"Wall time: {wall} s" in results.read_text()
    with pytest.raises(SystemExit, match="holds no finished sweep of claim bidirectional"):
        claims.main(["--claim", "bidirectional", "--out", str(tmp_path / "runs"), "--reuse"])


def test_a_swept_boolean_is_matched_as_hydra_records_it():
    claim = claims.Claim("Both ways help.", metric="test/acc", mode="max", expect="model.bi=true")
    swept = [
        SeedGroup({"model.bi": "True"}, ["t1", "t2", "t3"], {"test/acc": [0.9, 0.91, 0.92]}),
        SeedGroup({"model.bi": "False"}, ["f1", "f2", "f3"], {"test/acc": [0.7, 0.71, 0.72]}),
    ]
    assert claims.verdict(claim, swept).startswith("**Holds**")


def test_a_claim_that_a_setting_falls_behind_is_judged_the_other_way():
    behind = claims.Claim("A falls behind.", "test/acc", "max", "model.kind=a", worse=True)
    assert claims.verdict(behind, groups([0.5, 0.51, 0.52], [0.9, 0.91, 0.92])).startswith(
        "**Holds**: model.kind=a falls behind"
    )
    assert claims.verdict(behind, groups([0.9, 0.91, 0.92], [0.5, 0.51, 0.52])).startswith(
        "**Contradicted**"
    )


def test_a_claim_judged_by_a_second_setting_is_decided_at_its_largest_value():
    def at(length: int, a: list[float], b: list[float]) -> list[SeedGroup]:
        found = groups(a, b)
        for g in found:
            g.setting["data.length"] = length
        return found

    by = claims.Claim("A wins on long ones.", "test/acc", "max", "model.kind=a", by="data.length")
    # 100 sorts after 20 as a number, not as text; at 20 the two are within the spread.
    line = claims.verdict(by, at(100, [0.9] * 3, [0.5] * 3) + at(20, [0.8, 0.7, 0.9], [0.8] * 3))
    assert line.startswith("**Holds** at data.length=100.")
    assert line.index("At data.length=20: not shown") < line.index("At data.length=100: holds")


def test_as_good_holds_within_the_spread_and_costs_must_be_lower():
    as_good = claims.Claim("A does as well.", "test/acc", "max", "model.kind=a", as_good=True)
    assert claims.verdict(as_good, groups([0.80, 0.70, 0.90], [0.78, 0.88, 0.68])).startswith(
        "**Holds**: model.kind=a does as well as"
    )
    cheaper = claims.Claim(
        "A is as good and cheaper.", "test/acc", "max", "model.kind=a", as_good=True,
        cheaper=("fit_s",),
    )  # fmt: skip
    found = groups([0.8, 0.8, 0.8], [0.8, 0.8, 0.8])
    found[0].values["fit_s"], found[1].values["fit_s"] = [20.0, 21, 22], [10.0, 11, 12]
    line = claims.verdict(cheaper, found)
    assert line.startswith("**Contradicted**") and "on fit_s" in line


def test_two_settings_at_chance_decide_nothing():
    found = groups([0.160, 0.161, 0.162], [0.155, 0.156, 0.157])
    for g in found:
        g.values["data/chance_acc"] = [0.16] * 3
    line = claims.verdict(CLAIM, found)  # a leads by more than the spread, both near chance
    assert line.startswith("**Not shown**") and "a and b within 5% of chance" in line
