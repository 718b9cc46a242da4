"""The analyzer contract: run_analyzer() with the container's Environment keys, and the script's main() run as a
subprocess the way a processing job runs it (exit codes, output files, /opt/ml/output/message)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.scripts import data_quality as dq

SCRIPT = Path(dq.__file__)
CSV_WITH_HEADER = json.dumps({"csv": {"header": True, "output_columns_position": "START"}})


@pytest.fixture
def layout(tmp_path, write_csv, make_frame):
    """A job root laid out like /opt/ml: training data, inference data with problems, a drifted batch."""
    write_csv("processing/input/train/part-0.csv", make_frame(1500, seed=1))
    write_csv("processing/input/train/part-1.csv", make_frame(1500, seed=2))
    write_csv("processing/input/clean/batch.csv", make_frame(1000, seed=3))
    drifted = make_frame(1000, seed=4, shift=1.0, category_shares=(0.2, 0.3, 0.5))
    drifted.loc[drifted.index[:10], "colour"] = "purple"
    write_csv("processing/input/drifted/batch.csv", drifted)
    return tmp_path


def baseline_env(source: str, output: str) -> dict[str, str]:
    return {"dataset_source": source, "output_path": output, "dataset_format": CSV_WITH_HEADER,
            "publish_cloudwatch_metrics": "Disabled"}


def test_baseline_mode_writes_statistics_and_constraints(layout):
    summary = dq.run_analyzer(baseline_env(str(layout / "processing/input/train"), str(layout / "out")))
    assert summary["mode"] == "baseline"
    assert summary["item_count"] == 3000 and summary["features"] == 4 and summary["violations"] == 0
    assert len(summary["files"]) == 2
    assert sorted(p.name for p in (layout / "out").iterdir()) == ["constraints.json", "statistics.json"]
    statistics = json.loads((layout / "out/statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == 3000


def test_check_mode_with_container_paths_under_a_local_base_dir(layout):
    dq.run_analyzer(baseline_env("/opt/ml/processing/input/train", "/opt/ml/processing/baseline"),
                    base_dir=str(layout))
    env = baseline_env("/opt/ml/processing/input/drifted", "/opt/ml/processing/output")
    env.update(baseline_statistics="/opt/ml/processing/baseline/statistics.json",
               baseline_constraints="/opt/ml/processing/baseline/constraints.json",
               categorical_drift_method="ChiSquared")
    summary = dq.run_analyzer(env, base_dir=str(layout))
    assert summary["mode"] == "check"
    assert summary["violation_counts"] == {"baseline_drift_check": 4, "categorical_values_check": 1}
    output = layout / "processing/output"
    assert sorted(p.name for p in output.iterdir()) == ["constraint_violations.json", "constraints.json",
                                                        "statistics.json"]
    violations = json.loads((output / "constraint_violations.json").read_text())["violations"]
    colour = next(v for v in violations if v["feature_name"] == "colour" and
                  v["constraint_check_type"] == "baseline_drift_check")
    assert "ChiSquared" in colour["description"]
    # the calculated baseline of the checked data is a baseline of its own
    assert json.loads((output / "constraints.json").read_text())["features"][0]["name"] == "colour"


def test_post_analytics_script_runs_after_the_reports(layout, tmp_path):
    script = tmp_path / "post.py"
    marker = tmp_path / "post-ran.txt"
    output = layout / "out"
    script.write_text(
        "import os\n"
        "def postprocess_handler():\n"
        f"    names = sorted(os.listdir({str(output)!r}))\n"
        f"    open({str(marker)!r}, 'w').write(','.join(names))\n")
    env = baseline_env(str(layout / "processing/input/train"), str(output))
    env["post_analytics_processor_script"] = str(script)
    dq.run_analyzer(env)
    assert marker.read_text() == "constraints.json,statistics.json"


@pytest.mark.parametrize("change, pattern", [
    ({"dataset_format": json.dumps({"parquet": {}})}, "only CSV datasets are supported"),
    ({"dataset_format": "{csv"}, "dataset_format: not valid JSON"),
    ({"dataset_format": json.dumps({"csv": {"header": "yes"}})}, "dataset_format.csv.header"),
    ({"dataset_source": ""}, "dataset_source: not set"),
    ({"categorical_drift_method": "Euclid"}, "categorical_drift_method: expected one of ChiSquared, LInfinity"),
    ({"publish_cloudwatch_metrics": "On"}, "publish_cloudwatch_metrics"),
    ({"baseline_statistics": "/nowhere/statistics.json"}, "baseline_statistics is set but baseline_constraints"),
    ({"baseline_constraints": "/nowhere/constraints.json"}, r"baseline_constraints: cannot read /nowhere"),
    ({"comparison_threshold": "lots"}, "comparison_threshold"),
    ({"comparison_method": "Median"}, "comparison_method: expected one of Robust, Simple"),
])
def test_bad_environment_is_a_clear_error(layout, change, pattern):
    env = baseline_env(str(layout / "processing/input/train"), str(layout / "out"))
    env.update(change)
    with pytest.raises(dq.DataQualityError, match=pattern):
        dq.run_analyzer(env)


def test_failing_post_analytics_script_is_reported(layout, tmp_path):
    script = tmp_path / "post.py"
    script.write_text("def postprocess_handler():\n    raise RuntimeError('no dashboard today')\n")
    env = baseline_env(str(layout / "processing/input/train"), str(layout / "out"))
    env["post_analytics_processor_script"] = str(script)
    with pytest.raises(dq.DataQualityError, match="postprocess_handler.*failed: RuntimeError: no dashboard today"):
        dq.run_analyzer(env)


def test_invalid_baseline_json_names_the_file(layout, tmp_path):
    broken = tmp_path / "constraints.json"
    broken.write_text("{not json")
    env = baseline_env(str(layout / "processing/input/clean"), str(layout / "out"))
    env["baseline_constraints"] = str(broken)
    with pytest.raises(dq.DataQualityError, match=f"baseline_constraints: {broken} is not valid JSON"):
        dq.run_analyzer(env)


# ------------------------------------------------------------------------------------------ main() as a script


def run_script(base_dir: Path, **environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in dq.ENVIRONMENT_KEYS}
    env.update(SAGEMAKER_BASE_DIR=str(base_dir), **environment)
    return subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def baseline_files(layout):
    """A baseline written in-process (the script itself is exercised by the tests below)."""
    dq.run_analyzer(baseline_env("/opt/ml/processing/input/train", "/opt/ml/processing/baseline"),
                    base_dir=str(layout))
    return {"baseline_statistics": "/opt/ml/processing/baseline/statistics.json",
            "baseline_constraints": "/opt/ml/processing/baseline/constraints.json"}


def test_script_fails_on_violations_with_a_message(layout, baseline_files):
    result = run_script(layout, dataset_source="/opt/ml/processing/input/drifted",
                        output_path="/opt/ml/processing/output", dataset_format=CSV_WITH_HEADER,
                        fail_on_violation="true", **baseline_files)
    assert result.returncode == dq.EXIT_VIOLATIONS, result.stderr
    message = (layout / "output/message").read_text()
    assert message.startswith("Data quality check found 5 constraint violation(s) in 1000 rows of 4 features: ")
    assert "baseline_drift_check on 'length'" in message
    assert "\n" not in message  # one paragraph
    assert (layout / "processing/output/constraint_violations.json").exists()


def test_script_reports_but_succeeds_without_fail_on_violation(layout, baseline_files):
    result = run_script(layout, dataset_source="/opt/ml/processing/input/drifted",
                        output_path="/opt/ml/processing/output", dataset_format=CSV_WITH_HEADER,
                        fail_on_violation="false", **baseline_files)
    assert result.returncode == 0, result.stderr
    assert not (layout / "output/message").exists()
    assert json.loads(result.stdout[: result.stdout.index("\nviolation:") + 1])["violations"] == 5
    report = json.loads((layout / "processing/output/constraint_violations.json").read_text())
    assert len(report["violations"]) == 5


def test_script_passes_a_clean_batch(layout, baseline_files):
    result = run_script(layout, dataset_source="/opt/ml/processing/input/clean",
                        output_path="/opt/ml/processing/output", dataset_format=CSV_WITH_HEADER, **baseline_files)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["violations"] == 0
    assert not (layout / "output/message").exists()


def test_script_flags_override_the_environment(layout, baseline_files, tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in dq.ENVIRONMENT_KEYS}
    env["SAGEMAKER_BASE_DIR"] = str(layout)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset-source", str(layout / "processing/input/drifted"),
         "--output-path", str(tmp_path / "flags"), "--fail-on-violation", "false", "--chunk-rows", "100",
         "--baseline-statistics", baseline_files["baseline_statistics"],
         "--baseline-constraints", baseline_files["baseline_constraints"]],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "flags/constraint_violations.json").exists()


@pytest.mark.parametrize("source, pattern", [
    ("/opt/ml/processing/input/absent", "does not exist"),
    ("/opt/ml/processing/input/empty", "no CSV file found"),
])
def test_script_bad_input_exits_non_zero_with_a_message(layout, source, pattern):
    (layout / "processing/input/empty").mkdir(parents=True)
    result = run_script(layout, dataset_source=source, output_path="/opt/ml/processing/output")
    assert result.returncode == dq.EXIT_ERROR
    message = (layout / "output/message").read_text()
    assert message.startswith("Data quality analysis failed: dataset: ")
    assert pattern in message
    assert "Traceback" not in result.stderr


def test_script_rejects_a_bad_fail_on_violation_value(layout):
    result = run_script(layout, dataset_source="/opt/ml/processing/input/train",
                        output_path="/opt/ml/processing/output", fail_on_violation="maybe")
    assert result.returncode == dq.EXIT_ERROR
    assert "fail_on_violation: expected true or false" in (layout / "output/message").read_text()


def test_unwritable_output_path_is_a_clear_error(layout, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = baseline_env(str(layout / "processing/input/train"), str(blocker / "out"))
    with pytest.raises(dq.DataQualityError, match="output_path: cannot write .*statistics.json"):
        dq.run_analyzer(env)


def test_same_bytes_across_processes_and_hash_seeds(layout, write_csv, make_frame):
    frame = make_frame(dq.TRACKED_DISTINCT_LIMIT + 2000, seed=8)
    frame["user"] = [f"user-{i}" for i in range(len(frame))]  # past the tracking limit: HyperLogLog estimate
    write_csv("processing/input/wide/data.csv", frame)
    outputs = []
    for seed in ("1", "2"):
        result = run_script(layout, dataset_source="/opt/ml/processing/input/wide",
                            output_path=f"/opt/ml/processing/output-{seed}", dataset_format=CSV_WITH_HEADER,
                            PYTHONHASHSEED=seed)
        assert result.returncode == 0, result.stderr
        written = layout / "processing" / f"output-{seed}"
        outputs.append({name: (written / name).read_bytes() for name in ("statistics.json", "constraints.json")})
    assert outputs[0] == outputs[1]
    user = json.loads(outputs[0]["statistics.json"])["features"][-1]["string_statistics"]
    assert user["distinct_count"] == pytest.approx(len(frame), rel=0.05)
