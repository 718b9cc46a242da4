"""Benchmark of the pipeline side: building the three definitions, and the preprocess step script.

    python benchmarks/bench_pipelines.py                 # 10k and 100k rows
    python benchmarks/bench_pipelines.py --rows 1000000

Printed: seconds for a cold build (fresh process: SDK import + build) and a warm one (same process, second
build); for each row count, the preprocess step in train mode and in transform mode (fresh subprocess each, as a
container runs it), with rows per second and peak resident memory of the step.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "pipelines" / "scripts" / "preprocess.py"
SCHEMA = {"header": True, "record_key": "record_id", "target": "rings",
          "columns": [{"name": "record_id", "type": "categorical"}, {"name": "sex", "type": "categorical"},
                      *({"name": f"measure_{i}", "type": "float"} for i in range(7)),
                      {"name": "rings", "type": "integer"}]}


def build_seconds() -> tuple[float, float]:
    code = ("import time; t = time.perf_counter(); from batchops.config import load_settings; "
            "from pipelines.definitions import build_definitions; s = load_settings('local'); "
            "build_definitions(s, account_id='123456789012'); cold = time.perf_counter() - t; "
            "t = time.perf_counter(); build_definitions(s, account_id='123456789012'); "
            "print(cold, time.perf_counter() - t)")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    cold, warm = output.stdout.split()[-2:]
    return float(cold), float(warm)


def write_dataset(path: Path, rows: int, *, with_target: bool) -> None:
    rng = np.random.RandomState(1)
    measures = rng.uniform(0, 1, size=(rows, 7))
    sexes = np.array(["M", "F", "I"])[rng.randint(0, 3, rows)]
    rings = rng.randint(1, 30, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        columns = [c["name"] for c in SCHEMA["columns"]]
        writer.writerow(columns if with_target else columns[:-1])
        for index in range(rows):
            row = [f"r{index}", sexes[index], *(f"{v:.4f}" for v in measures[index])]
            writer.writerow([*row, rings[index]] if with_target else row)


# Runs the script as its own __main__ and reports the process's own peak memory (kB on Linux) on stderr.
PEAK_WRAPPER = (
    "import resource, runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "finally:\n    print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def run_step(root: Path, *arguments: str) -> tuple[float, float]:
    """Seconds and peak MiB of one preprocess run in a fresh process."""
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(root), "DATASET_SCHEMA": json.dumps(SCHEMA)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, str(SCRIPT), *arguments], env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"preprocess failed: {done.stderr[-2000:]}")
    peak_kb = int(done.stderr.rsplit("PEAK", 1)[1].split()[0])
    return seconds, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--skip-build", action="store_true", help="only the preprocess step")
    args = parser.parse_args()
    if not args.skip_build:
        cold, warm = build_seconds()
        print(f"definitions (3 pipelines): cold build {cold:.1f} s (incl. SDK import), warm build {warm:.1f} s")
    print(f"{'rows':>10} {'mode':>10} {'seconds':>8} {'rows/s':>10} {'peak MiB':>9}")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as folder:
            train = Path(folder) / "train"
            write_dataset(train / "processing" / "input" / "data" / "data.csv", rows, with_target=True)
            seconds, peak = run_step(train, "--mode", "train", "--validation-fraction", "0.15",
                                     "--test-fraction", "0.15", "--seed", "1")
            print(f"{rows:>10} {'train':>10} {seconds:>8.2f} {rows / seconds:>10.0f} {peak:>9.0f}")
            batch = Path(folder) / "batch"
            write_dataset(batch / "processing" / "input" / "data" / "batch.csv", rows, with_target=False)
            artefact = train / "processing" / "output" / "preprocessing" / "preprocessing.json"
            target = batch / "processing" / "input" / "preprocessing" / "preprocessing.json"
            target.parent.mkdir(parents=True)
            target.write_bytes(artefact.read_bytes())
            seconds, peak = run_step(batch, "--mode", "transform")
            print(f"{rows:>10} {'transform':>10} {seconds:>8.2f} {rows / seconds:>10.0f} {peak:>9.0f}")


if __name__ == "__main__":
    main()
