#!/usr/bin/env python3
"""Lambda speed: cold import of each handler from its zip, and per-event handling time under moto.

    python benchmarks/bench_lambdas.py [--runs 15] [--events 60]

Cold import: a fresh interpreter per run (`-I -S`), with only the extracted zip and the Lambda runtime's
packages (boto3 & co.) on sys.path, like a Lambda container. The import itself is timed inside the process
(perf_counter around the import); the baseline is `import boto3` measured the same way. Target: a handler
imports in under 150 ms (it must not import boto3 at module level).

Per event: the handler called in-process against moto (mock_aws) with the stack's SNS topic, dedup table,
SSM parameter and model registry; every event has a new id, so each one is fully handled.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from batchops.lambda_package import build_lambda_zips, link_runtime_packages  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"
PIPELINE = "bench-inference"
GROUP = "bench-models"
POINTER = "/bench/local/active-model-package-arn"


def import_seconds(sys_path: list[str], statement: str) -> float:
    code = (
        f"import sys, time\nsys.path[:0] = {sys_path!r}\nstart = time.perf_counter()\n{statement}\n"
        "print(time.perf_counter() - start)"
    )
    env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": REGION}
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return float(completed.stdout.strip())


def cold_imports(runs: int) -> list[tuple[str, list[float]]]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        runtime = str(link_runtime_packages(root / "runtime"))
        rows = [("import boto3 (baseline)", [import_seconds([runtime], "import boto3") for _ in range(runs)])]
        for name, path in build_lambda_zips(root / "zips").items():
            task = root / name
            with zipfile.ZipFile(path) as archive:
                archive.extractall(task)
            timings = [import_seconds([str(task), runtime], "import handler") for _ in range(runs)]
            rows.append((f"import {name} handler", timings))
    return rows


def envelope(detail_type: str, detail: dict) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2026-11-21T06:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def pipeline_detail(**fields: str) -> dict:
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{PIPELINE}"
    return {"pipelineArn": arn, "pipelineExecutionArn": f"{arn}/execution/bench1", **fields}


def per_event(events: int) -> list[tuple[str, list[float]]]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        os.environ[key] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    from lambdas.approval_trigger.handler import handler as approval_handler
    from lambdas.notification.handler import handler as notification_handler
    from lambdas.shared import runtime

    rows = []
    with mock_aws():
        runtime.reset_clients()
        sns, dynamodb, ssm, sagemaker = (runtime.client(s) for s in ("sns", "dynamodb", "ssm", "sagemaker"))
        topic = sns.create_topic(Name="bench")["TopicArn"]
        dynamodb.create_table(
            TableName="bench-dedup",
            KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ssm.put_parameter(Name=POINTER, Value="none", Type="String")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        arns = [
            sagemaker.create_model_package(
                ModelPackageGroupName=GROUP,
                ModelApprovalStatus="Approved",
                InferenceSpecification={
                    "Containers": [{"Image": "i", "ModelDataUrl": "s3://b/m.tar.gz"}],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                },
            )["ModelPackageArn"]
            for _ in range(2)
        ]
        os.environ.update(
            PROJECT="bench",
            ENVIRONMENT="local",
            SNS_TOPIC_ARN=topic,
            DEDUP_TABLE="bench-dedup",
            NOTIFICATION_RULES=json.dumps(
                [
                    {
                        "pipeline": "*",
                        "step": "Train",
                        "status": "Succeeded",
                        "mute": False,
                        "subject": "{{ step }} done in {{ duration }}",
                        "body": "",
                    }
                ]
            ),
            MODEL_PACKAGE_GROUP=GROUP,
            ACTIVE_MODEL_PARAMETER=POINTER,
            INFERENCE_PIPELINE_NAME=PIPELINE,
        )
        step = "SageMaker Model Building Pipeline Execution Step Status Change"
        alternating = itertools.cycle(arns)  # every approval switches the pointer
        cases: list[tuple[str, Callable[[], dict]]] = [
            (
                "notification: execution Succeeded (sent)",
                lambda: notification_handler(
                    envelope(
                        "SageMaker Model Building Pipeline Execution Status Change",
                        pipeline_detail(
                            currentPipelineExecutionStatus="Succeeded",
                            executionStartTime="2026-11-21T06:00:00Z",
                            executionEndTime="2026-11-21T06:10:00Z",
                        ),
                    ),
                    None,
                ),
            ),
            (
                "notification: rule-selected step (sent)",
                lambda: notification_handler(
                    envelope(
                        step, pipeline_detail(stepName="Train", stepType="Training", currentStepStatus="Succeeded")
                    ),
                    None,
                ),
            ),
            (
                "notification: step Executing (skipped)",
                lambda: notification_handler(
                    envelope(
                        step, pipeline_detail(stepName="Train", stepType="Training", currentStepStatus="Executing")
                    ),
                    None,
                ),
            ),
            (
                "approval_trigger: Approved (pointer switch)",
                lambda: approval_handler(
                    envelope(
                        "SageMaker Model Package State Change",
                        {
                            "ModelPackageGroupName": GROUP,
                            "ModelApprovalStatus": "Approved",
                            "ModelPackageArn": next(alternating),
                        },
                    ),
                    None,
                ),
            ),
        ]
        for label, call in cases:
            timings: list[float] = []
            with contextlib.redirect_stdout(io.StringIO()):  # the handlers' JSON log lines
                call()  # warm-up: clients created, models loaded (a warm container)
                for _ in range(events):
                    start = time.perf_counter()
                    call()
                    timings.append(time.perf_counter() - start)
            rows.append((label, timings))
    return rows


def print_table(title: str, rows: list[tuple[str, list[float]]], baseline: float | None = None) -> None:
    print(f"\n{title}")
    header = f"{'what':<46} {'runs':>5} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}"
    print(header + (f" {'vs boto3':>9}" if baseline else ""))
    for label, timings in rows:
        ordered = sorted(timings)
        median = statistics.median(ordered)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        line = f"{label:<46} {len(ordered):>5} {median * 1e3:>10.1f} {p90 * 1e3:>8.1f} {ordered[0] * 1e3:>8.1f}"
        print(line + (f" {median / baseline:8.2f}x" if baseline else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per cold-import measurement")
    parser.add_argument("--events", type=int, default=60, help="events per handling-time measurement")
    args = parser.parse_args(argv)
    imports = cold_imports(args.runs)
    print_table(
        "Cold import (fresh interpreter, zip + runtime packages only)",
        imports,
        baseline=statistics.median(imports[0][1]),
    )
    print_table("Per-event handling under moto (warm container)", per_event(args.events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
