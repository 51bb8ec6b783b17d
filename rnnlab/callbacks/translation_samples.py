"""Sample translations and attention heatmaps in TensorBoard at each validation."""

from __future__ import annotations

import lightning as L
import matplotlib
import torch
from lightning.pytorch import Callback

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnnlab.callbacks.forward import in_step_precision  # noqa: E402
from rnnlab.data.batch import Batch  # noqa: E402
from rnnlab.data.vocab import text_of  # noqa: E402
from rnnlab.tasks.seq2seq import Seq2SeqTask  # noqa: E402
from rnnlab.utils.run_output import tensorboard_loggers  # noqa: E402


class TranslationSamples(Callback):
    """Decodes the first ``num_examples`` validation sources greedily after every validation.

    Writes ``val/translations`` (a table of source, reference and output) to the TEXT tab and,
    for a net with attention, ``val/attention`` (one heatmap per example: output tokens down,
    source tokens across) to the IMAGES tab. The examples are the same at every epoch, so the
    steps of a run show the alignment forming. Acts on sequence-to-sequence tasks only, so it
    can stay in the default callbacks: ``rnnlab.train`` leaves it out of every other run.

    Args:
        num_examples: how many validation examples to show.
    """

    task_type = Seq2SeqTask  # the kind of task it acts on

    def __init__(self, num_examples: int = 4):
        self.num_examples = num_examples
        self._examples: Batch | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not isinstance(pl_module, self.task_type):
            return
        writer = next(iter(tensorboard_loggers(trainer)), None)
        if writer is None or not trainer.is_global_zero or self.num_examples < 1:
            return
        if self._examples is None:
            dataset = trainer.datamodule.datasets["val"]
            count = min(self.num_examples, len(dataset))
            self._examples = dataset[torch.arange(count)]
        batch = self._examples.to(pl_module.device)
        net = pl_module.net
        max_len = pl_module.max_target_length + 5
        was_training = net.training
        net.eval()
        with in_step_precision(trainer):
            outputs, attention = net.greedy_with_attention(batch.x, batch.lengths, max_len)
        net.train(was_training)

        spec = pl_module.spec
        source_vocab = spec.inputs.vocab
        rows = ["| source | reference | output |", "|---|---|---|"]
        sources = [
            [source_vocab[i] for i in source[: int(length)].tolist()]
            for source, length in zip(batch.x, batch.lengths, strict=True)
        ]
        references = pl_module.references(batch.y)
        for source, reference, output in zip(sources, references, outputs, strict=True):
            cells = [
                text_of(source, spec.source_level),
                pl_module.to_text(reference, for_scoring=False),
                pl_module.to_text(output, for_scoring=False),
            ]
            rows.append("| " + " | ".join(_escape(c) for c in cells) + " |")
        step = trainer.global_step
        writer.experiment.add_text("val/translations", "\n".join(rows), global_step=step)
        if attention is not None:
            figure = _heatmaps(attention.float().cpu(), sources, outputs, pl_module, step)
            writer.experiment.add_figure("val/attention", figure, global_step=step)
            plt.close(figure)


def _heatmaps(attention, sources, outputs, task, step):
    """One heatmap per example: rows are output tokens (with ``<eos>``), columns source
    tokens."""
    fig, axes = plt.subplots(1, len(sources), figsize=(4.2 * len(sources), 4.2), dpi=100)
    axes = [axes] if len(sources) == 1 else list(axes)
    for ax, weights, source, output in zip(axes, attention, sources, outputs, strict=True):
        # The steps taken: every output token, then <eos> unless decoding ran out of steps.
        labels = ([task.target_vocab[i] for i in output] + ["<eos>"])[: len(weights)]
        weights = weights[: len(labels), : len(source)]
        ax.imshow(weights.numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(source)), source, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_xlabel("source")
    axes[0].set_ylabel("output")
    fig.suptitle(f"attention, step {step}")
    fig.tight_layout()
    return fig


def _escape(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") or " "
