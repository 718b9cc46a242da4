"""`batchops data`: check and drop CSV files (training, inference batches, ground truth)."""

from __future__ import annotations

from pathlib import Path

import typer

from batchops import operations as ops
from batchops.cli._base import command, console, err_console, group, state_of
from batchops.errors import UserError

data_app = group("data", "Check and drop CSV files (training, inference batches, ground truth).")
KIND_HELP = "training | inference | ground-truth"


def _check_kind(kind: str) -> str:
    if kind not in ops.DATA_KINDS:
        raise UserError(f"--kind '{kind}': expected one of {', '.join(ops.DATA_KINDS)}")
    return kind


@command(data_app, "check")
def data_check(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV file to check."),
    kind: str = typer.Option("inference", "--kind", help=KIND_HELP),
    offline: bool = typer.Option(False, "--offline", help="Schema check only; skip the data-quality comparison."),
) -> None:
    """Schema check, then a data-quality check against the active/approved model's baseline when one exists.

    Exit codes: 0 clean, 1 schema problems (one line each), 2 a missing file or bad argument, 3 data-quality
    violations against the baseline.
    """
    state = state_of(ctx)
    _check_kind(kind)
    if not file.is_file():
        raise UserError(f"{file}: file not found")
    problems = ops.check_csv_schema(state.settings, file, kind)
    if problems:
        for line in problems:
            err_console.print(line, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"{file}: schema ok ({kind})", markup=False)
    if offline or kind == "ground-truth":
        return
    outcome = ops.baseline_comparison(state.target, file, kind)
    console.print(outcome.summary, markup=False, soft_wrap=True)
    for violation in outcome.violations:
        console.print(f"  {violation['feature_name']}: {violation['constraint_check_type']}: "
                      f"{violation['description']}", markup=False, soft_wrap=True)
    if outcome.violations:
        raise typer.Exit(3)


@command(data_app, "drop")
def data_drop(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV file to upload."),
    kind: str = typer.Option(..., "--kind", help=KIND_HELP),
    as_path: str = typer.Option(None, "--as", help="Key path under the kind's prefix (default: the file name)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing object (a new version)."),
) -> None:
    """Upload a checked CSV under the right S3 prefix; training and inference drops start their pipeline."""
    _check_kind(kind)
    state = state_of(ctx)
    ops.data_key(state.settings, kind, file, as_path)  # a bad --as is reported before anything is read or sent
    dropped = ops.drop_data(state.target, file, kind, rel_path=as_path, overwrite=overwrite)
    console.print(f"dropped {file} -> {dropped.uri}" + (f" (version {dropped.version_id})"
                                                        if dropped.version_id else ""), markup=False)
