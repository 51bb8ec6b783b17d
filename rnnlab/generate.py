"""Sample text from a language model: ``python -m rnnlab.generate ckpt_path=... prompt="To be"``.

The net and task are rebuilt from the config and data spec (with its vocabulary) that training
stored in the checkpoint, so the training text is not needed. The text is printed to stdout.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from rnnlab.build import build_model
from rnnlab.checkpoints import load_run, load_weights
from rnnlab.cli import run
from rnnlab.data.specs import StreamSpec
from rnnlab.tasks.language_model import decode, prompt_ids
from rnnlab.utils.devices import check_device
from rnnlab.utils.errors import check, check_count, check_not_negative, check_seed


def generate(cfg: DictConfig) -> str:
    """The prompt and ``cfg.length`` characters sampled after it."""
    saved, spec, checkpoint = load_run(cfg.ckpt_path)
    task_name = saved.task._target_.rsplit(".", 1)[-1]
    check(
        isinstance(spec, StreamSpec),
        f"ckpt_path={cfg.ckpt_path} is a checkpoint of {task_name}; rnnlab.generate "
        "needs a language model's (trained with data=text).",
    )
    vocab = spec.inputs.vocab
    check_count("length", cfg.length, 0)
    check_not_negative("temperature", cfg.temperature)
    if cfg.top_k is not None:
        check_count("top_k", cfg.top_k, 1, " (or null)")
    check_seed(cfg.seed)
    device = check_device("device", cfg.device)
    prompt = str(cfg.prompt)
    ids = prompt_ids(prompt, vocab)  # an unknown character ends the run here

    _, task = build_model(saved, spec)
    load_weights(task, checkpoint, f"ckpt_path={cfg.ckpt_path}")
    task.to(device)
    generator = torch.Generator().manual_seed(cfg.seed)
    tokens = task.sample(ids, cfg.length, cfg.temperature, cfg.top_k, generator)
    return prompt + decode(tokens, vocab)


def _main(cfg: DictConfig) -> None:
    print(generate(cfg))


def main() -> None:
    run(_main, config_name="generate")


if __name__ == "__main__":
    main()
