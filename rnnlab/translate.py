"""Translate with an encoder–decoder: ``python -m rnnlab.translate ckpt_path=... text="..."``.

The net is rebuilt from the config and data spec (with both vocabularies) stored in the
checkpoint, so the training data is not needed. The source is tokenised as in training (its
learned subwords included, for ``data.tokenizer=bpe``). With ``text=`` one translation is
printed; with ``input=FILE`` each line is translated and printed on its own line (a blank line
stays blank, so outputs line up with inputs). ``beam_size=`` chooses greedy decoding (1) or
beam search; left unset, the training run's test beam (``task.test_beam_size``) is used.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from omegaconf import DictConfig

from rnnlab.build import build_model
from rnnlab.checkpoints import load_run, load_weights
from rnnlab.cli import check_output, read_input_lines, run, write_output
from rnnlab.data.batch import pad_sequences
from rnnlab.data.specs import PairsSpec
from rnnlab.data.vocab import Subwords, Vocabulary, split_text
from rnnlab.utils.devices import check_device
from rnnlab.utils.errors import check, check_count
from rnnlab.utils.progress import progress

_BAR_FROM = 256  # sentences: that many show a bar while they are decoded


def translate(cfg: DictConfig) -> list[str]:
    """The translation of ``cfg.text``, or of each line of ``cfg.input``."""
    check_output(cfg.get("output"))  # before the work, not after it
    saved, spec, checkpoint = load_run(cfg.ckpt_path)
    check(
        isinstance(spec, PairsSpec),
        f"ckpt_path={cfg.ckpt_path} is not an encoder–decoder's checkpoint (trained with "
        "model=seq2seq); rnnlab.translate needs one.",
    )
    if cfg.beam_size is not None:
        check_count("beam_size", cfg.beam_size, 1, " (1 is greedy decoding)")
    check_count("batch_size", cfg.batch_size, 1)
    device = check_device("device", cfg.device)
    sources = _sources(cfg)

    _, task = build_model(saved, spec)
    load_weights(task, checkpoint, f"ckpt_path={cfg.ckpt_path}")
    task.to(device).eval()
    beam = task.test_beam if cfg.beam_size is None else int(cfg.beam_size)
    vocab = Vocabulary(spec.inputs.vocab)
    subwords = None if spec.source_subwords is None else Subwords(spec.source_subwords)
    tokens = [split_text(s, spec.source_level, spec.lower, subwords) for s in sources]
    unknown = sorted({t for seq in tokens for t in seq if t not in vocab})
    if unknown:
        shown = ", ".join(repr(t) for t in unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        print(f"note: not in the source vocabulary, read as <unk>: {shown}", file=sys.stderr)

    out = [""] * len(sources)
    todo = [i for i, seq in enumerate(tokens) if seq]
    how = "greedy decoding" if beam == 1 else f"beam search ({beam})"
    with progress(f"{how}, sentences", len(todo), _BAR_FROM) as update:
        for start in range(0, len(todo), cfg.batch_size):
            rows = todo[start : start + cfg.batch_size]
            x, lengths = pad_sequences(
                [torch.tensor(vocab.encode(tokens[i])) for i in rows], value=vocab.pad_index
            )
            with torch.no_grad():
                decoded = task.decode(x.to(task.device), lengths.to(task.device), beam)
            for i, ids in zip(rows, decoded, strict=True):
                out[i] = task.to_text(ids, for_scoring=False)
            update(start + len(rows))
    return out


def _sources(cfg: DictConfig) -> list[str]:
    """The text to translate: ``text``, or the lines of ``input``; exactly one is given."""
    check(
        (cfg.text is None) != (cfg.input is None),
        'give either text="..." or input=FILE (one line per source), not both or neither.',
    )
    if cfg.text is not None:
        text = str(cfg.text).strip()
        check(text, "text is empty; give the sentence to translate.")
        return [text]
    path = Path(cfg.input)
    check(path.is_file(), f"input={cfg.input} does not exist; give a UTF-8 text file.")
    return read_input_lines(path)  # blank lines stay, so outputs line up with inputs


def _main(cfg: DictConfig) -> None:
    write_output("".join(line + "\n" for line in translate(cfg)), cfg.get("output"))


def main() -> None:
    run(_main, config_name="translate")


if __name__ == "__main__":
    main()
