"""Benchmark of the Terraform lifecycle of env_files/local.tfvars against the local emulator.

Prints the wall time of each adapter call (init, apply, plan, destroy, second apply) and the slowest
resources of the first apply, taken from Terraform's own "complete after Ns" lines, so a slow resource (a
provider waiter, an emulator answer the provider does not accept at once) is visible by name. Also times
the offline checks: `terraform validate` and `terraform test` (mocked provider).

Baseline (same run, same emulator): the same adapter (`batchops.terraform.Terraform`, so the same binary,
generated CLI config with the provider mirror, environment and endpoint) on a minimal root module written to a
temp dir with one `terraform_data` resource and no AWS resources: init, apply, plan, destroy. That is
Terraform's fixed cost per command (process start, CLI config, state handling, the adapter's staging and Lambda
zip build); each stack command is printed next to it with the ratio, i.e. what the stack's own resources cost.

    python benchmarks/bench_terraform.py            # everything
    python benchmarks/bench_terraform.py --offline  # validate + terraform test only (no emulator)
    python benchmarks/bench_terraform.py --timeline # also every line of the first apply, with its time
    python benchmarks/bench_terraform.py --no-offline  # only the lifecycle against the emulator

The timeline shows the critical path: when each Terraform command (and so each provider start) begins, and
when each resource starts and completes, in seconds since the apply call.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchops.terraform import Terraform
from batchops_core.settings import load_settings

# The baseline declares no variables: Terraform only warns about the env file's values it does not use.
MINIMAL_MODULE = """terraform {
  required_version = ">= 1.5"
}

resource "terraform_data" "baseline" {
  input = "fixed cost of one command"
}
"""

_COMPLETE = re.compile(r"^(?P<address>\S+): (?:Creation|Modifications|Destruction) complete after "
                       r"(?:(?P<minutes>\d+)m)?(?P<seconds>\d+)s")


def _timed(label: str, call: Callable[[], Any], results: list[tuple[str, float]]) -> Any:
    start = time.perf_counter()
    value = call()
    results.append((label, time.perf_counter() - start))
    print(f"{label:<28} {results[-1][1]:7.1f} s", flush=True)
    return value


def slowest_resources(lines: list[str], count: int = 6) -> list[tuple[str, int]]:
    durations = []
    for line in lines:
        match = _COMPLETE.match(line.strip())
        if match:
            durations.append((match["address"], int(match["minutes"] or 0) * 60 + int(match["seconds"])))
    return sorted(durations, key=lambda item: -item[1])[:count]


def print_ratios(stack: dict[str, float], baseline: dict[str, float]) -> None:
    print(f"\n{'command':<28} {'stack s':>8} {'baseline s':>11} {'ratio':>7}")
    for label, seconds in stack.items():
        base = baseline.get(label.removesuffix(" again").removesuffix(" (expect no changes)"))
        if base is not None:
            print(f"{label:<28} {seconds:8.1f} {base:11.1f} {seconds / base:6.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline", action="store_true", help="only validate and terraform test (no emulator)")
    parser.add_argument("--no-offline", action="store_true", help="skip validate and terraform test")
    parser.add_argument("--timeline", action="store_true", help="print the first apply's output with times")
    args = parser.parse_args()
    settings = load_settings("local")
    results: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-terraform-") as tmp:
        home = Path(tmp)
        if not args.no_offline:
            offline = Terraform(settings, home=home / "offline", endpoint_env=None)
            _timed("init (offline)", offline.init, results)
            _timed("validate", offline.validate, results)
            _timed("terraform test (mocked)", offline.test, results)
        if args.offline:
            return 0

        from batchops_local.runtime import start_local_aws

        lines: list[str] = []
        stamped: list[tuple[float, str]] = []

        def record(line: str) -> None:
            lines.append(line)
            stamped.append((time.perf_counter(), line))

        with start_local_aws(home / "emulator", execution_handler=None) as aws:
            terraform = Terraform(settings, home=home / "emulator", endpoint_env=aws.env(), progress=record)
            _timed("init", terraform.init, results)
            del stamped[:]
            apply_started = time.perf_counter()
            _timed("apply", terraform.apply, results)
            first_apply = list(lines)
            timeline = [(at - apply_started, line) for at, line in stamped]
            resources = len(terraform.resources())
            summary = _timed("plan (expect no changes)", terraform.plan, results)
            _timed("destroy", terraform.destroy, results)
            _timed("apply again", terraform.apply, results)
            stack = dict(results[-5:])

            module = home / "minimal-module"
            module.mkdir()
            (module / "main.tf").write_text(MINIMAL_MODULE, encoding="utf-8")
            minimal = Terraform(settings, home=home / "baseline", endpoint_env=aws.env(), module_dir=module)
            baseline: list[tuple[str, float]] = []
            print("baseline: minimal module (one terraform_data resource)")
            _timed("  init", minimal.init, baseline)
            _timed("  apply", minimal.apply, baseline)
            # Checked untimed: a baseline that applied nothing would make every ratio meaningless.
            if minimal.resources() != ["terraform_data.baseline"]:
                raise SystemExit(f"baseline: expected terraform_data.baseline in state, found {minimal.resources()}")
            _timed("  plan", minimal.plan, baseline)
            _timed("  destroy", minimal.destroy, baseline)
            if minimal.resources():
                raise SystemExit("baseline: the minimal module still has resources after destroy")
        print_ratios(stack, {label.strip(): seconds for label, seconds in baseline})
        print(f"\nresources: {resources}; plan after apply: {summary} {list(summary.addresses)}")
        print("slowest resources of the first apply:")
        for address, seconds in slowest_resources(first_apply):
            print(f"  {seconds:4d} s  {address}")
        if args.timeline:
            print("timeline of the first apply (s since the apply call):")
            for seconds, line in timeline:
                if line.strip() and not line.lstrip().startswith(("│", "╷", "╵")):
                    print(f"  {seconds:6.1f}  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
