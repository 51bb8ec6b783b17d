"""GPU runs: the cuDNN kernels and mixed precision. Skipped where there is no CUDA device."""

import pytest
import torch

from rnnlab.train import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_trains_on_the_gpu(train_config, model, precision):
    metrics, objects = train(
        train_config(f"model={model}", "trainer=gpu", f"trainer.precision={precision}")
    )
    assert next(objects["task"].parameters()).is_cuda
    assert torch.isfinite(torch.tensor(metrics["test/mse"]))


def test_gpu_matches_cpu_forward():
    from rnnlab.nets import RecurrentEncoder

    net = RecurrentEncoder(3, "lstm", hidden_size=16, num_layers=2, bidirectional=True)
    x = torch.randn(4, 9, 3)
    lengths = torch.tensor([9, 5, 7, 2])
    cpu = net(x, lengths).last
    gpu = net.cuda()(x.cuda(), lengths).last.cpu()  # the cuDNN path, packed
    torch.testing.assert_close(gpu, cpu, atol=1e-5, rtol=1e-4)
