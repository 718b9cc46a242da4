"""Helpers of the runner tests: an in-memory sink, S3 helpers, a runner driver, definition builders."""

from __future__ import annotations

import socket
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import numpy as np

from batchops_local.emulator.contracts import ExecutionRequest
from batchops_local.runner import handle_execution

REGION = "us-east-1"
ACCOUNT = "123456789012"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ANALYZER_IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/runner-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RecordingSink:
    """Keeps every status call in order; `stop_after` asks the runner to stop once that step is Executing."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    executions: list[tuple[str, str | None]] = field(default_factory=list)
    stop_when_executing: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def step_status(self, execution_arn, step_name, step_type, status, *, start_time=None, end_time=None,
                    failure_reason=None, metadata=None, display_name=None):
        self.steps.append({"name": step_name, "type": step_type, "status": status, "start": start_time,
                           "end": end_time, "reason": failure_reason, "metadata": metadata})
        if status == "Executing" and step_name == self.stop_when_executing:
            self._stop.set()

    def execution_status(self, execution_arn, status, failure_reason=None):
        self.executions.append((status, failure_reason))

    def stop_requested(self, execution_arn):
        return self._stop.is_set()

    # ---- views for assertions

    @property
    def final(self) -> tuple[str, str | None]:
        return self.executions[-1]

    def statuses(self, step: str) -> list[str]:
        return [s["status"] for s in self.steps if s["name"] == step]

    def last(self, step: str) -> dict[str, Any]:
        return [s for s in self.steps if s["name"] == step][-1]

    def ran(self) -> list[str]:
        return list(dict.fromkeys(s["name"] for s in self.steps))


@dataclass
class Aws:
    endpoint: str
    bucket: str

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id="test",
                            aws_secret_access_key="test")

    @property
    def s3(self):
        return self.client("s3")

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, body: str | bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode() if isinstance(body, str) else body)
        return self.uri(key)

    def get(self, key: str) -> str:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()

    def keys(self, prefix: str) -> list[str]:
        response = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in response.get("Contents", []))

    def put_script(self, name: str, code: str) -> str:
        return self.put(f"code/{uuid.uuid4().hex[:8]}/{name}", code)


@dataclass
class Runner:
    aws: Aws
    home: Path

    def run(self, steps: list[dict[str, Any]], *, parameters: list[dict[str, Any]] | None = None,
            given: dict[str, str] | None = None, sink: RecordingSink | None = None,
            pipeline: str = "runner-test") -> tuple[RecordingSink, ExecutionRequest]:
        execution_id = uuid.uuid4().hex[:12]
        pipeline_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{pipeline}"
        request = ExecutionRequest(
            pipeline_name=pipeline, pipeline_arn=pipeline_arn, execution_arn=f"{pipeline_arn}/execution/{execution_id}",
            execution_id=execution_id, definition={"Version": "2020-12-01", "Metadata": {},
                                                   "Parameters": parameters or [], "Steps": steps},
            parameters=given or {}, region=REGION, account_id=ACCOUNT, endpoint_url=self.aws.endpoint,
        )
        sink = sink or RecordingSink()
        handle_execution(request, sink, home=self.home)
        return sink, request


# ------------------------------------------------------------------------------------------- step builders


def processing_step(name: str, code_uri: str, *, inputs: list[tuple[str, str, str]] = (),
                    outputs: list[tuple[str, str, str]] = (), arguments: list[Any] = (),
                    environment: dict[str, Any] | None = None, image: str = SKLEARN_IMAGE,
                    **extra: Any) -> dict[str, Any]:
    """inputs/outputs: (name, s3 uri, container path)."""
    script = code_uri.rsplit("/", 1)[-1]
    return {
        "Name": name, "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                      "VolumeSizeInGB": 30}},
            # CreateProcessingJob refuses an empty ContainerArguments list (min length 1): omit it instead.
            "AppSpecification": {"ImageUri": image,
                                 "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script}"],
                                 **({"ContainerArguments": list(arguments)} if arguments else {})},
            "RoleArn": ROLE,
            "Environment": environment or {},
            "ProcessingInputs": [
                *[{"InputName": n, "AppManaged": False, "S3Input": {
                    "S3Uri": u, "LocalPath": p, "S3DataType": "S3Prefix", "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}}
                  for n, u, p in inputs],
                {"InputName": "code", "AppManaged": False, "S3Input": {
                    "S3Uri": code_uri, "LocalPath": "/opt/ml/processing/input/code", "S3DataType": "S3Prefix",
                    "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
                    "S3CompressionType": "None"}},
            ],
            "ProcessingOutputConfig": {"Outputs": [
                {"OutputName": n, "AppManaged": False, "S3Output": {"S3Uri": u, "LocalPath": p,
                                                                    "S3UploadMode": "EndOfJob"}}
                for n, u, p in outputs]},
        },
        **extra,
    }


def training_arguments(train_uri: str, validation_uri: str | None, output_uri: str) -> dict[str, Any]:
    channels = [("train", train_uri)] + ([("validation", validation_uri)] if validation_uri else [])
    return {
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": XGBOOST_IMAGE},
        "OutputDataConfig": {"S3OutputPath": output_uri, "CompressionType": "GZIP"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
        "RoleArn": ROLE,
        "InputDataConfig": [
            {"ChannelName": c, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": u,
                                                               "S3DataDistributionType": "FullyReplicated"}},
             "ContentType": "text/csv"} for c, u in channels],
    }


# Reads a model file with the image's xgboost and writes it back as UBJSON, which every newer xgboost reads.
_AS_UBJSON_IN_IMAGE = ("import sys, xgboost as xgb; b = xgb.Booster(); b.load_model(sys.argv[1]); "
                       "open(sys.argv[1], 'wb').write(bytes(b.save_raw('ubj')))")


def host_booster(raw: bytes, image: str = XGBOOST_IMAGE):
    """A model file of the image (e.g. 1.7.4's legacy binary `binf` format, which xgboost 3.1+ no longer reads) as
    a Booster of the host's xgboost, for expected predictions: the image's own xgboost hands it over as UBJSON."""
    import subprocess
    import tempfile

    import xgboost as xgb

    from batchops_local.runner import runtimes

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "xgboost-model"
        path.write_bytes(raw)
        subprocess.run([runtimes.interpreter_for(image, what="test model"), "-c", _AS_UBJSON_IN_IMAGE, str(path)],
                       check=True)
        booster = xgb.Booster()
        booster.load_model(bytearray(path.read_bytes()))
    return booster


def regression_csv(rows: int, *, seed: int = 0, features: int = 3, label_first: bool = True) -> tuple[str, np.ndarray]:
    """Label-first CSV without header where label = 3*x0 + 2*x1 - x2 + noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(rows, features))
    y = 3 * x[:, 0] + 2 * x[:, 1] - x[:, 2] + rng.normal(0, 0.05, rows)
    data = np.column_stack([y, x]) if label_first else x
    return "\n".join(",".join(f"{v:.6f}" for v in row) for row in data) + "\n", y


# ------------------------------------------------------------------------------------------- real pipelines


def fast_settings(**hpo: Any):
    """The local env file with few boosting rounds (and `hpo` overrides), so runs stay short."""
    from batchops_core.settings import load_settings

    settings = load_settings("local")
    hyperparameters = {**settings.xgboost.hyperparameters, "num_round": "15", "eta": "0.3"}
    return settings.model_copy(update={
        "xgboost": settings.xgboost.model_copy(update={"hyperparameters": hyperparameters}),
        "hpo": settings.hpo.model_copy(update=hpo)})


def build_real_definitions(settings) -> dict[str, str]:
    from pipelines.definitions import build_definitions

    return build_definitions(settings, account_id=ACCOUNT)


def deploy_pipelines(local_aws, settings, definitions: dict[str, str]) -> dict[str, str]:
    """Bucket, step scripts, model package group and the pipelines, as the upsert would leave them;
    returns pipeline name per key."""
    from pipelines.common.code import shipped_files

    s3 = local_aws.client("s3")
    s3.create_bucket(Bucket=settings.bucket)
    for script in shipped_files(settings):
        s3.put_object(Bucket=settings.bucket, Key=script.key(settings), Body=script.read_bytes())
    sagemaker = local_aws.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=settings.pipelines.model_package_group)
    names = {}
    for key, definition in definitions.items():
        names[key] = settings.pipelines.name_of(key)
        sagemaker.create_pipeline(PipelineName=names[key], PipelineDefinition=definition,
                                  RoleArn=f"arn:{settings.partition}:iam::{ACCOUNT}:role/{settings.resource_prefix}"
                                          "-sagemaker-execution")
    return names
