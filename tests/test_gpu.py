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
    trainer = objects["trainer"]  # Lightning hands the model back to the CPU at the end
    assert trainer.strategy.root_device.type == "cuda" and trainer.precision == precision
    assert torch.isfinite(torch.tensor(metrics["test/mse"]))


def test_gpu_matches_cpu_forward():
    from rnnlab.nets import RecurrentEncoder

    net = RecurrentEncoder(3, "lstm", hidden_size=16, num_layers=2, bidirectional=True)
    x = torch.randn(4, 9, 3)
    lengths = torch.tensor([9, 5, 7, 2])
    cpu = net(x, lengths).last
    # The cuDNN path, packed; in full float32, as cuDNN would otherwise use TF32 tensor cores
    # (a 10-bit mantissa) on an Ampere or newer GPU.
    tf32, torch.backends.cudnn.allow_tf32 = torch.backends.cudnn.allow_tf32, False
    try:
        gpu = net.cuda()(x.cuda(), lengths).last.cpu()
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    torch.testing.assert_close(gpu, cpu, atol=1e-5, rtol=1e-4)


def test_language_model_clips_unscaled_gradients_under_16_mixed():
    from tests.tasks.test_language_model import Recorder, chunked_batch, fit, make_task

    recorder, clip = Recorder(), 1e-3
    batch = chunked_batch([0, 1, 2, 3], [4, 5, 6, 7])
    settings = {"accelerator": "gpu", "devices": 1, "precision": "16-mixed"}
    fit(make_task(tbptt_steps=4), [batch], recorder, gradient_clip_val=clip, **settings)
    # The loss is scaled by 2**16: the norm comes out right only if the gradients were
    # unscaled before clipping, as automatic optimisation does.
    grads = recorder.grads[0].values()
    norm = torch.linalg.vector_norm(torch.stack([g.float().norm() for g in grads])).item()
    assert norm == pytest.approx(clip, rel=1e-3)
