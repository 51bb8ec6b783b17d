"""The device a serving tool (``rnnlab.generate``, ``rnnlab.translate``) runs on, checked."""

from __future__ import annotations

import torch

from rnnlab.utils.errors import ConfigError


def check_device(key: str, value: object) -> torch.device:
    """``value`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) as a device this machine has, or one
    sentence naming the setting ``key``."""
    try:
        device = torch.device(str(value))
    except RuntimeError:
        raise ConfigError(
            f"{key}={value} is not a device; give cpu, or cuda (cuda:1: the second GPU)."
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(
                f"{key}={value}: this machine has no CUDA GPU that torch can use; give {key}=cpu."
            )
        if device.index is not None and device.index >= count:
            gpus = "1 GPU" if count == 1 else f"{count} GPUs"
            raise ConfigError(f"{key}={value}: this machine has {gpus}, numbered from 0.")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            f"{key}={value}: this machine has no Apple GPU that torch can use; give {key}=cpu."
        )
    return device
