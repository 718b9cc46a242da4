"""`batchops report`: the self-contained HTML report of an environment."""

from __future__ import annotations

from pathlib import Path

import typer

from batchops.cli._base import app, command, console, state_of


@command(app, "report")
def report(ctx: typer.Context, out: Path = typer.Option(..., "--out", help="HTML file to write.")) -> None:
    """Write a self-contained HTML report: executions, model metrics, drift per feature, gates, emails."""
    from batchops.report import checked_output_path, write_report

    checked_output_path(out)
    state = state_of(ctx)
    path = write_report(state.target, state.home, out)
    console.print(f"report written: {path}")
