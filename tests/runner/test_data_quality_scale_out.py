"""The inference DataQualityCheck as the SDK builds it on one and on two processing instances, run by the runner
against the emulator's S3 on the same batch: two instances (DataQualityCheckShards, each profiling its share of
the files, then DataQualityCheck merging the partial profiles) give the one-instance reports and result.

The batch has fewer values per feature than the KLL sketch's level capacity (k = 2048), so no sketch compacts
and the merged sketches equal the one-pass ones exactly; moments may differ by rounding (data_quality.py,
"Scale-out"). Larger data with the sketch's rank error: tests/dataquality/test_partial_profiles.py."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from batchops_core import contracts
from batchops_core.settings import load_settings

ROWS_PER_PART, PARTS = 400, 4  # 1,600 values per feature: below one sketch level's capacity
REPORTS = ("statistics.json", "constraints.json", "constraint_violations.json")
MOMENTS = ("mean", "sum", "std_dev")


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "sex": rng.choice(["M", "F", "I"], size=rows, p=[0.4 + shift / 4, 0.3, 0.3 - shift / 4]),
        "length": np.round(rng.normal(0.5 + shift / 5, 0.1, size=rows), 3),
        "rings": rng.poisson(9 + 3 * shift, size=rows),
    })


def _inference_steps(instance_count: int) -> tuple[Any, dict[str, dict]]:
    from pipelines.definitions import build_definitions

    settings = load_settings("local")
    if instance_count != 1:
        compute = settings.compute.model_copy(update={"processing_instance_count": instance_count})
        settings = settings.model_copy(update={"compute": compute})
    definition = json.loads(build_definitions(settings, account_id="123456789012")["inference"])
    return settings, {step["Name"]: step for step in definition["Steps"]}


@pytest.fixture(scope="module")
def built() -> dict[int, tuple[Any, dict[str, dict]]]:
    """The inference definitions on one and two processing instances (built once: the SDK import is slow)."""
    return {count: _inference_steps(count) for count in (1, 2)}


def _concrete(step: dict, settings, aws, batch_uri: str, baseline_uri: str) -> dict:
    """The step with the references to earlier steps (Preprocess, ResolveModel) replaced by the S3 locations
    this test fills, and the product bucket by the test's."""
    text = json.dumps(step).replace(f"s3://{settings.bucket}/", f"s3://{aws.bucket}/")

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("Get", "")
            if reference.startswith("Steps.Preprocess."):
                return batch_uri if "['dataquality']" in reference else baseline_uri
            if "Std:JsonGet" in node:  # ResolveModel's BaselineStatistics
                return f"{baseline_uri}/statistics.json"
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(json.loads(text))


def _upload_code(aws, settings) -> None:
    from pipelines.common.code import shipped_files

    for script in shipped_files(settings):
        aws.s3.put_object(Bucket=aws.bucket, Key=script.key(settings), Body=script.read_bytes())


def _put_batch_and_baseline(aws) -> tuple[str, str]:
    from pipelines.scripts import data_quality as dq

    for part in range(PARTS):  # drifted against the baseline: the check has violations to agree on
        aws.put(f"batch/dataquality/part-{part:05d}.csv",
                _frame(ROWS_PER_PART, 10 + part, shift=1.0).to_csv(index=False))
    statistics, constraints = dq.compute_baseline(_write(_frame(2_000, 3)), header=True)
    aws.put("baseline/statistics.json", json.dumps(statistics))
    aws.put("baseline/constraints.json", json.dumps(constraints))
    return aws.uri("batch/dataquality"), aws.uri("baseline")


def _write(frame: pd.DataFrame):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="dq-baseline-")) / "baseline.csv"
    frame.to_csv(path, index=False)
    return path


def _outputs(aws, request) -> dict[str, dict]:
    prefix = f"pipeline-runs/{request.pipeline_name}/{request.execution_id}/{contracts.Step.DATA_QUALITY_CHECK}"
    found = {name: json.loads(aws.get(f"{prefix}/{contracts.QUALITY_CHECK_OUTPUT}/{name}")) for name in REPORTS}
    result = json.loads(aws.get(f"{prefix}/{contracts.STEP_RESULT_OUTPUT}/result.json"))
    # The message ends with where the job wrote the violations: a path of its own job (" Details: <path>.").
    result["message"] = result["message"].split(" Details: ")[0]
    found["result.json"] = result
    return found


def _without_moments(statistics: dict) -> tuple[dict, list[tuple[str, str, float]]]:
    """The statistics with the moments taken out, and the moments (feature, key, value)."""
    document = json.loads(json.dumps(statistics))
    moments = []
    for feature in document["features"]:
        numbers = feature.get("numerical_statistics")
        for key in MOMENTS if numbers else ():
            moments.append((feature["name"], key, numbers.pop(key)))
    return document, moments


def test_two_instances_give_the_one_instance_reports_and_result(aws, runner, built):
    settings, one = built[1]
    _, two = built[2]
    _upload_code(aws, settings)
    batch_uri, baseline_uri = _put_batch_and_baseline(aws)
    shards_name = contracts.SHARDS_STEPS[contracts.Step.DATA_QUALITY_CHECK]
    assert shards_name not in one  # one instance: today's one step

    def steps(built_steps: dict[str, dict], names: list[str]) -> list[dict]:
        return [_concrete(built_steps[name], settings, aws, batch_uri, baseline_uri) for name in names]

    pipeline = settings.pipelines.inference_name
    sink_one, request_one = runner.run(steps(one, [contracts.Step.DATA_QUALITY_CHECK]), pipeline=pipeline)
    assert sink_one.final == ("Succeeded", None), sink_one.steps
    sink_two, request_two = runner.run(steps(two, [shards_name, contracts.Step.DATA_QUALITY_CHECK]),
                                       pipeline=pipeline)
    assert sink_two.final == ("Succeeded", None), sink_two.steps
    assert sink_two.ran() == [shards_name, contracts.Step.DATA_QUALITY_CHECK]

    partials = aws.keys(f"pipeline-runs/{pipeline}/{request_two.execution_id}/{shards_name}/")
    assert [key.rsplit("/", 1)[-1] for key in partials] == ["algo-1.json", "algo-2.json"]
    shares = [json.loads(aws.get(key)) for key in partials]
    assert [share["item_count"] for share in shares] == [2 * ROWS_PER_PART, 2 * ROWS_PER_PART]  # 2 files each

    expected, merged = _outputs(aws, request_one), _outputs(aws, request_two)
    assert expected["constraint_violations.json"]["violations"], "the batch is meant to drift"
    for name in ("constraints.json", "constraint_violations.json", "result.json"):
        assert merged[name] == expected[name], name
    merged_statistics, merged_moments = _without_moments(merged["statistics.json"])
    expected_statistics, expected_moments = _without_moments(expected["statistics.json"])
    assert merged_statistics == expected_statistics  # counts, categories, min/max, sketches and buckets
    for (feature, key, got), (_, _, want) in zip(merged_moments, expected_moments):  # noqa: B905 (same features)
        assert math.isclose(got, want, rel_tol=1e-12), (feature, key)
