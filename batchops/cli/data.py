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


def _print_problems(problems: list[str]) -> None:
    for line in problems:
        err_console.print(line, markup=False, soft_wrap=True)


@command(data_app, "check")
def data_check(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV file to check, or a directory: each CSV file under it."),
    kind: str = typer.Option("inference", "--kind", help=KIND_HELP),
    offline: bool = typer.Option(False, "--offline", help="Schema check only; skip the data-quality comparison."),
) -> None:
    """The pipeline's own validation (schema, row widths, numbers, record keys; for training a varying target and
    enough rows for the splits), then a data-quality check against the active/approved model's baseline when one
    exists. A directory: every CSV file under it, each on its own (each dropped file starts its own run).

    Exit codes: 0 clean, 1 validation problems (one line each), 2 a missing file or bad argument, 3 data-quality
    violations against the baseline.
    """
    state = state_of(ctx)
    _check_kind(kind)
    files = ops.data_files(file)
    problems = ops.check_csv_schema(state.settings, file, kind)
    if problems:
        _print_problems(problems)
        raise typer.Exit(1)
    what = f"{len(files)} CSV file(s)" if file.is_dir() else kind
    console.print(f"{file}: schema ok ({what}{', ' + kind if file.is_dir() else ''})", markup=False)
    if offline or kind == "ground-truth":
        return
    violated = False
    for each in files:
        outcome = ops.baseline_comparison(state.target, each, kind)
        console.print((f"{each}: " if file.is_dir() else "") + outcome.summary, markup=False, soft_wrap=True)
        for violation in outcome.violations:
            console.print(f"  {violation['feature_name']}: {violation['constraint_check_type']}: "
                          f"{violation['description']}", markup=False, soft_wrap=True)
        violated = violated or bool(outcome.violations)
    if violated:
        raise typer.Exit(3)


@command(data_app, "drop")
def data_drop(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV file to upload, or a directory: a folder dataset (its CSV files "
                                          "as gzip parts, then the trigger file)."),
    kind: str = typer.Option(..., "--kind", help=KIND_HELP),
    as_path: str = typer.Option(None, "--as", help="Key path under the kind's prefix (default: the file or "
                                                    "directory name; a directory's files go below it)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing object (a new version)."),
    ground_truth_for: str = typer.Option(None, "--ground-truth-for", help="With --kind ground-truth: the batch "
                                         "these labels belong to (its key under the inference prefix or s3:// "
                                         "URI); they go to the batch's relative path under the ground-truth prefix."),
) -> None:
    """Validate, then upload under the right S3 prefix; training and inference drops start their pipeline (one
    run per file, or one run per directory: its trigger file is written last), ground truth for an already
    scored batch starts the model-quality pipeline. Nothing is uploaded
    unless every file passes (exit 1 and one line per problem otherwise)."""
    _check_kind(kind)
    state = state_of(ctx)
    if ground_truth_for is not None:
        if kind != "ground-truth":
            raise UserError(f"--ground-truth-for needs --kind ground-truth, not --kind {kind}")
        if as_path is not None:
            raise UserError("--ground-truth-for and --as both name the key: give one")
        as_path = ops.ground_truth_path(state.target, ground_truth_for)
    ops.data_key(state.settings, kind, file, as_path)  # a bad --as is reported before anything is read or sent
    try:
        dropped = ops.drop_paths(state.target, file, kind, rel_path=as_path, overwrite=overwrite)
    except ops.DataRejected as rejected:
        _print_problems(rejected.problems)
        err_console.print(f"{file}: not uploaded", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    for each in dropped:
        console.print(f"dropped {each.uri}" + (f" (version {each.version_id})" if each.version_id else ""),
                      markup=False)
