from functools import partial

import pytest
import torch

from rnnlab.data.batch import SequenceDataset, pad_sequences
from rnnlab.data.specs import ClassesSpec, Inputs
from rnnlab.nets import RecurrentEncoder
from rnnlab.tasks import ClassificationTask


def make_task(pooling="last", bidirectional=False, cell="lstm"):
    net = RecurrentEncoder(2, cell, hidden_size=8, num_layers=2, bidirectional=bidirectional)
    spec = ClassesSpec(Inputs(features=2), class_names=("a", "b", "c"))
    return ClassificationTask(net, spec, partial(torch.optim.Adam, lr=1e-2), pooling=pooling)


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "meanmax"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_same_sequence_same_logits_alone_and_padded_in_a_batch(pooling, bidirectional):
    torch.manual_seed(0)
    task = make_task(pooling, bidirectional).eval()
    sequences = [torch.randn(4, 2), torch.randn(9, 2), torch.randn(6, 2)]
    values, lengths = pad_sequences(sequences)
    batch = SequenceDataset(values, lengths, torch.zeros(3, dtype=torch.long))[torch.arange(3)]
    together = task(batch.x, batch.lengths, batch.mask)  # (3, C)
    for i, seq in enumerate(sequences):
        alone = task(seq[None], torch.tensor([len(seq)]), torch.ones(1, len(seq), dtype=torch.bool))
        torch.testing.assert_close(together[i : i + 1], alone, atol=1e-6, rtol=1e-5)


def test_logits_shape_and_overfitting_one_batch():
    torch.manual_seed(0)
    task = make_task("mean", cell="gru")
    x, y = torch.randn(24, 6, 2), torch.randint(0, 3, (24,))
    assert task(x).shape == (24, 3)
    opt = torch.optim.Adam(task.parameters(), lr=1e-2)
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(task(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (task(x).argmax(-1) == y).float().mean() == 1.0


def test_unknown_pooling_is_refused():
    with pytest.raises(ValueError, match="pooling='attention'"):
        make_task("attention")
