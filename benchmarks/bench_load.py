"""Load: how many inference batches a minute the offline stack holds when they arrive at once, and that none is lost.

    python benchmarks/bench_load.py [--batches N] [--rows R] [--home DIR]

One stack for the whole run: the emulator, Terraform applied from env_files/local.tfvars, the pipelines upserted,
a model trained and approved (the demo's first two phases). Then the same kind of N small batches (each with its
ground truth) twice:

* baseline: one at a time, as one person would: drop a batch, wait for its execution to end, drop the next;
* load: N threads each drop one batch at the same moment (`batchops data drop`'s operation, each thread with its
  own AWS target as separate commands would have).

Batches/minute = N / the seconds from the first drop until the last execution ended; the ratio is load over
baseline. Each phase is checked for loss: N executions, all Succeeded, each with one prediction file holding
exactly its own batch's record keys. tests/e2e/test_concurrent_batches.py drives the same functions.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from batchops import operations as ops
from batchops.aws_session import AwsTarget, connect
from batchops.demo import Demo
from batchops.demo_data import DEMO_RECORD_KEY, DEMO_TARGET, REFERENCE, generate
from batchops_core import contracts
from batchops_core.contracts import Step
from batchops_core.settings import load_settings

EXECUTION_TIMEOUT = 1800.0
# EventBridge starts the execution as the object is created (the drops have all returned by then); a minute covers
# the emulator on a loaded machine.
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Batch:
    name: str  # the key path under the inference and ground-truth prefixes
    batch_file: Path
    truth_file: Path
    record_keys: frozenset[str]


@dataclass(frozen=True)
class Scored:
    """What became of one execution: its input key, status and prediction files with their record keys."""

    execution: ops.Execution
    input_key: str | None
    outputs: list[str]
    scored_keys: list[str]


@dataclass(frozen=True)
class LoadRun:
    batches: list[Batch]
    executions: list[ops.Execution]
    seconds: float

    @property
    def per_minute(self) -> float:
        return len(self.batches) * 60.0 / self.seconds


@contextlib.contextmanager
def demo_stack(home: Path, env: str = "local") -> Iterator[tuple[Any, Demo]]:
    """The emulator with the Terraform-applied stack of `env`, its pipelines upserted and the demo data written:
    the demo, ready for its next phase; stopped afterwards."""
    from batchops_local.runtime import start_local_aws

    settings = load_settings(env)
    with start_local_aws(home) as local_aws:
        target = connect(settings, endpoint_url=local_aws.endpoint_url)
        demo = Demo(settings, home, target, console=Console(file=io.StringIO()), execution_timeout=EXECUTION_TIMEOUT)
        demo.set_up_infrastructure()
        yield local_aws, demo


@contextlib.contextmanager
def approved_stack(home: Path) -> Iterator[tuple[Any, AwsTarget]]:
    """The emulator with the Terraform-applied local stack and an approved, active model; stopped afterwards."""
    with demo_stack(home) as (local_aws, demo):
        demo.train_and_approve()
        yield local_aws, demo.target


def write_batches(folder: Path, count: int, rows: int, tag: str) -> list[Batch]:
    """`count` batches of `rows` rows, each with record keys of its own (`<tag>-<n>-...`), and their ground truth."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = []
    for number in range(count):
        name = f"{tag}-{number:03d}"
        frame = generate(REFERENCE, rows, seed=1000 + number, id_prefix=name)
        batch_file, truth_file = folder / f"{name}.csv", folder / f"{name}-ground-truth.csv"
        frame.drop(columns=[DEMO_TARGET]).to_csv(batch_file, index=False)
        frame[[DEMO_RECORD_KEY, DEMO_TARGET]].to_csv(truth_file, index=False)
        batches.append(Batch(f"load/{name}.csv", batch_file, truth_file, frozenset(frame[DEMO_RECORD_KEY])))
    return batches


def drop(target: AwsTarget, batch: Batch) -> None:
    """What a data engineer does for one batch: its ground truth, then the batch (which starts inference)."""
    ops.drop_data(target, batch.truth_file, "ground-truth", rel_path=batch.name)
    ops.drop_data(target, batch.batch_file, "inference", rel_path=batch.name)


def execution_arns(target: AwsTarget, key: str = "inference") -> set[str]:
    """The executions of pipeline `key` (batchops_core.settings PIPELINE_KEYS) so far."""
    return {e.arn for e in ops.list_executions(target, [target.settings.pipeline_names[key]])}


def _wait_all(target: AwsTarget, known: set[str], count: int) -> list[ops.Execution]:
    """The executions started since `known` (waiting up to START_TIMEOUT for `count` of them: a lost drop shows
    as a missing execution, not a hang), each waited for until it ended."""
    deadline = time.monotonic() + START_TIMEOUT
    while len(fresh := execution_arns(target) - known) < count and time.monotonic() < deadline:
        time.sleep(1.0)
    return [ops.wait_for_execution(target, arn, timeout=EXECUTION_TIMEOUT, poll=1.0) for arn in sorted(fresh)]


def run_at_once(target: AwsTarget, batches: list[Batch]) -> LoadRun:
    """Every batch dropped at the same moment by its own thread (and its own AWS target)."""
    known = execution_arns(target)
    targets = [connect(target.settings, endpoint_url=target.endpoint_url) for _ in batches]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(batches)) as pool:
        list(pool.map(drop, targets, batches))  # re-raises the first failed drop
    executions = _wait_all(target, known, len(batches))
    return LoadRun(batches, executions, time.monotonic() - started)  # the last execution has just ended


def run_one_at_a_time(target: AwsTarget, batches: list[Batch]) -> LoadRun:
    """The baseline: each batch dropped only after the previous one's execution ended."""
    started = time.monotonic()
    executions = []
    for batch in batches:
        known = execution_arns(target)
        drop(target, batch)
        executions += _wait_all(target, known, 1)
    return LoadRun(batches, executions, time.monotonic() - started)


def scored(target: AwsTarget, execution: ops.Execution) -> Scored:
    """The execution's InputKey and the record keys of its BatchTransform prediction files (`key,prediction`)."""
    settings, s3 = target.settings, target.client("s3")
    parameters = target.client("sagemaker").list_pipeline_parameters_for_execution(
        PipelineExecutionArn=execution.arn)["PipelineParameters"]
    input_key = next((p["Value"] for p in parameters if p["Name"] == contracts.PARAM_INPUT_KEY), None)
    outputs = [key for key in ops.step_output_keys(target, execution, Step.BATCH_TRANSFORM) if key.endswith(".out")]
    keys = []
    for key in outputs:
        text = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read().decode()
        for line in text.splitlines():
            record, _, prediction = line.partition(",")
            float(prediction)  # a prediction that is not a number fails here
            keys.append(record)
    return Scored(execution, input_key, outputs, keys)


def losses(target: AwsTarget, run: LoadRun) -> list[str]:
    """Every batch that did not end as exactly one Succeeded execution scoring exactly its own records."""
    by_key = {f"{target.settings.prefixes.inference}/{batch.name}": batch for batch in run.batches}
    problems, seen = [], set()
    for execution in run.executions:
        outcome = scored(target, execution)
        batch = by_key.get(outcome.input_key or "")
        if batch is None or outcome.input_key in seen:
            problems.append(f"{execution.execution_id}: input {outcome.input_key} is not one new batch")
            continue
        seen.add(outcome.input_key)
        if execution.status != "Succeeded":
            problems.append(f"{batch.name}: execution {execution.execution_id} {execution.status}: "
                            f"{execution.failure_reason}")
        elif len(outcome.outputs) != 1 or sorted(outcome.scored_keys) != sorted(batch.record_keys):
            problems.append(f"{batch.name}: {len(outcome.scored_keys)} scored records in {outcome.outputs}, "
                            f"expected its {len(batch.record_keys)}")
    problems += [f"{key}: no execution" for key in sorted(set(by_key) - seen)]
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20, help="batches dropped at once (default 20)")
    parser.add_argument("--rows", type=int, default=50, help="rows per batch (default 50)")
    parser.add_argument("--home", type=Path, help="BATCHOPS_HOME to use (default: a temporary folder)")
    args = parser.parse_args()
    if args.batches < 1 or args.rows < 1:
        parser.error("--batches and --rows must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        home = (args.home or Path(scratch) / "home").resolve()
        print(f"2 x {args.batches} batches of {args.rows} rows; load average at start "
              f"{os.getloadavg()[0]:.1f}; setting up the stack (Terraform apply, training, approval)...", flush=True)
        started = time.monotonic()
        with approved_stack(home) as (_, target):
            print(f"stack ready in {time.monotonic() - started:.0f} s", flush=True)
            runs = {}
            for label, runner in (("one at a time", run_one_at_a_time), ("all at once", run_at_once)):
                batches = write_batches(Path(scratch) / label.replace(" ", "-"), args.batches, args.rows,
                                        label.split()[0])
                runs[label] = run = runner(target, batches)
                lost = losses(target, run)
                print(f"{label:>14}: {args.batches} batches in {run.seconds:6.1f} s = {run.per_minute:5.1f} "
                      f"batches/minute; lost or wrong: {len(lost)}", flush=True)
                for problem in lost:
                    print(f"    {problem}")
                if lost:
                    return 1
        ratio = runs["all at once"].per_minute / runs["one at a time"].per_minute
        print(f"throughput at once / one at a time: {ratio:.2f}x; load average at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
