import pytest
import torch

from rnnlab.nets.cnn_rnn import CnnRnn, ConvStack


def test_folding_time_into_the_batch_keeps_each_frame_its_own_features():
    torch.manual_seed(0)
    net = CnnRnn(in_channels=10, hidden_size=12).eval()
    frames = torch.randn(3, 6, 10, 16, 16)  # 10 bands, 6 time steps
    features = net.frame_features(frames)
    assert features.shape == (3, 6, net.cnn.output_size)
    one = net.cnn(frames[1, 4][None])[0]  # the frame on its own
    assert torch.allclose(features[1, 4], one, atol=1e-6)
    encoded = net(frames)
    assert encoded.outputs.shape == (3, 6, 12) and encoded.last.shape == (3, 12)


def test_padded_frames_change_nothing_for_rnn_and_mean():
    torch.manual_seed(0)
    for temporal in ("rnn", "mean"):
        net = CnnRnn(in_channels=1, hidden_size=8, temporal=temporal).eval()
        frames = torch.randn(2, 5, 1, 12, 12)
        padded = torch.cat([frames, torch.randn(2, 3, 1, 12, 12)], 1)
        lengths = torch.tensor([5, 5])
        assert torch.allclose(net(frames).last, net(padded, lengths).last, atol=1e-5), temporal


def test_the_mean_baseline_ignores_frame_order():
    torch.manual_seed(0)
    net = CnnRnn(in_channels=1, temporal="mean").eval()
    frames = torch.randn(2, 6, 1, 12, 12)
    assert net.output_size == net.cnn.output_size
    assert torch.allclose(net(frames).last, net(frames.flip(1)).last, atol=1e-6)
    rnn = CnnRnn(in_channels=1, temporal="rnn").eval()
    assert not torch.allclose(rnn(frames).last, rnn(frames.flip(1)).last, atol=1e-4)


def test_conv_stack_output_and_bad_settings():
    assert ConvStack(3, (8, 16, 24))(torch.randn(4, 3, 9, 9)).shape == (4, 24)
    with pytest.raises(ValueError, match="temporal='max' is not one of"):
        CnnRnn(in_channels=1, temporal="max")


def test_a_torchvision_backbone_can_be_frozen():
    pytest.importorskip("torchvision")
    net = CnnRnn(in_channels=3, backbone="resnet18", freeze_backbone=True, hidden_size=8)
    assert not any(p.requires_grad for p in net.cnn.parameters())
    assert all(p.requires_grad for p in net.rnn.parameters())
    net.train()
    assert not net.cnn.training  # its batch-norm statistics stay fixed too
    assert net(torch.randn(1, 2, 3, 32, 32)).last.shape == (1, 8)
    with pytest.raises(ValueError, match="read 3 channels"):
        CnnRnn(in_channels=10, backbone="resnet18")
