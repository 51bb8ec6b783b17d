"""The linear-chain CRF against brute-force enumeration of every tag sequence."""

import itertools

import pytest
import torch

from rnnlab.nets.crf import LinearChainCRF


def random_crf(num_tags: int, seed: int) -> LinearChainCRF:
    torch.manual_seed(seed)
    crf = LinearChainCRF(num_tags)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def every_path(crf, emissions, length):
    """Each tag sequence of ``length`` steps of one sentence, with its score."""
    steps = emissions.shape[0]
    for path in itertools.product(range(crf.num_tags), repeat=length):
        tags = torch.tensor([*path, *[-100] * (steps - length)])[None]  # padded: IGNORE
        mask = (torch.arange(steps) < length)[None]
        with torch.no_grad():
            yield path, float(crf.score(emissions[None], tags, mask))


@pytest.mark.parametrize("num_tags, seed", [(2, 0), (3, 1), (4, 2)])
def test_partition_and_viterbi_equal_brute_force(num_tags, seed):
    crf = random_crf(num_tags, seed)
    lengths = torch.tensor([4, 2, 1, 3])
    emissions = torch.randn(len(lengths), 4, num_tags, dtype=torch.float64)
    crf = crf.double()
    mask = torch.arange(4)[None] < lengths[:, None]
    log_z = crf.log_partition(emissions, mask)
    best = crf.decode(emissions, mask)
    for b, length in enumerate(lengths.tolist()):
        paths = dict(every_path(crf, emissions[b], length))
        scores = torch.tensor(list(paths.values()), dtype=torch.float64)
        torch.testing.assert_close(log_z[b], torch.logsumexp(scores, 0))
        assert tuple(best[b, :length].tolist()) == max(paths, key=paths.get)
        assert best[b, length:].eq(0).all()  # padding decodes to 0


def test_score_adds_start_emissions_transitions_and_end_by_hand():
    crf = random_crf(3, 5)
    emissions = torch.randn(1, 3, 3)
    tags, mask = torch.tensor([[2, 0, 1]]), torch.ones(1, 3, dtype=torch.bool)
    expected = (
        crf.start[2] + emissions[0, 0, 2] + crf.transitions[2, 0] + emissions[0, 1, 0]
        + crf.transitions[0, 1] + emissions[0, 2, 1] + crf.end[1]
    )  # fmt: skip
    torch.testing.assert_close(crf.score(emissions, tags, mask)[0], expected)


def test_the_likelihood_is_a_distribution_and_padding_changes_nothing():
    crf = random_crf(3, 3)
    emissions = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    tags = torch.randint(0, 3, (2, 5))
    nll = crf(emissions, tags, mask)
    assert (nll > 0).all()
    # The first sentence alone, unpadded, has the same likelihood and best path.
    alone = crf(emissions[:1, :3], tags[:1, :3], mask[:1, :3])
    torch.testing.assert_close(nll[:1], alone)
    assert (
        crf.decode(emissions, mask)[0, :3].tolist()
        == crf.decode(emissions[:1, :3], mask[:1, :3])[0].tolist()
    )


def test_training_the_crf_learns_a_transition_the_emissions_cannot_show():
    # Tag 1 always follows tag 0 and the emissions say nothing: only transitions can learn it.
    torch.manual_seed(0)
    crf = LinearChainCRF(2)
    tags = torch.tensor([[0, 1, 0, 1, 0, 1]])
    emissions = torch.zeros(1, 6, 2)
    mask = torch.ones(1, 6, dtype=torch.bool)
    optimizer = torch.optim.Adam(crf.parameters(), lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        crf(emissions, tags, mask).sum().backward()
        optimizer.step()
    assert crf.decode(emissions, mask).tolist() == tags.tolist()
