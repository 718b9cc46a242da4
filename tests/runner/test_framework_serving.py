"""Batch transform of framework models in script mode (batchops_local.runner.framework_serving): the model's user
module (SAGEMAKER_PROGRAM from SAGEMAKER_SUBMIT_DIRECTORY) serves the records with its handlers, the image's
defaults standing in for the ones it lacks, in the image's runtime; records, mini-batches, filters, joins and
assembly as for the built-in algorithm; a handler's exception fails the job as SageMaker reports it."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
from runner_support import ROLE, SKLEARN_IMAGE, XGBOOST_IMAGE
from test_models import _trained_model
from test_script_mode_training import _source_archive

from batchops_local.runner import read_step_log, read_step_record, runtimes
from batchops_local.runner.transform_records import (
    ColumnFilter,
    TransformError,
    TransformSettings,
    filtered_record,
    joined_record,
    mini_batches,
)

COEFFICIENTS, INTERCEPT = np.array([2.0, 3.0, -1.0]), 1.0

# A LinearRegression fitted on an exact linear function, so its predictions are known: written by the image's own
# scikit-learn (1.2.1 in sagemaker-scikit-learn:1.2-1), as a training job there would.
_FIT_IN_IMAGE = """
import sys, joblib, numpy as np
from sklearn.linear_model import LinearRegression
x = np.random.default_rng(0).uniform(0, 1, size=(50, 3))
model = LinearRegression().fit(x, x @ np.array([2.0, 3.0, -1.0]) + 1.0)
joblib.dump(model, sys.argv[1])
"""

ONLY_MODEL_FN = """
import os, joblib

def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))
"""

ALL_HANDLERS = """
import json, os, joblib, numpy as np

def model_fn(model_dir):
    return {"model": joblib.load(os.path.join(model_dir, "model.joblib")), "loaded_from": model_dir}

def input_fn(body, content_type):
    assert content_type == "application/json", content_type
    return np.array([json.loads(line)["features"] for line in body.splitlines()])

def predict_fn(data, model):
    return {"scores": model["model"].predict(data), "batch": len(data)}

def output_fn(prediction, accept):
    lines = [json.dumps({"score": round(float(s), 6), "batch": prediction["batch"]}) for s in prediction["scores"]]
    return "\\n".join(lines), "application/jsonlines"
"""

RAISES = ONLY_MODEL_FN + """
def predict_fn(data, model):
    raise ValueError("feature vector of %d values, the model expects 3" % data.shape[1])
"""

# The default input_fn squeezes what it decodes (sagemaker-containers csv_to_numpy), so one CSV record arrives as a
# 1-D array: the handler makes it a row again, as a script served with SingleRecord must.
COUNTS_BATCH = ONLY_MODEL_FN + """
import numpy as np

def predict_fn(data, model):
    rows = np.atleast_2d(data)
    return [len(rows)] * len(rows)
"""


@pytest.fixture(scope="module")
def sklearn_model_archive() -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.joblib"
        subprocess.run([runtimes.interpreter_for(SKLEARN_IMAGE, what="test model"), "-c", _FIT_IN_IMAGE, str(path)],
                       check=True)
        return _archive({"model.joblib": path.read_bytes()})


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _features(rows: int, seed: int) -> np.ndarray:
    return np.round(np.random.default_rng(seed).uniform(0, 1, size=(rows, 3)), 6)


def _expected(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32).astype(np.float64) @ COEFFICIENTS + INTERCEPT


def _model_step(aws, model_archive: bytes, handler: str, *, image=SKLEARN_IMAGE, name="m") -> dict:
    model_url = aws.put(f"framework/{name}/model.tar.gz", model_archive)
    source = aws.put(f"framework/{name}/sourcedir.tar.gz", _source_archive({"inference.py": handler}))
    return {"Name": "CreateModel", "Type": "Model", "Arguments": {
        "ExecutionRoleArn": ROLE, "PrimaryContainer": {
            "Image": image, "ModelDataUrl": model_url,
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": source,
                            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": "us-east-1"}}}}


def _transform_step(aws, input_uri: str, output: str, *, content_type="text/csv", accept="text/csv",
                    split="Line", strategy="MultiRecord", processing=None, max_payload=None,
                    assemble="Line") -> dict:
    arguments = {
        "ModelName": {"Get": "Steps.CreateModel.ModelName"}, "BatchStrategy": strategy,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
                           "ContentType": content_type, "SplitType": split},
        "TransformOutput": {"S3OutputPath": aws.uri(output), "AssembleWith": assemble},
        "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"}}
    if accept:
        arguments["TransformOutput"]["Accept"] = accept
    if processing:
        arguments["DataProcessing"] = processing
    if max_payload is not None:
        arguments["MaxPayloadInMB"] = max_payload
    return {"Name": "Score", "Type": "Transform", "Arguments": arguments}


def _csv_with_ids(x: np.ndarray, tag: str) -> str:
    return "".join(f"{tag}-{i},{row[0]:.6f},{row[1]:.6f},{row[2]:.6f}\n" for i, row in enumerate(x))


def test_a_model_with_only_model_fn_serves_csv_with_the_default_handlers_and_joins_the_input(
        runner, aws, sklearn_model_archive):
    x = _features(40, 1)
    text = _csv_with_ids(x, "a")
    aws.put("only-model-fn/in/part.csv", text)
    step = _transform_step(aws, aws.uri("only-model-fn/in/"), "only-model-fn/out",
                           processing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"})
    sink, request = runner.run([_model_step(aws, sklearn_model_archive, ONLY_MODEL_FN), step])
    assert sink.final == ("Succeeded", None), read_step_log(runner.home, request.execution_id, "Score")
    lines = aws.get("only-model-fn/out/part.csv.out").splitlines()
    assert [line.split(",")[0] for line in lines] == [f"a-{i}" for i in range(40)]
    # Default input_fn: CSV decoded and cast to float32; default output_fn: one CSV row per prediction.
    np.testing.assert_allclose([float(line.split(",")[1]) for line in lines], _expected(x), rtol=1e-5)


def test_all_four_handlers_serve_json_lines(runner, aws, sklearn_model_archive):
    x = _features(25, 2)
    body = "".join(json.dumps({"features": row.tolist()}) + "\n" for row in x)
    aws.put("all-handlers/in/records.jsonl", body)
    step = _transform_step(aws, aws.uri("all-handlers/in/"), "all-handlers/out", content_type="application/json",
                           accept="application/json")
    sink, request = runner.run([_model_step(aws, sklearn_model_archive, ALL_HANDLERS), step])
    assert sink.final == ("Succeeded", None), read_step_log(runner.home, request.execution_id, "Score")
    outputs = [json.loads(line) for line in aws.get("all-handlers/out/records.jsonl.out").splitlines()]
    assert [item["batch"] for item in outputs] == [25] * 25  # MultiRecord: the whole object in one request
    np.testing.assert_allclose([item["score"] for item in outputs], _expected(x), atol=1e-5)


def test_default_handlers_decode_a_whole_json_object_and_encode_json(runner, aws, sklearn_model_archive):
    x = _features(5, 3)
    aws.put("json-default/in/batch.json", json.dumps(x.tolist()))
    step = _transform_step(aws, aws.uri("json-default/in/"), "json-default/out", content_type="application/json",
                           accept="application/json", split="None")
    sink, request = runner.run([_model_step(aws, sklearn_model_archive, ONLY_MODEL_FN), step])
    assert sink.final == ("Succeeded", None), read_step_log(runner.home, request.execution_id, "Score")
    output = aws.get("json-default/out/batch.json.out")
    assert output.endswith("\n")  # AssembleWith Line
    np.testing.assert_allclose(json.loads(output), _expected(x), rtol=1e-5)


def test_npy_in_and_out_with_the_default_accept_of_the_model_environment(runner, aws, sklearn_model_archive):
    x = _features(8, 9)
    buffer = io.BytesIO()
    np.save(buffer, x)
    aws.put("npy/in/batch.npy", buffer.getvalue())
    create = _model_step(aws, sklearn_model_archive, ONLY_MODEL_FN, name="npy")
    create["Arguments"]["PrimaryContainer"]["Environment"]["SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"] = \
        "application/x-npy"
    step = _transform_step(aws, aws.uri("npy/in/"), "npy/out", content_type="application/x-npy", accept=None,
                           split="None", assemble="None")
    sink, request = runner.run([create, step])
    assert sink.final == ("Succeeded", None), read_step_log(runner.home, request.execution_id, "Score")
    body = aws.s3.get_object(Bucket=aws.bucket, Key="npy/out/batch.npy.out")["Body"].read()
    np.testing.assert_allclose(np.load(io.BytesIO(body)), x @ COEFFICIENTS + INTERCEPT, rtol=1e-9)


@pytest.mark.parametrize("strategy, batch", [("SingleRecord", 1), ("MultiRecord", 12)])
def test_single_record_sends_one_record_per_request_multi_record_fills_the_payload(
        runner, aws, sklearn_model_archive, strategy, batch):
    aws.put(f"strategy-{strategy}/in/part.csv", _csv_with_ids(_features(12, 4), "s"))
    step = _transform_step(aws, aws.uri(f"strategy-{strategy}/in/"), f"strategy-{strategy}/out", strategy=strategy,
                           processing={"InputFilter": "$[1:]"}, max_payload=1)
    sink, request = runner.run([_model_step(aws, sklearn_model_archive, COUNTS_BATCH, name=strategy), step])
    assert sink.final == ("Succeeded", None), read_step_log(runner.home, request.execution_id, "Score")
    assert aws.get(f"strategy-{strategy}/out/part.csv.out").splitlines() == [str(batch)] * 12


def test_a_handler_that_raises_fails_the_job_with_the_tail_of_its_error(runner, aws, sklearn_model_archive):
    aws.put("raises/in/part.csv", "7,0.1,0.2,0.3\n8,0.4,0.5,0.6\n")
    step = _transform_step(aws, aws.uri("raises/in/"), "raises/out")  # no InputFilter: 4 columns reach the model
    sink, request = runner.run([_model_step(aws, sklearn_model_archive, RAISES, name="raises"), step])
    assert sink.final[0] == "Failed"
    reason = read_step_record(runner.home, request.execution_id, "Score")["FailureReason"]
    assert reason.startswith("AlgorithmError: 1 of 1 input object(s) failed: s3://"), reason
    assert "Bad HTTP status received from algorithm: 500" in reason
    assert reason.rstrip().endswith("ValueError: feature vector of 4 values, the model expects 3"), reason
    assert len(reason) <= 1024
    assert aws.keys("raises/out") == []  # no output for a failed object
    assert "Traceback (most recent call last)" in read_step_log(runner.home, request.execution_id, "Score")


def test_a_module_that_does_not_import_fails_naming_the_module(runner, aws, sklearn_model_archive):
    aws.put("no-import/in/part.csv", "1,2,3\n")
    step = _transform_step(aws, aws.uri("no-import/in/"), "no-import/out")
    broken = "import a_package_the_image_does_not_have\n"
    sink, request = runner.run([_model_step(aws, sklearn_model_archive, broken, name="no-import"), step])
    assert sink.final[0] == "Failed"
    reason = read_step_record(runner.home, request.execution_id, "Score")["FailureReason"]
    assert reason.startswith("AlgorithmError:") and "'inference.py'" in reason, reason
    assert "ModuleNotFoundError: No module named 'a_package_the_image_does_not_have'" in reason


def test_a_repacked_model_serves_its_code_from_inside_the_model_directory(runner, aws, sklearn_model_archive):
    """The SDK repacks the code into model.tar.gz (code/ next to the model) for pipeline model steps and network
    isolation, and points SAGEMAKER_SUBMIT_DIRECTORY at /opt/ml/model/code."""
    with tarfile.open(fileobj=io.BytesIO(sklearn_model_archive), mode="r:gz") as tar:
        model_file = tar.extractfile("model.joblib").read()
    repacked = _archive({"model.joblib": model_file, "code/inference.py": ONLY_MODEL_FN.encode()})
    create = _model_step(aws, repacked, ONLY_MODEL_FN, name="repacked")
    create["Arguments"]["PrimaryContainer"]["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] = "/opt/ml/model/code"
    x = _features(6, 7)
    aws.put("repacked/in/part.csv", "".join(f"{r[0]:.6f},{r[1]:.6f},{r[2]:.6f}\n" for r in x))
    sink, request = runner.run([create, _transform_step(aws, aws.uri("repacked/in/"), "repacked/out")])
    assert sink.final == ("Succeeded", None), read_step_log(runner.home, request.execution_id, "Score")
    scored = [float(line) for line in aws.get("repacked/out/part.csv.out").splitlines()]
    np.testing.assert_allclose(scored, _expected(x), rtol=1e-5)


XGBOOST_MODEL_FN = """
import os, xgboost as xgb

def model_fn(model_dir):
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, "xgboost-model"))
    return booster
"""


def test_an_xgboost_framework_model_serves_with_its_default_csv_decoder(runner, aws):
    model_url, booster = _trained_model(aws, key="framework/xgb-trained/model.tar.gz")
    x = _features(30, 6)
    aws.put("xgb-framework/in/part.csv", "".join(f"{r[0]:.6f},{r[1]:.6f},{r[2]:.6f}\n" for r in x))
    create = _model_step(aws, b"", XGBOOST_MODEL_FN, image=XGBOOST_IMAGE, name="xgb")
    create["Arguments"]["PrimaryContainer"]["ModelDataUrl"] = model_url
    step = _transform_step(aws, aws.uri("xgb-framework/in/"), "xgb-framework/out")
    sink, request = runner.run([create, step])
    assert sink.final == ("Succeeded", None), read_step_log(runner.home, request.execution_id, "Score")
    scored = [float(line) for line in aws.get("xgb-framework/out/part.csv.out").splitlines()]
    np.testing.assert_allclose(scored, booster.inplace_predict(x), rtol=1e-5)


def test_filters_on_json_records_are_refused_before_anything_runs(runner, aws, sklearn_model_archive):
    aws.put("json-filter/in/a.jsonl", '{"features": [1, 2, 3]}\n')
    step = _transform_step(aws, aws.uri("json-filter/in/"), "json-filter/out", content_type="application/json",
                           accept="application/json", processing={"InputFilter": "$[1:]"})
    sink, _ = runner.run([_model_step(aws, sklearn_model_archive, ONLY_MODEL_FN, name="json-filter"), step])
    assert sink.final[0] == "Failed"
    assert "CSV records only" in sink.last("Score")["reason"]


# ------------------------------------------------------------------ record plumbing (pure)


def test_mini_batches_pack_records_up_to_the_payload_limit():
    records = [b"x" * 400, b"y" * 400, b"z" * 400]
    assert list(mini_batches(records, single_record=False, max_payload_bytes=1000)) == [[0, 1], [2]]
    assert list(mini_batches(records, single_record=True, max_payload_bytes=1000)) == [[0], [1], [2]]
    assert list(mini_batches(records, single_record=False, max_payload_bytes=0)) == [[0, 1, 2]]
    with pytest.raises(TransformError, match="record 2 has 400 bytes, more than MaxPayloadInMB"):
        list(mini_batches([b"a", b"y" * 400], single_record=False, max_payload_bytes=100))


def test_filters_and_joins_of_single_csv_records():
    assert filtered_record('id-1,"a, quoted",3', ColumnFilter.parse("$[1:]"), number=1) == '"a, quoted",3'
    join = TransformSettings(join_input=True, output_filter=ColumnFilter.parse("$[0,-1]"))
    assert joined_record("id-1,2,3", "0.5", join, number=1) == "id-1,0.5"
    assert joined_record("id-1,2,3", "0.5", TransformSettings(join_input=True), number=1) == "id-1,2,3,0.5"
    with pytest.raises(TransformError, match="selects column 7"):
        filtered_record("1,2", ColumnFilter.parse("$[7]"), number=1)
