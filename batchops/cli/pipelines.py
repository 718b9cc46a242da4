"""`batchops pipelines`: SageMaker pipeline definitions (upsert, write, list, start)."""

from __future__ import annotations

from pathlib import Path

import typer
from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError
from rich.table import Table

from batchops import operations as ops
from batchops.aws_session import LOCAL_ACCOUNT_ID
from batchops.cli._base import check_account_id, command, console, fmt_status, fmt_time, group, state_of
from batchops.errors import UserError

pipelines_app = group("pipelines", "SageMaker pipeline definitions: upsert, write, list, start.")


@command(pipelines_app, "upsert")
def pipelines_upsert(
    ctx: typer.Context,
    account_id: str = typer.Option(None, help="Account of the role ARNs (default: the caller's account)."),
) -> None:
    """Upload the step scripts and create or update the three pipelines (never delete-and-recreate)."""
    check_account_id(account_id)  # before connecting: a bad argument is reported first
    state = state_of(ctx)
    for result in ops.upsert_pipelines(state.target, account_id=account_id):
        console.print(f"{result.pipeline}: {result.action}")


@command(pipelines_app, "definitions")
def pipelines_definitions(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Directory for <pipeline name>.json files."),
    account_id: str = typer.Option(None, help="Account for role ARNs (default: 123456789012 when emulated, "
                                              "else the caller's account)."),
) -> None:
    """Write the definition JSON of the three pipelines (built offline, deterministic)."""
    from pipelines.definitions import build_definitions

    check_account_id(account_id)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: {out} exists and is not a directory")
    state = state_of(ctx)
    settings = state.settings
    account = account_id or (LOCAL_ACCOUNT_ID if settings.emulated else _caller_account(state))
    try:
        definitions = build_definitions(settings, account_id=account)
    except ValueError as exc:  # a setting the offline build cannot serve (network.create_vpc: the stack's ids)
        raise UserError(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    for key, text in definitions.items():
        path = out / f"{settings.pipeline_names[key]}.json"
        path.write_text(text, encoding="utf-8")
        console.print(f"{key}: {path}", markup=False)


def _caller_account(state) -> str:
    """The account of the caller's credentials; without credentials, say what builds the definitions offline."""
    try:
        return state.target.account_id
    except (NoCredentialsError, PartialCredentialsError):
        raise UserError(f"the definitions of '{state.settings.environment}' name its account in role ARNs: pass "
                        "--account-id (no AWS credentials are needed then), or configure credentials for that "
                        "account") from None


@command(pipelines_app, "list")
def pipelines_list(ctx: typer.Context) -> None:
    """The configured pipelines, whether they exist, and their latest execution."""
    state = state_of(ctx)
    sagemaker = state.target.client("sagemaker")
    table = Table("key", "pipeline", "exists", "last execution", "status", "started")
    for key, name in state.settings.pipeline_names.items():
        try:
            sagemaker.describe_pipeline(PipelineName=name)
            exists = "yes"
        except ClientError:
            exists = "[red]no[/red] (run `batchops pipelines upsert`)"
        latest = ops.list_executions(state.target, [name])[:1] if exists == "yes" else []
        if latest:
            table.add_row(key, name, exists, latest[0].execution_id, fmt_status(latest[0].status),
                          fmt_time(latest[0].start))
        else:
            table.add_row(key, name, exists, "-", "-", "-")
    console.print(table)


def parse_parameters(values: list[str] | None) -> dict[str, str]:
    parameters = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--param '{item}': expected NAME=VALUE, e.g. --param InputKey=data/training/x.csv")
        parameters[name.strip()] = value
    return parameters


@command(pipelines_app, "start")
def pipelines_start(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Pipeline name or key (training, training_hpo, inference)."),
    param: list[str] = typer.Option(None, "--param", "-p", help="Pipeline parameter NAME=VALUE (repeatable)."),
    wait: bool = typer.Option(False, "--wait", help="Follow the execution until it ends."),
) -> None:
    """Start an execution (as a schedule or an operator would); with --wait, exit 1 unless it succeeds."""
    from batchops.cli.runs import watch

    parameters = parse_parameters(param)
    state = state_of(ctx)
    ops.refuse_training(state.settings, f"starting pipeline '{name}'", name)  # before connecting
    arn = ops.start_execution(state.target, name, parameters)
    console.print(f"started {arn}")
    if wait and watch(state, ops.find_execution(state.target, arn)).status != "Succeeded":
        raise typer.Exit(1)
