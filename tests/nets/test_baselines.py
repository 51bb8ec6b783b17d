import pytest
import torch

from rnnlab.nets.tcn import TCN
from rnnlab.nets.transformer import TransformerNet


def nets(causal):
    torch.manual_seed(0)
    tcn = TCN(input_size=3, hidden_size=8, num_layers=3)
    transformer = TransformerNet(input_size=3, hidden_size=8, num_heads=2, causal=causal)
    return [tcn.eval(), transformer.eval()]


@pytest.mark.parametrize("index", [0, 1])
def test_causal_nets_never_read_a_later_step(index):
    net = nets(causal=True)[index]
    x = torch.randn(2, 12, 3)
    changed = x.clone()
    changed[:, 7] += 5.0
    before, after = net(x).outputs, net(changed).outputs
    assert torch.allclose(before[:, :7], after[:, :7], atol=1e-6)
    assert not torch.allclose(before[:, 7:], after[:, 7:], atol=1e-4)


def test_a_non_causal_transformer_reads_the_whole_sequence():
    net = nets(causal=False)[1]
    x = torch.randn(2, 12, 3)
    changed = x.clone()
    changed[:, 7] += 5.0
    assert not torch.allclose(net(x).outputs[:, :7], net(changed).outputs[:, :7], atol=1e-4)


@pytest.mark.parametrize("causal", [True, False])
def test_padding_changes_nothing_and_last_is_the_last_valid_step(causal):
    for net in nets(causal):
        x = torch.randn(2, 6, 3)
        padded = torch.cat([x, torch.randn(2, 4, 3)], 1)
        lengths = torch.tensor([6, 4])
        plain, masked = net(x), net(padded, lengths)
        assert torch.allclose(plain.outputs[0], masked.outputs[0, :6], atol=1e-5)
        assert torch.allclose(masked.last[1], masked.outputs[1, 3], atol=1e-6)
        assert torch.equal(masked.outputs[1, 4:], torch.zeros(6, 8))
        short = net(x[1:, :4])
        assert torch.allclose(short.last[0], masked.last[1], atol=1e-5)


def test_token_ids_and_the_receptive_field():
    tcn = TCN(vocab_size=20, embedding_dim=4, hidden_size=8, num_layers=4, kernel_size=3)
    assert tcn.receptive_field == 61
    assert tcn(torch.randint(0, 20, (2, 9))).outputs.shape == (2, 9, 8)
    transformer = TransformerNet(vocab_size=20, embedding_dim=4, hidden_size=8, num_heads=2)
    assert transformer(torch.randint(0, 20, (2, 9))).last.shape == (2, 8)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        TransformerNet(input_size=3, hidden_size=10, num_heads=4)
