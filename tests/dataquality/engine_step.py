"""The data-quality engine run as a pipeline step runs it: a job root with the baseline and the core package staged
as the `core` input, and the engine started as a process with the step's environment keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipelines.scripts import data_quality as dq

CSV_WITH_HEADER = json.dumps({"csv": {"header": True, "output_columns_position": "START"}})
RESULT_PATH = "/opt/ml/processing/result/result.json"


def stage_baseline_and_core(root: Path, core_modules: list[tuple[str, Path]], **baseline_environment: str) -> Path:
    """The baseline of `processing/input/train` under `processing/baseline`, and the core modules as `core`."""
    dq.run_analyzer({"dataset_source": "/opt/ml/processing/input/train", "output_path": "/opt/ml/processing/baseline",
                     "dataset_format": CSV_WITH_HEADER, **baseline_environment}, base_dir=str(root))
    for name, path in core_modules:
        target = root / "processing/input/core" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    return root


def run_check(base_dir: Path, batch: str, **environment: str) -> subprocess.CompletedProcess:
    """The engine checking `processing/input/<batch>` against the staged baseline, as a process."""
    env = {key: value for key, value in os.environ.items() if key not in dq.ENVIRONMENT_KEYS}
    env.update(SAGEMAKER_BASE_DIR=str(base_dir), dataset_source=f"/opt/ml/processing/input/{batch}",
               output_path="/opt/ml/processing/output", dataset_format=CSV_WITH_HEADER,
               baseline_statistics="/opt/ml/processing/baseline/statistics.json",
               baseline_constraints="/opt/ml/processing/baseline/constraints.json", **environment)
    return subprocess.run([sys.executable, str(Path(dq.__file__))], env=env, capture_output=True, text=True,
                          timeout=120)


def read_result(base_dir: Path) -> dict:
    """The step's result.json, which must follow batchops_core.results' schema."""
    from batchops_core.results import parse

    text = (base_dir / "processing/result/result.json").read_text()
    parse(text)
    return json.loads(text)
