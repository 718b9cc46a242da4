"""Benchmark of the local AWS emulator's own overheads (no pipeline work).

Measured in one process with an in-process emulator (managed IAM policies off unless --managed-policies):
  start / stop            Emulator.start() until it answers, and stop()
  reset                   POST /moto-api/reset with a bucket, queue, rule and pipeline present
  S3 → SQS event          put_object until the Object Created event is in a queue target (EventBridge dispatch)
  S3 → Lambda             put_object until the deployed handler has run (warm environment after the first)
  Lambda invoke cold/warm synchronous Invoke of a handler that imports boto3 at module level (as the product's
                          do): "cold" after a configuration change each time (a new execution environment),
                          "warm" on the same environment; with the handler process's CPU per invocation
  pipeline events         step_status calls per second through the sink (each event goes to one SNS target)
  first requests          one request to each of the product's services at once, as `terraform apply` opens,
                          in a fresh process with managed IAM policies on (as the CLI runs): moto building
                          everything on first use ("cold") against the emulator's warm-up having done it
                          ("warmed"; the warm-up's own time, on its background thread, is printed too)
Each is repeated (--repeat) and the median and the fastest run are printed.

    python benchmarks/bench_emulator.py
    python benchmarks/bench_emulator.py --repeat 10 --managed-policies
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from batchops_local.emulator import Emulator, context, read_invocation_log
from batchops_local.emulator.service_warmup import FIRST_REQUEST_PER_SERVICE

HANDLER = "def handler(event, context):\n    return event['detail']['object']['key']\n"
BOTO3_HANDLER = "import boto3\n\nSNS = boto3.client('sns')\n\n\ndef handler(event, context):\n    return event\n"


def _zip(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", text)
    return buffer.getvalue()


def _report(name: str, seconds: list[float], unit: str = "ms") -> None:
    scale = 1000 if unit == "ms" else 1
    print(
        f"{name:<28} median {statistics.median(seconds) * scale:8.1f} {unit}   best {min(seconds) * scale:8.1f} {unit}"
    )




def first_request_burst(warm: bool) -> dict[str, float]:
    """In this (fresh) process: seconds for one concurrent request per service right after start."""
    home = Path(tempfile.mkdtemp(prefix="bench-emulator-burst-"))
    started = time.perf_counter()
    emulator = Emulator(home, warm_up_services=warm, execution_handler=None).start()
    try:
        clients = {name: emulator.client(name) for name in FIRST_REQUEST_PER_SERVICE}  # botocore's own cost: not timed
        warmup_seconds = 0.0
        if warm:
            emulator.warmup.wait(120)  # Terraform's init and provider start take longer than this
            warmup_seconds = time.perf_counter() - started
        began = time.perf_counter()
        with ThreadPoolExecutor(len(FIRST_REQUEST_PER_SERVICE)) as pool:
            for future in [pool.submit(call, clients[name]) for name, call in FIRST_REQUEST_PER_SERVICE.items()]:
                future.result()
        return {"burst": time.perf_counter() - began, "warmup": warmup_seconds}
    finally:
        emulator.stop()


def _first_request_bursts(repeat: int) -> None:
    for mode in ("cold", "warmed"):
        bursts, warmups = [], []
        for _ in range(repeat):
            output = subprocess.run(
                [sys.executable, __file__, "--first-burst", mode], capture_output=True, text=True, check=True
            ).stdout
            measured = json.loads(output.strip().splitlines()[-1])
            bursts.append(measured["burst"])
            warmups.append(measured["warmup"])
        _report(f"first requests ({mode})", bursts)
        if mode == "warmed":
            _report("  warm-up (background)", warmups)


def _cold_and_warm_invocations(awslambda: Any, home: Path, repeat: int) -> None:
    awslambda.create_function(
        FunctionName="bench-boto3",
        Runtime="python3.12",
        Role="arn:aws:iam::123456789012:role/bench-fn",
        Handler="app.handler",
        Code={"ZipFile": _zip(BOTO3_HANDLER)},
        Timeout=60,
    )
    for mode in ("cold", "warm"):
        latencies = []
        for index in range(repeat):
            if mode == "cold":  # a configuration change: the next event needs a new environment
                variables = {"Variables": {"GENERATION": str(index)}}
                awslambda.update_function_configuration(FunctionName="bench-boto3", Environment=variables)
            began = time.perf_counter()
            awslambda.invoke(FunctionName="bench-boto3", Payload=b"{}")
            latencies.append(time.perf_counter() - began)
        entries = [entry for entry in read_invocation_log(home) if entry["function"] == "bench-boto3"][-repeat:]
        if not all(entry["cold_start"] is (mode == "cold") for entry in entries):
            raise RuntimeError(f"the {mode} invocations did not run on {mode} environments: {entries}")
        _report(f"Lambda invoke ({mode})", latencies)
        _report(f"  handler CPU ({mode})", [entry["cpu_s"] for entry in entries])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--managed-policies", action="store_true", help="load AWS-managed IAM policies (as the CLI does)"
    )
    parser.add_argument("--first-burst", choices=("cold", "warmed"), help=argparse.SUPPRESS)  # one child run
    args = parser.parse_args()
    if args.first_burst:
        print(json.dumps(first_request_burst(warm=args.first_burst == "warmed")))
        return
    _first_request_bursts(args.repeat)
    home = Path(tempfile.mkdtemp(prefix="bench-emulator-"))
    options = {"load_aws_managed_policies": args.managed_policies, "execution_handler": None}

    starts, stops = [], []
    for _ in range(args.repeat):
        began = time.perf_counter()
        emulator = Emulator(home, **options).start()
        starts.append(time.perf_counter() - began)
        began = time.perf_counter()
        emulator.stop()
        stops.append(time.perf_counter() - began)
    _report("start", starts)
    _report("stop", stops)

    release = threading.Event()
    emulator = Emulator(home, **options)
    emulator.execution_handler = lambda request, sink: release.wait(30)
    emulator.start()
    try:
        s3, sqs, events, awslambda, iam, sagemaker = (
            emulator.client(name) for name in ("s3", "sqs", "events", "lambda", "iam", "sagemaker")
        )
        resets = []
        for _ in range(args.repeat):
            s3.create_bucket(Bucket="bench-bucket")
            sqs.create_queue(QueueName="bench")
            events.put_rule(Name="bench", ScheduleExpression="rate(1 hour)")
            iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")
            began = time.perf_counter()
            emulator.reset()
            resets.append(time.perf_counter() - began)
        _report("reset", resets)

        s3.create_bucket(Bucket="bench-bucket")
        s3.put_bucket_notification_configuration(
            Bucket="bench-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        url = sqs.create_queue(QueueName="bench")["QueueUrl"]
        events.put_rule(Name="to-queue", EventPattern=json.dumps({"source": ["aws.s3"]}))
        events.put_targets(Rule="to-queue", Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:bench"}])
        latencies = []
        for index in range(args.repeat):
            began = time.perf_counter()
            s3.put_object(Bucket="bench-bucket", Key=f"q/{index}.csv", Body=b"x")
            while not sqs.receive_message(QueueUrl=url).get("Messages"):
                pass
            latencies.append(time.perf_counter() - began)
        _report("S3 -> SQS event", latencies)

        iam.create_role(RoleName="bench-fn", AssumeRolePolicyDocument="{}")
        function_arn = awslambda.create_function(
            FunctionName="bench-fn",
            Runtime="python3.12",
            Role="arn:aws:iam::123456789012:role/bench-fn",
            Handler="app.handler",
            Code={"ZipFile": _zip(HANDLER)},
        )["FunctionArn"]
        events.put_rule(
            Name="to-lambda",
            EventPattern=json.dumps({"source": ["aws.s3"], "detail": {"object": {"key": [{"prefix": "l/"}]}}}),
        )
        events.put_targets(Rule="to-lambda", Targets=[{"Id": "fn", "Arn": function_arn}])
        latencies = []
        for index in range(args.repeat):
            before = len(read_invocation_log(home))
            began = time.perf_counter()
            s3.put_object(Bucket="bench-bucket", Key=f"l/{index}.csv", Body=b"x")
            while len(read_invocation_log(home)) == before:
                time.sleep(0.005)
            latencies.append(time.perf_counter() - began)
        _report("S3 -> Lambda handler done", latencies)
        _cold_and_warm_invocations(awslambda, home, args.repeat)

        sagemaker.create_pipeline(
            PipelineName="bench",
            PipelineDefinition='{"Version": "2020-12-01", "Steps": []}',
            RoleArn="arn:aws:iam::123456789012:role/bench",
        )
        # An SNS target without subscribers: measures dispatch, not moto's SQS (which slows as a queue grows).
        topic = emulator.client("sns").create_topic(Name="bench")["TopicArn"]
        events.put_rule(Name="steps", EventPattern=json.dumps({"source": ["aws.sagemaker"]}))
        events.put_targets(Rule="steps", Targets=[{"Id": "t", "Arn": topic}])
        arn = sagemaker.start_pipeline_execution(PipelineName="bench")["PipelineExecutionArn"]
        sink = context.active().executions
        count = 200
        began = time.perf_counter()
        for index in range(count):
            sink.step_status(arn, f"Step{index}", "Processing", "Executing")
        elapsed = time.perf_counter() - began
        print(f"{'pipeline step events':<28} {count / elapsed:8.0f} events/s")
        release.set()
    finally:
        release.set()
        emulator.stop()


if __name__ == "__main__":
    main()
