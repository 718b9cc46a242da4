"""Time the demo phase by phase (targets: the whole demo within 45 s on a 2-core machine after set-up, and the
lifecycle after the infrastructure within 3x the baseline below).

    python benchmarks/bench_demo.py [--runs N] [--home DIR] [--steps]

Each run starts from an empty temporary BATCHOPS_HOME (or --home, cleared of earlier demo state) and prints
one row per phase; with several runs, the median of each phase follows.

Baseline (same run, fresh subprocess): the demo's ML work done by a minimal script with no platform — pandas +
xgboost on the demo's own generated data, the env file's hyperparameters: train once, score the clean and the
drifted batch and compute their RMSE against ground truth, then train `hpo.max_jobs` candidates with random
values from `hpo.ranges`. The demo's time after the infrastructure divided by the baseline is what running the
same work as pipelines (emulator, runner, steps as processes, quality checks, registry, events) costs.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console

from batchops.demo import DemoFailure, DemoOutcome, run_demo

TARGET_SECONDS = 45.0
TARGET_RATIO = 3.0  # lifecycle after the infrastructure / the plain script


def baseline_ml_work(data_dir: Path) -> dict[str, float]:
    """The demo's ML work as one plain script: the RMSE of each batch, the best candidate's, and where time went."""
    started = time.perf_counter()
    import numpy as np
    import pandas as pd
    import xgboost

    from batchops.demo_data import DEMO_RECORD_KEY, DEMO_TARGET, write_demo_files
    from batchops_core.settings import load_settings

    result: dict[str, float] = {"seconds imports": time.perf_counter() - started}
    settings = load_settings("local")
    files = write_demo_files(data_dir)
    training = pd.read_csv(files.training)
    categories = sorted(training["sex"].unique())

    def features(frame: pd.DataFrame) -> pd.DataFrame:
        encoded = frame.drop(columns=[DEMO_RECORD_KEY, DEMO_TARGET], errors="ignore")
        encoded["sex"] = pd.Categorical(encoded["sex"], categories=categories)
        return pd.get_dummies(encoded, columns=["sex"], dtype=float)

    rng = np.random.default_rng(settings.model.split_seed)
    order = rng.permutation(len(training))
    validation_rows = int(len(training) * settings.model.validation_fraction)
    test_rows = int(len(training) * settings.model.test_fraction)
    validation = training.iloc[order[:validation_rows]]
    train = training.iloc[order[validation_rows + test_rows:]]
    train_matrix = xgboost.DMatrix(features(train), label=train[DEMO_TARGET])
    validation_matrix = xgboost.DMatrix(features(validation), label=validation[DEMO_TARGET])

    hyperparameters: dict[str, str | float] = dict(settings.xgboost.hyperparameters)
    rounds = int(hyperparameters.pop("num_round"))
    # One thread, as the local runner caps each job's threads: on a busy 2-core machine OpenMP's waiting threads
    # make xgboost's default threading tens of times slower on data this small.
    hyperparameters["nthread"] = 1

    def fit(params: dict[str, str | float]) -> xgboost.Booster:
        return xgboost.train(params, train_matrix, num_boost_round=rounds)

    def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
        return float(np.sqrt(np.mean((predicted - actual) ** 2)))

    started = time.perf_counter()
    model = fit(hyperparameters)
    for name, batch_path, truth_path in (("clean", files.clean_batch, files.clean_ground_truth),
                                         ("drifted", files.drifted_batch, files.drifted_ground_truth)):
        batch = pd.read_csv(batch_path)
        truth = pd.read_csv(truth_path).set_index(DEMO_RECORD_KEY)[DEMO_TARGET]
        predicted = model.predict(xgboost.DMatrix(features(batch)))
        result[f"rmse {name}"] = rmse(predicted, truth.loc[batch[DEMO_RECORD_KEY]].to_numpy())
    result["seconds train + score"] = time.perf_counter() - started
    started = time.perf_counter()
    candidates = []
    for _ in range(settings.hpo.max_jobs):
        params: dict[str, str | float] = dict(hyperparameters)
        for tuned in settings.hpo.ranges:
            value = rng.uniform(tuned.min, tuned.max)
            params[tuned.name] = int(round(value)) if tuned.type == "integer" else value
        candidate = fit(params)
        candidates.append(rmse(candidate.predict(validation_matrix), validation[DEMO_TARGET].to_numpy()))
    result["best candidate validation rmse"] = min(candidates)
    result["seconds candidates"] = time.perf_counter() - started
    return result


_EXIT_NOTE = re.compile(r"\] exit code -?\d+ after ([0-9.]+) s$", re.MULTILINE)


def print_steps(home: Path, outcome: DemoOutcome) -> None:
    """Per execution: each step's duration and how long its job processes (imports included) ran."""
    for label, execution in outcome.executions.items():
        runs = home / "runs" / execution.execution_id
        rows = []
        for record_path in sorted(runs.glob("*/step.json")):
            record = json.loads(record_path.read_text(encoding="utf-8"))
            log = record_path.with_name("job.log")
            process_seconds = sum(float(m) for m in _EXIT_NOTE.findall(log.read_text(encoding="utf-8")))
            start, end = (datetime.fromisoformat(record[key]) for key in ("StartTime", "EndTime"))
            rows.append((start, record_path.parent.name, (end - start).total_seconds(), process_seconds))
        print(f"  {label} ({execution.execution_id}): " + ", ".join(
            f"{name} {seconds:.1f} s" + (f" (processes {processes:.1f} s)" if processes else "")
            for _, name, seconds, processes in sorted(rows)))


def time_baseline() -> tuple[float, dict[str, float]]:
    """Seconds of the baseline in a fresh interpreter (imports included, as the demo pays its own)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, __file__, "--baseline-only"], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"baseline failed: {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="how many demo runs (default 1)")
    parser.add_argument("--home", type=Path, default=None, help="BATCHOPS_HOME to use (default: a temp dir)")
    parser.add_argument("--steps", action="store_true",
                        help="also print each execution's steps: duration, and the seconds its job processes ran")
    parser.add_argument("--baseline-only", action="store_true",
                        help="only run the baseline ML script in this process and print its result as JSON")
    args = parser.parse_args(argv)
    if args.baseline_only:
        with tempfile.TemporaryDirectory(prefix="batchops-bench-baseline-") as scratch:
            print(json.dumps(baseline_ml_work(Path(scratch))))
        return 0
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
            # Inside the infrastructure phase: the apply and the upsert, as the demo reports them.
            for check in outcome.checks:
                if check.startswith(("Terraform applied", "pipelines upserted")):
                    print(f"  {check.split(':')[0]}")
            if args.steps:
                print_steps(home, outcome)
    print()
    print(f"{'phase':<20} {'median s':>9}")
    for name in runs[0]:
        print(f"{name:<20} {statistics.median(r[name] for r in runs):>9.1f}")
    total = statistics.median(r["wall clock"] for r in runs)
    # Terraform's apply is mostly the provider waiting for resources to settle (as it does on AWS).
    lifecycle = statistics.median(r["wall clock"] - r["infrastructure"] - r["emulator start"] for r in runs)
    print(f"lifecycle after the infrastructure (data drops to report): {lifecycle:.1f} s")
    baseline, metrics = time_baseline()
    print(f"baseline: the same ML work as a plain pandas + xgboost script (fresh process): {baseline:.1f} s "
          f"({', '.join(f'{name} {value:.2f}' for name, value in metrics.items())})")
    ratio = lifecycle / baseline
    print(f"ratio lifecycle / baseline (cost of running it as pipelines): {ratio:.1f}x; target {TARGET_RATIO:.0f}x: "
          f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}")
    print(f"target {TARGET_SECONDS:.0f} s: {'met' if total <= TARGET_SECONDS else 'MISSED'} ({total:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
