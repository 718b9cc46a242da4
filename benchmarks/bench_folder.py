"""A large batch as a folder of part files, scored end to end: `batchops data drop DIR` to published predictions.

    python benchmarks/bench_folder.py [--rows 1000000] [--parts 20] [--single] [--home DIR]

One stack (benchmarks/bench_load.py's: Terraform-applied local stack, a model trained and approved). Then one batch
of `--rows` rows written as `--parts` CSV files in a directory and dropped with the operation behind
`batchops data drop DIR --kind inference` (validation of all parts as one dataset, gzip upload, trigger last),
which starts one inference run through EventBridge. Timed: the drop, the run from trigger to end, each step, and
rows/s end to end. Checked: exactly one run, Succeeded, and the published results object holds every row once.
`--single` also scores the same rows as one `.csv` object (the baseline: what the folder costs over one file).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_load  # noqa: E402

from batchops import operations as ops  # noqa: E402
from batchops.demo_data import DEMO_TARGET, REFERENCE, generate  # noqa: E402
from batchops_core import datasets  # noqa: E402


def write_parts(directory: Path, rows: int, parts: int) -> Path:
    """`rows` rows of the demo schema (no target: a batch) in `parts` CSV files; also the same rows as one file."""
    directory.mkdir(parents=True, exist_ok=True)
    frame = generate(REFERENCE, rows, seed=4242, id_prefix="big").drop(columns=[DEMO_TARGET])
    size = -(-rows // parts)
    for number in range(parts):
        frame.iloc[number * size:(number + 1) * size].to_csv(directory / f"part-{number:05d}.csv", index=False)
    single = directory.parent / "single.csv"
    frame.to_csv(single, index=False)
    return single


def inference_arns(target) -> set[str]:
    return {e.arn for e in ops.list_executions(target, [target.settings.pipelines.inference_name])}


def score(target, path: Path, rel_path: str) -> dict:
    """Drop `path` (a directory or one file), wait for its one run; the timings and the published row count."""
    known = inference_arns(target)
    started = time.monotonic()
    dropped = ops.drop_paths(target, path, "inference", rel_path=rel_path)
    drop_seconds = time.monotonic() - started
    fresh = ops.wait_for(lambda: inference_arns(target) - known, timeout=120, what="the inference run")
    run = ops.wait_for_execution(target, fresh.pop(), timeout=bench_load.EXECUTION_TIMEOUT, poll=1.0)
    end_to_end = time.monotonic() - started
    time.sleep(3.0)
    runs = len(inference_arns(target) - known)
    steps = {step.name: step.duration_seconds for step in ops.execution_steps(target, run.arn)}
    folder = path.is_dir()
    dataset = f"{target.settings.prefixes.inference}/{rel_path}"
    key = datasets.results_key(dataset, folder=folder, inference_prefix=target.settings.prefixes.inference,
                               results_prefix=target.settings.prefixes.results)
    body = target.client("s3").get_object(Bucket=target.settings.bucket, Key=key)["Body"].read().decode()
    published = sum(1 for _ in csv.reader(io.StringIO(body))) - 1
    return {"objects": len(dropped), "drop": drop_seconds, "run": run.duration_seconds or 0.0,
            "end_to_end": end_to_end, "status": run.status, "runs": runs, "steps": steps, "published": published,
            "failure": run.failure_reason}


def report(name: str, rows: int, outcome: dict) -> None:
    print(f"{name}: {outcome['objects']} object(s) dropped in {outcome['drop']:.1f} s; {outcome['runs']} run(s), "
          f"{outcome['status']} in {outcome['run']:.1f} s; end to end {outcome['end_to_end']:.1f} s = "
          f"{rows / outcome['end_to_end']:,.0f} rows/s; published {outcome['published']:,} of {rows:,} rows; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    print("  steps: " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in outcome["steps"].items()
                                  if seconds is not None), flush=True)
    if outcome["failure"]:
        print(f"  failure: {outcome['failure']}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--single", action="store_true", help="also score the rows as one .csv object")
    parser.add_argument("--home", type=Path, help="BATCHOPS_HOME to use (default: a temporary folder)")
    args = parser.parse_args()
    if args.rows < args.parts or args.parts < 1:
        parser.error("--parts must be at least 1 and at most --rows")
    with tempfile.TemporaryDirectory(prefix="bench-folder-") as scratch:
        home = (args.home or Path(scratch) / "home").resolve()
        started = time.monotonic()
        single = write_parts(Path(scratch) / "batch", args.rows, args.parts)
        print(f"{args.rows:,} rows in {args.parts} parts written in {time.monotonic() - started:.0f} s; load "
              f"average {os.getloadavg()[0]:.1f}; setting up the stack...", flush=True)
        with bench_load.approved_stack(home) as (_, target):
            print(f"stack ready; load average {os.getloadavg()[0]:.1f}", flush=True)
            outcomes = {"folder": score(target, Path(scratch) / "batch", "bench/big")}
            report(f"folder of {args.parts} parts", args.rows, outcomes["folder"])
            if args.single:
                outcomes["single"] = score(target, single, "bench/big.csv")
                report("one .csv object", args.rows, outcomes["single"])
    ok = all(o["status"] == "Succeeded" and o["runs"] == 1 and o["published"] == args.rows for o in outcomes.values())
    print("all rows scored and published by one run each" if ok else "FAILED: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
