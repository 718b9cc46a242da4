"""Benchmark of the pipeline side: building the three definitions, and the preprocess step script.

    python benchmarks/bench_pipelines.py                 # 10k and 100k rows
    python benchmarks/bench_pipelines.py --rows 1000000

Printed: seconds for a cold build (fresh process: SDK import + build) and a warm one (same process, second
build), each next to a baseline measured in the same run:
- cold build vs SDK import: a fresh process that only runs the `from sagemaker... import ...` statements found
  in the builders' sources (pipelines/, read with `ast`, so the list follows the code). Their ratio says how much
  of a cold build is the SDK's import cost that any SDK-based builder pays, and how much is our building.
- warm build vs JSON serialisation: `json.dumps` of the three definitions' parsed JSON, i.e. writing the same
  definition text from plain Python data. That is the floor of producing the definitions at all; the ratio is
  what the SDK's object model (step and property objects, request building, its own serialisation) costs above
  it. Importing the SDK is not part of either side, since the warm build runs in an already-warm process.
- warm build vs one SDK session: creating the `PipelineSession` the builders use, in the same warm process.
  Every SDK-based build pays it (a session builds its boto clients, whose service models are parsed again per
  session), so it is the honest fixed cost of an SDK build; the ratio counts how many session-sized costs the
  three definitions take (the SDK also creates sessions inside steps).
For each row count, the preprocess step in train mode and in transform mode (fresh subprocess each, as a
container runs it), with rows per second and peak resident memory of the step.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from batchops_core import contracts

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "pipelines" / "scripts" / "preprocess.py"
SCHEMA = {"header": True, "record_key": "record_id", "target": "rings",
          "columns": [{"name": "record_id", "type": "categorical"}, {"name": "sex", "type": "categorical"},
                      *({"name": f"measure_{i}", "type": "float"} for i in range(7)),
                      {"name": "rings", "type": "integer"}]}


def _last_numbers(code: str) -> list[float]:
    """Run `code` in a fresh interpreter; the numbers on its last output line."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"benchmark subprocess failed: {done.stderr[-2000:]}")
    return [float(value) for value in done.stdout.splitlines()[-1].split()]


# Runs in a fresh interpreter; prints cold build, warm build, json.dumps (best of 20), one warm SDK session.
BUILD_TIMING = """
import json, time
t = time.perf_counter()
from batchops_core.settings import load_settings
from pipelines.definitions import build_definitions
settings = load_settings('local')
build_definitions(settings, account_id='123456789012')
cold = time.perf_counter() - t
t = time.perf_counter()
built = build_definitions(settings, account_id='123456789012')
warm = time.perf_counter() - t
parsed = [json.loads(text) for text in built.values()]
dumps = []
for _ in range(20):
    t = time.perf_counter()
    [json.dumps(definition) for definition in parsed]
    dumps.append(time.perf_counter() - t)
from pipelines.common.sdk import offline_session, sdk_environment
with sdk_environment(settings.region):
    t = time.perf_counter()
    offline_session(settings.bucket, settings.region)
    session = time.perf_counter() - t
print(cold, warm, min(dumps), session)
"""


def build_seconds() -> tuple[float, float, float, float]:
    """Cold build, warm build, json.dumps of the definitions and one SDK session in a warm process, in seconds."""
    cold, warm, serialise, session = _last_numbers(BUILD_TIMING)
    return cold, warm, serialise, session


def sdk_import_statements(source_dir: Path = ROOT / "pipelines") -> list[str]:
    """Every `from sagemaker... import ...` / `import sagemaker...` in the builders' sources, deduplicated."""
    statements: set[str] = set()
    for path in sorted(source_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("sagemaker"):
                names = ", ".join(alias.name for alias in node.names)
                statements.add(f"from {node.module} import {names}")
            elif isinstance(node, ast.Import):
                statements.update(f"import {alias.name}" for alias in node.names
                                  if alias.name.split(".")[0] == "sagemaker")
    if not statements:
        raise SystemExit(f"no SageMaker SDK import found under {source_dir}: the baseline would measure nothing")
    return sorted(statements)


def sdk_import_seconds() -> float:
    """A fresh process that only imports what the builders import from the SDK."""
    body = "; ".join(sdk_import_statements())
    # Some SDK modules resolve a region at import: set the same environment the builders build in, untimed.
    setup = ("import time; from batchops_core.settings import load_settings; "
             "from pipelines.common.sdk import prepare_sdk_environment; "
             "prepare_sdk_environment(load_settings('local').region)")
    return _last_numbers(f"{setup}; t = time.perf_counter(); {body}; print(time.perf_counter() - t)")[0]


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
    schema = root / "processing" / "input" / contracts.DATASET_SCHEMA_INPUT / contracts.DATASET_SCHEMA_FILE
    schema.parent.mkdir(parents=True, exist_ok=True)
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(root)}
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
        cold, warm, serialise, session = build_seconds()
        sdk_import = sdk_import_seconds()
        print(f"definitions (3 pipelines): cold build {cold:.1f} s (incl. SDK import), warm build {warm:.1f} s")
        print(f"{'build':<6} {'seconds':>9} {'baseline':<32} {'seconds':>9} {'ratio':>8}")
        print(f"{'cold':<6} {cold:>9.2f} {'SDK import only (fresh process)':<32} {sdk_import:>9.2f} "
              f"{cold / sdk_import:>7.1f}x")
        print(f"{'warm':<6} {warm:>9.3f} {'json.dumps of the definitions':<32} {serialise:>9.4f} "
              f"{warm / serialise:>7.0f}x")
        print(f"{'warm':<6} {warm:>9.3f} {'one SDK session (warm process)':<32} {session:>9.3f} "
              f"{warm / session:>7.1f}x")
        print()
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
