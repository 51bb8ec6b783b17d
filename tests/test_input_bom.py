"""The input files of ``rnnlab.predict`` and ``rnnlab.translate``: read without a byte-order
mark, a line to each line feed."""

import pytest

from rnnlab.cli import read_input_lines
from rnnlab.utils.errors import ConfigError


def test_a_byte_order_mark_is_not_part_of_the_first_input_line(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("great film\n\nawful plot\n", encoding="utf-8")
    marked = tmp_path / "marked.txt"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert read_input_lines(marked) == read_input_lines(plain) == ["great film", "", "awful plot"]
    only = tmp_path / "only.txt"
    only.write_bytes(b"\xef\xbb\xbf\n")
    with pytest.raises(ConfigError, match="holds no text"):
        read_input_lines(only)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"\xef\xbb\xbf" + "café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.txt is not UTF-8 text \(invalid"):
        read_input_lines(latin)


def test_lines_end_at_line_feeds_only_as_training_reads_its_files(tmp_path):
    # U+0085, U+2028 and a form feed are line ends to str.splitlines, not to a file's reader:
    # splitting there would give more outputs than input lines.
    path = tmp_path / "odd.txt"
    path.write_text("abc\x85def\r\nghij\nklm\u2028nop\x0cq\n\nlast", encoding="utf-8")
    assert read_input_lines(path) == ["abc\x85def", "ghij", "klm\u2028nop\x0cq", "", "last"]
