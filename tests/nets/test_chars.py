"""Character encoders and the recurrent encoder that joins them to word embeddings."""

import pytest
import torch

from rnnlab.nets import RecurrentEncoder
from rnnlab.nets.chars import CharCNN, CharLSTM


@pytest.mark.parametrize("kind", [CharCNN, CharLSTM])
def test_a_word_reads_the_same_whatever_the_padding(kind):
    torch.manual_seed(0)
    encoder = kind(vocab_size=12, embedding_dim=6, output_size=8)
    word = torch.tensor([[3, 4, 5]])  # (1, W)
    padded = torch.tensor([[3, 4, 5, 0, 0, 0], [0, 0, 0, 0, 0, 0], [7, 0, 0, 0, 0, 0]])
    out = encoder(padded)  # (3, 8)
    torch.testing.assert_close(out[0], encoder(word)[0])
    assert out[1].eq(0).all()  # no word: zeros
    assert out.shape == (3, 8)
    # Words of a (B, T, W) batch keep their leading shape; spelling changes the result.
    batch = encoder(padded.reshape(1, 3, 6))
    assert batch.shape == (1, 3, 8)
    assert not torch.allclose(encoder(torch.tensor([[3, 4, 6]])), encoder(word))


def tokens(words, chars):
    return torch.cat([words.unsqueeze(-1), chars], -1)  # (B, T, 1 + W)


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm"])
def test_the_encoder_reads_characters_beside_word_ids(char_encoder):
    torch.manual_seed(0)
    net = RecurrentEncoder(
        vocab_size=10, pad_index=0, embedding_dim=4, hidden_size=6, bidirectional=True,
        char_vocab_size=9, char_encoder=char_encoder, char_embedding_dim=5, char_hidden_size=4,
    )  # fmt: skip
    words = torch.tensor([[1, 1, 0]])  # two unknown words, then padding
    chars = torch.tensor([[[2, 3, 0], [4, 5, 6], [0, 0, 0]]])
    out = net(tokens(words, chars), torch.tensor([2])).outputs  # (1, 3, 12)
    assert out.shape == (1, 3, 12)
    # The two <unk> words differ by their characters alone.
    same_words = net(tokens(words, chars[:, [0, 0, 2]]), torch.tensor([2])).outputs
    assert not torch.allclose(out[0, 0], out[0, 1]) and not torch.allclose(out, same_words)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_without_a_char_encoder_the_characters_are_not_read():
    torch.manual_seed(0)
    net = RecurrentEncoder(vocab_size=10, pad_index=0, embedding_dim=4, char_vocab_size=9)
    plain = RecurrentEncoder(vocab_size=10, pad_index=0, embedding_dim=4)
    plain.load_state_dict(net.state_dict())
    words = torch.tensor([[3, 4]])
    chars = torch.tensor([[[2, 3], [4, 5]]])
    torch.testing.assert_close(net(tokens(words, chars)).outputs, plain(words).outputs)


def test_a_char_encoder_without_characters_is_refused():
    with pytest.raises(ValueError, match=r"data.chars=true"):
        RecurrentEncoder(vocab_size=10, pad_index=0, char_encoder="cnn")
    with pytest.raises(ValueError, match="not one of"):
        RecurrentEncoder(vocab_size=10, pad_index=0, char_vocab_size=5, char_encoder="gru")
