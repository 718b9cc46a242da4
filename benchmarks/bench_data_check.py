"""Benchmark of `batchops data check` (steplib.DataCheck, the validation Preprocess runs): time and peak memory
on a small and a large generated inference batch of the local schema (record key, one categorical and seven
numeric columns). Each check runs in a fresh subprocess, so its peak resident memory (ru_maxrss, including the
interpreter and imported libraries) is its own. Memory should stay nearly flat: rows are read in chunks; only the
record keys leave a trace, as 8-byte hashes (for the duplicate-key check).

    python benchmarks/bench_data_check.py                  # ~2 MB and ~200 MB
    python benchmarks/bench_data_check.py --megabytes 2 2000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROW_BYTES = 60  # about, for the rows generated below
CHILD = """
import json, resource, sys, time
from pathlib import Path
from batchops import operations
from batchops_core.settings import load_settings
settings = load_settings("local")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
problems = operations.check_csv_schema(settings, Path(sys.argv[1]), "inference")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "after_imports_kib": before, "problems": problems}))
"""


def generate(path: Path, megabytes: float) -> int:
    rows = int(megabytes * 1e6 / ROW_BYTES)
    rng = np.random.default_rng(0)
    header = "record_id,sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight\n"
    block = 200_000
    with path.open("w") as handle:
        handle.write(header)
        for start in range(0, rows, block):
            count = min(block, rows - start)
            numbers = rng.uniform(0.01, 2.5, size=(count, 7))
            sexes = np.array(["M", "F", "I"])[rng.integers(0, 3, count)]
            lines = [f"r{start + i},{sexes[i]}," + ",".join(f"{v:.4f}" for v in numbers[i]) for i in range(count)]
            handle.write("\n".join(lines) + "\n")
    return rows


def measure(path: Path) -> dict:
    completed = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, nargs="+", default=[2, 200])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-data-check-") as scratch:
        print(f"{'file':>10} {'rows':>11} {'seconds':>8} {'rows/s':>10} {'peak RSS':>10} {'after imports':>14}")
        for megabytes in args.megabytes:
            path = Path(scratch) / f"batch-{megabytes:g}mb.csv"
            rows = generate(path, megabytes)
            size = path.stat().st_size / 1e6
            result = measure(path)
            if result["problems"]:
                raise SystemExit(f"unexpected problems: {result['problems'][:3]}")
            results.append(result)
            print(f"{size:>8.1f}MB {rows:>11,} {result['seconds']:>8.2f} {rows / result['seconds']:>10,.0f} "
                  f"{result['peak_kib'] / 1024:>8.1f}MB {result['after_imports_kib'] / 1024:>12.1f}MB")
            path.unlink()
    if len(results) > 1:
        small, large = results[0], results[-1]
        print(f"peak RSS ratio largest/smallest file: {large['peak_kib'] / small['peak_kib']:.2f} "
              f"(file size ratio {args.megabytes[-1] / args.megabytes[0]:g}); above the imports: "
              f"{(large['peak_kib'] - large['after_imports_kib']) / 1024:.1f} MB vs "
              f"{(small['peak_kib'] - small['after_imports_kib']) / 1024:.1f} MB")


if __name__ == "__main__":
    main()
