"""Benchmark of the data-quality engine against a plain pandas computation of the same statistics.

For each row count a realistic CSV is generated into a temporary directory (one categorical column, eight numeric
columns of several distributions, a few missing values). Three measurements run, each in a fresh subprocess so
peak memory is its own:
  engine baseline   compute_baseline() on the file (streamed in chunks)
  engine check      check_dataset() of the same file against that baseline
  pandas            read the whole file, describe() + deciles + value_counts() + missing counts
Printed per run: seconds, rows per second and peak resident memory (including the interpreter and imported
libraries, which the "after imports" column shows). Each measurement is repeated (--repeat, interleaved, so a
busy machine disturbs all three alike) and the fastest run is shown.

    python benchmarks/bench_data_quality.py                      # 1e5 and 1e6 rows
    python benchmarks/bench_data_quality.py --rows 100000 1000000 10000000
    python benchmarks/bench_data_quality.py --rows 36000000 --engine-only   # a ~2 GB file, flat memory
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

GENERATION_CHUNK = 500_000


def generate_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    written = 0
    while written < rows:
        size = min(GENERATION_CHUNK, rows - written)
        frame = pd.DataFrame({
            "segment": rng.choice(["retail", "business", "public", "partner", "internal"], size=size,
                                  p=[0.4, 0.3, 0.15, 0.1, 0.05]),
            "age": rng.integers(18, 90, size=size),
            "visits": rng.poisson(3.0, size=size),
            "income": np.round(rng.lognormal(10.5, 0.6, size=size), 2),
            "score": np.round(rng.normal(600, 80, size=size), 3),
            "balance": np.round(rng.normal(0, 2500, size=size), 2),
            "ratio": np.round(rng.beta(2, 5, size=size), 5),
            "tenure_days": rng.integers(0, 5000, size=size),
            "latency_ms": np.round(rng.exponential(120, size=size), 1),
        })
        frame.loc[rng.random(size) < 0.01, "income"] = np.nan  # ~1 % missing
        frame.to_csv(path, mode="a", header=written == 0, index=False)
        written += size


def peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux VmHWM, which starts afresh at exec (ru_maxrss would carry
    the parent's high-water mark over into the child)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def worker(mode: str, csv: Path, work: Path, chunk_rows: int) -> dict:
    """One measurement (runs in its own process)."""
    from pipelines.scripts import data_quality as dq

    after_imports = peak_rss_mb()
    start = time.perf_counter()
    if mode == "baseline":
        statistics, constraints = dq.compute_baseline(csv, header=True, chunk_rows=chunk_rows)
        seconds = time.perf_counter() - start  # the computation only: the pandas run writes no files either
        dq.write_json(work / "statistics.json", statistics)
        dq.write_json(work / "constraints.json", constraints)
        return {"mode": mode, "rows": statistics["dataset"]["item_count"], "seconds": seconds,
                "peak_mb": peak_rss_mb(), "after_imports_mb": after_imports}
    if mode == "check":
        statistics = json.loads((work / "statistics.json").read_text())
        constraints = json.loads((work / "constraints.json").read_text())
        current, report = dq.check_dataset(csv, statistics, constraints, header=True, chunk_rows=chunk_rows)
        rows = current["dataset"]["item_count"]
        if report["violations"]:
            raise SystemExit(f"the check of the baseline's own data found violations: {report['violations']}")
    else:
        frame = pd.read_csv(csv)
        numeric = frame.select_dtypes("number")
        numeric.describe()
        numeric.quantile(np.linspace(0.0, 1.0, 11))
        for column in frame.columns.difference(numeric.columns):
            frame[column].value_counts()
        frame.isna().sum()
        rows = len(frame)
    seconds = time.perf_counter() - start
    return {"mode": mode, "rows": rows, "seconds": seconds, "peak_mb": peak_rss_mb(), "after_imports_mb": after_imports}


def measure(mode: str, csv: Path, work: Path, chunk_rows: int) -> dict:
    command = [sys.executable, __file__, "--worker", mode, "--csv", str(csv), "--work", str(work),
               "--chunk-rows", str(chunk_rows)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="row counts to measure")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk for the engine")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement up to 1e6 rows (1 above)")
    parser.add_argument("--engine-only", action="store_true", help="skip the pandas run (for files that big)")
    parser.add_argument("--worker", choices=["baseline", "check", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.csv, args.work, args.chunk_rows)))
        return 0

    header = (f"{'rows':>10} {'file MB':>8} | {'measurement':<16} {'seconds':>8} {'rows/s':>11} {'peak MB':>8} "
              f"{'after imports':>13} | {'time vs pandas':>14} {'memory vs pandas':>16}")
    print(header, flush=True)
    print("-" * len(header), flush=True)
    for rows in args.rows:
        with tempfile.TemporaryDirectory(prefix="bench-dq-") as scratch:
            work = Path(scratch)
            csv = work / "data.csv"
            generate_csv(csv, rows)
            size_mb = csv.stat().st_size / 1e6
            results: dict[str, dict] = {}
            modes = ("baseline", "check") if args.engine_only else ("baseline", "check", "pandas")
            for _ in range(args.repeat if rows <= 1_000_000 else 1):
                for mode in modes:  # check needs the baseline's files
                    run = measure(mode, csv, work, args.chunk_rows)
                    if mode not in results or run["seconds"] < results[mode]["seconds"]:
                        results[mode] = run
        pandas = results.get("pandas")
        for label, mode in (("engine baseline", "baseline"), ("engine check", "check"), ("pandas", "pandas")):
            result = results.get(mode)
            if result is None:
                continue
            ratios = (f"{result['seconds'] / pandas['seconds']:>13.2f}x {result['peak_mb'] / pandas['peak_mb']:>15.2f}x"
                      if pandas else f"{'-':>14} {'-':>16}")
            line = (f"{rows:>10} {size_mb:>8.1f} | {label:<16} {result['seconds']:>8.2f} "
                    f"{rows / result['seconds']:>11,.0f} {result['peak_mb']:>8.0f} "
                    f"{result['after_imports_mb']:>13.0f} | {ratios}")
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
