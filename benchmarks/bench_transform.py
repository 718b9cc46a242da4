"""Local batch transform throughput against a minimal pandas + xgboost script on the same file and model.

    .venv/bin/python benchmarks/bench_transform.py [--rows 1000000] [--repeat 3] [--with-step]

Both sides parse the same CSV (record key + numeric features), predict with the same Booster and write
`record key, prediction` lines (the inference pipeline's `InputFilter $[1:]`, `JoinSource Input`,
`OutputFilter $[0,-1]`). The runner side is `batch_transform.transform_csv_file`, what the Transform step runs
per S3 object; `--with-step` also times the whole Transform step through a moto server (S3 download, model
load, upload included). Prints rows/s and the ratio runner / pandas (target >= 0.8).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from batchops_local.runner.batch_transform import ColumnFilter, TransformSettings, transform_csv_file

FEATURES = 8


def write_input(path: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 1, size=(rows, FEATURES)).round(5)
    frame = pd.DataFrame(features)
    frame.insert(0, "id", [f"rec-{i}" for i in range(rows)])
    frame.to_csv(path, header=False, index=False)


def train_model(seed: int = 3) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, size=(20000, FEATURES))
    y = x @ rng.normal(0, 1, FEATURES) + rng.normal(0, 0.1, 20000)
    return xgb.train({"objective": "reg:squarederror", "max_depth": 5, "eta": 0.2}, xgb.DMatrix(x, label=y), 60)


def pandas_script(booster: xgb.Booster, source: Path, target: Path) -> None:
    """The minimal script a person would write for the same job."""
    frame = pd.read_csv(source, header=None)
    predictions = booster.inplace_predict(frame.iloc[:, 1:].to_numpy(dtype=np.float32))
    pd.DataFrame({"id": frame[0], "prediction": predictions}).to_csv(target, header=False, index=False)


def runner_engine(booster: xgb.Booster, source: Path, target: Path) -> None:
    settings = TransformSettings(input_filter=ColumnFilter.parse("$[1:]"), output_filter=ColumnFilter.parse("$[0,-1]"),
                                 join_input=True)
    transform_csv_file(booster, source, target, settings)


def timed_rounds(functions: dict[str, object], repeat: int) -> dict[str, list[float]]:
    """Wall times of each function over `repeat` rounds, run alternately so load changes hit both alike."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return times


def check_same_predictions(runner_out: Path, pandas_out: Path) -> float:
    ours = pd.read_csv(runner_out, header=None)
    theirs = pd.read_csv(pandas_out, header=None)
    if len(ours) != len(theirs) or not (ours[0] == theirs[0]).all():
        raise SystemExit("outputs differ in rows or record keys")
    return float(np.max(np.abs(ours[1].to_numpy() - theirs[1].to_numpy())))


def time_whole_step(booster: xgb.Booster, source: Path, work: Path) -> float:
    """The Transform step end to end through a moto server (S3 transfer and model load included)."""
    import io
    import logging
    import socket
    import tarfile
    import uuid

    import boto3
    from moto.server import ThreadedMotoServer

    from batchops_local.emulator.contracts import ExecutionRequest
    from batchops_local.runner import handle_execution

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request in the benchmark output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                        region_name="us-east-1")
        s3 = session.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench")
        raw = bytes(booster.save_raw("ubj"))
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            info = tarfile.TarInfo("xgboost-model")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        s3.put_object(Bucket="bench", Key="model/model.tar.gz", Body=archive.getvalue())
        s3.upload_file(str(source), "bench", "input/batch.csv")
        image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
        steps = [
            {"Name": "CreateModel", "Type": "Model", "Arguments": {
                "ExecutionRoleArn": "arn:aws:iam::123456789012:role/bench",
                "PrimaryContainer": {"Image": image, "ModelDataUrl": "s3://bench/model/model.tar.gz"}}},
            {"Name": "BatchTransform", "Type": "Transform", "Arguments": {
                "ModelName": {"Get": "Steps.CreateModel.ModelName"},
                "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                   "S3Uri": "s3://bench/input/"}},
                                   "ContentType": "text/csv", "SplitType": "Line"},
                "TransformOutput": {"S3OutputPath": "s3://bench/output", "Accept": "text/csv",
                                    "AssembleWith": "Line"},
                "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
                "DataProcessing": {"InputFilter": "$[1:]", "OutputFilter": "$[0,-1]", "JoinSource": "Input"}}},
        ]
        execution_id = uuid.uuid4().hex[:12]
        arn = f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/bench/execution/{execution_id}"
        request = ExecutionRequest("bench", arn.split("/execution/")[0], arn, execution_id,
                                   {"Version": "2020-12-01", "Parameters": [], "Steps": steps}, {}, "us-east-1",
                                   "123456789012", endpoint)
        times: dict[str, tuple] = {}

        class Sink:
            def step_status(self, execution_arn, step_name, step_type, status, **details):
                if status in ("Succeeded", "Failed"):
                    times[step_name] = (status, details.get("start_time"), details.get("end_time"),
                                        details.get("failure_reason"))

            def execution_status(self, execution_arn, status, failure_reason=None):
                pass

            def stop_requested(self, execution_arn):
                return False

        handle_execution(request, Sink(), home=work / "home")
        status, start, end, reason = times["BatchTransform"]
        if status != "Succeeded":
            raise SystemExit(f"the Transform step failed: {reason}")
        return (end - start).total_seconds()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--with-step", action="store_true", help="also time the whole Transform step via moto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-transform-") as directory:
        work = Path(directory)
        source = work / "batch.csv"
        started = time.perf_counter()
        write_input(source, args.rows)
        booster = train_model()
        print(f"input: {args.rows} rows, {source.stat().st_size / 1e6:.1f} MB, {FEATURES} features "
              f"(prepared in {time.perf_counter() - started:.1f} s); model: 60 trees, depth 5")
        runner_out, pandas_out = work / "runner.out", work / "pandas.out"
        times = timed_rounds({"runner": lambda: runner_engine(booster, source, runner_out),
                              "pandas": lambda: pandas_script(booster, source, pandas_out)}, args.repeat)
        difference = check_same_predictions(runner_out, pandas_out)
        for label, name in (("runner transform engine", "runner"), ("pandas + xgboost script", "pandas")):
            best, median = min(times[name]), statistics.median(times[name])
            print(f"{label} : best {best:6.2f} s ({args.rows / best:10,.0f} rows/s), "
                  f"median {median:6.2f} s ({args.rows / median:10,.0f} rows/s)")
        best_ratio = min(times["pandas"]) / min(times["runner"])
        median_ratio = statistics.median(times["pandas"]) / statistics.median(times["runner"])
        print(f"ratio runner / pandas (rows/s): best {best_ratio:.2f}, median {median_ratio:.2f}  (target >= 0.8)")
        print(f"max |prediction difference| : {difference:.2e}; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores")
        if args.with_step:
            step_seconds = time_whole_step(booster, source, work)
            print(f"whole Transform step (moto S3 in and out, model load): {step_seconds:6.2f} s  "
                  f"{args.rows / step_seconds:12,.0f} rows/s")


if __name__ == "__main__":
    main()
