"""Lightning's rich model summary, without a FLOPs column that says nothing."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichModelSummary


class ModelSummary(RichModelSummary):
    """:class:`~lightning.pytorch.callbacks.RichModelSummary`, whose FLOPs column and total are
    left out when Lightning measured none (it counts them only for a module with an
    ``example_input_array``, which rnnlab's tasks do not set)."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        if total_flops:
            return RichModelSummary.summarize(
                summary_data,
                total_parameters,
                trainable_parameters,
                model_size,
                total_training_modes,
                total_flops,
                **summarize_kwargs,
            )
        from lightning.pytorch.utilities.model_summary.model_summary import (
            get_formatted_model_size,
            get_human_readable_count,
        )
        from rich import get_console
        from rich.table import Table

        columns = dict(summary_data)
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        names = [name for name in columns if name != "FLOPs"]
        for name in names:
            justify = "left" if name in ("Name", "Type", "Mode") else "right"
            table.add_column(name, justify=justify, style="dim" if name == " " else None)
        for row in zip(*(columns[name] for name in names), strict=True):
            table.add_row(*row)
        console = get_console()
        console.print(table)
        frozen = total_parameters - trainable_parameters
        console.print(
            f"[bold]Trainable params[/]: {get_human_readable_count(int(trainable_parameters))}"
            f"   [bold]Non-trainable params[/]: {get_human_readable_count(int(frozen))}"
            f"   [bold]Size[/]: {get_formatted_model_size(model_size)} MB"
        )
