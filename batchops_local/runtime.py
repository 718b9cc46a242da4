"""The embedded default's runtime: the local AWS emulator with the local pipeline runner as its execution handler.

In-process (tests, demo):

    with start_local_aws(home) as aws:
        aws.client("s3").put_object(...)

As a background process for the CLI (`python -m batchops_local.runtime serve --port N --home DIR`), managed with
`start_background(home)`, `status(home)`, `reset_background(home)` and `stop_background(home)` through the record
`<home>/emulator.json` ({pid, port, endpoint_url, region}). The background emulator keeps its state in
`<home>/emulator-snapshot.bin` (restored on the next start; see `batchops_local.emulator.persistence`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from batchops_local import LocalRuntimeError, require_local_extra
from batchops_local.emulator import persistence
from batchops_local.emulator.contracts import ExecutionHandler, ExecutionRequest, ExecutionSink

EMULATOR_INFO_FILE = "emulator.json"
EMULATOR_LOG_FILE = "emulator.log"
DEFAULT_REGION = "us-east-1"
SERVE_MODULE = "batchops_local.runtime"


def local_runner_handler(home: Path | str) -> ExecutionHandler:
    """The default execution handler: the local pipeline runner (imported when the first execution starts),
    keeping its job directories and logs under `home`."""
    runner_home = Path(home).resolve()
    # The default runtimes' warm servers import their packages while the caller does other work (the demo:
    # Terraform's apply), so the first steps already start warm.
    threading.Thread(target=_warm_default_runtimes, name="batchops-warm-pool", daemon=True).start()

    def run_with_local_runner(request: ExecutionRequest, sink: ExecutionSink) -> None:
        try:
            from batchops_local.runner import handle_execution
        except ImportError as error:
            raise LocalRuntimeError(
                f"the local pipeline runner (batchops_local.runner.handle_execution) is unavailable: {error}"
            ) from error
        handle_execution(request, sink, home=runner_home)

    return run_with_local_runner


def _warm_default_runtimes() -> None:
    try:
        from batchops_local.runner.warm_up import warm_default_runtimes
    except ImportError:  # the runner is unavailable: the first execution says so
        return
    warm_default_runtimes()


_LOCAL_RUNNER = object()  # default of start_local_aws: the runner, with the same home as the emulator


class LocalAws:
    """A running in-process emulator; stop it with `.stop()` or use it as a context manager."""

    def __init__(self, emulator: Any):
        self.emulator = emulator

    @property
    def endpoint_url(self) -> str:
        return self.emulator.endpoint_url

    @property
    def home(self) -> Path:
        return self.emulator.home

    @property
    def region(self) -> str:
        return self.emulator.region

    def env(self, account_id: str | None = None) -> dict[str, str]:
        """AWS_ENDPOINT_URL, dummy keys, region and AWS_MAX_ATTEMPTS for any client or subprocess; with
        `account_id`, keys of that account's administrator role instead of the dummy keys."""
        return self.emulator.env(account_id)

    def client(self, service: str, region: str | None = None, *, account_id: str | None = None) -> Any:
        return self.emulator.client(service, region=region, account_id=account_id)

    def fire_rule_now(
        self, rule_name: str, *, region: str | None = None, account_id: str | None = None
    ) -> dict[str, Any]:
        return self.emulator.fire_rule_now(rule_name, region=region, account_id=account_id)

    def reset(self) -> None:
        self.emulator.reset()

    def save_snapshot(self, path: Path | str) -> dict[str, Any]:
        """The current state written to `path` now, for a later `start_local_aws(home, restore_from=path)`."""
        return self.emulator.save_snapshot(path)

    def wait_for_lambdas(self, timeout: float = 60.0) -> bool:
        return self.emulator.wait_for_lambdas(timeout)

    def wait_for_execution(self, execution_arn: str, timeout: float = 600.0) -> str:
        return self.emulator.wait_for_execution(execution_arn, timeout)

    def stop(self) -> None:
        self.emulator.stop()

    def __enter__(self) -> LocalAws:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_local_aws(
    home: Path | str,
    port: int | None = None,
    *,
    region: str = DEFAULT_REGION,
    execution_handler: ExecutionHandler | None | object = _LOCAL_RUNNER,
    duplicate_sagemaker_events: bool = False,
    **emulator_options: Any,
) -> LocalAws:
    """Start the emulator in this process with `execution_handler` (default: the local pipeline runner;
    None: executions fail saying no handler is registered).

    `duplicate_sagemaker_events`: every SageMaker event (pipeline execution and step status changes, model
    package state changes) is sent twice with different event ids, as SageMaker may do; consumers must cope.
    """
    require_local_extra()
    from batchops_local.emulator import context
    from batchops_local.emulator.events.bus import DUPLICATE_SOURCES
    from batchops_local.emulator.server import Emulator

    handler = local_runner_handler(home) if execution_handler is _LOCAL_RUNNER else execution_handler
    emulator = Emulator(home, port=port, region=region, execution_handler=handler, **emulator_options)
    emulator.start()
    if duplicate_sagemaker_events:
        context.active().extras[DUPLICATE_SOURCES] = {"aws.sagemaker"}
    return LocalAws(emulator)


# ------------------------------------------------------------------------------------------- background process


def serve(home: Path, port: int | None, region: str = DEFAULT_REGION) -> int:
    """Run the emulator until SIGTERM/SIGINT, with its record in `<home>/emulator.json`."""
    import logging

    from batchops_local.emulator.server import format_exports

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    home = Path(home).resolve()
    local_aws = start_local_aws(home, port, region=region, state_path=snapshot_path(home))
    record = home / EMULATOR_INFO_FILE
    restored = local_aws.emulator.restored
    try:
        info = {
            "pid": os.getpid(),
            "port": local_aws.emulator.port,
            "endpoint_url": local_aws.endpoint_url,
            "region": region,
            "home": str(home),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "snapshot": str(snapshot_path(home)),
            "restored_snapshot_written_at": restored.get("written_at") if restored else None,
            "interrupted_executions": restored["interrupted"] if restored else [],
        }
        partial = record.with_suffix(".partial")
        partial.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        partial.replace(record)
        if restored is not None:
            print(f"restored the state snapshot written {restored.get('written_at')}", flush=True)
            for arn in restored["interrupted"]:
                print(f"  {arn}: was running when the emulator stopped; now Failed", flush=True)
        print(f"local AWS emulator ready at {local_aws.endpoint_url} (pid {os.getpid()}, home {home})", flush=True)
        print(format_exports(local_aws.env()), flush=True)
        stop.wait()
    finally:
        local_aws.stop()
        _remove_record_of(record, os.getpid())
        print("local AWS emulator stopped", flush=True)
    return 0


def start_background(
    home: Path | str, port: int | None = None, *, region: str = DEFAULT_REGION, timeout: float = 60.0
) -> dict[str, Any]:
    """Start `serve` as a detached process (or return the running one's record); wait until it answers."""
    require_local_extra()  # here, not only in the child: its failure would only show in its log
    home = Path(home).resolve()
    running = status(home)
    if running:
        return running
    try:  # the child's own checks would only show in its log
        persistence.read_header(snapshot_path(home))
    except persistence.SnapshotError as error:
        raise LocalRuntimeError(f"{error} (`batchops emulator reset` deletes it)") from None
    if port:
        _require_free_port(port)
    home.mkdir(parents=True, exist_ok=True)
    record = home / EMULATOR_INFO_FILE
    record.unlink(missing_ok=True)
    command = [sys.executable, "-m", SERVE_MODULE, "serve", "--home", str(home), "--region", region]
    if port is not None:
        command += ["--port", str(port)]
    with open(home / EMULATOR_LOG_FILE, "ab") as log_stream:
        process = subprocess.Popen(
            command, stdout=log_stream, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalRuntimeError(
                f"the emulator process exited with status {process.returncode} while starting; "
                f"its log says why: {home / EMULATOR_LOG_FILE}"
            )
        info = _read_record(record)
        if info and info.get("pid") == process.pid and _answers(info["endpoint_url"]):
            return info
        time.sleep(0.1)
    _terminate(process.pid, timeout=5)
    raise LocalRuntimeError(f"the emulator did not become ready within {timeout:.0f} s; see {home / EMULATOR_LOG_FILE}")


def snapshot_path(home: Path | str) -> Path:
    """Where the background emulator of `home` keeps its state between runs."""
    return Path(home).resolve() / persistence.SNAPSHOT_FILE


def discard_snapshot(home: Path | str) -> bool:
    """Delete the state snapshot of `home` (the next start is empty); False when there was none."""
    return persistence.discard(snapshot_path(home))


def _require_free_port(port: int) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds: only a listener blocks
    try:
        probe.bind(("127.0.0.1", port))
    except OSError as error:
        raise LocalRuntimeError(
            f"--port {port}: 127.0.0.1:{port} is not free ({error.strerror or error}); choose another port or "
            "leave --port out for a free one"
        ) from None
    finally:
        probe.close()


def running_executions(home: Path | str) -> list[dict[str, Any]]:
    """Pipeline executions the running background emulator has not finished ({arn, pipeline, status,
    start_time}); empty when no emulator runs."""
    info = status(home)
    if not info:
        return []
    try:
        with urllib.request.urlopen(f"{info['endpoint_url']}/batchops-api/executions", timeout=10) as response:
            return list(json.loads(response.read().decode()).get("running", []))
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise LocalRuntimeError(f"{info['endpoint_url']}: cannot list the running executions ({error})") from None


def status(home: Path | str) -> dict[str, Any] | None:
    """The record of the background emulator if its process is alive and answering, else None."""
    info = _read_record(Path(home).resolve() / EMULATOR_INFO_FILE)
    if not info or not _is_our_server(info.get("pid")):
        return None
    return info if _answers(info.get("endpoint_url", "")) else None


def stop_background(home: Path | str, timeout: float = 20.0) -> bool:
    """Stop the background emulator by its recorded PID; False when none was running."""
    record = Path(home).resolve() / EMULATOR_INFO_FILE
    info = _read_record(record)
    if not info:
        return False
    pid = info.get("pid")
    if not _is_our_server(pid):
        record.unlink(missing_ok=True)  # a stale record: the process is gone (or the PID now belongs to another)
        return False
    _terminate(pid, timeout)
    _remove_record_of(record, pid)
    return True


def reset_background(home: Path | str) -> None:
    """Wipe every resource of the running background emulator (and the extensions' in-memory state)."""
    info = status(home)
    if not info:
        raise LocalRuntimeError(f"no background emulator is running for {Path(home).resolve()}")
    _post(f"{info['endpoint_url']}/moto-api/reset", None)


def fire_rule_background(home: Path | str, rule_name: str, account_id: str | None = None) -> dict[str, Any]:
    """Fire an EventBridge schedule rule (of `account_id`, by default moto's default account) in the running
    background emulator now."""
    info = status(home)
    if not info:
        raise LocalRuntimeError(f"no background emulator is running for {Path(home).resolve()}")
    body = {"rule": rule_name} if account_id is None else {"rule": rule_name, "account_id": account_id}
    return _post(f"{info['endpoint_url']}/batchops-api/fire-rule", body)


# ------------------------------------------------------------------------------------------- helpers


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise LocalRuntimeError(f"{path}: unreadable emulator record ({error}); delete it and start again") from None
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("pid"), int)
        or not isinstance(info.get("endpoint_url"), str)
    ):
        raise LocalRuntimeError(f"{path}: emulator record without an integer 'pid' and an 'endpoint_url'")
    return info


def _remove_record_of(record: Path, pid: int) -> None:
    info = None
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    if isinstance(info, dict) and info.get("pid") == pid:
        record.unlink(missing_ok=True)


def _is_our_server(pid: Any) -> bool:
    """The PID is alive and runs this module's `serve` (a recycled PID is never signalled)."""
    import psutil

    if not isinstance(pid, int):
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        command_line = process.cmdline()
    except psutil.Error:
        return False
    return SERVE_MODULE in command_line and "serve" in command_line


def _terminate(pid: int, timeout: float) -> None:
    import psutil

    try:
        process = psutil.Process(pid)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout)
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(5)
    except psutil.NoSuchProcess:
        pass


def _answers(endpoint_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint_url}/batchops-api/status", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _post(url: str, body: dict[str, Any] | None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode() or "{}"
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise LocalRuntimeError(f"{url}: HTTP {error.code}: {detail}") from None
    try:
        return json.loads(text)
    except ValueError:
        return {"response": text}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {SERVE_MODULE}", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the emulator in the foreground until SIGTERM/SIGINT")
    serve_parser.add_argument("--home", type=Path, required=True, help="local state directory")
    serve_parser.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    serve_parser.add_argument("--region", default=DEFAULT_REGION, help="default region of the emulator")
    args = parser.parse_args(argv)
    if args.port is not None and not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    return serve(args.home, args.port, args.region)


if __name__ == "__main__":
    sys.exit(main())
