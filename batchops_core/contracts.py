"""Names shared across languages and processes: Python, Terraform (HCL), Jinja templates and the step scripts.

Defined here once. Terraform reads them from a generated JSON file (`terraform/contracts.json`, written by
`export()`; a test fails when the file and this module disagree). Step scripts receive this module as a shipped
file, so it must stay importable on the processing images' Python (3.9) with the standard library only.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: the Lambdas' cold start pays for every import
if TYPE_CHECKING:
    from typing import Any

# ------------------------------------------------------------------------------------------ pipelines

TRAINING = "training"
TRAINING_HPO = "training_hpo"
INFERENCE = "inference"
MODEL_QUALITY = "model_quality"  # a batch's stored predictions against ground truth that arrived after it
PIPELINE_KINDS: tuple[str, ...] = (TRAINING, TRAINING_HPO, INFERENCE, MODEL_QUALITY)


class Step:
    """Step names: stable, because EventBridge rules, notification rules and the report match them."""

    PREPROCESS = "Preprocess"
    DATA_QUALITY_BASELINE = "DataQualityBaseline"
    TRAIN = "Train"
    TUNE = "Tune"
    EVALUATE = "Evaluate"
    CHECK_METRIC = "CheckMetric"
    REGISTER_MODEL = "RegisterModel"
    METRIC_ABOVE_THRESHOLD = "MetricAboveThreshold"
    RESOLVE_MODEL = "ResolveModel"
    CREATE_MODEL = "CreateModel"
    DATA_QUALITY_CHECK = "DataQualityCheck"
    BATCH_TRANSFORM = "BatchTransform"
    LABEL_PREDICTIONS = "LabelPredictions"  # classification models only: predictions with people's labels
    MODEL_QUALITY_CHECK = "ModelQualityCheck"  # computes the batch's metric and writes its result; succeeds
    CHECK_MODEL_QUALITY = "CheckModelQuality"  # Condition on that result
    MODEL_QUALITY_VIOLATED = "ModelQualityViolated"  # Fail: a genuine violation; the retraining rule matches it
    PUBLISH_PREDICTIONS = "PublishPredictions"  # the batch's predictions under the results prefix
    # compute.processing_instance_count > 1: the built-in data-quality engine profiles each instance's share of
    # the batch in this step, and DataQualityCheck (one instance) merges the shares' partial profiles.
    DATA_QUALITY_CHECK_SHARDS = "DataQualityCheckShards"


# The step that profiles the shares of a data-quality step's dataset on several instances, by that step.
SHARDS_STEPS: dict[str, str] = {Step.DATA_QUALITY_CHECK: Step.DATA_QUALITY_CHECK_SHARDS}


_TRAINING_STEPS = (Step.PREPROCESS, Step.DATA_QUALITY_BASELINE, Step.TRAIN, Step.EVALUATE, Step.CHECK_METRIC,
                   Step.REGISTER_MODEL, Step.METRIC_ABOVE_THRESHOLD)

PIPELINE_STEPS: dict[str, tuple[str, ...]] = {
    TRAINING: _TRAINING_STEPS,
    TRAINING_HPO: tuple(Step.TUNE if step == Step.TRAIN else step for step in _TRAINING_STEPS),
    INFERENCE: (Step.RESOLVE_MODEL, Step.PREPROCESS, Step.CREATE_MODEL, Step.DATA_QUALITY_CHECK_SHARDS,
                Step.DATA_QUALITY_CHECK,
                Step.BATCH_TRANSFORM, Step.LABEL_PREDICTIONS,
                Step.PUBLISH_PREDICTIONS, Step.MODEL_QUALITY_CHECK, Step.CHECK_MODEL_QUALITY,
                Step.MODEL_QUALITY_VIOLATED),
    # The same three step names as inference: the retraining rule and the notification rules match them.
    MODEL_QUALITY: (Step.MODEL_QUALITY_CHECK, Step.CHECK_MODEL_QUALITY, Step.MODEL_QUALITY_VIOLATED),
}
# A framework container's script mode: the training hyperparameters (aws/sagemaker-training-toolkit, params.py)
# and the serving environment (aws/sagemaker-inference-toolkit, parameters.py) that locate the model's code: the
# entry point relative to the source directory, and the S3 archive of that directory.
# The framework containers by the SDK's names (sagemaker image_uris): sagemaker-scikit-learn, sagemaker-xgboost.
SCRIPT_FRAMEWORK_SKLEARN, SCRIPT_FRAMEWORK_XGBOOST = SCRIPT_FRAMEWORKS = ("sklearn", "xgboost")
SCRIPT_PROGRAM_HYPERPARAMETER = "sagemaker_program"
SCRIPT_SUBMIT_DIRECTORY_HYPERPARAMETER = "sagemaker_submit_directory"
SCRIPT_PROGRAM_ENVIRONMENT = "SAGEMAKER_PROGRAM"
SCRIPT_SUBMIT_DIRECTORY_ENVIRONMENT = "SAGEMAKER_SUBMIT_DIRECTORY"
# The Evaluate step's processing input holding that archive (script mode: Evaluate scores with the script's code).
SCRIPT_CODE_INPUT = "model_code"

# Pipelines that train and register model versions: an environment that trains nothing (accounts.role =
# consumer) deploys none of them, and no rule starts them there.
TRAINING_PIPELINES: tuple[str, ...] = (TRAINING, TRAINING_HPO)
# Pipelines whose ModelQualityViolated step starts retraining.
MODEL_QUALITY_PIPELINES: tuple[str, ...] = (INFERENCE, MODEL_QUALITY)
# A consumer (accounts.role) retrains nothing: its models, and their retraining, are its registry environment's.
# Its notification function gets the registry from these variables (unset: retraining starts here).
REGISTRY_ENVIRONMENT_VARIABLE = "REGISTRY_ENVIRONMENT"
REGISTRY_ACCOUNT_VARIABLE = "REGISTRY_ACCOUNT_ID"


def retraining(registry_environment: str = "", registry_account_id: str = "") -> str:
    """What a model-quality violation leads to, as emails and reports say it: retraining here, or none here
    because the registry environment (a consumer's) trains the models."""
    if not registry_environment:
        return "retraining starts"
    # Short: it ends the default email subject, and SNS cuts subjects at 100 characters.
    return f"retraining in registry '{registry_environment}' (account {registry_account_id})"
ALL_STEPS: tuple[str, ...] = tuple(sorted({step for steps in PIPELINE_STEPS.values() for step in steps}))

# Pipeline parameters every pipeline declares; EventBridge S3 targets fill the first two.
PARAM_INPUT_BUCKET = "InputBucket"
PARAM_INPUT_KEY = "InputKey"
# Gate thresholds are parameters too (defaults from the config), so a run can use another threshold and every
# reader sees the one the run used.
PARAM_REGISTRATION_THRESHOLD = "RegistrationThreshold"  # training pipelines
PARAM_MODEL_QUALITY_THRESHOLD = "ModelQualityThreshold"  # inference and model-quality pipelines

# ------------------------------------------------------------------------------------------ statuses
# SageMaker's values (DescribePipelineExecution / ListPipelineExecutionSteps and the status-change events).

EXECUTION_STATUSES: tuple[str, ...] = ("Executing", "Stopping", "Stopped", "Failed", "Succeeded")
STEP_STATUSES: tuple[str, ...] = ("Starting", "Executing", "Stopping", "Stopped", "Failed", "Succeeded")
FINAL_EXECUTION_STATUSES: tuple[str, ...] = ("Stopped", "Failed", "Succeeded")
MODEL_APPROVAL_STATUSES: tuple[str, ...] = ("PendingManualApproval", "Approved", "Rejected")

# ------------------------------------------------------------------------------------------ events

SAGEMAKER_EVENT_SOURCE = "aws.sagemaker"
S3_EVENT_SOURCE = "aws.s3"
EXECUTION_STATUS_DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Status Change"
STEP_STATUS_DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Step Status Change"
MODEL_PACKAGE_DETAIL_TYPE = "SageMaker Model Package State Change"
S3_OBJECT_CREATED_DETAIL_TYPE = "Object Created"
# Sent by PublishPredictions (PutEvents on the default bus) once a batch's predictions are published; the detail
# carries RESULTS_EVENT_FIELDS. `aws.`-sources are reserved for AWS services (PutEvents rejects them).
RESULTS_EVENT_SOURCE = "batchops.predictions"
RESULTS_READY_DETAIL_TYPE = "Batch Predictions Ready"
RESULTS_EVENT_FIELDS = ("pipelineExecutionArn", "batch", "results", "rows", "modelPackageArn")
# User metadata of a published results object: the execution that wrote it (S3 keeps each version's metadata).
RESULTS_METADATA_EXECUTION = "execution-arn"
RESULTS_LOCATION_DETAIL = "results"  # PublishPredictions' result.json: details[...] is the s3:// URI published

# ------------------------------------------------------------------------------------------ resources

ACTIVE_MODEL_PARAMETER_TEMPLATE = "/{project}/{environment}/active-model-package-arn"
ACTIVE_MODEL_NONE = "none"  # the pointer's value before any approval (and after the last one is rejected)
DEDUP_TABLE_TEMPLATE = "{project}-{environment}-event-dedup"
# The SageMaker execution role a stack creates; a registry grants its consumers' roles by this name.
EXECUTION_ROLE_TEMPLATE = "{project}-{environment}-sagemaker-execution"
# Tag (value: <project>-<environment>) of the subnets and the security group the stack creates for its jobs
# (network.create_vpc): the pipeline upsert finds them by it.
JOB_NETWORK_TAG = "batchops:job-network"


def active_model_parameter(project: str, environment: str) -> str:
    """SSM parameter that names the model package version the inference pipeline uses."""
    return ACTIVE_MODEL_PARAMETER_TEMPLATE.format(project=project, environment=environment)


def dedup_table(project: str, environment: str) -> str:
    return DEDUP_TABLE_TEMPLATE.format(project=project, environment=environment)


def partition_of(region: str) -> str:
    """The ARN partition of a region: `aws-cn` for cn-*, `aws-us-gov` for us-gov-*, else `aws`
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# ------------------------------------------------------------------------------------------ step outputs


class OutputFile:
    """File names the steps write and the CLI, report and Lambdas read."""

    PREPROCESSING = "preprocessing.json"  # the fitted feature preprocessing (Preprocess, training)
    RESOLVED_MODEL = "model.json"  # the model version an inference run uses (ResolveModel)
    EVALUATION = "evaluation.json"  # Evaluate's metrics (the registration gate reads it)
    MODEL_QUALITY_REPORT = "report.json"  # ModelQualityCheck's report
    FEEDBACK = "feedback.csv"  # labelled batch for retraining
    STEP_RESULT = "result.json"  # the structured result of a deciding step (see `StepResult` in results.py)
    STATISTICS = "statistics.json"  # Model Monitor formats
    CONSTRAINTS = "constraints.json"
    CONSTRAINT_VIOLATIONS = "constraint_violations.json"


# Where an inference run records its scored batch (batch, predictions, execution), for a later model-quality
# run started by the batch's ground truth: `<outputs prefix>/<BATCH_INDEX_FOLDER>/<sha256 of the batch's path
# relative to the inference prefix>.json` (a digest: fixed length whatever the key's).
BATCH_INDEX_FOLDER = "batches"
MODEL_QUALITY_WAITING = "waiting for ground truth"  # the skipped reason of a batch scored without labels
MODEL_QUALITY_WAITING_DETAIL = "waiting_for_ground_truth"  # its flag in the result's details
# The label column's class counts in a data-quality statistics.json, and the class balance verdict of a check in
# its result's details (pipelines/scripts/data_quality.py, which is self-contained, restates the first).
LABEL_DISTRIBUTION = "label_distribution"
CLASS_BALANCE_DETAIL = "class_balance"


def batch_index_key(outputs_prefix: str, relative_path: str) -> str:
    """The index object of the batch `<inference prefix>/<relative_path>`."""
    import hashlib

    digest = hashlib.sha256(relative_path.strip("/").encode()).hexdigest()
    return f"{outputs_prefix.rstrip('/')}/{BATCH_INDEX_FOLDER}/{digest}.json"


# What a registered model version refers to, as (step, output) of a training run, each written under
# `<outputs prefix>/<training pipeline>/<execution id>/<step>/<output>/`: its model artefact (Train or Tune), its
# fitted preprocessing and its drift-check baselines. A registry's consumers may read these outputs, nothing else.
QUALITY_CHECK_OUTPUT = "quality_check_output"  # the data-quality steps' output (statistics, constraints)
MODEL_VERSION_OUTPUTS: tuple[tuple[str, str], ...] = (
    (Step.TRAIN, "model"), (Step.TUNE, "model"), (Step.PREPROCESS, "preprocessing"),
    (Step.DATA_QUALITY_BASELINE, QUALITY_CHECK_OUTPUT))

STEP_RESULT_OUTPUT = "result"  # the processing output name under which a deciding step writes STEP_RESULT

# The dataset schema reaches the step scripts as a file, the processing input DATASET_SCHEMA_INPUT at
# /opt/ml/processing/input/<input>/<file> (an environment value may hold 256 characters at most:
# ProcessingEnvironmentValue, botocore sagemaker service-2.json).
DATASET_SCHEMA_INPUT = "schema"
DATASET_SCHEMA_FILE = "dataset_schema.json"


def export() -> dict[str, Any]:
    """Everything above as plain JSON data, for Terraform (`terraform/contracts.json`) and templates."""
    from batchops_core import datasets

    return {
        "pipeline_kinds": list(PIPELINE_KINDS),
        "training_pipelines": list(TRAINING_PIPELINES),
        "registry_variables": {"environment": REGISTRY_ENVIRONMENT_VARIABLE, "account_id": REGISTRY_ACCOUNT_VARIABLE},
        "steps": {name.lower(): value for name, value in vars(Step).items() if not name.startswith("_")},
        "pipeline_steps": {kind: list(steps) for kind, steps in PIPELINE_STEPS.items()},
        "execution_statuses": list(EXECUTION_STATUSES),
        "step_statuses": list(STEP_STATUSES),
        "final_execution_statuses": list(FINAL_EXECUTION_STATUSES),
        "model_approval_statuses": list(MODEL_APPROVAL_STATUSES),
        "parameters": {"input_bucket": PARAM_INPUT_BUCKET, "input_key": PARAM_INPUT_KEY,
                       "registration_threshold": PARAM_REGISTRATION_THRESHOLD,
                       "model_quality_threshold": PARAM_MODEL_QUALITY_THRESHOLD},
        "events": {
            "sagemaker_source": SAGEMAKER_EVENT_SOURCE,
            "s3_source": S3_EVENT_SOURCE,
            "execution_status_detail_type": EXECUTION_STATUS_DETAIL_TYPE,
            "step_status_detail_type": STEP_STATUS_DETAIL_TYPE,
            "model_package_detail_type": MODEL_PACKAGE_DETAIL_TYPE,
            "s3_object_created_detail_type": S3_OBJECT_CREATED_DETAIL_TYPE,
            "results_source": RESULTS_EVENT_SOURCE,
            "results_ready_detail_type": RESULTS_READY_DETAIL_TYPE,
        },
        "datasets": {"single_object_suffix": datasets.SINGLE_OBJECT_SUFFIX, "part_suffix": datasets.PART_SUFFIX},
        "active_model_parameter_template": ACTIVE_MODEL_PARAMETER_TEMPLATE,
        "active_model_none": ACTIVE_MODEL_NONE,
        "dedup_table_template": DEDUP_TABLE_TEMPLATE,
        "execution_role_template": EXECUTION_ROLE_TEMPLATE,
        "model_version_outputs": [{"step": step, "output": output} for step, output in MODEL_VERSION_OUTPUTS],
        "job_network_tag": JOB_NETWORK_TAG,
        "output_files": {name.lower(): value for name, value in vars(OutputFile).items() if not name.startswith("_")},
        "step_result_output": STEP_RESULT_OUTPUT,
        "model_quality_pipelines": list(MODEL_QUALITY_PIPELINES),
    }
