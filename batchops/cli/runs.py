"""`batchops runs`: pipeline executions (list, inspect, follow, read step logs)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Column, Table

from batchops import operations as ops
from batchops import report
from batchops.cli._base import CliState, command, console, fmt_seconds, fmt_status, fmt_time, group, state_of
from batchops.errors import UserError
from batchops_core import gate_text
from batchops_core.contracts import Step as StepName

runs_app = group("runs", "Pipeline executions: list, inspect, follow, read step logs.")


@command(runs_app, "list")
def runs_list(
    ctx: typer.Context,
    pipeline: str = typer.Option(None, help="Only this pipeline (a configured pipeline's name or key, or the name "
                                           "of any other pipeline in the account)."),
    limit: int = typer.Option(20, min=1, help="Newest N executions."),
) -> None:
    """Executions of the configured pipelines (or of --pipeline), newest first, with their quality gates."""
    state = state_of(ctx)
    names = None
    if pipeline:
        names = [state.settings.pipeline_names.get(pipeline, pipeline)]
        if names[0] not in state.settings.pipeline_names.values():
            known = ops.account_pipelines(state.target)
            if names[0] not in known:
                raise UserError(f"--pipeline '{pipeline}': no such pipeline in the account; expected one of "
                                f"{', '.join(sorted(set(known) | set(state.settings.pipeline_names.values())))}")
    # An execution id is what people copy into `runs show` and a status is one word: never folded or cut, whatever
    # the terminal width; the other cells wrap.
    table = Table(Column("execution", no_wrap=True), "pipeline", Column("status", no_wrap=True),
                  Column("started", min_width=10), "duration", "metric gate", "failure reason")
    keys = {name: key for key, name in state.settings.pipeline_names.items()}  # 'inference' leaves room at 80 columns
    product = set(state.settings.pipeline_names.values())
    for execution in ops.list_executions(state.target, names)[:limit]:
        gates = report.gates(state.target, execution, ops.execution_steps(state.target, execution.arn)) \
            if execution.pipeline in product else []
        table.add_row(execution.execution_id, keys.get(execution.pipeline, execution.pipeline),
                      fmt_status(report.shown_status(execution, gates)),
                      fmt_time(execution.start), fmt_seconds(execution.duration_seconds), escape(_metric_gates(gates)),
                      escape(execution.failure_reason or ""))
    console.print(table)


def _metric_gates(gates: list[report.Gate]) -> str:
    """'pass rmse 2.1000 <= 3, 40/40 rows' for the gates that compare a metric (registration, model quality)."""
    return "; ".join(f"{gate.outcome} {gate.numbers}" for gate in gates if gate.numbers)


def _gates_table(gates: list[report.Gate]) -> Table:
    table = Table("quality gate", "outcome", "metric, threshold, rows", title="quality gates")
    for gate in gates:
        table.add_row(gate.name, _GATE_STYLE.get(gate.outcome, gate.outcome), escape(gate.detail))
    return table


_GATE_STYLE = {"pass": "[green]pass[/green]", "fail": "[red]fail[/red]", "warn": "[yellow]warn[/yellow]",
               report.WAITING: f"[yellow]{report.WAITING}[/yellow]"}


def _steps_table(execution: ops.Execution, steps: list[ops.Step], status: str | None = None) -> Table:
    table = Table("step", "status", "started", "duration", "failure reason",
                  title=f"{execution.pipeline} {execution.execution_id}: {fmt_status(status or execution.status)}")
    for step in steps:
        table.add_row(escape(step.name), fmt_status(step.status), fmt_time(step.start),
                      fmt_seconds(step.duration_seconds), escape(step.failure_reason or ""))
    return table


@command(runs_app, "show")
def runs_show(ctx: typer.Context, execution: str = typer.Argument(..., help="Execution id, id prefix or ARN.")
              ) -> None:
    """Steps of one execution (status, duration, failure reason), its quality gates (metric, the run's
    threshold, matched rows; for classification the confusion matrix and per-class scores) and where it
    published its predictions."""
    state = state_of(ctx)
    found = ops.find_execution(state.target, execution)
    steps = ops.execution_steps(state.target, found.arn)
    # Gates and published predictions are the product pipelines' steps; another pipeline shows its steps only.
    product = found.pipeline in state.settings.pipeline_names.values()
    gates = report.gates(state.target, found, steps) if product else []
    console.print(_steps_table(found, steps, report.shown_status(found, gates)))
    if gates:
        console.print(_gates_table(gates))
    for gate in gates:
        if gate.classification is not None:
            console.print(f"{gate.name}: {gate_text.summary_text(gate.classification)}", markup=False,
                          soft_wrap=True)
    model = report.scored_with(state.target, found, steps) if product else None
    if model:
        console.print(f"scored with: {model}", markup=False, soft_wrap=True)
    published = report.published_results(state.target, found, steps) if product else None
    if published:
        console.print(f"predictions: {published}", markup=False, soft_wrap=True)
    if found.failure_reason:
        console.print(f"failure reason: {found.failure_reason}", markup=False, soft_wrap=True)
    if state.settings.emulated:
        for step in steps:
            if step.status == "Failed":
                _print_output_tail(state, found, step.name)


def _print_output_tail(state: CliState, execution: ops.Execution, step: str) -> None:
    """What a failed step's jobs printed last (the local runner's log), e.g. a script's traceback."""
    from batchops_local.runner.logs import job_output_tail, read_step_log

    try:
        tail = job_output_tail(read_step_log(state.home, execution.execution_id, step))
    except (FileNotFoundError, ValueError):
        return  # a step that ran no job (a Fail or Condition step) has no log
    if tail:
        console.print(f"{step}: last output (`batchops runs logs {execution.execution_id} {step}` for all):\n"
                      + "\n".join(f"  {line}" for line in tail), markup=False, soft_wrap=True)


def watch(state: CliState, execution: ops.Execution, timeout: float = 3600) -> ops.Execution:
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
    state = state_of(ctx)
    final = watch(state, ops.find_execution(state.target, execution), timeout)
    if final.status != "Succeeded":
        raise typer.Exit(1)


@command(runs_app, "logs")
def runs_logs(
    ctx: typer.Context,
    execution: str = typer.Argument(..., help="Execution id, id prefix or ARN."),
    step: str = typer.Argument(..., help=f"Step name, e.g. {StepName.TRAIN} or {StepName.MODEL_QUALITY_CHECK}."),
) -> None:
    """Print what a step's jobs wrote (local runner logs under <home>/runs/)."""
    from batchops_local.runner.logs import read_step_log

    state = state_of(ctx)
    if not state.settings.emulated:
        raise UserError("step logs of AWS environments are in CloudWatch Logs (/aws/sagemaker/...); "
                        "`runs logs` reads the local runner's logs")
    found = ops.find_execution(state.target, execution)
    try:
        text = read_step_log(state.home, found.execution_id, step)
    except (FileNotFoundError, ValueError) as exc:  # no such log, or a step name that cannot name a directory
        raise UserError(str(exc)) from None
    console.print(text, markup=False, end="", soft_wrap=True)
