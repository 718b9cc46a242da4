"""Time the demo phase by phase (target: the whole demo within 120 s on a 2-core machine after set-up).

    python benchmarks/bench_demo.py [--runs N] [--home DIR]

Each run starts from an empty temporary BATCHOPS_HOME (or --home, cleared of earlier demo state) and prints
one row per phase; with several runs, the median of each phase follows.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from batchops.demo import DemoFailure, run_demo

TARGET_SECONDS = 120.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="how many demo runs (default 1)")
    parser.add_argument("--home", type=Path, default=None, help="BATCHOPS_HOME to use (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    runs: list[dict[str, float]] = []
    for number in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="batchops-bench-demo-") as scratch:
            home = args.home or Path(scratch) / "home"
            started = time.monotonic()
            try:
                outcome = run_demo(home, console=Console(file=io.StringIO()))
            except DemoFailure as exc:
                print(f"run {number}: demo failed: {exc}", file=sys.stderr)
                return 1
            phases = dict(outcome.phase_seconds)
            phases["wall clock"] = time.monotonic() - started
            runs.append(phases)
            print(f"run {number}: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
    print()
    print(f"{'phase':<20} {'median s':>9}")
    for name in runs[0]:
        print(f"{name:<20} {statistics.median(r[name] for r in runs):>9.1f}")
    total = statistics.median(r["wall clock"] for r in runs)
    # Terraform's apply is mostly the provider waiting for resources to settle (as it does on AWS).
    lifecycle = statistics.median(r["wall clock"] - r["infrastructure"] - r["emulator start"] for r in runs)
    print(f"lifecycle after the infrastructure (data drops to report): {lifecycle:.1f} s")
    print(f"target {TARGET_SECONDS:.0f} s: {'met' if total <= TARGET_SECONDS else 'MISSED'} ({total:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
