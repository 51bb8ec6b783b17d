import numpy as np
import pytest
import torch

from rnnlab.data import text as text_module
from rnnlab.data.text import CORPUS, UNKNOWN, TextDataModule, TextStreams, encode_text
from rnnlab.utils.errors import ConfigError

SPLITS = (0.8, 0.1, 0.1)


def write(tmp_path, content: str, name: str = "t.txt"):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_vocabulary_comes_from_the_training_span_and_the_rest_reads_as_unknown(tmp_path):
    path = write(tmp_path, "abab" * 20 + "abz" + "ab" * 8 + "a")  # 'z' only after training
    text = encode_text(path, SPLITS)
    assert text.vocab == ("a", "b", UNKNOWN)
    assert text.bounds == (0, 80, 90, 100)
    decoded = "".join(text.vocab[i] for i in text.ids)
    assert decoded == "abab" * 20 + "ab" + UNKNOWN + "ab" * 8 + "a"


def test_block_boundaries_change_nothing(tmp_path, monkeypatch):
    content = "Heute wird's schön, à bientôt.\nNext line — é and ü.\n" * 7
    path = write(tmp_path, content)
    whole = encode_text(path, SPLITS)
    monkeypatch.setattr(text_module, "_BLOCK", 5)  # many small blocks, cut mid-word
    blocks = encode_text(path, SPLITS)
    assert blocks.vocab == whole.vocab and blocks.bounds == whole.bounds
    np.testing.assert_array_equal(blocks.ids, whole.ids)
    assert "".join(whole.vocab[i] for i in whole.ids) == content


def test_windows_newlines_read_as_newlines(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"one\r\ntwo\r\n" * 10)
    text = encode_text(path, SPLITS)
    assert "\r" not in text.vocab and "\n" in text.vocab and text.bounds[-1] == 80


def test_a_large_file_is_encoded_once_into_a_memory_map(tmp_path):
    path = write(tmp_path, "the quick brown fox jumps over the lazy dog\n" * 50)
    cache = tmp_path / "cache"
    mapped = encode_text(path, SPLITS, cache, max_in_memory_mb=0)
    assert isinstance(mapped.ids, np.memmap)
    stored = sorted(p.name for p in cache.iterdir())
    assert len(stored) == 2 and stored[0].endswith(".json") and stored[1].endswith(".npy")
    first = (cache / stored[1]).stat().st_mtime_ns
    again = encode_text(path, SPLITS, cache, max_in_memory_mb=0)  # reused, not rewritten
    assert (cache / stored[1]).stat().st_mtime_ns == first
    in_memory = encode_text(path, SPLITS)
    assert again.vocab == in_memory.vocab and again.bounds == in_memory.bounds
    np.testing.assert_array_equal(np.asarray(again.ids), in_memory.ids)


def test_a_memory_mapped_text_streams_the_same_batches_read_through_its_file(tmp_path):
    """A large file's ids are read lane by lane through the file (so an epoch does not leave
    the whole map resident), and give exactly the batches of the same ids in memory."""
    path = write(tmp_path, "".join(chr(97 + (i * 7) % 26) for i in range(5000)) + "\u00e9")
    mapped = encode_text(path, SPLITS, tmp_path / "cache", max_in_memory_mb=0)
    in_memory = encode_text(path, SPLITS)
    assert isinstance(mapped.ids, np.memmap) and mapped.ids.dtype == np.uint8
    for ids in (mapped.ids, in_memory.ids):
        assert len(ids) == 5001
    a, b = mapped.bounds[:2]
    streamed = list(TextStreams(mapped.ids, a, b, streams=5, seq_len=16))
    expected = list(TextStreams(in_memory.ids, a, b, streams=5, seq_len=16))
    assert len(streamed) == len(expected) > 1
    for got, want in zip(streamed, expected, strict=True):
        assert got.x.dtype == torch.int64
        assert torch.equal(got.x, want.x) and torch.equal(got.y, want.y)


def test_each_batch_continues_the_previous_one_lane_by_lane(tmp_path):
    content = "".join(chr(ord("a") + i % 26) for i in range(1000))
    dm = TextDataModule(str(write(tmp_path, content)), seq_len=7, batch_size=4, splits=SPLITS)
    batches = list(dm.train_dataloader())
    lane = 800 // 4
    assert len(batches) == len(dm.train_dataloader()) == -(-(lane - 1) // 7)
    vocab = dm.spec.inputs.vocab
    for b in range(4):
        xs = torch.cat([batch.x[b] for batch in batches])
        ys = torch.cat([batch.y[b] for batch in batches])
        read = "".join(vocab[i] for i in xs.tolist())
        assert read == content[b * lane : (b + 1) * lane - 1]
        assert torch.equal(ys[:-1], xs[1:])  # y is x shifted by one character
    assert batches[-1].x.shape[1] < 7  # the last chunk is shorter


def test_evaluation_uses_as_many_lanes_as_hold_a_chunk(tmp_path):
    dm = TextDataModule(str(write(tmp_path, "xy" * 500)), seq_len=20, batch_size=32)
    (batch,) = list(dm.val_dataloader())[:1]
    assert batch.x.shape == (2, 20)  # 50 validation characters hold two lanes of a chunk


def test_ranks_read_disjoint_lanes():
    ids = np.arange(100)
    ranks = [list(TextStreams(ids, 0, 100, 2, 10, rank=r, world_size=2)) for r in (0, 1)]
    firsts = [[int(b.x[i, 0]) for i in range(2)] for b in (ranks[0][0], ranks[1][0])]
    assert firsts == [[0, 25], [50, 75]]


def test_the_built_in_corpus_needs_no_path():
    dm = TextDataModule()
    assert dm.path == CORPUS and len(dm.spec.inputs.vocab) > 30
    assert dm.spec.seq_len == 128


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"path": ""}, "data.path is empty"),
        ({"path": "nope.txt"}, "data.path=nope.txt does not exist"),
        ({"path": "."}, "is not a file"),
        ({"seq_len": 0}, "data.seq_len=0 must be at least 1"),
        ({"num_workers": 2}, "data.num_workers=2 must be 0 or 1"),
        ({"splits": [0.9, 0.0, 0.1]}, "the first two positive"),
        ({"splits": [0.5, 0.2, 0.2]}, "sum to 1"),
    ],
)
def test_bad_settings_fail_in_one_sentence(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TextDataModule(**kwargs)


def test_bad_files_fail_in_one_sentence(tmp_path):
    empty = write(tmp_path, "", "empty.txt")
    with pytest.raises(ConfigError, match="holds no text"):
        _ = TextDataModule(str(empty)).spec
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café".encode("latin-1") * 10)
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        _ = TextDataModule(str(latin)).spec
    short = write(tmp_path, "abcdefghij" * 3, "short.txt")
    with pytest.raises(ConfigError, match="too short for data.batch_size=64 lanes"):
        _ = TextDataModule(str(short), batch_size=64).spec


def test_no_test_text_asks_for_test_false(tmp_path):
    dm = TextDataModule(str(write(tmp_path, "ab" * 100)), splits=[0.9, 0.1, 0.0], batch_size=2)
    assert dm.text.bounds[2] == dm.text.bounds[3]
    with pytest.raises(ConfigError, match="leaves no test text: train with test=false"):
        dm.test_dataloader()


@pytest.mark.parametrize("block", [1, 2, 1 << 22])
def test_a_byte_order_mark_is_not_a_character_of_the_text(tmp_path, monkeypatch, block):
    """A file saved with a BOM (as Notepad writes it) encodes as the same file without one,
    in memory and into a memory map, whatever the block size; a later U+FEFF is text."""
    monkeypatch.setattr(text_module, "_BLOCK", block)
    content = "ab\ufeffc é\n" * 30
    plain = write(tmp_path, content, "plain.txt")
    marked = tmp_path / "marked.txt"
    marked.write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))
    want = encode_text(plain, SPLITS)
    for max_mb in (64, 0):
        got = encode_text(marked, SPLITS, tmp_path / "cache", max_in_memory_mb=max_mb)
        assert got.vocab == want.vocab and got.bounds == want.bounds
        np.testing.assert_array_equal(np.asarray(got.ids), want.ids)
    only = tmp_path / "only.txt"
    only.write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(ConfigError, match="holds no text"):
        encode_text(only, SPLITS)
    cut = tmp_path / "cut.txt"
    cut.write_bytes(b"\xef\xbb")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        encode_text(cut, SPLITS)
