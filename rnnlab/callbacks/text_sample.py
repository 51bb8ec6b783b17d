"""A sample of generated text in TensorBoard's text tab at each validation."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch import Callback

from rnnlab.callbacks.forward import in_step_precision
from rnnlab.tasks.language_model import LanguageModelTask, decode, prompt_ids
from rnnlab.utils.errors import NumericalFault
from rnnlab.utils.run_output import tensorboard_loggers


class TextSample(Callback):
    """Writes ``length`` characters sampled after ``prompt`` under ``val/sample``.

    Acts on language-model tasks only, so it can stay in the default callbacks:
    ``rnnlab.train`` leaves it out of every other run.
    The sampler is the one ``python -m rnnlab.generate`` uses, seeded by ``seed`` so that the
    samples of successive epochs differ only by what the model learned.

    Args:
        prompt: text to continue; characters outside the vocabulary are left out, and an empty
            prompt starts from a newline (or the first token, if the text has no newline).
        length: characters to sample.
        temperature, top_k: as for :meth:`LanguageModelTask.sample`.
        seed: seed of the sampler.
    """

    task_type = LanguageModelTask  # the kind of task it acts on

    def __init__(
        self,
        prompt: str = "\n",
        length: int = 300,
        temperature: float = 0.8,
        top_k: int | None = None,
        seed: int = 0,
    ):
        self.prompt = prompt
        self.length = length
        self.temperature = temperature
        self.top_k = top_k
        self.seed = seed

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not isinstance(pl_module, self.task_type):
            return
        writer = next(iter(tensorboard_loggers(trainer)), None)
        if writer is None or not trainer.is_global_zero:
            return
        vocab = pl_module.spec.inputs.vocab
        ids = prompt_ids("".join(c for c in self.prompt if c in vocab), vocab)
        generator = torch.Generator().manual_seed(self.seed)
        try:
            with in_step_precision(trainer):
                tokens = pl_module.sample(ids, self.length, self.temperature, self.top_k, generator)
        except NumericalFault as fault:  # the curves show the divergence; the run goes on
            text = f"(no sample: {fault})"
        else:
            text = decode([*ids, *tokens], vocab)
        # The text tab renders Markdown: an indented block keeps the lines as sampled.
        block = "\n".join("    " + line for line in text.split("\n"))
        writer.experiment.add_text("val/sample", block, global_step=trainer.global_step)
