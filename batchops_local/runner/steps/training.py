"""Training steps: the built-in XGBoost algorithm run as a local process with the SageMaker training layout
(aws-contracts §8.2-8.3); also the single training job the tuning step runs many times."""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchops_local.runner import training_toolkit, xgboost_algorithm
from batchops_local.runner.aws import AwsClients, join_uri, parse_s3_uri
from batchops_local.runner.errors import FAILURE_REASON_MAX, StepFailed
from batchops_local.runner.executor import StepContext, StepResult
from batchops_local.runner.expressions import to_text
from batchops_local.runner.jobs import (
    SCRIPT_IMAGES,
    XGBOOST_IMAGE,
    JobDir,
    job_name,
    job_process_environment,
    require_image,
    run_job_process,
)
from batchops_local.runner.logs import StepLog
from batchops_local.runner.runtimes import interpreter_for

# One per-round log line: `[12]<TAB or #011>train-rmse:1.2<TAB>validation-rmse:1.3`.
_ROUND_LINE = re.compile(r"\[[0-9]+\].*?(?:\t|#011)(?:train|validation)-")
# A metric value ends at the next separator; `\S+` alone would swallow `#011` separators.
_VALUE = r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|nan|inf))"
_METRIC = re.compile(rf"(?:\t|#011)(train|validation)-([A-Za-z0-9_@\-.]+):{_VALUE}")




@dataclass
class TrainingOutcome:
    name: str
    arn: str
    status: str  # Completed / Failed
    model_uri: str | None
    metrics: dict[str, float]  # e.g. {"validation:rmse": 2.1}
    failure_reason: str | None
    log_text: str
    start_time: datetime
    end_time: datetime


def final_metrics(log_text: str) -> dict[str, float]:
    """`validation:rmse` etc. from the last per-round line (what SageMaker reports as FinalMetricDataList)."""
    last = None
    for line in log_text.splitlines():
        if _ROUND_LINE.search(line):
            last = line
    if last is None:
        return {}
    return {f"{data}:{metric}": float(value) for data, metric, value in _METRIC.findall(last)}


def objective_regex(metric_name: str) -> re.Pattern[str]:
    """The built-in algorithm's regex for `validation:rmse`, matching `\\t` as well as CloudWatch's `#011`."""
    data, _, metric = metric_name.partition(":")
    return re.compile(rf".*\[[0-9]+\].*(?:#011|\t){re.escape(data)}-{re.escape(metric)}:{_VALUE}")


def matched_values(pattern: re.Pattern[str], log_text: str) -> list[float]:
    """The numbers a metric regex captures (its first group) in a job's log, line by line, in log order; a capture
    that is not a number is not a metric value."""
    values = []
    for line in log_text.splitlines():
        match = pattern.search(line)
        if match and match.groups():
            try:
                values.append(float(match.group(1)))
            except ValueError:
                pass
    return values


def metric_definition_values(definitions: list[dict[str, Any]], log_text: str) -> dict[str, float]:
    """Each MetricDefinitions regex over the job's log; the last value it matched, as SageMaker reports it."""
    found = {}
    for definition in definitions:
        values = matched_values(re.compile(definition["Regex"]), log_text)
        if values:
            found[definition["Name"]] = values[-1]
    return found


def is_script_mode(hyperparameters: dict[str, Any]) -> bool:
    """A framework container's script mode: the entry point is given (sagemaker_program)."""
    return training_toolkit.PROGRAM in hyperparameters


def definition_hyperparameters(definition: dict[str, Any]) -> dict[str, Any]:
    """A training job's hyperparameters, or a tuning job's static ones."""
    return definition.get("HyperParameters") or definition.get("StaticHyperParameters") or {}


def objective_pattern(definition: dict[str, Any], metric: str, *, what: str) -> re.Pattern[str]:
    """The regex whose matches in a training job's log are the values of tuning objective `metric`: the built-in
    algorithm's own, or in script mode the job definition's MetricDefinitions entry of that name."""
    if not is_script_mode(definition_hyperparameters(definition)):
        return objective_regex(metric)
    regexes = {item.get("Name"): item.get("Regex")
               for item in (definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []}
    if metric not in regexes:
        raise StepFailed(f"{what}: the objective metric '{metric}' is not defined in the training job definition's "
                         f"MetricDefinitions ({', '.join(sorted(regexes)) or 'none defined'}); a script's metrics "
                         "are read from its log with those regexes")
    return re.compile(regexes[metric])


def check_training_algorithm(definition: dict[str, Any], *, what: str) -> None:
    algorithm = definition.get("AlgorithmSpecification") or {}
    script_mode = is_script_mode(definition_hyperparameters(definition))
    require_image(algorithm.get("TrainingImage"), SCRIPT_IMAGES if script_mode else (XGBOOST_IMAGE,), what=what)
    mode = algorithm.get("TrainingInputMode", "File")
    if mode != "File":
        raise StepFailed(f"{what}: TrainingInputMode '{mode}' is not supported locally (File only)")
    channels = definition.get("InputDataConfig") or []
    if not channels:
        raise StepFailed(f"{what}: InputDataConfig is empty; the algorithm needs a 'train' channel")
    count = (definition.get("ResourceConfig") or {}).get("InstanceCount")
    if count is not None and int(count) > 1:  # one process would silently stand in for a distributed job
        raise StepFailed(f"{what}: ResourceConfig.InstanceCount {count}: distributed training (the algorithm's "
                         "instances training one model together) is not run locally; use 1 instance")


def run_training_job(aws: AwsClients, definition: dict[str, Any], hyperparameters: dict[str, str], *,
                     name: str, directory: Path, log: StepLog, stop_requested: Any,
                     keep_job_dir: bool, cpu_share: int | None = None) -> TrainingOutcome:
    """One training job: stage channels, run the algorithm, upload model.tar.gz.

    The job directory goes below `directory`, the job's output into `log` (its text is parsed for metrics, so
    give each concurrent job its own log). A job that ran and failed is an outcome, not an exception, so
    tuning can go on with other jobs; staging problems raise StepFailed. `cpu_share` caps the job's threads:
    on SageMaker each job has an instance of its own, here parallel jobs share this machine's cores."""
    start = datetime.now(UTC)
    arn = aws.arn("training-job", name)
    aws.check_job_network(definition.get("VpcConfig"), "CreateTrainingJob")
    job = JobDir(directory, name)
    output_path = (definition.get("OutputDataConfig") or {}).get("S3OutputPath")
    parse_s3_uri(output_path, what="OutputDataConfig.S3OutputPath")
    channel_config = {}
    for channel in definition.get("InputDataConfig") or []:
        channel_name = channel.get("ChannelName")
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        what = f"training channel '{channel_name}'"
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise StepFailed(f"{what}: S3DataType '{source.get('S3DataType')}' is not supported locally")
        files = aws.download_prefix(source.get("S3Uri"), job.opt_ml / "input" / "data" / channel_name, what=what)
        log.note(f"channel {channel_name}: {len(files)} object(s) from {source.get('S3Uri')}")
        channel_config[channel_name] = {
            "ContentType": channel.get("ContentType"), "TrainingInputMode": channel.get("InputMode", "File"),
            "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
        }
    resources = definition.get("ResourceConfig") or {}
    job.write_json("/opt/ml/input/config/hyperparameters.json", hyperparameters)
    job.write_json("/opt/ml/input/config/inputdataconfig.json", channel_config)
    job.write_json("/opt/ml/input/config/resourceconfig.json", {
        "current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0",
        "current_instance_type": resources.get("InstanceType", "local"),
    })
    (job.opt_ml / "model").mkdir(parents=True, exist_ok=True)
    environment = {key: job.rewrite(to_text(value)) for key, value in (definition.get("Environment") or {}).items()}
    environment.update(aws.job_environment(network_isolation=bool(definition.get("EnableNetworkIsolation"))))
    environment.update({"SAGEMAKER_BASE_DIR": str(job.opt_ml), "TRAINING_JOB_NAME": name, "TRAINING_JOB_ARN": arn})
    if cpu_share:
        environment["OMP_NUM_THREADS"] = str(cpu_share)
    max_runtime = (definition.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    # The algorithm runs as a file under the image's runtime (Python and xgboost of the image), not as a module
    # of this harness, which that runtime does not have.
    python = interpreter_for((definition.get("AlgorithmSpecification") or {}).get("TrainingImage"),
                             what=f"training job {name}", note=log.note)
    script_mode = is_script_mode(hyperparameters)
    entry_point = training_toolkit if script_mode else xgboost_algorithm
    code = run_job_process([python, entry_point.__file__, "train"],
                           job=job, env=job_process_environment(environment), log=log,
                           max_runtime_seconds=float(max_runtime) if max_runtime else None,
                           stop_requested=stop_requested)
    log_text = log.path.read_text(encoding="utf-8", errors="replace")
    if code != 0:
        reason = job.failure_message("/opt/ml/output/failure") or f"training job {name} exited with code {code}"
        if script_mode:  # SageMaker reports a framework container's failure file this way
            reason = f"AlgorithmError: {reason}"[:FAILURE_REASON_MAX]
        return TrainingOutcome(name, arn, "Failed", None, {}, reason, log_text, start, datetime.now(UTC))
    model_uri = join_uri(output_path, name, "output", "model.tar.gz")
    archive = job.root / "model.tar.gz"
    _tar_directory(job.opt_ml / "model", archive)
    aws.upload_file(archive, model_uri, what="model artefact")
    output_data = job.opt_ml / "output" / "data"
    if output_data.is_dir() and any(output_data.iterdir()):
        _tar_directory(output_data, job.root / "output.tar.gz")
        aws.upload_file(job.root / "output.tar.gz", join_uri(output_path, name, "output", "output.tar.gz"),
                        what="training output data")
    log.note(f"model artefact -> {model_uri}")
    if not keep_job_dir:
        job.remove()
    metric_definitions = (definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
    metrics = metric_definition_values(metric_definitions, log_text) if script_mode else final_metrics(log_text)
    return TrainingOutcome(name, arn, "Completed", model_uri, metrics, None, log_text, start, datetime.now(UTC))


def _tar_directory(source: Path, archive: Path) -> None:
    """Files at the archive root (the container's `model.tar.gz` layout: `xgboost-model` at the top)."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.is_symlink():
                tar.add(path, arcname=path.relative_to(source).as_posix())


def training_properties(arguments: dict[str, Any], outcome: TrainingOutcome,
                        hyperparameters: dict[str, str]) -> dict[str, Any]:
    stamp = outcome.end_time.isoformat()
    return {
        **arguments, "HyperParameters": hyperparameters, "TrainingJobName": outcome.name,
        "TrainingJobArn": outcome.arn, "TrainingJobStatus": outcome.status,
        "ModelArtifacts": {"S3ModelArtifacts": outcome.model_uri},
        "FinalMetricDataList": [{"MetricName": k, "Value": v, "Timestamp": stamp} for k, v in outcome.metrics.items()],
        "TrainingStartTime": outcome.start_time.isoformat(), "TrainingEndTime": stamp,
    }


def run_training(context: StepContext) -> StepResult:
    name = job_name(context.execution_id, context.name)
    arguments = context.arguments(TrainingJobName=name)
    what = f"Training step '{context.name}'"
    check_training_algorithm(arguments, what=what)
    hyperparameters = {key: to_text(value) for key, value in (arguments.get("HyperParameters") or {}).items()}
    outcome = run_training_job(context.aws, arguments, hyperparameters, name=name, directory=context.directory,
                               log=context.log, stop_requested=context.stop_requested,
                               keep_job_dir=context.keep_job_dirs)
    context.metadata["TrainingJob"] = {"Arn": outcome.arn}
    if outcome.status != "Completed":
        raise StepFailed(outcome.failure_reason or f"training job {name} failed")
    return StepResult(properties=training_properties(arguments, outcome, hyperparameters))
