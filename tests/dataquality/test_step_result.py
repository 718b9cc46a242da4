"""The data-quality check as a pipeline step decides: result.json with outcome passed / warning / failed and
counts, written when the pipeline sets `step_name` and `step_result_path` (the engine alone writes none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from engine_step import CSV_WITH_HEADER, RESULT_PATH, read_result, run_check, stage_baseline_and_core

from pipelines.scripts import data_quality as dq


@pytest.fixture
def job(tmp_path, write_csv, make_frame, shipped_core_modules) -> Path:
    """A job root with a baseline, a clean and a drifted batch, and the core package staged as the `core` input."""
    write_csv("processing/input/train/part-0.csv", make_frame(2000, seed=1))
    write_csv("processing/input/clean/batch.csv", make_frame(1000, seed=3))
    drifted = make_frame(1000, seed=4, shift=1.0, category_shares=(0.2, 0.3, 0.5))
    write_csv("processing/input/drifted/batch.csv", drifted)
    return stage_baseline_and_core(tmp_path, shipped_core_modules)



@pytest.mark.parametrize("batch,fail,code,outcome", [
    ("clean", "true", 0, "passed"),
    ("drifted", "false", 0, "warning"),
    ("drifted", "true", dq.EXIT_VIOLATIONS, "failed"),
])
def test_a_check_writes_its_outcome(job, batch, fail, code, outcome):
    result = run_check(job, batch, fail_on_violation=fail, step_name="DataQualityCheck", step_result_path=RESULT_PATH)
    assert result.returncode == code, result.stderr
    document = read_result(job)
    violations = json.loads((job / "processing/output/constraint_violations.json").read_text())["violations"]
    assert (document["step"], document["outcome"]) == ("DataQualityCheck", outcome)
    assert document["counts"] == {"rows": 1000, "features": 4, "violations": len(violations)}
    assert (len(violations) > 0) == (batch == "drifted")
    assert sum(document["details"]["violation_counts"].values()) == len(violations)
    if batch == "drifted":  # the sentence for people is the same one the failure message uses
        assert document["message"].startswith(f"Data quality check found {len(violations)} constraint violation(s)")


def test_without_the_pipeline_settings_the_engine_writes_no_result(job):
    result = run_check(job, "clean")
    assert result.returncode == 0, result.stderr
    assert not (job / "processing/result").exists()


@pytest.mark.parametrize("environment,pattern", [
    ({"step_name": "DataQualityCheck"}, "step_name and step_result_path: give both"),
    ({"step_result_path": RESULT_PATH}, "step_name and step_result_path: give both"),
])
def test_half_of_the_result_settings_is_a_clear_error(job, environment, pattern):
    result = run_check(job, "clean", **environment)
    assert result.returncode == dq.EXIT_ERROR
    assert pattern in (job / "output/message").read_text()


def test_a_baseline_run_decides_nothing(job):
    env = {key: value for key, value in os.environ.items() if key not in dq.ENVIRONMENT_KEYS}
    env.update(SAGEMAKER_BASE_DIR=str(job), dataset_source="/opt/ml/processing/input/clean",
               output_path="/opt/ml/processing/output", dataset_format=CSV_WITH_HEADER,
               step_name="DataQualityBaseline", step_result_path=RESULT_PATH)
    result = subprocess.run([sys.executable, str(Path(dq.__file__))], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == dq.EXIT_ERROR
    assert "only a check" in (job / "output/message").read_text()
