"""`batchops`: one console script for every role (platform team, data engineer, data scientist, reviewer).

Every command takes the environment from `--env` (default `local`, or `BATCHOPS_ENV`) and keeps local state in
`--home` (default `BATCHOPS_HOME`, else `<repo>/.local`). `local` talks to the emulator started by
`batchops emulator up`; other environments use the normal AWS credential chain.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import typer
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from batchops import operations as ops
from batchops.aws_session import LOCAL_ACCOUNT_ID, AwsTarget, batchops_home, connect
from batchops_core.settings import ENV_DIR, ConfigError, Settings, check_env_file, env_file_path, load_settings

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

# Errors a user can act on: shown as one clear message and exit code 1, never as a traceback.
USER_ERRORS = (ConfigError, RuntimeError, ClientError, BotoCoreError, OSError, ValueError)


@dataclass
class CliState:
    env: str
    home: Path
    _settings: Settings | None = field(default=None, repr=False)
    _target: AwsTarget | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.env)
        return self._settings

    @property
    def target(self) -> AwsTarget:
        if self._target is None:
            self._target = connect(self.settings, home=self.home)
        return self._target


def _state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):  # commands invoked without the root callback (tests of one group)
        root.obj = CliState(env="local", home=batchops_home())
    return root.obj


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "AWS call")
        return f"{operation} failed: {error.get('Code', 'Error')}: {error.get('Message', exc)}"
    if isinstance(exc, EndpointConnectionError) and "127.0.0.1" in str(exc):
        return f"{exc}: is the local emulator still running? (`batchops emulator status`)"
    if isinstance(exc, BotoCoreError):
        return f"AWS client error: {exc}"
    return str(exc) or type(exc).__name__


def command(group: typer.Typer, name: str | None = None, **options: Any) -> Callable:
    """Register a command whose user-facing errors become `error: ...` on stderr and exit code 1."""

    def register(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
                raise  # typer.Exit is a RuntimeError: let the exit codes through untouched
            except USER_ERRORS as exc:
                for line in _describe_error(exc).splitlines() or ["failed"]:
                    err_console.print(f"[red]error:[/red] {line}", markup=True, soft_wrap=True)
                raise typer.Exit(1) from None

        return group.command(name, **options)(run)

    return register


def _group(name: str, help_text: str) -> typer.Typer:
    group = typer.Typer(help=help_text, no_args_is_help=True, add_completion=False)
    app.add_typer(group, name=name)
    return group


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "-"


def _status(status: str) -> str:
    colour = {"Succeeded": "green", "Approved": "green", "Failed": "red", "Rejected": "red",
              "Executing": "yellow", "Starting": "yellow", "PendingManualApproval": "yellow",
              "Stopped": "magenta"}.get(status, "white")
    return f"[{colour}]{escape(status)}[/{colour}]"


app = typer.Typer(
    help="Batch-inference MLOps on Amazon SageMaker, Terraform-first, runnable offline. "
         "Start with `batchops demo`.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    env: str = typer.Option("local", "--env", "-e", envvar="BATCHOPS_ENV",
                            help="Environment: local, dev, staging, prod (env_files/<env>.tfvars)."),
    home: Path = typer.Option(None, "--home", envvar="BATCHOPS_HOME", show_default="<repo>/.local",
                              help="Local state directory (emulator record, runs, outbox, Terraform state)."),
) -> None:
    ctx.obj = CliState(env=env, home=batchops_home(home))


# ------------------------------------------------------------------------------------------------ config

config_app = _group("config", "Validate environment files (env_files/<env>.tfvars).")


@command(config_app, "check")
def config_check(targets: list[str] = typer.Argument(None, metavar="[ENV_OR_PATH]...",
                                                     help="Environment names or .tfvars paths; default: all.")) -> None:
    """Check env files: exit 0 when all are valid, else one line per problem (file, key, expected, found)."""
    names = targets or sorted(str(p) for p in ENV_DIR.glob("*.tfvars"))
    failed = False
    for target in names:
        problems = check_env_file(target)
        for line in problems:
            console.print(line, soft_wrap=True, markup=False)
        if not problems:
            console.print(f"{env_file_path(target)}: ok", markup=False)
        failed = failed or bool(problems)
    if failed:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------------ emulator

emulator_app = _group("emulator", "The local AWS emulator as a background process (env 'local').")


@command(emulator_app, "up")
def emulator_up(ctx: typer.Context, port: int = typer.Option(None, help="Port on 127.0.0.1 (default: a free one).")
                ) -> None:
    """Start the emulator in the background and record its PID and endpoint in <home>/emulator.json."""
    from batchops import local_runtime

    state = _state(ctx)
    info = local_runtime.start_background(state.home, port=port)
    console.print(f"emulator running: {info['endpoint_url']} (pid {info['pid']}, record "
                  f"{state.home / 'emulator.json'})")
    console.print("next: `batchops infra apply` then `batchops pipelines upsert`")


@command(emulator_app, "down")
def emulator_down(ctx: typer.Context) -> None:
    """Stop the background emulator by its recorded PID (its in-memory state is gone afterwards)."""
    from batchops import local_runtime

    state = _state(ctx)
    stopped = local_runtime.stop_background(state.home)
    console.print("emulator stopped" if stopped else "emulator was not running")


@command(emulator_app, "status")
def emulator_status(ctx: typer.Context) -> None:
    """Show whether the background emulator runs, with its endpoint; exit 1 when it does not."""
    from batchops import local_runtime

    info = local_runtime.status(_state(ctx).home)
    if not info:
        console.print("emulator: not running (start it with `batchops emulator up`)")
        raise typer.Exit(1)
    console.print(f"emulator: running at {info.get('endpoint_url')} (pid {info.get('pid')})")


@command(emulator_app, "reset")
def emulator_reset(ctx: typer.Context) -> None:
    """Wipe every resource in the running emulator (re-run `infra apply` and `pipelines upsert` after)."""
    from batchops import local_runtime

    state = _state(ctx)
    local_runtime.reset_background(state.home)
    console.print("emulator state wiped")


# ------------------------------------------------------------------------------------------------ infra

infra_app = _group("infra", "Terraform for the environment (through the one Terraform adapter).")


def _terraform(state: CliState):
    from batchops.terraform import Terraform

    endpoint_env = state.target.subprocess_env() if state.settings.environment == "local" else None
    return Terraform(state.settings, home=state.home, endpoint_env=endpoint_env or None,
                     progress=lambda line: console.print(f"  {line}", markup=False, soft_wrap=True))


@command(infra_app, "plan")
def infra_plan(ctx: typer.Context, exit_code: bool = typer.Option(
        False, "--exit-code", help="Exit 2 when there are changes (drift checks in CI).")) -> None:
    """Show what `apply` would change."""
    terraform = _terraform(_state(ctx))
    terraform.init()
    summary = terraform.plan()
    console.print(f"plan: {summary}")
    if exit_code and summary.has_changes:
        raise typer.Exit(2)


@command(infra_app, "apply")
def infra_apply(ctx: typer.Context) -> None:
    """Create or update the infrastructure (bucket, rules, topic, Lambdas, roles, registry group)."""
    terraform = _terraform(_state(ctx))
    terraform.init()
    terraform.apply()
    outputs = terraform.output()
    console.print(f"applied: {len(outputs)} outputs")


@command(infra_app, "destroy")
def infra_destroy(ctx: typer.Context, yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")
                  ) -> None:
    """Remove everything Terraform created for the environment."""
    state = _state(ctx)
    if state.settings.environment != "local" and not yes:
        typer.confirm(f"destroy every resource of environment '{state.settings.environment}'?", abort=True)
    terraform = _terraform(state)
    terraform.init()
    terraform.destroy()
    console.print("destroyed")


# ------------------------------------------------------------------------------------------------ pipelines

pipelines_app = _group("pipelines", "SageMaker pipeline definitions: upsert, write, list, start.")


@command(pipelines_app, "upsert")
def pipelines_upsert(ctx: typer.Context) -> None:
    """Upload the step scripts and create or update the three pipelines (never delete-and-recreate)."""
    state = _state(ctx)
    results = ops.upsert_pipelines(state.target)
    for result in results:
        console.print(f"{result.pipeline}: {result.action}")


@command(pipelines_app, "definitions")
def pipelines_definitions(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Directory for <pipeline name>.json files."),
    account_id: str = typer.Option(None, help="Account for role ARNs (default: 123456789012 for local, "
                                              "else the caller's account)."),
) -> None:
    """Write the definition JSON of the three pipelines (built offline, deterministic)."""
    from pipelines.definitions import build_definitions

    state = _state(ctx)
    settings = state.settings
    account = account_id or (LOCAL_ACCOUNT_ID if settings.environment == "local" else state.target.account_id)
    definitions = build_definitions(settings, account_id=account)
    out.mkdir(parents=True, exist_ok=True)
    for key, text in definitions.items():
        path = out / f"{settings.pipeline_names[key]}.json"
        path.write_text(text, encoding="utf-8")
        console.print(f"{key}: {path}")


@command(pipelines_app, "list")
def pipelines_list(ctx: typer.Context) -> None:
    """The configured pipelines, whether they exist, and their latest execution."""
    state = _state(ctx)
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
            table.add_row(key, name, exists, latest[0].execution_id, _status(latest[0].status),
                          _time(latest[0].start))
        else:
            table.add_row(key, name, exists, "-", "-", "-")
    console.print(table)


def _parse_parameters(values: list[str]) -> dict[str, str]:
    parameters = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--param '{item}': expected NAME=VALUE, e.g. --param InputKey=data/training/x.csv")
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
    parameters = _parse_parameters(param)
    state = _state(ctx)
    arn = ops.start_execution(state.target, name, parameters)
    console.print(f"started {arn}")
    if wait and _watch(state, ops.find_execution(state.target, arn)).status != "Succeeded":
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------------ data

data_app = _group("data", "Check and drop CSV files (training, inference batches, ground truth).")
KIND_HELP = "training | inference | ground-truth"


def _check_kind(kind: str) -> str:
    if kind not in ops.DATA_KINDS:
        raise ValueError(f"--kind '{kind}': expected one of {', '.join(ops.DATA_KINDS)}")
    return kind


@command(data_app, "check")
def data_check(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV file to check."),
    kind: str = typer.Option("inference", "--kind", help=KIND_HELP),
    offline: bool = typer.Option(False, "--offline", help="Schema check only; skip the data-quality comparison."),
) -> None:
    """Schema check, then a data-quality check against the active/approved model's baseline when one exists.

    Exit codes: 0 clean, 1 schema problems, 3 data-quality violations against the baseline.
    """
    state = _state(ctx)
    problems = ops.check_csv_schema(state.settings, file, _check_kind(kind))
    if problems:
        for line in problems:
            err_console.print(line, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"{file}: schema ok ({kind})")
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
    state = _state(ctx)
    ops.data_key(state.settings, kind, file, as_path)  # a bad --as is reported before anything is read or sent
    dropped = ops.drop_data(state.target, file, kind, rel_path=as_path, overwrite=overwrite)
    console.print(f"dropped {file} -> {dropped.uri}" + (f" (version {dropped.version_id})"
                                                        if dropped.version_id else ""))


# ------------------------------------------------------------------------------------------------ runs

runs_app = _group("runs", "Pipeline executions: list, inspect, follow, read step logs.")


@command(runs_app, "list")
def runs_list(
    ctx: typer.Context,
    pipeline: str = typer.Option(None, help="Only this pipeline (name or key)."),
    limit: int = typer.Option(20, min=1, help="Newest N executions."),
) -> None:
    """Executions of the configured pipelines, newest first."""
    state = _state(ctx)
    names = None
    if pipeline:
        names = [state.settings.pipeline_names.get(pipeline, pipeline)]
        if names[0] not in state.settings.pipeline_names.values():
            raise ValueError(f"--pipeline '{pipeline}': expected one of "
                             f"{', '.join(state.settings.pipeline_names.values())}")
    table = Table("execution", "pipeline", "status", "started", "duration", "failure reason")
    for execution in ops.list_executions(state.target, names)[:limit]:
        table.add_row(execution.execution_id, execution.pipeline, _status(execution.status), _time(execution.start),
                      _seconds(execution.duration_seconds), escape(execution.failure_reason or ""))
    console.print(table)


def _steps_table(execution: ops.Execution, steps: list[ops.Step]) -> Table:
    table = Table("step", "status", "started", "duration", "failure reason",
                  title=f"{execution.pipeline} {execution.execution_id}: {_status(execution.status)}")
    for step in steps:
        table.add_row(escape(step.name), _status(step.status), _time(step.start), _seconds(step.duration_seconds),
                      escape(step.failure_reason or ""))
    return table


@command(runs_app, "show")
def runs_show(ctx: typer.Context, execution: str = typer.Argument(..., help="Execution id, id prefix or ARN.")
              ) -> None:
    """Steps of one execution: status, duration, failure reason."""
    state = _state(ctx)
    found = ops.find_execution(state.target, execution)
    console.print(_steps_table(found, ops.execution_steps(state.target, found.arn)))
    if found.failure_reason:
        console.print(f"failure reason: {found.failure_reason}", markup=False, soft_wrap=True)


def _watch(state: CliState, execution: ops.Execution, timeout: float = 3600) -> ops.Execution:
    from rich.live import Live

    with Live(_steps_table(execution, []), console=console, refresh_per_second=4) as live:
        final = ops.wait_for_execution(state.target, execution.arn, timeout=timeout, poll=1.0,
                                       on_change=lambda e, steps: live.update(_steps_table(e, steps)))
    return final


@command(runs_app, "watch")
def runs_watch(
    ctx: typer.Context,
    execution: str = typer.Argument(..., help="Execution id, id prefix or ARN."),
    timeout: float = typer.Option(3600, help="Give up after this many seconds."),
) -> None:
    """Follow an execution live until it ends; exit 1 unless it succeeds."""
    state = _state(ctx)
    final = _watch(state, ops.find_execution(state.target, execution), timeout)
    if final.status != "Succeeded":
        raise typer.Exit(1)


@command(runs_app, "logs")
def runs_logs(
    ctx: typer.Context,
    execution: str = typer.Argument(..., help="Execution id, id prefix or ARN."),
    step: str = typer.Argument(..., help="Step name, e.g. Train or ModelQualityCheck."),
) -> None:
    """Print what a step's jobs wrote (local runner logs under <home>/runs/)."""
    from batchops_local.runner.logs import read_step_log

    state = _state(ctx)
    if state.settings.environment != "local":
        raise ValueError("step logs of AWS environments are in CloudWatch Logs (/aws/sagemaker/...); "
                         "`runs logs` reads the local runner's logs")
    found = ops.find_execution(state.target, execution)
    console.print(read_step_log(state.home, found.execution_id, step), markup=False, end="", soft_wrap=True)


# ------------------------------------------------------------------------------------------------ models

models_app = _group("models", "Model versions in the registry: list, inspect, approve, reject.")


def _metric_text(settings: Settings, metrics: dict[str, float]) -> str:
    metric = settings.model.metric
    return f"{metrics[metric]:.4f}" if metric in metrics else "-"


@command(models_app, "list")
def models_list(ctx: typer.Context) -> None:
    """Versions with their metric and approval status; `*` marks the one inference uses."""
    state = _state(ctx)
    settings = state.settings
    table = Table("version", "status", settings.model.metric, "created", "note", "active",
                  title=f"model package group {settings.pipelines.model_package_group}")
    for version in ops.model_versions(state.target):
        table.add_row(str(version.version), _status(version.approval_status), _metric_text(settings, version.metrics),
                      _time(version.created), escape(version.approval_description or ""), "*" if version.active else "")
    console.print(table)


@command(models_app, "show")
def models_show(ctx: typer.Context, version: str = typer.Argument(..., help="Version number or ARN.")) -> None:
    """Everything recorded about one version: metrics, status, lineage, metadata."""
    state = _state(ctx)
    found = ops.find_model_version(state.target, version)
    table = Table("field", "value", show_header=False)
    table.add_row("version", str(found.version))
    table.add_row("arn", found.arn)
    table.add_row("status", _status(found.approval_status))
    table.add_row("approval note", escape(found.approval_description or "-"))
    table.add_row("active for inference", "yes" if found.active else "no")
    table.add_row("created", _time(found.created))
    table.add_row("generated by", escape(found.generated_by or "-"))
    for name, value in sorted(found.metrics.items()):
        table.add_row(f"metric {name}", f"{value:.4f}")
    for name, value in sorted(found.metadata.items()):
        table.add_row(escape(name), escape(str(value)))
    console.print(table)


@command(models_app, "approve")
def models_approve(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="Version number or ARN."),
    note: str = typer.Option("approved with the batchops CLI", "--note", help="Approval description."),
) -> None:
    """Approve a version: the approval_trigger Lambda then points batch inference at it."""
    state = _state(ctx)
    updated = ops.set_approval(state.target, version, "Approved", note)
    console.print(f"version {updated.version}: {_status(updated.approval_status)}")


@command(models_app, "reject")
def models_reject(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="Version number or ARN."),
    reason: str = typer.Option(..., "--reason", help="Why (kept as the approval description)."),
) -> None:
    """Reject a version (inference falls back to the previous approved one if it was in use)."""
    if not reason.strip():
        raise ValueError("--reason must not be empty")
    state = _state(ctx)
    updated = ops.set_approval(state.target, version, "Rejected", reason)
    console.print(f"version {updated.version}: {_status(updated.approval_status)}")


# ------------------------------------------------------------------------------------------------ outbox

outbox_app = _group("outbox", "Emails the local environment would have sent (one file per message).")


def _outbox(state: CliState) -> list[dict[str, Any]]:
    from batchops_local.emulator import read_outbox

    return read_outbox(state.home)


@command(outbox_app, "list")
def outbox_list(ctx: typer.Context) -> None:
    """Messages in <home>/outbox, oldest first, numbered for `outbox show`."""
    messages = _outbox(_state(ctx))
    table = Table("#", "date", "to", "subject")
    for number, message in enumerate(messages, start=1):
        table.add_row(str(number), escape(str(message.get("date", ""))), escape(str(message.get("to", ""))),
                      escape(str(message.get("subject", ""))))
    console.print(table)
    console.print(f"{len(messages)} message(s)")


@command(outbox_app, "show")
def outbox_show(ctx: typer.Context, number: int = typer.Argument(..., help="Message number from `outbox list`.")
                ) -> None:
    """Print one message with its headers."""
    messages = _outbox(_state(ctx))
    if not 1 <= number <= len(messages):
        raise ValueError(f"message {number} does not exist (the outbox has {len(messages)} message(s))")
    message = messages[number - 1]
    for header in ("date", "to", "subject"):
        console.print(f"{header.capitalize()}: {message.get(header, '')}", markup=False)
    console.print()
    console.print(str(message.get("body", "")), markup=False, soft_wrap=True)


# ------------------------------------------------------------------------------------------------ report, demo


@command(app, "report")
def report(ctx: typer.Context, out: Path = typer.Option(..., "--out", help="HTML file to write.")) -> None:
    """Write a self-contained HTML report: executions, model metrics, drift per feature, gates, emails."""
    from batchops.report import checked_output_path, write_report

    checked_output_path(out)
    state = _state(ctx)
    path = write_report(state.target, state.home, out)
    console.print(f"report written: {path}")


@command(app, "demo")
def demo(
    ctx: typer.Context,
    report_path: Path = typer.Option(None, "--report", help="Report file (default <home>/demo-report.html)."),
    timeout: float = typer.Option(600, help="Seconds to wait for any one pipeline execution."),
    keep_running: bool = typer.Option(False, "--keep-running",
                                      help="Leave the emulator running in the background afterwards, so every "
                                           "command can inspect the result (`batchops emulator down` stops it)."),
) -> None:
    """Run the whole lifecycle offline: infrastructure, training, approval, scoring, drift, retraining."""
    from batchops.demo import DemoFailure, run_demo

    state = _state(ctx)
    if state.env != "local":
        raise ValueError(f"the demo runs against the local emulator only (--env local), not '{state.env}'")
    try:
        run_demo(state.home, report_path=report_path, console=console, execution_timeout=timeout,
                 keep_running=keep_running)
    except DemoFailure as exc:
        err_console.print(f"[red]demo failed:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


def main() -> None:
    app(prog_name="batchops")


if __name__ == "__main__":
    main()
