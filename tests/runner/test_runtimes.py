"""Container-faithful runtimes: the table, interpreter discovery, the CI rule, one build per machine, and the
runner running processing scripts, the built-in algorithm and batch-transform serving in the image's runtime."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import typing
from pathlib import Path

import numpy as np
import pytest
from runner_support import SKLEARN_IMAGE, XGBOOST_IMAGE, host_booster, regression_csv, training_arguments

from batchops_core.settings import XGBoost as XGBoostSettings
from batchops_local.runner import runtimes
from batchops_local.runner.errors import StepFailed
from pipelines.common.context import SKLEARN_FRAMEWORK_VERSION

ROOT = Path(__file__).resolve().parents[2]
REAL_PYTHON_39 = runtimes.find_interpreter("3.9")  # found before any test hides this machine's interpreters


def test_every_image_version_the_stack_can_name_has_a_sourced_row():
    versions = typing.get_args(XGBoostSettings.model_fields["framework_version"].annotation)
    wanted = {(runtimes.XGBOOST_IMAGE, v) for v in versions} | {(runtimes.SKLEARN_IMAGE, SKLEARN_FRAMEWORK_VERSION)}
    assert wanted <= set(runtimes.RUNTIMES)
    for spec in runtimes.RUNTIMES.values():
        assert spec.source.startswith(("aws/sagemaker-scikit-learn-container branch ",
                                       "aws/sagemaker-xgboost-container branch ")), spec
        assert "requirements.txt" in spec.source and "Dockerfile" in spec.source
        assert all("==" in pin or ">=" in pin for pin in spec.pins)
    assert runtimes.RUNTIMES[(runtimes.SKLEARN_IMAGE, "1.2-1")].python == "3.9"
    assert {"pandas==1.1.3", "numpy==1.24.1"} <= set(runtimes.RUNTIMES[(runtimes.SKLEARN_IMAGE, "1.2-1")].pins)
    assert {"xgboost==1.7.4", "pandas==1.2.4"} <= set(runtimes.RUNTIMES[(runtimes.XGBOOST_IMAGE, "1.7-1")].pins)


def test_image_tags_map_to_rows_and_unknown_images_are_named():
    assert runtimes.spec_for(SKLEARN_IMAGE, what="t").version == "1.2-1"  # tag 1.2-1-cpu-py3
    assert runtimes.spec_for(XGBOOST_IMAGE, what="t").version == "1.7-1"
    assert runtimes.spec_for("x/sagemaker-xgboost:3.0-5@sha256:ab", what="t").python == "3.10"
    assert runtimes.spec_for("x/sagemaker-scikit-learn:1.4-2-py312-cpu-py3", what="t").python == "3.12"
    assert runtimes.spec_for("x/sagemaker-scikit-learn:1.4-2-cpu-py3", what="t").python == "3.10"
    with pytest.raises(StepFailed, match=r"step 'P': image 'x/sagemaker-xgboost:1.5-1' has no runtime"):
        runtimes.spec_for("x/sagemaker-xgboost:1.5-1", what="step 'P'")
    assert runtimes.RUNTIMES[(runtimes.XGBOOST_IMAGE, "1.7-1")].key != runtimes.with_packages(
        runtimes.RUNTIMES[(runtimes.XGBOOST_IMAGE, "1.7-1")], ("pytest==8.3.5",)).key


@pytest.fixture
def no_interpreters(monkeypatch, tmp_path):
    """A machine without any Python 3.9: empty PATH for pythons, empty pyenv root, no variable."""
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("BATCHOPS_PYTHON_3_9", raising=False)
    monkeypatch.setenv("BATCHOPS_RUNTIME_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(runtimes, "_warned", set())
    return tmp_path


def test_missing_interpreter_fails_under_ci(no_interpreters, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(runtimes.RuntimeUnavailable, match=r"CI requires the faithful runtime: Python 3.9 is not"):
        runtimes.interpreter_for(SKLEARN_IMAGE, what="t")


def test_missing_interpreter_warns_once_and_falls_back_to_the_host(no_interpreters, monkeypatch, capsys):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BATCHOPS_REQUIRE_RUNTIMES", raising=False)
    assert runtimes.interpreter_for(SKLEARN_IMAGE, what="t") == sys.executable
    assert runtimes.interpreter_for(SKLEARN_IMAGE, what="t") == sys.executable
    warning = capsys.readouterr().err
    assert warning.count("WARNING: Python 3.9 is not installed") == 1
    assert "aws/sagemaker-scikit-learn-container branch 1.2-1" in warning


def test_interpreter_from_a_pyenv_root_or_a_variable(no_interpreters, monkeypatch):
    python39 = REAL_PYTHON_39
    assert python39, "Python 3.9 is needed on this machine (pyenv install 3.9)"
    assert runtimes.find_interpreter("3.9") is None
    fake = no_interpreters / "pyenv" / "versions" / "3.9.4" / "bin"
    fake.mkdir(parents=True)
    (fake / "python3.9").symlink_to(python39)
    assert runtimes.find_interpreter("3.9") == str(fake / "python3.9")
    monkeypatch.setenv("BATCHOPS_PYTHON_3_9", sys.executable)  # not a 3.9
    with pytest.raises(runtimes.RuntimeUnavailable, match="BATCHOPS_PYTHON_3_9=.* is not a Python 3.9"):
        runtimes.find_interpreter("3.9")


def test_concurrent_first_use_builds_once(tmp_path):
    """Two processes asking for the same new runtime: one builds (under the file lock), the other reuses it."""
    spec = {"image": "sagemaker-scikit-learn", "version": "test", "python": "3.9", "pins": [], "source": "test"}
    code = ("import json, sys; from batchops_local.runner import runtimes as r; "
            f"s = r.RuntimeSpec(**{spec!r}); s = r.replace(s, pins=()); print(r.ensure_runtime(s))")
    env = {**os.environ, "BATCHOPS_RUNTIME_CACHE": str(tmp_path)}
    processes = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert sum(err.count("==> building runtime") for _, err in outputs) == 1
    assert len({out.strip() for out, _ in outputs}) == 1
    stamp = json.loads((Path(outputs[0][0].strip()).parents[1] / ".batchops-runtime.json").read_text())
    assert stamp["python"] == "3.9"


# ------------------------------------------------------------------------------------------- in the runner


def test_processing_scripts_run_in_the_image_runtime(runner, aws):
    from runner_support import processing_step

    script = ("import json, os, sys, pandas, numpy\n"
              "out = os.environ.get('SAGEMAKER_BASE_DIR', '/opt/ml') + '/processing/output/versions.json'\n"
              "open(out, 'w').write(json.dumps(['%d.%d' % sys.version_info[:2], pandas.__version__,"
              " numpy.__version__]))\n")
    code = aws.put("code/versions.py", script)
    step = processing_step("Versions", code, outputs=[("out", aws.uri("out"), "/opt/ml/processing/output")])
    sink, _ = runner.run([step])
    assert sink.final == ("Succeeded", None), sink.steps[-1]
    assert json.loads(aws.get("out/versions.json")) == ["3.9", "1.1.3", "1.24.1"]


def test_a_model_trained_by_the_image_is_served_by_the_image(runner, aws):
    """Training and transform both run xgboost 1.7.4 (the 1.7-1 image), so predictions match a booster the
    host loads from the same artefact; the serving process's Python is the runtime's."""
    train, _ = regression_csv(300, seed=5)
    train_uri = aws.put("train/train.csv", train)
    training = {"Name": "Train", "Type": "Training", "Arguments": {
        **training_arguments(train_uri, None, aws.uri("models")),
        "HyperParameters": {"num_round": "10", "objective": "reg:squarederror", "max_depth": "3"}}}
    model = {"Name": "CreateModel", "Type": "Model", "Arguments": {
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r", "PrimaryContainer": {
            "Image": XGBOOST_IMAGE, "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}}}
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 1, size=(40, 3))
    aws.put("batch/a.csv", "\n".join(",".join(f"{v:.6f}" for v in row) for row in x) + "\n")
    transform = {"Name": "Score", "Type": "Transform", "Arguments": {
        "ModelName": {"Get": "Steps.CreateModel.ModelName"},
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": aws.uri("batch/")}},
                           "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": aws.uri("scored"), "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"}}}
    sink, _ = runner.run([training, model, transform])
    assert sink.final == ("Succeeded", None), sink.steps[-1]
    archive = aws.s3.get_object(Bucket=aws.bucket, Key=aws.keys("models")[0])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        raw = tar.extractfile("xgboost-model").read()
    expected = host_booster(raw).inplace_predict(x.round(6).astype(np.float32))
    predictions = np.array([float(v) for v in aws.get("scored/a.csv.out").split()])
    np.testing.assert_allclose(predictions, expected, rtol=1e-6)
    python = str(runtimes.cache_root() / runtimes.RUNTIMES[(runtimes.XGBOOST_IMAGE, "1.7-1")].key)
    logs = "".join(path.read_text() for path in runner.home.rglob("*.log"))
    assert f"$ {python}/bin/python " in logs and "xgboost_algorithm.py train" in logs
    assert "batch_transform.py" in logs


def test_the_prebuilt_runtimes_are_the_default_configuration_images():
    from batchops_core.settings import load_settings

    assert set(runtimes.DEFAULT_IMAGES) == {(runtimes.SKLEARN_IMAGE, SKLEARN_FRAMEWORK_VERSION),
                                           (runtimes.XGBOOST_IMAGE, load_settings("local").xgboost.framework_version)}


def test_every_script_framework_version_has_a_runtime_with_the_framework_installed():
    """The config offers script mode only where the runner can run it: the image's row pins the framework."""
    from batchops_core.settings import SCRIPT_FRAMEWORK_VERSIONS

    images = {"sklearn": (runtimes.SKLEARN_IMAGE, "scikit-learn=="), "xgboost": (runtimes.XGBOOST_IMAGE, "xgboost==")}
    for framework, versions in SCRIPT_FRAMEWORK_VERSIONS.items():
        image, package = images[framework]
        for version in versions:
            spec = runtimes.RUNTIMES[(image, version)]
            assert any(pin.startswith(package) for pin in spec.pins), (framework, version, spec.pins)
