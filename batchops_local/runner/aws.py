"""The runner's only way to "AWS": boto3 against the emulator's endpoint, like any client.

Also the S3 staging rules every job shares: an `S3Prefix` URI is a key-prefix match and each object keeps its
path relative to the prefix (a single-object URI lands as `<dir>/<file name>`), see `relative_key`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

from batchops_core import quotas
from batchops_core.contracts import partition_of
from batchops_core.s3uri import S3UriError, split_s3_uri
from batchops_local.runner.errors import StepFailed

# The members of a CreateProcessingJob request that a pipeline's processing step arguments carry.
_PROCESSING_JOB_REQUEST_KEYS = ("ProcessingInputs", "ProcessingOutputConfig", "ProcessingResources",
                                "StoppingCondition",
                                "AppSpecification", "Environment", "NetworkConfig", "RoleArn", "ExperimentConfig")


# Job inputs and outputs move in one request per object up to S3's single-PutObject size: the emulator keeps objects
# in memory, and boto3's defaults (multipart above 8 MB, 8 MB ranges fetched by ten threads) cost it a copy and a
# hash of every part, a read of the whole object for every range: a 63 MB upload took 6.7 s against 0.4 s in one
# PutObject, its download 0.5 s against 0.13 s in one GetObject.
ONE_REQUEST = TransferConfig(multipart_threshold=quotas.limit("s3.put_object_bytes"))


def create_job_refused(operation: str, detail: str) -> str:
    """A step's FailureReason when SageMaker Pipelines could not create its job, in the form it reports
    (ListPipelineExecutionSteps: "ClientError: Failed to invoke sagemaker:CreateProcessingJob. Error Details: ...")."""
    return f"ClientError: Failed to invoke sagemaker:{operation}. Error Details: {detail}"


def parse_s3_uri(uri: Any, *, what: str) -> tuple[str, str]:
    """`s3://bucket/key/prefix` -> (bucket, key/prefix); otherwise the step fails with a message naming `what`."""
    try:
        return split_s3_uri(uri, what=what)
    except S3UriError as error:
        raise StepFailed(str(error)) from None


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts if p)])


def relative_key(prefix: str, key: str) -> str:
    """The path an object keeps below its local directory (or output prefix).

    Relative to the prefix (`data/in` + `data/in/sub/a.csv` -> `sub/a.csv`); an object named by the prefix
    itself keeps its file name; a prefix ending inside a name (`data/tr` matching `data/train.csv`) keeps the
    whole last name component (`train.csv`) instead of a cut-off fragment.
    """
    if key == prefix:
        return key.rsplit("/", 1)[-1]
    if prefix == "" or prefix.endswith("/") or key[len(prefix)] == "/":
        return key[len(prefix):].lstrip("/")
    return key[prefix.rfind("/") + 1:]


# One session for every execution's clients: a session parses a service's model once (SageMaker's takes
# 0.5-1 s, on each execution's first step when every execution had its own session). Clients get region and
# credentials explicitly, so nothing of one execution is set on the shared session; creation is serialised
# because a session is not thread-safe (its clients are).
_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


@dataclass
class AwsClients:
    """boto3 clients for one execution (thread-safe to share once created)."""

    endpoint_url: str
    region: str
    account_id: str
    # The execution role: SageMaker runs the pipeline's jobs with an AssumeRole session of it, so the runner's own
    # S3/SageMaker calls and the jobs' containers act in the role's account, as that role (a registry account's
    # model read by a consumer's job is a real cross-account call). None: the dummy keys (moto's default account).
    role_arn: str | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @cached_property
    def credentials(self) -> dict[str, str]:
        """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) of the jobs' session."""
        if self.role_arn is None:
            return {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        from batchops_local.emulator.accounts import assume_role_over_http

        return assume_role_over_http(self.endpoint_url, self.region, self.role_arn, "SageMaker")

    def as_role(self, role_arn: Any) -> AwsClients:
        """The clients of a step whose job runs with its own `RoleArn` (a literal ARN; anything else, or the same
        role: these)."""
        if not isinstance(role_arn, str) or not role_arn or role_arn == self.role_arn:
            return self
        with self._lock:
            by_role = self.__dict__.setdefault("_by_role", {})
            if role_arn not in by_role:
                by_role[role_arn] = AwsClients(self.endpoint_url, self.region, self.account_id, role_arn=role_arn)
            return by_role[role_arn]

    def _client(self, service: str) -> Any:
        keys = self.credentials
        with _SESSION_LOCK:  # one session: its service definitions are loaded once, not per execution
            return _SESSION.client(service, region_name=self.region, endpoint_url=self.endpoint_url,
                                   config=Config(retries={"max_attempts": 2, "mode": "standard"},
                                                 max_pool_connections=32),
                                   aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                                   aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
                                   aws_session_token=keys.get("AWS_SESSION_TOKEN"))

    @cached_property
    def s3(self) -> Any:
        return self._client("s3")

    @cached_property
    def sagemaker(self) -> Any:
        return self._client("sagemaker")

    @cached_property
    def ec2(self) -> Any:
        return self._client("ec2")

    def check_job_network(self, vpc_config: dict[str, Any] | None, operation: str) -> None:
        """Refuse a job whose VpcConfig names subnets or security groups that do not exist, as SageMaker does
        before it starts the job (it creates the job's network interfaces in them).

        The failure carries EC2's own error for the missing id (the emulator's DescribeSubnets /
        DescribeSecurityGroups answer, e.g. "InvalidSubnetID.NotFound: The subnet ID 'subnet-...' does not exist")
        inside the step's usual "Failed to invoke sagemaker:<operation>" reason. SageMaker's own wording for this
        refusal could not be found in its documentation or public reports: this message is an approximation."""
        if not vpc_config:
            return
        lookups = ((self.ec2.describe_subnets, "SubnetIds", vpc_config.get("Subnets")),
                   (self.ec2.describe_security_groups, "GroupIds", vpc_config.get("SecurityGroupIds")))
        for describe, key, ids in lookups:
            try:
                describe(**{key: list(ids or [])})
            except ClientError as exc:
                error = exc.response.get("Error", {})
                detail = f"{error.get('Code', 'error')}: {error.get('Message') or exc}"
                raise StepFailed(create_job_refused(operation, detail)) from None

    def arn(self, resource_type: str, name: str) -> str:
        return f"arn:{partition_of(self.region)}:sagemaker:{self.region}:{self.account_id}:{resource_type}/{name}"

    def register_processing_job(self, name: str, arguments: dict[str, Any]) -> str:
        """CreateProcessingJob for a job the runner is about to run, so that DescribeProcessingJob answers for it
        (readers such as the notification Lambda find a step's outputs that way, as on AWS). Returns the ARN."""
        request = {key: arguments[key] for key in _PROCESSING_JOB_REQUEST_KEYS if arguments.get(key) is not None}
        request["ProcessingJobName"] = name
        self.check_job_network((arguments.get("NetworkConfig") or {}).get("VpcConfig"), "CreateProcessingJob")
        try:
            return self.sagemaker.create_processing_job(**request)["ProcessingJobArn"]
        except ClientError as exc:  # an out-of-contract request fails the step, as on AWS
            detail = exc.response.get("Error", {}).get("Message") or str(exc)
            raise StepFailed(create_job_refused("CreateProcessingJob", detail)) from None
        except ParamValidationError as exc:
            raise StepFailed(create_job_refused("CreateProcessingJob", str(exc))) from None

    def finish_job(self, job_arn: str, status: str, *, failure_reason: str | None = None,
                   exit_message_bytes: bytes | None = None, **training: Any) -> None:
        """Tell SageMaker (the emulator, which shares this process) how a job the runner ran ended: its status,
        FailureReason and ExitMessage then read as on AWS. Against any other endpoint (the runner tests' plain
        moto server) there is no one to tell: moto keeps its own status. A training job also takes
        `model_artifacts` (S3 URI) and `final_metrics` ({"validation:rmse": 2.1})."""
        from batchops_local.emulator import context

        emulator = context.active_or_none()
        if emulator is None or emulator.executions is None or emulator.endpoint_url != self.endpoint_url:
            return
        emulator.executions.job_finished(job_arn, status, failure_reason=failure_reason,
                                         exit_message_bytes=exit_message_bytes, **training)

    def job_environment(self, *, network_isolation: bool = False) -> dict[str, str]:
        """What a container's boto3 needs to reach the emulator instead of AWS.

        A network-isolated job gets nothing: on SageMaker its container has no network access and no credentials
        of the execution role, so an AWS call from it fails. No endpoint, no credentials and no credential files
        make boto3 fail here too (NoCredentialsError), before any request leaves the machine."""
        if network_isolation:
            return {"AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                    "AWS_CONFIG_FILE": os.devnull}
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url, **self.credentials,
            "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region, "AWS_EC2_METADATA_DISABLED": "true",
        }

    # ---- S3

    def list_objects(self, uri: str, *, what: str) -> Iterator[tuple[str, str, int]]:
        """(bucket, key, size) of every object whose key starts with the URI's key (directory markers skipped)."""
        bucket, prefix = parse_s3_uri(uri, what=what)
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        yield bucket, item["Key"], item["Size"]
        except self.s3.exceptions.NoSuchBucket:
            raise StepFailed(f"{what}: bucket '{bucket}' does not exist ({uri})") from None

    def download_prefix(self, uri: str, local_dir: Path, *, what: str) -> list[Path]:
        """Download every object under `uri` into `local_dir`; no object is a failure (as in SageMaker)."""
        _, prefix = parse_s3_uri(uri, what=what)
        written = []
        for bucket, key, _size in self.list_objects(uri, what=what):
            target = local_dir / relative_key(prefix, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.get_file(bucket, key, target)
            written.append(target)
        if not written:
            raise StepFailed(f"{what}: no S3 objects found under {uri}")
        return written

    def upload_directory(self, local_dir: Path, uri: str, *, what: str) -> int:
        """Upload every regular file below `local_dir` to `uri/<relative path>` (symlinks are not followed)."""
        bucket, prefix = parse_s3_uri(uri, what=what)
        count = 0
        if not local_dir.is_dir():
            return 0
        for path in sorted(local_dir.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            key = "/".join(p for p in (prefix.rstrip("/"), path.relative_to(local_dir).as_posix()) if p)
            self.put_file(path, bucket, key)
            count += 1
        return count

    def upload_file(self, path: Path, uri: str, *, what: str) -> None:
        bucket, key = parse_s3_uri(uri, what=what)
        self.put_file(path, bucket, key)

    def download_file(self, uri: str, target: Path, *, what: str) -> Path:
        bucket, key = parse_s3_uri(uri, what=what)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.get_file(bucket, key, target)
        except ClientError as exc:
            raise StepFailed(f"{what}: cannot download {uri}: {exc}") from None
        return target

    def get_file(self, bucket: str, key: str, target: Path | str) -> None:
        self.s3.download_file(bucket, key, str(target), Config=ONE_REQUEST)

    def put_file(self, path: Path | str, bucket: str, key: str) -> None:
        self.s3.upload_file(str(path), bucket, key, Config=ONE_REQUEST)

    def read_json(self, uri: str) -> Any:
        bucket, key = parse_s3_uri(uri, what="JSON document")
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return json.loads(body)
