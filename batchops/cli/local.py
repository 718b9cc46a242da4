"""Local-only groups: `batchops emulator` (the background emulator), `batchops outbox` (emails), `batchops demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from batchops.cli._base import app, command, console, err_console, group, state_of
from batchops.errors import UserError

emulator_app = group("emulator", "The local AWS emulator as a background process (env 'local').")


@command(emulator_app, "up")
def emulator_up(ctx: typer.Context, port: int = typer.Option(None, help="Port on 127.0.0.1 (default: a free one).")
                ) -> None:
    """Start the emulator in the background and record its PID and endpoint in <home>/emulator.json."""
    from batchops_local import runtime

    state = state_of(ctx)
    info = runtime.start_background(state.home, port=port)
    console.print(f"emulator running: {info['endpoint_url']} (pid {info['pid']}, record "
                  f"{state.home / 'emulator.json'})", soft_wrap=True)
    if info.get("restored_snapshot_written_at"):
        console.print(f"state restored from {info.get('snapshot')} (written {info['restored_snapshot_written_at']})",
                      markup=False, soft_wrap=True)
        for arn in info.get("interrupted_executions") or []:
            console.print(f"  {arn}: was running when the emulator stopped; now Failed", markup=False,
                          soft_wrap=True)
    else:
        console.print("next: `batchops infra apply` then `batchops pipelines upsert`")


@command(emulator_app, "down")
def emulator_down(ctx: typer.Context) -> None:
    """Stop the background emulator by its recorded PID; its state is kept for the next `emulator up`."""
    from batchops_local import runtime

    home = state_of(ctx).home
    running = runtime.running_executions(home)
    stopped = runtime.stop_background(home)
    if not stopped:
        console.print("emulator was not running")
        return
    console.print(f"emulator stopped (state kept in {runtime.snapshot_path(home)})", markup=False, soft_wrap=True)
    if running:
        console.print(f"interrupted {len(running)} running execution(s); they come back Failed on the next "
                      "`emulator up`:", markup=False)
        for execution in running:
            console.print(f"  {execution.get('arn')} ({execution.get('pipeline')}, {execution.get('status')} "
                          f"since {execution.get('start_time')})", markup=False, soft_wrap=True)


@command(emulator_app, "status")
def emulator_status(ctx: typer.Context) -> None:
    """Show whether the background emulator runs, with its endpoint; exit 1 when it does not."""
    from batchops_local import runtime

    info = runtime.status(state_of(ctx).home)
    if not info:
        console.print("emulator: not running (start it with `batchops emulator up`)")
        raise typer.Exit(1)
    console.print(f"emulator: running at {info.get('endpoint_url')} (pid {info.get('pid')})")


@command(emulator_app, "reset")
def emulator_reset(ctx: typer.Context) -> None:
    """Wipe every resource in the emulator and its saved state (re-run `infra apply` and `pipelines upsert` after).

    Without a running emulator, only the saved state is deleted (the next `emulator up` starts empty)."""
    from batchops_local import runtime

    home = state_of(ctx).home
    if runtime.status(home):
        runtime.reset_background(home)
        console.print("emulator state wiped")
    elif runtime.discard_snapshot(home):
        console.print(f"emulator not running; saved state {runtime.snapshot_path(home)} deleted", markup=False,
                      soft_wrap=True)
    else:
        console.print("emulator not running and no saved state: nothing to wipe")


outbox_app = group("outbox", "Emails the local environment would have sent (one file per message).")


def _outbox(ctx: typer.Context) -> list[dict[str, Any]]:
    from batchops_local.emulator import read_outbox

    return read_outbox(state_of(ctx).home)


@command(outbox_app, "list")
def outbox_list(ctx: typer.Context) -> None:
    """Messages in <home>/outbox, oldest first, numbered for `outbox show`."""
    messages = _outbox(ctx)
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
    messages = _outbox(ctx)
    if not 1 <= number <= len(messages):
        raise UserError(f"message {number} does not exist (the outbox has {len(messages)} message(s))")
    message = messages[number - 1]
    for header in ("date", "to", "subject"):
        console.print(f"{header.capitalize()}: {message.get(header, '')}", markup=False)
    console.print()
    console.print(str(message.get("body", "")), markup=False, soft_wrap=True)


@command(app, "demo")
def demo(
    ctx: typer.Context,
    report_path: Path = typer.Option(None, "--report", help="Report file (default <home>/demo-report.html)."),
    timeout: float = typer.Option(600, help="Seconds to wait for any one pipeline execution."),
    keep_running: bool = typer.Option(False, "--keep-running",
                                      help="Leave the emulator running in the background afterwards, so every "
                                           "command can inspect the result (`batchops emulator down` stops it)."),
    scenario: str = typer.Option("single-account", "--scenario",
                                 help="single-account (the environment's lifecycle) or multi-account (a registry "
                                      "and two consumers in three emulated accounts: env_files/multi-account)."),
) -> None:
    """Run the whole lifecycle offline: infrastructure, training, approval, scoring, drift, retraining."""
    from batchops import operations as ops
    from batchops.demo import DemoFailure, run_demo
    from batchops.demo_multi_account import SCENARIO, run_multi_account_demo

    state = state_of(ctx)
    if scenario not in ("single-account", SCENARIO):
        raise UserError(f"--scenario: expected single-account or {SCENARIO}, found '{scenario}'")
    if scenario == SCENARIO:
        if keep_running:
            raise UserError(f"--keep-running applies to the single-account scenario only, not --scenario {SCENARIO}")
        try:
            run_multi_account_demo(state.home, console=console, execution_timeout=timeout)
        except DemoFailure as exc:
            err_console.print(f"[red]demo failed:[/red] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(1) from None
        return
    ops.refuse_training(state.settings, "batchops demo (it trains)")
    if not state.settings.emulated:
        raise UserError(f"the demo runs against the local emulator only (an emulated environment such as "
                        f"--env local), not '{state.settings.environment}'")
    try:
        run_demo(state.home, settings=state.settings, report_path=report_path, console=console,
                 execution_timeout=timeout, keep_running=keep_running)
    except DemoFailure as exc:
        err_console.print(f"[red]demo failed:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
