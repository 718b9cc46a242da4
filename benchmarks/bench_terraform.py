"""Benchmark of the Terraform lifecycle of env_files/local.tfvars against the local emulator.

Prints the wall time of each adapter call (init, apply, plan, destroy, second apply) and the slowest
resources of the first apply, taken from Terraform's own "complete after Ns" lines, so a slow resource (a
provider waiter, an emulator answer the provider does not accept at once) is visible by name. Also times
the offline checks: `terraform validate` and `terraform test` (mocked provider).

    python benchmarks/bench_terraform.py            # everything
    python benchmarks/bench_terraform.py --offline  # validate + terraform test only (no emulator)
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchops.config import load_settings
from batchops.terraform import Terraform

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline", action="store_true", help="only validate and terraform test (no emulator)")
    args = parser.parse_args()
    settings = load_settings("local")
    results: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-terraform-") as tmp:
        home = Path(tmp)
        offline = Terraform(settings, home=home / "offline", endpoint_env=None)
        _timed("init (offline)", offline.init, results)
        _timed("validate", offline.validate, results)
        _timed("terraform test (mocked)", offline.test, results)
        if args.offline:
            return 0

        from batchops.local_runtime import start_local_aws

        lines: list[str] = []
        with start_local_aws(home / "emulator", execution_handler=None) as aws:
            terraform = Terraform(settings, home=home / "emulator", endpoint_env=aws.env(), progress=lines.append)
            _timed("init", terraform.init, results)
            _timed("apply", terraform.apply, results)
            first_apply = list(lines)
            resources = len(terraform.resources())
            summary = _timed("plan (expect no changes)", terraform.plan, results)
            _timed("destroy", terraform.destroy, results)
            _timed("apply again", terraform.apply, results)
        print(f"\nresources: {resources}; plan after apply: {summary} {list(summary.addresses)}")
        print("slowest resources of the first apply:")
        for address, seconds in slowest_resources(first_apply):
            print(f"  {seconds:4d} s  {address}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
