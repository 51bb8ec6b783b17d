"""Progress bars of the long steps before training: drawn on a terminal, and only there."""

import pytest

from rnnlab.data import csv_series, text
from rnnlab.utils.progress import progress


@pytest.fixture
def series(tmp_path):
    path = tmp_path / "series.csv"
    path.write_text("y\n" + "".join(f"{v}\n" for v in range(5000)))
    return path


def test_reading_a_long_csv_draws_a_bar_on_a_terminal(series, monkeypatch, capsys):
    monkeypatch.setattr(csv_series, "_BAR_FROM", 1000)  # this file counts as long
    monkeypatch.setenv("FORCE_COLOR", "1")  # standard error counts as a terminal
    values, _, _ = csv_series.read_series(series, ["y"])
    assert values[-1, 0] == 4999
    err = capsys.readouterr().err
    assert "reading series.csv" in err and "5000/" in err  # every row counted


def test_no_bar_where_no_person_watches_or_the_work_is_short(series, monkeypatch, capsys):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setattr(csv_series, "_BAR_FROM", 1000)
    csv_series.read_series(series, ["y"])  # standard error is captured: no terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setattr(csv_series, "_BAR_FROM", 10**6)
    csv_series.read_series(series, ["y"])  # a terminal, but a short file
    assert capsys.readouterr().err == ""


def test_a_large_text_shows_its_vocabulary_pass_and_its_encoding(tmp_path, monkeypatch, capsys):
    path = tmp_path / "book.txt"
    path.write_text("the quick brown fox jumps over the lazy dog\n" * 2000)
    monkeypatch.setattr(text, "_BAR_FROM", 1000)
    monkeypatch.setattr(text, "_BLOCK", 10_000)  # several blocks, so the bar moves
    monkeypatch.setenv("FORCE_COLOR", "1")
    encoded = text.encode_text(path, (0.8, 0.1, 0.1))
    assert len(encoded.ids) == path.stat().st_size
    err = capsys.readouterr().err
    assert "reading the vocabulary of book.txt" in err and "encoding book.txt" in err


def test_the_bar_follows_its_updates(monkeypatch, capsys):
    monkeypatch.setenv("FORCE_COLOR", "1")
    with progress("decoding", 4, shown_from=1) as update:
        for done in range(1, 5):
            update(done)
    err = capsys.readouterr().err
    assert "decoding" in err and "4/4" in err
