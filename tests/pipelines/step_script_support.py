"""Running the step scripts the way a processing container does, on small generated data."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Where the scripts' AWS calls go in these tests: moto in process (the `in_process_aws` / `s3` fixtures).
REGION = "us-east-1"
BUCKET = "shop-data"

SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "pipelines" / "scripts"

# A non-abalone schema: 3 numeric + 2 categorical features with their own names.
OTHER_SCHEMA = {
    "header": True, "record_key": "order_id", "target": "delivery_minutes",
    "columns": [{"name": "order_id", "type": "integer"}, {"name": "distance_km", "type": "float"},
                {"name": "city", "type": "categorical"}, {"name": "items", "type": "integer"},
                {"name": "vehicle", "type": "categorical"}, {"name": "weight_kg", "type": "float"},
                {"name": "delivery_minutes", "type": "float"}],
}
OTHER_FEATURES = ["distance_km", "city", "items", "vehicle", "weight_kg"]


def other_rows(count: int, seed: int = 7, first_key: int = 1) -> list[dict[str, str]]:
    """Rows of the other schema whose target depends on every feature (so a model can learn it)."""
    rng = np.random.RandomState(seed)
    rows = []
    for index in range(count):
        distance = rng.uniform(0.5, 20)
        city = ["north", "south", "east"][rng.randint(3)]
        items = rng.randint(1, 8)
        vehicle = ["bike", "van"][rng.randint(2)]
        weight = rng.uniform(0.2, 15)
        minutes = 10 + 2.5 * distance + 3 * items + (8 if city == "north" else 0) + (
            5 if vehicle == "bike" and weight > 8 else 0) + rng.normal(0, 1.5)
        rows.append({"order_id": str(first_key + index), "distance_km": f"{distance:.3f}", "city": city,
                     "items": str(items), "vehicle": vehicle, "weight_kg": f"{weight:.2f}",
                     "delivery_minutes": f"{minutes:.2f}"})
    return rows


def write_rows(path: Path, rows: list[dict[str, str]], columns: list[str], *, header: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(columns)
        writer.writerows([[row.get(c, "") for c in columns] for row in rows])
    return path


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


@dataclass
class JobResult:
    returncode: int
    message: str | None
    stdout: str
    stderr: str


class Job:
    """A job root laid out like /opt/ml (SAGEMAKER_BASE_DIR points at it)."""

    def __init__(self, root: Path, schema: dict | None):
        self.root, self.schema = root, schema

    def path(self, *parts: str) -> Path:
        return self.root.joinpath("processing", *parts)

    def input(self, name: str) -> Path:
        return self.path("input", name)

    def output(self, name: str) -> Path:
        return self.path("output", name)

    def result(self, output: str = "result") -> dict:
        """The step's result.json, parsed and checked by the core reader."""
        from batchops_core.results import parse

        text = (self.output(output) / "result.json").read_text()
        parse(text)  # raises on a document that does not follow the schema
        return json.loads(text)

    def environment(self) -> dict[str, str]:
        """The job's environment; stages the schema file as the pipeline's `schema` input does."""
        from batchops_core.contracts import DATASET_SCHEMA_FILE, DATASET_SCHEMA_INPUT

        schema_file = self.input(DATASET_SCHEMA_INPUT) / DATASET_SCHEMA_FILE
        if self.schema is None:
            schema_file.unlink(missing_ok=True)
        else:
            schema_file.parent.mkdir(parents=True, exist_ok=True)
            schema_file.write_text(json.dumps(self.schema), encoding="utf-8")
        return {"SAGEMAKER_BASE_DIR": str(self.root)}

    def configure_inputs(self, **uris: str) -> Path:
        """Write /opt/ml/config/processingjobconfig.json naming these S3 processing inputs, as SageMaker does."""
        path = self.root / "config" / "processingjobconfig.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        inputs = [{"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/input/{name}",
                                                  "S3DataType": "S3Prefix", "S3InputMode": "File"}}
                  for name, uri in uris.items()]
        path.write_text(json.dumps({"ProcessingJobName": "job", "ProcessingInputs": inputs}), encoding="utf-8")
        return path

    def configure_staged_inputs(self) -> None:
        """Unless the test named its inputs: a processingjobconfig.json naming every staged input folder, as
        SageMaker always writes one (a script finds its dataset's location there: steplib.dataset_files)."""
        if (self.root / "config" / "processingjobconfig.json").exists():
            return
        staged = self.root / "processing" / "input"
        names = sorted(p.name for p in staged.iterdir() if p.is_dir()) if staged.is_dir() else []
        self.configure_inputs(**{name: f"s3://staged-inputs/{name}" for name in names})

    def message(self) -> str | None:
        path = self.root / "output" / "message"
        return path.read_text() if path.exists() else None

    def ship_core(self) -> Path:
        """Stage the core modules as the pipeline's `core` input does (from their content-addressed upload)."""
        from pipelines.common.code import core_modules

        for module in core_modules():
            target = self.input("core") / module.name  # batchops_core/<module>.py
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(module.path.read_bytes())
        return self.input("core")

    def run(self, script: str, *arguments: str) -> JobResult:
        """As a container would: `python3 <script> <arguments>`, in a subprocess, with the core input staged."""
        self.ship_core()
        self.configure_staged_inputs()
        env = {**os.environ, **self.environment()}
        completed = subprocess.run([sys.executable, str(SCRIPTS_DIR / script), *arguments], env=env,
                                   capture_output=True, text=True, timeout=300)
        return JobResult(completed.returncode, self.message(), completed.stdout, completed.stderr)

    def run_in_process(self, script: str, *arguments: str, monkeypatch, job_config: bool = True) -> JobResult:
        """Same entry point in this process (so moto's in-process mock serves the script's boto3 calls)."""
        for key, value in self.environment().items():
            monkeypatch.setenv(key, value)
        if job_config:
            self.configure_staged_inputs()
        module = load_script(script)
        code = module.steplib.run_step(module.main, list(arguments))
        return JobResult(code, self.message(), "", "")


def load_script(script: str):
    name = "step_script_" + script.removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, SCRIPTS_DIR / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
