import itertools

import pytest
import torch

from rnnlab.nets.seq2seq import ATTENTION_KINDS, Attention, Seq2Seq
from rnnlab.utils.errors import ConfigError

EOS = 3


def make(attention="bahdanau", cell="lstm", target_vocab=6, **kwargs):
    torch.manual_seed(0)
    return Seq2Seq(
        9, target_vocab, cell=cell, hidden_size=12, embedding_dim=5, attention=attention, **kwargs
    ).eval()


def sources():
    torch.manual_seed(1)
    x = torch.randint(4, 9, (3, 7))
    lengths = torch.tensor([7, 4, 2])
    x[1, 4:] = 0
    x[2, 2:] = 0
    return x, lengths


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_teacher_forced_logits_and_attention_shapes(attention, cell):
    model = make(attention, cell, bidirectional=attention != "luong_dot")
    x, lengths = sources()
    target_in = torch.randint(4, 6, (3, 5))
    logits, weights = model(x, lengths, target_in)
    assert logits.shape == (3, 5, 6)
    if attention == "none":
        assert weights is None
    else:
        assert weights.shape == (3, 5, 7)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))
        assert float(weights[1, :, 4:].abs().max()) == 0  # no weight on source padding
        assert float(weights[2, :, 2:].abs().max()) == 0


def test_source_padding_changes_nothing():
    model = make("luong_general")
    x, lengths = sources()
    target_in = torch.randint(4, 6, (3, 5))
    logits, _ = model(x, lengths, target_in)
    alone, _ = model(x[2:, :2], lengths[2:], target_in[2:])
    torch.testing.assert_close(logits[2:], alone, atol=1e-5, rtol=1e-5)


def test_teacher_forcing_zero_feeds_back_the_models_own_predictions():
    model = make()
    x, lengths = sources()
    free, _ = model(x, lengths, torch.full((3, 6), 2), teacher_forcing=0.0)
    # Fed back its own argmax, the model's choices are exactly greedy decoding's.
    greedy = model.greedy(x, lengths, max_len=6)
    for b in range(3):
        tokens = free[b].argmax(-1).tolist()
        cut = tokens.index(EOS) if EOS in tokens else len(tokens)
        assert tokens[:cut] == greedy[b]


@pytest.mark.parametrize("attention", ["none", "bahdanau", "luong_general"])
def test_beam_of_one_is_greedy(attention):
    model = make(attention, target_vocab=12)
    x, lengths = sources()
    assert model.beam_search(x, lengths, beam_size=1, max_len=9) == model.greedy(x, lengths, 9)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_a_beam_holding_every_hypothesis_finds_the_exhaustive_best(length_penalty):
    model = make("bahdanau", target_vocab=5)  # tokens 0, 1, 2, 4 and EOS
    x, lengths = sources()
    max_len = 3
    others = [t for t in range(5) if t != EOS]
    for b in range(3):
        source, length = x[b : b + 1, : lengths[b]], lengths[b : b + 1]
        candidates = []
        for n in range(max_len + 1):
            for prefix in itertools.product(others, repeat=n):
                ended = [*prefix, EOS] if n < max_len else list(prefix)
                score = model.sequence_log_prob(source, length, ended)
                norm = len(ended) ** length_penalty if length_penalty else 1.0
                candidates.append((score / norm, list(prefix)))
        best = max(candidates, key=lambda c: c[0])[1]
        found = model.beam_search(source, length, len(others) ** max_len, max_len, length_penalty)
        assert found == [best]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="luong_dot attention needs"):
        Attention("luong_dot", 8, 16)
    with pytest.raises(ConfigError) as error:
        make("luong_dot")  # the default encoder is bidirectional
    assert str(error.value) == (
        "model.attention=luong_dot needs the decoder state (12) and the encoder outputs to be the "
        "same size, but the bidirectional encoder's are 24; set model.bidirectional=false, or use "
        "model.attention=luong_general."
    )
    with pytest.raises(ValueError, match="attention='dot' is not one of"):
        make("dot")
    x, lengths = sources()
    with pytest.raises(ValueError, match="beam_size=0 must be at least 1"):
        make().beam_search(x, lengths, beam_size=0, max_len=4)
