"""What the roles do, as functions over an `AwsTarget`: drop data, follow runs, review model versions.

The CLI, the demo and the report are thin layers over these, so the same code path is exercised everywhere.
Every function talks to AWS (or the emulator) only through the public APIs.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from batchops.aws_session import AwsTarget
from batchops.errors import UserError
from batchops_core import contracts, datasets
from batchops_core import metrics as core_metrics
from batchops_core.contracts import Step as StepName
from batchops_core.s3uri import S3UriError, split_s3_uri
from batchops_core.settings import CONSUMER, TRAINING_PIPELINE_KEYS, Settings

DATA_KINDS = {"training": "training", "inference": "inference", "ground-truth": "ground_truth"}
TERMINAL_STATUSES = contracts.FINAL_EXECUTION_STATUSES
APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")


class OperationError(UserError):
    """A user-facing failure: the message says what went wrong and where."""


def refuse_training(settings: Settings, what: str, pipeline: str | None = None) -> None:
    """A command that trains, refused in a consumer with the registry environment that trains its models;
    with `pipeline` (a key or name), only when that is a training pipeline."""
    training = {*TRAINING_PIPELINE_KEYS, *(settings.pipelines.name_of(key) for key in TRAINING_PIPELINE_KEYS)}
    if pipeline is not None and pipeline not in training:
        return
    try:
        settings.refuse_training(what)
    except ValueError as error:
        raise OperationError(str(error)) from None


# ------------------------------------------------------------------------------------------------ S3 helpers


def read_s3_json(target: AwsTarget, uri: str) -> Any:
    try:
        bucket, key = split_s3_uri(uri)
    except S3UriError as exc:
        raise OperationError(str(exc)) from None
    try:
        body = target.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        raise OperationError(f"{uri}: cannot be read ({exc.response['Error'].get('Code', exc)})") from None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise OperationError(f"{uri}: not valid JSON ({exc})") from None


def list_s3_keys(target: AwsTarget, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in target.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def object_exists(target: AwsTarget, bucket: str, key: str) -> bool:
    try:
        target.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class DroppedObject:
    bucket: str
    key: str
    version_id: str | None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class DataRejected(OperationError):
    """Data that the pipeline's first step would refuse; `problems` holds one line each."""

    def __init__(self, problems: list[str], hint: str = ""):
        self.problems = problems
        more = f" (+{len(problems) - 1} more{hint})" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)


def dataset_schema(settings: Settings):
    """The dataset schema exactly as the step scripts receive it (the rendered `dataset_schema.json`)."""
    from pipelines.common.code import dataset_schema_json
    from pipelines.scripts import steplib

    return steplib.Schema(json.loads(dataset_schema_json(settings)))


def data_files(path: Path) -> list[Path]:
    """The CSV files a path names: the file itself, or every `*.csv` under a directory (as the pipeline picks)."""
    from pipelines.scripts import steplib

    if path.is_dir():
        files = sorted({*steplib.list_files(path, datasets.SINGLE_OBJECT_SUFFIX),
                        *steplib.list_files(path, datasets.PART_SUFFIX)}, key=lambda p: p.relative_to(path).as_posix())
        if not files:
            raise OperationError(f"{path}: a directory without CSV files (*.csv or *.csv.gz, hidden files skipped)")
        return files
    if not path.is_file():
        raise OperationError(f"{path}: file not found")
    return [path]


def check_csv_schema(settings: Settings, path: Path, kind: str, *, max_problems: int = 20,
                     chunk_rows: int = 25_000, as_one_dataset: bool = False) -> list[str]:
    """Problems of a CSV file (or of each CSV file under a directory), one line each naming file, line and column.

    The same validation the pipelines' Preprocess (and ModelQualityCheck for ground truth) runs
    (`pipelines/scripts/steplib.py` DataCheck), streamed in chunks: memory stays flat on files of any size. Each
    file is checked on its own, as each dropped file starts its own pipeline run. Training data is also checked
    for a target that varies and enough rows for the configured train/validation/test fractions.
    """
    import warnings

    from pipelines.scripts import steplib

    if kind not in DATA_KINDS:
        raise OperationError(f"unknown data kind '{kind}' (expected one of: {', '.join(DATA_KINDS)})")
    schema = dataset_schema(settings)
    gates = settings.model
    split = (gates.validation_fraction, gates.test_fraction) if kind == "training" else None
    problems: list[str] = []
    files = data_files(path)
    # A folder dataset is read as one by the pipeline: one check over all its parts (record keys unique across
    # them, the split checked on all rows), after its parts' headers are found equal.
    groups = [files] if as_one_dataset else [[file] for file in files]
    if as_one_dataset and schema.header:
        try:
            steplib.check_same_header([(file, file.relative_to(path).as_posix()) for file in files], f"{path}/")
        except steplib.StepFailure as failure:
            return [str(failure)]
    for group in groups:
        check = steplib.DataCheck(schema, kind, split=split, max_problems=max_problems)
        with warnings.catch_warnings(record=True) as caught:  # a numeric warning is a problem line, not noise
            warnings.simplefilter("always")
            check.scan([(file, str(file)) for file in group], chunk_rows=chunk_rows)
            found = check.finish()
        problems += found + [f"{group[0] if len(group) == 1 else path}: {w.category.__name__}: {w.message}"
                             for w in caught]
    return problems


def data_key(settings: Settings, kind: str, file: Path, rel_path: str | None) -> str:
    """`<prefix of kind>/<rel path>`; the relative path defaults to the file name."""
    if kind not in DATA_KINDS:
        raise OperationError(f"unknown data kind '{kind}' (expected one of: {', '.join(DATA_KINDS)})")
    if kind == "training":  # a training drop starts training: a consumer has no training pipeline to start
        refuse_training(settings, "data drop --kind training")
    relative = (rel_path or file.name).strip()
    parts = relative.split("/")
    if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise OperationError(f"--as '{rel_path}': a relative key path such as 'batches/2024-06-01.csv' "
                             "(no leading '/', no empty, '.' or '..' parts)")
    return f"{getattr(settings.prefixes, DATA_KINDS[kind])}/{relative}"


def ground_truth_path(target: AwsTarget, batch: str) -> str:
    """The relative path of the labels of `batch` (a key under the inference prefix, or its s3:// URI): the
    batch's own path under the inference prefix, which ModelQualityCheck looks up under the ground-truth prefix.
    The batch must exist: labels for a mistyped batch would wait for ever."""
    from batchops_core.s3uri import S3UriError, split_s3_uri

    settings = target.settings
    key = batch.strip()
    if key.startswith("s3://"):
        try:
            bucket, key = split_s3_uri(key, what="--ground-truth-for")
        except S3UriError as error:
            raise OperationError(str(error)) from None
        if bucket != settings.bucket:
            raise OperationError(f"--ground-truth-for '{batch}': batches are in s3://{settings.bucket}/, not "
                                 f"s3://{bucket}/")
    base = settings.prefixes.inference.rstrip("/") + "/"
    relative = key[len(base):] if key.startswith(base) else ""
    if not relative or relative.endswith("/"):
        raise OperationError(f"--ground-truth-for '{batch}': the key of a dropped batch under '{base}' (or its "
                             f"s3:// URI), e.g. {base}day1.csv")
    if not object_exists(target, settings.bucket, key):
        raise OperationError(f"--ground-truth-for '{batch}': no batch s3://{settings.bucket}/{key} (`batchops runs "
                             "list --pipeline inference` shows the scored batches)")
    return relative


@functools.cache  # loading the service model costs ~0.1 s of CPU; the pinned botocore's model does not change
def processing_s3_uri_limit() -> int:
    """Longest S3Uri a processing input takes, from botocore's SageMaker service model (shape S3Uri)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return int(model.shape_for("S3Uri").metadata["max"])


def drop_data(target: AwsTarget, file: Path, kind: str, *, rel_path: str | None = None,
              overwrite: bool = False) -> DroppedObject:
    """Upload one checked CSV under the prefix of its kind (see `drop_paths`)."""
    return drop_paths(target, file, kind, rel_path=rel_path, overwrite=overwrite)[0]


def drop_paths(target: AwsTarget, path: Path, kind: str, *, rel_path: str | None = None,
               overwrite: bool = False) -> list[DroppedObject]:
    """Upload a CSV file, or a directory as a folder dataset, under the prefix of its kind.

    A file goes to `<prefix>/<rel path or file name>` and starts its pipeline run. A directory becomes the folder
    `<prefix>/<rel path or directory name>/`: each CSV file under it a gzip-compressed part
    (`<path under the directory>.gz`), then the trigger file, last: one run over the whole folder
    (batchops_core/datasets.py). Every file is validated (a directory as one dataset, its headers equal) and every
    key checked (S3Uri length, an existing object unless `overwrite`) before the first upload: nothing is uploaded
    unless all pass (parts are compressed into local temporary files meanwhile).
    """
    settings = target.settings
    files = data_files(path)
    if path.is_dir():
        folder = data_key(settings, kind, path, rel_path)
        plan = [(file, f"{folder}/{part_name(file.relative_to(path).as_posix())}") for file in files]
        plan.append((None, f"{folder}/{settings.folder_datasets.trigger_file}"))
    else:
        plan = [(path, data_key(settings, kind, path, rel_path))]
    dataset = folder if path.is_dir() else plan[0][1]
    # Parts are compressed (into local temporary files: nothing is sent) while the data is checked: zlib and the
    # check's reader release the GIL, so on two cores the compression costs no wall time.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="data-drop-pack") as packer:
        bodies = [None if file is None else packer.submit(
            part_body, file, compress=key.endswith(".gz") and not file.name.lower().endswith(".gz"))
            for file, key in plan]
        try:
            return _checked_upload(target, path, kind, dataset, plan, bodies, overwrite=overwrite)
        finally:
            for body in bodies:
                if body is not None and not body.cancel() and body.exception() is None:
                    body.result().close()


def _checked_upload(target: AwsTarget, path: Path, kind: str, dataset: str, plan: list[tuple[Path | None, str]],
                    bodies: list[Any], *, overwrite: bool) -> list[DroppedObject]:
    """`drop_paths` once its bodies are being prepared: the data and key checks, then each upload in plan order."""
    settings = target.settings
    problems = check_csv_schema(settings, path, kind, as_one_dataset=path.is_dir())
    if problems:
        raise DataRejected(problems, f": `batchops data check {path} --kind {kind} --offline` lists them")
    bucket, limit = settings.bucket, processing_s3_uri_limit()
    for _, key in plan:
        uri = f"s3://{bucket}/{key}"
        if len(uri) > limit:  # the pipelines read the object through processing inputs: refuse what they would
            raise OperationError(f"{uri[:80]}...: {len(uri)} characters; a SageMaker processing input's S3Uri allows "
                                 f"at most {limit}, so the pipeline would fail at its first step: choose a shorter "
                                 "--as path")
        if not overwrite and object_exists(target, bucket, key):
            raise OperationError(f"{uri} already exists; choose another --as path or pass --overwrite "
                                 "(the bucket is versioned: the previous version is kept)")
    if kind == "inference":  # PublishPredictions writes the batch's predictions at the mirrored key
        results = datasets.results_key(dataset, folder=path.is_dir(), inference_prefix=settings.prefixes.inference,
                                       results_prefix=settings.prefixes.results) or ""
        if len(results.encode()) > datasets.MAX_KEY_BYTES:
            raise OperationError(f"{results[:80]}...: the batch's results key would be {len(results.encode())} "
                                 f"bytes, S3 allows {datasets.MAX_KEY_BYTES}: choose a shorter --as path")
    dropped = []
    for (file, key), body in zip(plan, bodies, strict=True):
        if file is None:  # the trigger file: empty, written after every part
            answer = target.client("s3").put_object(Bucket=bucket, Key=key, Body=b"")
        else:
            packed = key.endswith(".gz")
            answer = target.client("s3").put_object(Bucket=bucket, Key=key, Body=body.result(),
                                                    ContentType="application/gzip" if packed else "text/csv")
        dropped.append(DroppedObject(bucket, key, answer.get("VersionId")))
    return dropped


def part_name(relative: str) -> str:
    """A folder dataset's part key for a local file: `.csv` files are uploaded gzip-compressed as `.csv.gz`."""
    return relative if relative.lower().endswith(datasets.PART_SUFFIX) else relative + ".gz"


# zlib's fastest level: on a 59 MB batch 0.7 s of CPU instead of 4.3 s at its default 6, for 21 MiB instead of 17
GZIP_LEVEL = 1


def part_body(file: Path, *, compress: bool):
    """The file to upload, gzip-compressed into a temporary file when `compress` (memory stays flat)."""
    import gzip
    import shutil
    import tempfile

    if not compress:
        return file.open("rb")
    spool = tempfile.TemporaryFile()
    with file.open("rb") as source, \
            gzip.GzipFile(fileobj=spool, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as packed:
        shutil.copyfileobj(source, packed, 1 << 20)
    spool.seek(0)
    return spool


# ------------------------------------------------------------------------------------------------ runs


@dataclass(frozen=True)
class Execution:
    pipeline: str
    arn: str
    status: str
    start: datetime | None
    end: datetime | None = None
    failure_reason: str | None = None

    @property
    def execution_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    @property
    def duration_seconds(self) -> float | None:
        if self.start and self.end:
            return (self.end - self.start).total_seconds()
        return None


@dataclass(frozen=True)
class Step:
    name: str
    status: str
    start: datetime | None
    end: datetime | None
    failure_reason: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float | None:
        if self.start and self.end:
            return (self.end - self.start).total_seconds()
        return None


def list_executions(target: AwsTarget, pipeline_names: list[str] | None = None) -> list[Execution]:
    """Executions of the configured pipelines (or the given ones), newest first."""
    sagemaker = target.client("sagemaker")
    names = pipeline_names or list(target.settings.pipeline_names.values())
    executions = []
    for name in names:
        try:
            pages = sagemaker.get_paginator("list_pipeline_executions").paginate(
                PipelineName=name, SortBy="CreationTime", SortOrder="Descending")
            summaries = [s for page in pages for s in page.get("PipelineExecutionSummaries", [])]
        except ClientError as exc:
            message = exc.response["Error"].get("Message", "")
            if exc.response["Error"].get("Code") == "ResourceNotFound" or "not find pipeline" in message \
                    or "does not exist" in message:
                continue  # a pipeline that was not upserted yet has no executions
            raise
        for summary in summaries:
            executions.append(describe_execution(target, summary["PipelineExecutionArn"], pipeline=name))
    return sorted(executions, key=lambda e: e.start.timestamp() if e.start else 0, reverse=True)


def describe_execution(target: AwsTarget, arn: str, *, pipeline: str | None = None) -> Execution:
    answer = target.client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=arn)
    return Execution(
        pipeline=pipeline or answer["PipelineArn"].rsplit("/", 1)[-1],
        arn=arn,
        status=answer.get("PipelineExecutionStatus", "Unknown"),
        start=answer.get("CreationTime"),
        end=answer.get("LastModifiedTime") if answer.get("PipelineExecutionStatus") in TERMINAL_STATUSES else None,
        failure_reason=answer.get("FailureReason"),
    )


def account_pipelines(target: AwsTarget) -> list[str]:
    """The names of every pipeline in the account and region, the product's and any other."""
    pages = target.client("sagemaker").get_paginator("list_pipelines").paginate()
    return [summary["PipelineName"] for page in pages for summary in page.get("PipelineSummaries", [])]


def find_execution(target: AwsTarget, reference: str) -> Execution:
    """An execution by ARN, by id, or by a unique id prefix: among the configured pipelines first, then among the
    account's other pipelines (a team's own pipelines run next to the product's)."""
    if reference.startswith("arn:"):
        try:
            return describe_execution(target, reference)
        except ClientError as exc:
            raise OperationError(f"execution '{reference}' not found ({exc.response['Error'].get('Message')})") \
                from None
    matches = [e for e in list_executions(target) if e.execution_id.startswith(reference)]
    if not matches:
        product = set(target.settings.pipeline_names.values())
        others = [name for name in account_pipelines(target) if name not in product]
        matches = [e for e in list_executions(target, others) if e.execution_id.startswith(reference)] \
            if others else []
    if not matches:
        raise OperationError(f"no execution '{reference}' in any pipeline of the account (see `batchops runs "
                             "list`)")
    if len(matches) > 1 and not any(e.execution_id == reference for e in matches):
        raise OperationError(f"'{reference}' matches {len(matches)} executions; give more of the id")
    return next((e for e in matches if e.execution_id == reference), matches[0])


def execution_steps(target: AwsTarget, arn: str) -> list[Step]:
    """Steps of one execution in the order they started."""
    pages = target.client("sagemaker").get_paginator("list_pipeline_execution_steps").paginate(
        PipelineExecutionArn=arn, SortOrder="Ascending")
    steps = [Step(name=s["StepName"], status=s.get("StepStatus", "Unknown"), start=s.get("StartTime"),
                  end=s.get("EndTime"), failure_reason=s.get("FailureReason"), metadata=s.get("Metadata", {}))
             for page in pages for s in page.get("PipelineExecutionSteps", [])]
    return sorted(steps, key=lambda s: s.start.timestamp() if s.start else math.inf)


def wait_for_execution(target: AwsTarget, arn: str, *, timeout: float, poll: float = 0.5,
                       on_change: Callable[[Execution, list[Step]], None] | None = None) -> Execution:
    """Poll until the execution ends; `on_change` sees every new (status, steps) state."""
    deadline = time.monotonic() + timeout
    last: tuple | None = None
    while True:
        execution = describe_execution(target, arn)
        steps = execution_steps(target, arn)
        state = (execution.status, tuple((s.name, s.status) for s in steps))
        if on_change and state != last:
            on_change(execution, steps)
            last = state
        if execution.status in TERMINAL_STATUSES:
            return execution
        if time.monotonic() > deadline:
            raise OperationError(f"execution {execution.execution_id} of {execution.pipeline} still "
                                 f"{execution.status} after {timeout:.0f} s")
        time.sleep(poll)


def wait_for_new_execution(target: AwsTarget, pipeline: str, known: set[str], *, timeout: float,
                           poll: float = 0.3) -> Execution:
    """The first execution of `pipeline` whose ARN is not in `known` (started by an event, a rule...)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = [e for e in list_executions(target, [pipeline]) if e.arn not in known]
        if fresh:
            return fresh[-1]
        time.sleep(poll)
    raise OperationError(f"no new execution of pipeline '{pipeline}' started within {timeout:.0f} s")


def start_execution(target: AwsTarget, pipeline: str, parameters: dict[str, str]) -> str:
    refuse_training(target.settings, f"starting pipeline '{pipeline}'", pipeline)
    known = list(target.settings.pipeline_names.values())
    if pipeline in target.settings.pipeline_names:  # accept the config key (training, inference, ...)
        pipeline = target.settings.pipeline_names[pipeline]
    if pipeline not in known:
        raise OperationError(f"unknown pipeline '{pipeline}' (expected one of: {', '.join(known)}, or "
                             f"{', '.join(target.settings.pipeline_names)})")
    sagemaker = target.client("sagemaker")
    # SageMaker starts an execution with parameters the definition does not declare and fails it later; refuse
    # them here, before anything starts.
    definition = json.loads(sagemaker.describe_pipeline(PipelineName=pipeline)["PipelineDefinition"])
    declared = [str(p.get("Name")) for p in definition.get("Parameters", [])]
    unknown = [name for name in parameters if name not in declared]
    if unknown:
        raise OperationError(f"pipeline '{pipeline}' does not declare parameter(s) {', '.join(unknown)} "
                             f"(declared: {', '.join(declared) or 'none'}); nothing started")
    answer = sagemaker.start_pipeline_execution(
        PipelineName=pipeline,
        PipelineParameters=[{"Name": k, "Value": v} for k, v in parameters.items()],
        PipelineExecutionDisplayName=f"cli-{int(time.time())}",
    )
    return answer["PipelineExecutionArn"]


# ------------------------------------------------------------------------------------------------ models


@dataclass(frozen=True)
class ModelVersion:
    version: int
    arn: str
    approval_status: str
    created: datetime | None
    metrics: dict[str, float]
    approval_description: str | None
    metadata: dict[str, str]
    generated_by: str | None
    active: bool


def active_model_parameter(settings: Settings) -> str:
    return contracts.active_model_parameter(settings.project, settings.environment)


def active_model_arn(target: AwsTarget) -> str | None:
    try:
        value = target.client("ssm").get_parameter(Name=active_model_parameter(target.settings))["Parameter"][
            "Value"]
    except ClientError:
        return None
    return value if value.startswith("arn:") else None


def model_versions(target: AwsTarget, *, with_metrics: bool = True) -> list[ModelVersion]:
    """All versions of the configured model package group, oldest first."""
    sagemaker = target.client("sagemaker")
    group = target.settings.pipelines.model_package_group
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=group)
        pages = sagemaker.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Ascending")
        summaries = [s for page in pages for s in page.get("ModelPackageSummaryList", [])]
    except ClientError as exc:
        raise OperationError(f"model package group '{group}': {exc.response['Error'].get('Message', exc)} "
                             "(Terraform creates it: `batchops infra apply`)") from None
    active = active_model_arn(target)
    versions = []
    for summary in summaries:
        detail = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        versions.append(ModelVersion(
            version=int(detail.get("ModelPackageVersion") or summary["ModelPackageArn"].rsplit("/", 1)[-1]),
            arn=detail["ModelPackageArn"],
            approval_status=detail.get("ModelApprovalStatus", "Unknown"),
            created=detail.get("CreationTime"),
            metrics=_model_metrics(target, detail) if with_metrics else {},
            approval_description=detail.get("ApprovalDescription"),
            metadata=detail.get("CustomerMetadataProperties") or {},
            generated_by=(detail.get("MetadataProperties") or {}).get("GeneratedBy"),
            active=detail["ModelPackageArn"] == active,
        ))
    return sorted(versions, key=lambda v: v.version)


def _model_metrics(target: AwsTarget, detail: dict[str, Any]) -> dict[str, float]:
    """`{metric: value}` from the evaluation report registered as the version's model-quality statistics: its
    `<problem type>_metrics` section (`regression_metrics`, `binary_metrics`, ...; pipelines/scripts/evaluate.py)."""
    uri = (((detail.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}).get("S3Uri")
    if not uri:
        return {}
    try:
        report = read_s3_json(target, uri)
    except OperationError:
        return {}
    sections = [report.get(key) for key in core_metrics.STATISTICS_KEYS.values()] if isinstance(report, dict) else []
    metrics = next((section for section in sections if isinstance(section, dict)), {})
    return {name: float(entry["value"]) for name, entry in metrics.items()
            if isinstance(entry, dict) and isinstance(entry.get("value"), int | float)}


def find_model_version(target: AwsTarget, version: str) -> ModelVersion:
    versions = model_versions(target, with_metrics=True)
    wanted = version.rsplit("/", 1)[-1]
    if not wanted.isdigit():
        raise OperationError(f"model version '{version}': expected a version number or a model package ARN")
    for candidate in versions:
        if candidate.version == int(wanted):
            return candidate
    numbers = ", ".join(str(v.version) for v in versions) or "none"
    raise OperationError(f"model package group '{target.settings.pipelines.model_package_group}' has no version "
                         f"{wanted} (versions: {numbers})")


def set_approval(target: AwsTarget, version: str, status: str, description: str) -> ModelVersion:
    """Approve or reject a version the way a data scientist does: `update_model_package`."""
    if status not in APPROVAL_STATUSES:
        raise OperationError(f"approval status '{status}': expected one of {', '.join(APPROVAL_STATUSES)}")
    found = find_model_version(target, version)
    target.client("sagemaker").update_model_package(
        ModelPackageArn=found.arn, ModelApprovalStatus=status, ApprovalDescription=description)
    return find_model_version(target, str(found.version))


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, poll: float = 0.3) -> Any:
    """Poll `condition` until it returns something truthy; a clear error naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise OperationError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


# ------------------------------------------------------------------------------------------------ step outputs


def step_output_keys(target: AwsTarget, execution: Execution, step: str) -> list[str]:
    """Every object a step wrote under the execution-scoped output layout."""
    settings = target.settings
    prefix = f"{settings.prefixes.outputs}/{execution.pipeline}/{execution.execution_id}/{step}/"
    return list_s3_keys(target, settings.bucket, prefix)


def step_output_json(target: AwsTarget, execution: Execution, step: str, file_name: str) -> Any | None:
    """A JSON file written by a step (first match by file name), or None."""
    for key in step_output_keys(target, execution, step):
        if key.rsplit("/", 1)[-1] == file_name:
            return read_s3_json(target, f"s3://{target.settings.bucket}/{key}")
    return None


# ------------------------------------------------------------------------------------------------ data quality


@dataclass(frozen=True)
class BaselineComparison:
    summary: str
    violations: list[dict[str, Any]]
    model_version: ModelVersion | None


def baseline_model(target: AwsTarget) -> ModelVersion | None:
    """The version batch inference would use now: the active pointer if approved, else the latest approved."""
    versions = [v for v in model_versions(target, with_metrics=False) if v.approval_status == "Approved"]
    active = [v for v in versions if v.active]
    return (active or versions[-1:] or [None])[0]


def baseline_comparison(target: AwsTarget, file: Path, kind: str) -> BaselineComparison:
    """Data-quality check of a CSV against the registered baseline of the model inference would use.

    The baseline was computed on the raw feature columns in schema order (with a header), so the same columns
    are taken from the file before the comparison.
    """
    import tempfile

    import pandas as pd

    from pipelines.scripts import data_quality

    version = baseline_model(target)
    if version is None:
        return BaselineComparison("no approved model version yet: no baseline to compare with", [], None)
    detail = target.client("sagemaker").describe_model_package(ModelPackageName=version.arn)
    quality = ((detail.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {})
    statistics_uri = (quality.get("Statistics") or {}).get("S3Uri")
    constraints_uri = (quality.get("Constraints") or {}).get("S3Uri")
    if not statistics_uri or not constraints_uri:
        return BaselineComparison(f"model version {version.version} has no registered data-quality baseline", [],
                                  version)
    statistics, constraints = read_s3_json(target, statistics_uri), read_s3_json(target, constraints_uri)
    features = [c.name for c in target.settings.dataset.feature_columns]
    with tempfile.TemporaryDirectory(prefix="batchops-check-") as scratch:
        selected = Path(scratch) / "features.csv"
        for index, chunk in enumerate(pd.read_csv(file, dtype=str, keep_default_na=False, chunksize=200_000)):
            chunk[features].to_csv(selected, mode="a", header=index == 0, index=False)
        _, report = data_quality.check_dataset([selected], statistics, constraints, header=True)
    violations = report.get("violations", [])
    summary = (f"data quality vs model version {version.version}'s baseline: "
               + (f"{len(violations)} violation(s)" if violations else "no violations"))
    return BaselineComparison(summary, violations, version)


def data_quality_violations(target: AwsTarget, execution: Execution, step: Step | None) -> list[dict[str, Any]]:
    """Violations found by an execution's DataQualityCheck: its ViolationReport, else its step outputs."""
    uri = ((step.metadata if step else {}).get("QualityCheck") or {}).get("ViolationReport")
    try:
        report = read_s3_json(target, uri) if uri else step_output_json(
            target, execution, StepName.DATA_QUALITY_CHECK, contracts.OutputFile.CONSTRAINT_VIOLATIONS)
    except OperationError:
        report = None
    return list((report or {}).get("violations", []))


def upsert_pipelines(target: AwsTarget, *, account_id: str | None = None, built: Any = None) -> list[Any]:
    """Create or update the three pipelines of the target's environment; returns `UpsertResult`s.

    `account_id` names the account in the role ARNs (default: the target's account). `built`: definitions built
    beforehand (`pipelines.upsert.BuiltDefinitions`), reused only if built from the same inputs.

    The upsert reports each pipeline itself; that text is captured so callers present the results their way.
    """
    import contextlib
    import io

    from pipelines.upsert import StackNotApplied
    from pipelines.upsert import upsert_pipelines as upsert

    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return upsert(target.settings, boto_session=target.session, account_id=account_id or target.account_id,
                          built=built)
        except StackNotApplied as exc:
            raise OperationError(f"{target.settings.environment}: {exc}") from None



# ------------------------------------------------------------------------------------ CI: deploy, gate, teardown

# The order in which .gitlab-ci.yml promotes environments.
PROMOTION_ORDER = ("dev", "staging", "prod")
_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z\-]*:sagemaker:(?P<region>[a-z0-9\-]+):(?P<account>\d{12}):"
    r"model-package/(?P<group>[A-Za-z0-9\-]+)/(?P<version>\d+)$"
)
_MISSING_CODES = {"ResourceNotFound", "ValidationException", "NoSuchBucket", "404"}


def _aws_message(exc: ClientError) -> str:
    return exc.response["Error"].get("Message") or exc.response["Error"].get("Code") or str(exc)


def environment_of_group(group: str) -> str | None:
    """The environment whose env file names this model package group, if any."""
    from batchops_core.settings import ENV_DIR, ConfigError, load_settings

    for path in sorted(ENV_DIR.glob("*.tfvars")):
        try:
            settings = load_settings(path)
        except ConfigError:
            continue
        if settings.pipelines.model_package_group == group:
            return settings.environment
    return None


def flows_backwards(source: str | None, target: str) -> bool:
    if source not in PROMOTION_ORDER or target not in PROMOTION_ORDER:
        return False
    return PROMOTION_ORDER.index(source) > PROMOTION_ORDER.index(target)


def parse_package_arn(arn: str) -> re.Match[str]:
    found = _PACKAGE_ARN.match(arn)
    if not found:
        raise OperationError(f"model package ARN '{arn}' is not of the form "
                             "arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>")
    return found


def _package_source(target: AwsTarget, parts: re.Match[str]) -> tuple[str | None, str]:
    """(the environment the version was approved in, or None; the account and group it belongs to), checked
    against what the target's environment may score with: a consumer its registry's group only, any other
    environment its own group only (ResolveModel refuses anything else)."""
    settings = target.settings
    env, accounts = settings.environment, settings.accounts
    if accounts.role == CONSUMER:
        registry = accounts.registry
        if (parts["account"], parts["group"]) != (registry.account_id, registry.model_package_group.lower()):
            raise OperationError(
                f"{parts[0]} is a version of group '{parts['group']}' in account {parts['account']}; environment "
                f"'{env}' scores with versions of its registry's group '{registry.model_package_group}' in account "
                f"{registry.account_id} only: nothing deployed")
        return registry.environment, f"{registry.model_package_group} in account {registry.account_id}"
    source = environment_of_group(parts["group"])
    group = settings.pipelines.model_package_group
    if parts["group"] != group.lower() and not flows_backwards(source, env):
        raise OperationError(
            f"{parts[0]} is a version of group '{parts['group']}', not of '{group}': environment '{env}' "
            f"(accounts.role = {accounts.role}) scores with versions of its own group only, so nothing is deployed; "
            "to promote one environment's versions to others, make it a registry and the others its consumers "
            "(docs/infrastructure.md, \"Several accounts\")")
    return source, group


def deploy_model(target: AwsTarget, arn: str, version: str | None, *, registry: AwsTarget | None = None,
                 note: Callable[[str], None] = lambda _line: None) -> dict[str, str]:
    """Make an approved model version the active one of the target's environment (the approval-triggered job).

    A consumer takes versions of its registry's group only, any other environment versions of its own group
    only (what ResolveModel accepts). The version must be Approved: read in the registry account with `registry`
    (its own read-only role) for a consumer, with the environment's credentials otherwise. Its ARN is then
    written to the active-model SSM parameter that ResolveModel reads; writing the value it already holds changes
    nothing. Versions move forward only (PROMOTION_ORDER): a version approved in a later environment is not
    pushed back (DEPLOY_ACTION=skipped). Returns the dotenv record of what was done."""
    settings = target.settings
    env = settings.environment
    parts = parse_package_arn(arn)
    if version and version != parts["version"]:
        raise OperationError(f"MODEL_PACKAGE_VERSION={version} does not match the ARN's version {parts['version']}")
    source, origin = _package_source(target, parts)
    if flows_backwards(source, env):
        return {"DEPLOYED_ENVIRONMENT": env, "DEPLOYED_MODEL_PACKAGE_ARN": "", "DEPLOYED_MODEL_PACKAGE_VERSION": "",
                "SOURCE_ENVIRONMENT": source or "", "DEPLOY_ACTION": "skipped"}
    if parts["region"] != settings.region:
        raise OperationError(f"the package is in region {parts['region']}, environment '{env}' in {settings.region}")
    reader = registry or target
    try:
        package = reader.client("sagemaker").describe_model_package(ModelPackageName=arn)
    except ClientError as exc:
        raise OperationError(f"cannot read model package {arn} as environment '{reader.settings.environment}': "
                             f"{_aws_message(exc)}") from None
    status = package.get("ModelApprovalStatus", "unknown")
    if status != "Approved":
        raise OperationError(f"model package {arn} is {status}, not Approved: nothing deployed")
    previous = _active_value(target)
    note(f"{env}: version {parts['version']} of {origin}, {status} (read as '{reader.settings.environment}')")
    action = "unchanged" if previous == arn else _write_active(target, arn, f"deployed version {parts['version']} of "
                                                                            f"{origin}")
    return {
        "DEPLOYED_ENVIRONMENT": env,
        "DEPLOYED_MODEL_PACKAGE_ARN": arn,
        "DEPLOYED_MODEL_PACKAGE_VERSION": parts["version"],
        "DEPLOYED_MODEL_ACCOUNT": parts["account"],
        "SOURCE_ENVIRONMENT": source or "",
        "PREVIOUS_MODEL_PACKAGE_ARN": previous,
        "ACTIVE_MODEL_PARAMETER": active_model_parameter(settings),
        "DEPLOY_ACTION": action,
    }


def _active_value(target: AwsTarget) -> str:
    parameter = active_model_parameter(target.settings)
    try:
        return target.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as exc:
        raise OperationError(f"SSM parameter {parameter} of environment '{target.settings.environment}' is not "
                             f"readable ({_aws_message(exc)}): is the stack applied?") from None


def _write_active(target: AwsTarget, value: str, why: str) -> str:
    """Point the active-model parameter at `value`; `why` is kept as that parameter version's description (the
    record a later rollback reads)."""
    target.client("ssm").put_parameter(Name=active_model_parameter(target.settings), Value=value, Type="String",
                                       Overwrite=True, Description=why[:1024])  # PutParameter: Description max 1024
    return "updated"


_ROLLBACK_NOTE = "rollback: rejected "  # the description of a parameter version written by rollback_model


def rollback_model(target: AwsTarget, *, registry: AwsTarget | None = None) -> dict[str, str]:
    """Reject the environment's active version here only: its active-model parameter goes back to the newest
    earlier value (its SSM history) that is still an Approved version, else to `none` (a consumer then stops at
    ResolveModel with a clear failure, a standalone environment uses its latest Approved version). The registry
    and the other environments are untouched. Returns the dotenv record of what was done."""
    settings = target.settings
    parameter = active_model_parameter(settings)
    current = _active_value(target)
    if current == contracts.ACTIVE_MODEL_NONE:
        raise OperationError(f"environment '{settings.environment}' has no active model version ({parameter} is "
                             f"'{current}'): nothing to roll back")
    history = target.client("ssm").get_paginator("get_parameter_history").paginate(Name=parameter)
    entries = [entry for page in history for entry in page["Parameters"]]
    reader = (registry or target).client("sagemaker")
    restored = contracts.ACTIVE_MODEL_NONE
    rejected = {current, contracts.ACTIVE_MODEL_NONE}
    for entry in reversed(entries):  # newest first; a version rejected by an earlier rollback stays rejected
        value, description = entry["Value"], entry.get("Description") or ""
        if description.startswith(_ROLLBACK_NOTE):
            rejected.add(description.removeprefix(_ROLLBACK_NOTE))
        if value in rejected:
            continue
        try:
            if reader.describe_model_package(ModelPackageName=value).get("ModelApprovalStatus") == "Approved":
                restored = value
                break
        except ClientError:
            continue  # a version that no longer exists or cannot be read is no rollback target
    _write_active(target, restored, _ROLLBACK_NOTE + current)
    return {"ROLLED_BACK_ENVIRONMENT": settings.environment, "REJECTED_MODEL_PACKAGE_ARN": current,
            "RESTORED_MODEL_PACKAGE_ARN": restored, "ACTIVE_MODEL_PARAMETER": parameter}


def deployment_problems(target: AwsTarget, definitions: Path | None = None) -> list[str]:
    """What keeps the environment from being promoted: missing pipelines, a missing active-model parameter, and
    with `definitions` (this commit's `<pipeline name>.json` files) any deployed pipeline that differs."""
    settings = target.settings
    problems = []
    sagemaker = target.client("sagemaker")
    for key, name in settings.pipeline_names.items():
        try:
            deployed = sagemaker.describe_pipeline(PipelineName=name)
        except ClientError as exc:
            problems.append(f"{settings.environment}: pipeline '{name}' ({key}) is not deployed: {_aws_message(exc)}")
            continue
        if definitions is not None:
            problems += _definition_differences(settings.environment, name, deployed, definitions / f"{name}.json")
    parameter = active_model_parameter(settings)
    try:
        target.client("ssm").get_parameter(Name=parameter)
    except ClientError as exc:
        problems.append(f"{settings.environment}: SSM parameter {parameter} is missing: {_aws_message(exc)}")
    return problems


def _definition_differences(env: str, name: str, deployed: dict, built_file: Path) -> list[str]:
    try:
        built = json.loads(built_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{env}: no readable built definition for '{name}' at {built_file} ({exc})"]
    if json.loads(deployed.get("PipelineDefinition") or "null") != built:
        return [f"{env}: pipeline '{name}' differs from this commit's definition ({built_file}): "
                f"upsert {env} from this commit before promoting"]
    return []


def delete_pipelines(target: AwsTarget) -> list[str]:
    """Delete the environment's pipelines (missing ones are skipped, so the teardown can be repeated)."""
    deleted = []
    sagemaker = target.client("sagemaker")
    for name in target.settings.pipeline_names.values():
        try:
            sagemaker.describe_pipeline(PipelineName=name)
        except ClientError as exc:
            if exc.response["Error"].get("Code") in _MISSING_CODES:
                continue
            raise
        sagemaker.delete_pipeline(PipelineName=name)  # botocore fills the idempotency token
        deleted.append(name)
    return deleted


def delete_step_scripts(target: AwsTarget) -> int:
    """Every object version and delete marker under the code prefix (the bucket is versioned)."""
    s3 = target.client("s3")
    bucket, prefix = target.settings.bucket, target.settings.prefixes.code + "/"
    removed = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
            for start in range(0, len(keys), 1000):
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[start:start + 1000], "Quiet": True})
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise OperationError(f"s3://{bucket}/{first['Key']}: {first.get('Message', first.get('Code'))}")
                removed += len(keys[start:start + 1000])
    except ClientError as exc:
        if exc.response["Error"].get("Code") in _MISSING_CODES:
            return removed
        raise
    return removed
