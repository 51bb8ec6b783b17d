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
from rnnlab.utils.errors import check


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
    check(cfg.length >= 0, f"length={cfg.length} must not be negative.")
    check(cfg.temperature >= 0, f"temperature={cfg.temperature} must not be negative.")
    check(cfg.top_k is None or cfg.top_k >= 1, f"top_k={cfg.top_k} must be at least 1 (or null).")
    prompt = str(cfg.prompt)
    ids = prompt_ids(prompt, vocab)  # an unknown character ends the run here

    _, task = build_model(saved, spec)
    load_weights(task, checkpoint, f"ckpt_path={cfg.ckpt_path}")
    task.to(cfg.device)
    generator = torch.Generator().manual_seed(cfg.seed)
    tokens = task.sample(ids, cfg.length, cfg.temperature, cfg.top_k, generator)
    return prompt + decode(tokens, vocab)


def _main(cfg: DictConfig) -> None:
    print(generate(cfg))


def main() -> None:
    run(_main, config_name="generate")


if __name__ == "__main__":
    main()
