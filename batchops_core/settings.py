"""The one configuration: `env_files/<env>.tfvars`, parsed with python-hcl2 into a typed, validated object.

Terraform reads the same file with `-var-file`. Every problem is reported as one line naming the file,
the key, what was expected and what was found (`ConfigError.problems`), never as a traceback.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUndefined

from batchops_core import contracts, datasets, metrics, quotas

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_DIR = PROJECT_ROOT / "env_files"
# Any valid name is an environment (the file env_files/<name>.tfvars declares it); the one named `local` runs on
# the embedded emulator unless its file says `emulated = false` (see Settings.emulated).
LOCAL_ENVIRONMENT = "local"
PIPELINE_KEYS = contracts.PIPELINE_KINDS
PIPELINE_STEP_STATUSES = (*contracts.STEP_STATUSES, "*")

_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
_NAME = re.compile(r"^[a-z][a-z0-9\-]*[a-z0-9]$")
NAME_PATTERN = _NAME.pattern  # project and environment names; also Terraform's validation (derived.tf)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
# Prefix characters: S3's "safe characters" (object-key naming guidelines,
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html) that CreateModelPackage also accepts in
# CustomerMetadataProperties values ([\p{L}\p{Z}\p{N}_.:/=+\-@]*, botocore sagemaker service-2.json
# CustomerMetadataValue): output URIs under the `outputs` prefix are registered with each model version.
_PREFIX = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
_TRIGGER_FILE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.]*$")
_KMS_ARN = re.compile(r"^arn:aws[a-z\-]*:kms:[a-z0-9\-]+:\d{12}:key/[A-Za-z0-9\-]+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_\-/]+$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@\-]{1,512}$")


class ConfigError(Exception):
    """Raised with one human-readable line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    # validate_default: a default is checked like a value from a file, so a wrong default cannot ship.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)


PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


# ------------------------------------------------------------------------------------------- validators


def validate_schedule_expression(expression: str) -> str:
    """EventBridge `rate(N unit)` or six-field `cron(min hour day-of-month month day-of-week year)`."""
    rate = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            raise ValueError(f"rate value must be >= 1, found {value}")
        if (value == 1) != (not unit.endswith("s")):
            raise ValueError(f"use '{value} {unit.rstrip('s') if value == 1 else unit + 's'}' in a rate expression")
        return expression
    cron = re.fullmatch(r"cron\((.+)\)", expression)
    if not cron:
        raise ValueError("expected 'rate(N minutes|hours|days)' or 'cron(min hour dom month dow year)'")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ValueError(f"a cron expression has 6 fields (min hour dom month dow year), found {len(fields)}")
    minute, hour, dom, month, dow, year = fields
    limits = [("minutes", minute, 0, 59), ("hours", hour, 0, 23), ("year", year, 1970, 2199)]
    for label, value, low, high in limits:
        _check_cron_field(label, value, low, high, words={})
    months = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
    days = {d: i + 1 for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
    _check_cron_field("month", month, 1, 12, words=months)
    if (dom == "?") == (dow == "?"):
        raise ValueError("exactly one of day-of-month and day-of-week must be '?'")
    if dom != "?":
        _check_cron_field("day-of-month", dom.rstrip("W").replace("L", "31") or "31", 1, 31, words={})
    if dow != "?":
        _check_cron_field("day-of-week", dow.split("#")[0].rstrip("L") or "7", 1, 7, words=days)
    return expression


def _check_cron_field(label: str, value: str, low: int, high: int, words: dict[str, int]) -> None:
    if value == "*":
        return
    for part in value.split(","):
        base, _, step = part.partition("/")
        if step and not step.isdigit():
            raise ValueError(f"cron {label} step '{step}' is not a number")
        bounds = base.split("-") if base != "*" else []
        for bound in bounds:
            number = words.get(bound.upper()) if bound.upper() in words else (int(bound) if bound.isdigit() else None)
            if number is None or not low <= number <= high:
                raise ValueError(f"cron {label} value '{bound}' is outside {low}-{high}")


# ------------------------------------------------------------------------------------------- fields
# Every key has its default here, once, with a short description; `env_files/local.tfvars` states every key
# (the annotated reference), the other env files only what differs. Terraform's variable types and defaults
# are generated from these fields (batchops.generated), never retyped.


def _key(default: Any = PydanticUndefined, description: str = "", **constraints: Any) -> Any:
    """A documented key: its default (omit for a required key) and what it means."""
    return Field(default, description=description, **constraints)


def _derived(template: str, description: str) -> Any:
    """A name whose default is derived from `project` and `environment` (filled in before validation)."""
    return Field(description=f"{description} (default {template})", json_schema_extra={"derived": template})


def _section(model: type[BaseModel], description: str) -> Any:
    """A block whose keys all have defaults: the whole block may be left out."""
    return Field(default_factory=model, description=description)


# ------------------------------------------------------------------------------------------- sections


# Bucket names are global (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html): a suffix
# makes the configured name unique and stays deterministic.
BUCKET_NAME_SUFFIXES = {"": "", "account_id": "-{account_id}", "region_account": "-{region}-{account_id}"}
_ACCOUNT_ID = re.compile(r"^\d{12}$")


class Storage(_Strict):
    bucket_name: str = _derived("{project}-{environment}-data", "S3 bucket of data, outputs and step code")
    bucket_name_suffix: Literal[tuple(BUCKET_NAME_SUFFIXES)] = _key(
        "", "appended to bucket_name: '' none | account_id '-<account id>' | region_account "
            "'-<region>-<account id>' (bucket names are global)")
    create_bucket: bool = _key(True, "false: use an existing bucket of this name")
    kms_key_arn: str = _key("", "empty: create a customer-managed key (rotation on); else the key to use")
    existing_bucket_kms_key_arn: str = _key(
        "", "create_bucket = false: the existing bucket's SSE-KMS key (granted to the SageMaker role); empty: none")
    existing_bucket_eventbridge_acknowledged: bool = _key(
        False, "create_bucket = false: true confirms EventBridge delivery is enabled on the bucket (the stack does "
               "not manage the bucket's notification configuration)")
    # 0 rather than null for "no rule": Terraform replaces a null optional attribute with its default.
    noncurrent_version_expiration_days: int = _key(
        30, "days before noncurrent object versions expire; 0: no lifecycle rule (noncurrent versions are kept)",
        ge=0)
    force_destroy: bool = _key(False, "true: destroying the stack deletes the bucket's objects too")

    @field_validator("bucket_name")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError(f"a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-'), found '{value}'")
        return value

    @field_validator("kms_key_arn", "existing_bucket_kms_key_arn")
    @classmethod
    def _kms(cls, value: str) -> str:
        if value and not _KMS_ARN.match(value):
            raise ValueError(f"empty or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), found '{value}'")
        return value

    @model_validator(mode="after")
    def _existing_bucket(self) -> Storage:
        if not self.create_bucket and not self.existing_bucket_eventbridge_acknowledged:
            raise ValueError(
                "create_bucket = false needs existing_bucket_eventbridge_acknowledged = true (enable EventBridge "
                "delivery on the bucket first) and existing_bucket_kms_key_arn set when the bucket uses SSE-KMS")
        if self.create_bucket and self.existing_bucket_kms_key_arn:
            raise ValueError("existing_bucket_kms_key_arn applies only with create_bucket = false")
        return self

    def suffix_length(self, region: str) -> int:
        """Characters the suffix adds: '-' and 12 digits, plus '-<region>' for region_account."""
        return len(BUCKET_NAME_SUFFIXES[self.bucket_name_suffix].format(region=region, account_id="0" * 12))


class Prefixes(_Strict):
    training: str = _key("data/training", "a CSV (or a folder's trigger file) dropped here starts the training "
                                          "pipeline")
    inference: str = _key("data/inference", "a CSV (or a folder's trigger file) dropped here starts the "
                                            "batch-inference pipeline")
    ground_truth: str = _key("data/ground-truth", "labels of a batch, at the batch's relative path")
    outputs: str = _key("pipeline-runs", "executions write under <outputs>/<pipeline>/<execution id>/")
    code: str = _key("pipeline-code", "step scripts uploaded by the pipeline upsert")
    results: str = _key("data/predictions", "each scored batch's predictions, at the batch's relative path")

    @field_validator("*")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError(f"a key prefix without leading/trailing '/' or spaces, found '{value}'")
        return value

    @model_validator(mode="after")
    def _no_overlap(self) -> Prefixes:
        items = list(self.model_dump().items())
        for i, (name_a, a) in enumerate(items):
            for name_b, b in items[i + 1 :]:
                if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
                    raise ValueError(f"prefixes must not overlap: {name_a}='{a}' and {name_b}='{b}'")
        return self


class Column(_Strict):
    name: str = _key(description="column name as in the CSV header")
    type: Literal["integer", "float", "categorical"] = _key(description="integer, float or categorical")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _COLUMN.match(value):
            raise ValueError(f"a column name of letters, digits, '_', '-', '.', found '{value}'")
        return value


class Dataset(_Strict):
    header: bool = _key(True, "the CSV files start with a header line")
    record_key: str = _key(description="column matched between predictions and labels")
    target: str = _key(description="column the model predicts: integer or float for regression; any type (class "
                                   "labels) for classification")
    columns: list[Column] = _key(description="every column, in file order", min_length=2)

    @model_validator(mode="after")
    def _consistent(self) -> Dataset:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"column names must be unique, duplicated: {', '.join(duplicates)}")
        if self.target not in names:
            raise ValueError(f"target '{self.target}' is not one of the columns ({', '.join(names)})")
        if self.record_key not in names:
            raise ValueError(f"record_key '{self.record_key}' is not one of the columns ({', '.join(names)})")
        if self.record_key == self.target:
            raise ValueError("record_key and target must be different columns")
        if not self.feature_columns:
            raise ValueError("the schema needs at least one feature column besides record_key and target")
        return self

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def feature_columns(self) -> list[Column]:
        return [c for c in self.columns if c.name not in (self.target, self.record_key)]

    @property
    def categorical_features(self) -> list[str]:
        return [c.name for c in self.feature_columns if c.type == "categorical"]

    @property
    def numeric_features(self) -> list[str]:
        return [c.name for c in self.feature_columns if c.type != "categorical"]


MODEL_ALGORITHMS = ("xgboost-builtin", "script")
BUILTIN_ALGORITHM, SCRIPT_ALGORITHM = MODEL_ALGORITHMS


class ModelGates(_Strict):
    algorithm: Literal[MODEL_ALGORITHMS] = _key(
        BUILTIN_ALGORITHM, "xgboost-builtin: SageMaker's built-in XGBoost algorithm (section xgboost) | script: "
                           "your own training script in a framework container (section script, "
                           "docs/bring-your-own-model.md)")
    problem_type: Literal[metrics.PROBLEM_TYPES] | None = _key(
        None, "regression | binary | multiclass; left out (null): the problem type of the metric (required for a "
              "metric of several problem types, e.g. accuracy)")
    metric: Literal[metrics.METRIC_NAMES] = _key("rmse", "the gate metric (batchops_core.metrics)")
    # Thresholds depend on the target's scale, like the schema: no sensible default.
    registration_threshold: float = _key(description="training registers a model only if it passes this")
    model_quality_threshold: float = _key(description="a scored batch that misses this starts retraining")
    # The classes are stated, not learned from the data: the built-in algorithm needs num_class as a static
    # hyperparameter of the pipeline definition (built before any data exists), binary metrics need to know which
    # label is positive, and a label outside this list (in training data or ground truth) is a clear error.
    classes: list[str] = _key([], "classification: the target's labels in class-index order (binary: negative, "
                                  "then positive); empty for regression")
    decision_threshold: Annotated[float, Field(gt=0, lt=1)] = _key(
        metrics.DEFAULT_DECISION_THRESHOLD, "binary: probability at and above which the positive class is predicted")
    validation_fraction: Fraction = _key(0.15, "share of rows held out for validation")
    test_fraction: Fraction = _key(0.15, "share of rows held out for the test metric")
    split_seed: Annotated[int, Field(ge=0)] = _key(42, "seed of the train/validation/test split")

    @property
    def problem(self) -> str:
        """The problem type: stated, or the only one the metric belongs to (_problem checks it is unambiguous)."""
        if self.problem_type is not None:
            return self.problem_type
        problems = metrics.problem_types_of(self.metric)
        return problems[0] if len(problems) == 1 else ""

    @property
    def gate_metric(self) -> metrics.Metric:
        return metrics.get(self.metric, self.problem)

    @property
    def is_classification(self) -> bool:
        return self.problem in metrics.CLASSIFICATION

    @model_validator(mode="after")
    def _problem(self) -> ModelGates:
        if not self.problem:
            raise ValueError(f"problem_type: metric '{self.metric}' exists for "
                             f"{' and '.join(metrics.problem_types_of(self.metric))} problems; state problem_type")
        if self.problem not in metrics.problem_types_of(self.metric):
            raise ValueError(f"metric: '{self.metric}' is not a {self.problem} metric; {self.problem} "
                             f"metrics: {', '.join(m.name for m in metrics.for_problem(self.problem))}")
        if not self.is_classification:
            if self.classes:
                raise ValueError(f"classes: a regression model has no classes, found {self.classes}")
            return self
        duplicates = sorted({c for c in self.classes if self.classes.count(c) > 1})
        if duplicates:
            raise ValueError(f"classes: each label once, duplicated: {', '.join(duplicates)}")
        if any(not label or label != label.strip() for label in self.classes):
            raise ValueError(f"classes: labels must be non-empty without surrounding spaces, found {self.classes}")
        if self.problem == metrics.BINARY and len(self.classes) != 2:
            raise ValueError(f"classes: a binary model needs exactly 2 labels (negative, then positive), found "
                             f"{len(self.classes)}: {self.classes}")
        if self.problem == metrics.MULTICLASS and len(self.classes) < 3:
            raise ValueError(f"classes: a multiclass model needs at least 3 labels (2 make a binary model), found "
                             f"{len(self.classes)}: {self.classes}")
        return self

    @property
    def higher_is_better(self) -> bool:
        return self.gate_metric.higher_is_better

    @model_validator(mode="after")
    def _thresholds(self) -> ModelGates:
        metric = self.gate_metric
        for key in ("registration_threshold", "model_quality_threshold"):
            problem = metric.threshold_problem(getattr(self, key))
            if problem:
                raise ValueError(f"{key}: {problem}")
        # Registration must be at least as strict as the batch gate: a model that just passes registration would
        # otherwise fail its first scored batch (and start retraining). Direction from the metric registry.
        if not metric.passes(self.registration_threshold, self.model_quality_threshold):
            direction = "higher" if metric.higher_is_better else "lower"
            raise ValueError(
                f"registration_threshold ({self.registration_threshold}) is looser than model_quality_threshold "
                f"({self.model_quality_threshold}) for {self.metric} ({direction} is better): a registered model "
                f"could fail its first batch; expected registration_threshold {metric.comparison} "
                f"{self.model_quality_threshold}")
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError("validation_fraction + test_fraction must leave at least 10% of rows for training")
        return self

    def passes(self, value: float, threshold: float) -> bool:
        """The registry's comparison rule for the configured metric: equal to the threshold passes."""
        return self.gate_metric.passes(value, threshold)


class XGBoost(_Strict):
    framework_version: Literal["1.7-1", "3.0-5"] = _key("1.7-1", "SageMaker built-in XGBoost image version")
    hyperparameters: dict[str, str] = _key(
        {"objective": "reg:squarederror", "eval_metric": "rmse", "num_round": "120", "max_depth": "5",
         "eta": "0.1", "subsample": "0.8", "min_child_weight": "2"},
        "algorithm hyperparameters as strings; a given map replaces this one whole (num_round required)")

    @field_validator("hyperparameters")
    @classmethod
    def _num_round(cls, value: dict[str, str]) -> dict[str, str]:
        if "num_round" not in value:
            raise ValueError("num_round is required by the built-in XGBoost algorithm")
        if not value["num_round"].isdigit() or int(value["num_round"]) < 1:
            raise ValueError(f"num_round must be a positive whole number, found '{value['num_round']}'")
        return value


# Framework containers of script mode and the versions that have a local runtime with the framework installed
# (batchops_local/runner/runtimes.py; tests/runner/test_runtimes.py checks each against its row).
SCRIPT_FRAMEWORK_VERSIONS: dict[str, tuple[str, ...]] = {contracts.SCRIPT_FRAMEWORK_SKLEARN: ("1.2-1",),
                                                         contracts.SCRIPT_FRAMEWORK_XGBOOST: ("1.7-1", "3.0-5")}
# CreateTrainingJob limits (botocore's SageMaker service model): MetricDefinitionList, MetricName, MetricRegex,
# HyperParameters (count), HyperParameterKey and HyperParameterValue.
_SCRIPT_LIMIT_SHAPES = {"metric_definitions": "MetricDefinitionList", "metric_name": "MetricName",
                        "metric_regex": "MetricRegex", "hyperparameters": "HyperParameters",
                        "hyperparameter_key": "HyperParameterKey", "hyperparameter_value": "HyperParameterValue"}
# Hyperparameters the framework containers reserve (sagemaker_program, sagemaker_submit_directory, ...): the
# pipelines set them from entry_point and source_dir.
RESERVED_HYPERPARAMETER_PREFIX = "sagemaker_"


@functools.cache
def sagemaker_shape_limit(shape: str) -> int:
    """The `max` of a SageMaker API shape (a list's items, a map's entries, a string's length) in botocore's model."""
    from botocore.loaders import create_loader  # lazily: only checking a configuration needs the service model

    return int(create_loader().load_service_model("sagemaker", "service-2")["shapes"][shape]["max"])


class MetricDefinition(_Strict):
    name: str = _key(description="metric name, e.g. validation:rmse (a tuning objective must be one of these)")
    regex: str = _key(description="regular expression over the training log; its first group is the value")

    @field_validator("name", "regex")
    @classmethod
    def _length(cls, value: str, info: ValidationInfo) -> str:
        limit = sagemaker_shape_limit(_SCRIPT_LIMIT_SHAPES[f"metric_{info.field_name}"])
        if not 1 <= len(value) <= limit:
            raise ValueError(f"1 to {limit} characters (SageMaker MetricDefinition.{info.field_name.title()}), "
                             f"found {len(value)}")
        return value

    @field_validator("regex")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc}): '{value}'") from None
        if pattern.groups < 1:
            raise ValueError(f"needs a capturing group around the value, e.g. 'rmse=([0-9.]+)', found '{value}'")
        return value


class Script(_Strict):
    framework: Literal[tuple(SCRIPT_FRAMEWORK_VERSIONS)] = _key(
        contracts.SCRIPT_FRAMEWORK_SKLEARN,
        "framework container that runs the script: sklearn (scikit-learn) | xgboost (XGBoost framework mode)")
    framework_version: str = _key(
        "1.2-1", "the framework container's version: "
                 + "; ".join(f"{name} {' | '.join(versions)}" for name, versions in SCRIPT_FRAMEWORK_VERSIONS.items()))
    source_dir: str = _key("examples/sklearn_model", "folder of the model code, relative to the repository root; "
                                                     "uploaded whole (with requirements.txt if any)")
    entry_point: str = _key("examples/sklearn_model/train.py",
                            "training script (.py) inside source_dir, relative to the repository root; it also "
                            "holds the serving functions (model_fn, optional input_fn/predict_fn/output_fn)")
    hyperparameters: dict[str, str] = _key(
        {"n_estimators": "200", "max_depth": "3", "learning_rate": "0.1"},
        "the script's command-line arguments (--name value) as strings; a given map replaces this one whole")
    metric_definitions: list[MetricDefinition] = _key(
        [MetricDefinition(name="validation:rmse", regex=r"validation:rmse=([-+0-9.eE]+)")],
        "metrics read from the training log (name, regex with one group); hpo.objective_metric must be one of "
        "them; a given list replaces this one whole")

    @field_validator("source_dir", "entry_point")
    @classmethod
    def _in_repository(cls, value: str, info: ValidationInfo) -> str:
        path = (PROJECT_ROOT / value).resolve()
        if Path(value).is_absolute() or not path.is_relative_to(PROJECT_ROOT):
            raise ValueError(f"a path inside the repository, relative to its root, found '{value}'")
        wanted = "directory" if info.field_name == "source_dir" else "file"
        if not (path.is_dir() if wanted == "directory" else path.is_file()):
            raise ValueError(f"no {wanted} '{value}' in the repository")
        if info.field_name == "entry_point" and path.suffix != ".py":
            raise ValueError(f"a Python file (.py), found '{value}'")
        return value

    @field_validator("hyperparameters")
    @classmethod
    def _hyperparameters(cls, value: dict[str, str]) -> dict[str, str]:
        count, key_limit, value_limit = (sagemaker_shape_limit(_SCRIPT_LIMIT_SHAPES[name]) for name in
                                         ("hyperparameters", "hyperparameter_key", "hyperparameter_value"))
        reserved = sorted(k for k in value if k.startswith(RESERVED_HYPERPARAMETER_PREFIX))
        if reserved:
            raise ValueError(f"'{reserved[0]}' is reserved by the framework containers (sagemaker_*: the pipelines "
                             "set sagemaker_program and sagemaker_submit_directory from entry_point and source_dir)")
        # The pipelines add sagemaker_program and sagemaker_submit_directory.
        if len(value) + 2 > count:
            raise ValueError(f"at most {count - 2} (SageMaker allows {count} hyperparameters, two are the "
                             f"script's location), found {len(value)}")
        for key, text in value.items():
            if not key or len(key) > key_limit or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", key):
                raise ValueError(f"'{key}': a command-line option name of letters, digits, '_', '-' (at most "
                                 f"{key_limit} characters)")
            if len(text) > value_limit:
                raise ValueError(f"'{key}': at most {value_limit} characters (SageMaker HyperParameterValue), "
                                 f"found {len(text)}")
        return value

    @field_validator("metric_definitions")
    @classmethod
    def _definitions(cls, value: list[MetricDefinition]) -> list[MetricDefinition]:
        limit = sagemaker_shape_limit(_SCRIPT_LIMIT_SHAPES["metric_definitions"])
        if len(value) > limit:
            raise ValueError(f"at most {limit} (SageMaker MetricDefinitions), found {len(value)}")
        names = [d.name for d in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"each metric name once, duplicated: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Script:
        versions = SCRIPT_FRAMEWORK_VERSIONS[self.framework]
        if self.framework_version not in versions:
            raise ValueError(f"framework_version: {self.framework} runs locally in version "
                             f"{' or '.join(versions)}, found '{self.framework_version}'")
        source = (PROJECT_ROOT / self.source_dir).resolve()
        if not (PROJECT_ROOT / self.entry_point).resolve().is_relative_to(source):
            raise ValueError(f"entry_point: '{self.entry_point}' is not inside source_dir '{self.source_dir}' (the "
                             "container runs the entry point from the uploaded source directory)")
        return self

    @property
    def program(self) -> str:
        """The entry point relative to the source directory: the containers' sagemaker_program."""
        return (PROJECT_ROOT / self.entry_point).resolve().relative_to(
            (PROJECT_ROOT / self.source_dir).resolve()).as_posix()

    @property
    def source_path(self) -> Path:
        return (PROJECT_ROOT / self.source_dir).resolve()

    def metric_names(self) -> list[str]:
        return [d.name for d in self.metric_definitions]


class HpoRange(_Strict):
    name: str = _key(description="hyperparameter to tune")
    type: Literal["integer", "continuous"] = _key(description="integer or continuous")
    min: float = _key(description="lower bound")
    max: float = _key(description="upper bound")
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = _key("Auto", "search scale")

    @model_validator(mode="after")
    def _bounds(self) -> HpoRange:
        if not self.min < self.max:
            raise ValueError(f"range '{self.name}': min ({self.min}) must be below max ({self.max})")
        if self.type == "integer" and (self.min != int(self.min) or self.max != int(self.max)):
            raise ValueError(f"range '{self.name}': integer ranges need whole-number bounds")
        if self.scaling == "Logarithmic" and self.min <= 0:
            raise ValueError(f"range '{self.name}': Logarithmic scaling needs min > 0")
        return self


_TUNING_OBJECTIVES = metrics.TUNING_OBJECTIVE_NAMES
# eval_metric name -> the registry metrics behind it (to refuse one of another problem type)
_ENTRIES_BY_XGBOOST_NAME: dict[str, list[metrics.Metric]] = {
    name: [m for m in metrics.METRICS.values() if m.xgboost_eval_metric == name]
    for name in {m.xgboost_eval_metric for m in metrics.METRICS.values() if m.xgboost_eval_metric}}
_TUNING_PARALLEL = "sagemaker.tuning_parallel_training_jobs"


class Hpo(_Strict):
    strategy: Literal["Random", "Bayesian", "Hyperband"] = _key("Random", "tuning search strategy")
    objective_metric: Literal[_TUNING_OBJECTIVES] = _key(
        "validation:rmse", "tuning objective (batchops_core.metrics.TUNING_OBJECTIVES) of the model's problem type")
    max_jobs: PositiveInt = _key(4, "training jobs per tuning job")
    max_parallel_jobs: PositiveInt = _key(2, "training jobs at the same time")
    ranges: list[HpoRange] = _key(
        [HpoRange(name="max_depth", type="integer", min=3, max=8),
         HpoRange(name="eta", type="continuous", min=0.05, max=0.3),
         HpoRange(name="min_child_weight", type="continuous", min=1, max=6)],
        "hyperparameter ranges; a given list replaces this one whole", min_length=1)

    @field_validator("strategy", mode="before")
    @classmethod
    def _no_grid(cls, value: Any) -> Any:
        # Grid search takes categorical ranges only, and MaxNumberOfTrainingJobs must be left out or equal the
        # number of combinations (https://docs.aws.amazon.com/sagemaker/latest/dg/automatic-model-tuning-how-it-works.html,
        # CreateHyperParameterTuningJob); the ranges here are integer or continuous.
        if value == "Grid":
            raise ValueError("Grid is not supported: AWS grid search takes categorical ranges only and hpo.ranges "
                             "are integer or continuous; use Random, Bayesian or Hyperband")
        return value

    @model_validator(mode="after")
    def _budget(self) -> Hpo:
        for key, quota in (("max_jobs", self.max_jobs_quota), ("max_parallel_jobs", _TUNING_PARALLEL)):
            value = getattr(self, key)
            if value > quotas.limit(quota):
                raise ValueError(f"{key} ({value}) exceeds SageMaker's limit of {quotas.limit(quota)} "
                                 f"{quotas.BY_KEY[quota].what}")
        if self.max_parallel_jobs > self.max_jobs:
            raise ValueError(f"max_parallel_jobs ({self.max_parallel_jobs}) exceeds max_jobs ({self.max_jobs})")
        names = [r.name for r in self.ranges]
        if len(set(names)) != len(names):
            raise ValueError("each hyperparameter may have one range only")
        return self

    @property
    def max_jobs_quota(self) -> str:
        """The quota (batchops_core.quotas) of max_jobs: it depends on the strategy."""
        return f"sagemaker.tuning_training_jobs.{self.strategy}"


class FolderDatasets(_Strict):
    trigger_file: str = _key(datasets.DEFAULT_TRIGGER_FILE,
                             "file name that completes a folder of .csv.gz part files: its arrival starts one run "
                             "over the whole folder (batchops_core/datasets.py)")

    @field_validator("trigger_file")
    @classmethod
    def _trigger_file(cls, value: str) -> str:
        # One key segment of S3 "safe characters" (no '*': it is EventBridge's wildcard character in the rules).
        if not _TRIGGER_FILE.match(value) or value in (".", ".."):
            raise ValueError(f"a file name of letters, digits, '_', '-', '.', found '{value}'")
        if value.lower().endswith((datasets.SINGLE_OBJECT_SUFFIX, datasets.PART_SUFFIX)):
            raise ValueError(f"a trigger file must not be named like data ('{value}' ends in "
                             f"{datasets.SINGLE_OBJECT_SUFFIX} or {datasets.PART_SUFFIX})")
        return value


class DataQuality(_Strict):
    engine: Literal["model_monitor", "builtin"] = _key(
        "builtin", "model_monitor (QualityCheck step) | builtin (our engine as a processing step)")
    on_drift: Literal["warn", "fail"] = _key("warn", "warn: report and keep scoring | fail: stop the batch")
    comparison_threshold: Annotated[float, Field(gt=0, le=1)] = _key(0.1, "drift distance that counts as drift")
    comparison_method: Literal["Simple", "Robust"] = _key("Robust", "Model Monitor baseline comparison method")
    categorical_drift_method: Literal["LInfinity", "ChiSquared"] = _key("LInfinity", "categorical drift distance")


class Compute(_Strict):
    processing_instance_type: str = _key("ml.m5.large", "instance type of processing steps")
    processing_instance_count: PositiveInt = _key(
        1, "instances of the processing steps that split their work: the inference Preprocess (by file) and, "
           "with the builtin engine, the inference DataQualityCheckShards (ShardedByS3Key, merged by "
           "DataQualityCheck); the other processing steps work on their whole input on one instance")
    training_instance_type: str = _key("ml.m5.xlarge", "instance type of training and tuning jobs")
    training_instance_count: PositiveInt = _key(1, "instances per training job")
    transform_instance_type: str = _key("ml.m5.large", "instance type of batch transform")
    transform_instance_count: PositiveInt = _key(1, "instances per batch transform")
    volume_size_gb: PositiveInt = _key(30, "storage volume per instance, GB")
    max_runtime_seconds: Annotated[int, Field(gt=0, le=432000)] = _key(86400, "time limit of every job")

    @field_validator("processing_instance_count")
    @classmethod
    def _processing_instances(cls, value: int) -> int:
        # Only the steps named in the description split their work (batchops_local/runner/README.md, "Scale-out");
        # every other processing step is built with one instance, so any count up to the API's limit is safe.
        most = sagemaker_limit("ProcessingInstanceCount", "max")
        if value > most:
            raise ValueError(f"at most {most} (SageMaker's limit of a processing job's InstanceCount), found {value}")
        return value

    @field_validator("processing_instance_type", "training_instance_type", "transform_instance_type")
    @classmethod
    def _instance(cls, value: str, info: ValidationInfo) -> str:
        # Each job kind has its own list: an instance type valid for training may not exist for processing.
        kind = info.field_name.removesuffix("_instance_type")
        valid = sagemaker_instance_types(kind)
        if value not in valid:
            others = [other for other in _INSTANCE_TYPE_SHAPES if value in sagemaker_instance_types(other)]
            elsewhere = f"; it is one for {' and '.join(others)}" if others else ""
            close = ", ".join(repr(c) for c in _close_instance_types(value, valid))
            raise ValueError(f"'{value}' is not a SageMaker {kind} instance type (did you mean {close}?){elsewhere}")
        return value


# The API enum of each job kind's instance types (botocore's SageMaker service model).
_INSTANCE_TYPE_SHAPES = {"processing": "ProcessingInstanceType", "training": "TrainingInstanceType",
                         "transform": "TransformInstanceType"}


def _close_instance_types(value: str, valid: tuple[str, ...]) -> list[str]:
    """Three valid types nearest `value`: the same family first, then the same size, then the most alike."""
    family, _, size = value.rpartition(".")

    def nearness(candidate: str) -> tuple[bool, bool, float]:
        return (candidate.startswith(f"{family}."), candidate.endswith(f".{size}"),
                difflib.SequenceMatcher(None, value, candidate).ratio())

    return sorted(valid, key=nearness, reverse=True)[:3]


@functools.cache
def sagemaker_limit(shape: str, bound: str) -> int:
    """A numeric limit (`min` / `max`) of a SageMaker API shape (botocore's service model)."""
    from botocore.loaders import create_loader  # lazily: only checking a configuration needs the service model

    return int(create_loader().load_service_model("sagemaker", "service-2")["shapes"][shape][bound])


def sagemaker_instance_types(kind: str) -> tuple[str, ...]:
    """The instance types SageMaker accepts for `kind` (processing, training incl. tuning, transform)."""
    from botocore.loaders import create_loader  # lazily: only checking a configuration needs the service model

    shapes = create_loader().load_service_model("sagemaker", "service-2")["shapes"]
    return tuple(shapes[_INSTANCE_TYPE_SHAPES[kind]]["enum"])


class Pipelines(_Strict):
    training_name: str = _derived("{project}-{environment}-training", "training pipeline name")
    training_hpo_name: str = _derived("{project}-{environment}-training-hpo", "training-with-HPO pipeline name")
    inference_name: str = _derived("{project}-{environment}-inference", "batch-inference pipeline name")
    model_quality_name: str = _derived("{project}-{environment}-model-quality",
                                       "model-quality pipeline name (ground truth that arrives after its batch)")
    model_package_group: str = _derived("{project}-{environment}-models", "model package group name")
    execution_role_arn: str = _key("", "empty: Terraform creates a least-privilege SageMaker execution role")

    @field_validator("training_name", "training_hpo_name", "inference_name", "model_quality_name",
                     "model_package_group")
    @classmethod
    def _lower(cls, value: str) -> str:
        # All lower case: EventBridge patterns and SageMaker ARNs then agree on the name's case.
        if not _NAME.match(value) or len(value) > 63:
            raise ValueError(f"a lower-case name of letters, digits and '-' (max 63), found '{value}'")
        return value

    @field_validator("execution_role_arn")
    @classmethod
    def _role(cls, value: str) -> str:
        if value and not _ROLE_ARN.match(value):
            raise ValueError(f"empty or an IAM role ARN (arn:aws:iam::<account>:role/<name>), found '{value}'")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> Pipelines:
        names = [self.name_of(key) for key in PIPELINE_KEYS]
        if len(set(names)) != len(names):
            raise ValueError(f"the {len(names)} pipeline names must differ")
        return self

    def name_of(self, key: str) -> str:
        return getattr(self, f"{key}_name")


class NotificationRule(_Strict):
    pipeline: str = _key("*", "pipeline name pattern (fnmatch)")
    step: str = _key(description="step name or pattern (fnmatch); '' or a pattern for execution events")
    status: str = _key(description="step or execution status, or '*'")
    mute: bool = _key(False, "true: never send what this rule selects")
    subject: str = _key("", "Jinja2 subject template; empty: the default template")
    body: str = _key("", "Jinja2 body template; empty: the default template")

    @field_validator("step")
    @classmethod
    def _step(cls, value: str) -> str:
        # A plain name must be a real step (a typo would silently never match); patterns are taken as given.
        if value and not any(c in value for c in "*?[") and value not in contracts.ALL_STEPS:
            close = difflib.get_close_matches(value, contracts.ALL_STEPS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"a step name of the pipelines or a pattern, found '{value}'{hint}")
        return value

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        if value not in PIPELINE_STEP_STATUSES:
            raise ValueError(f"one of {', '.join(PIPELINE_STEP_STATUSES)}, found '{value}'")
        return value

    @field_validator("subject", "body")
    @classmethod
    def _template(cls, value: str) -> str:
        import jinja2

        try:
            jinja2.Environment().parse(value)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"a valid Jinja2 template ({exc.message}, line {exc.lineno})") from None
        return value


class Notifications(_Strict):
    recipients: list[str] = _key([], "email addresses subscribed to the notification topic")
    slack_webhook_secret_name: str = _key("", "Secrets Manager secret holding a Slack-compatible webhook URL")
    rules: list[NotificationRule] = _key(
        [NotificationRule(step=contracts.Step.DATA_QUALITY_CHECK, status="Succeeded",
                          subject="[{{ environment }}] data quality report for {{ pipeline }}"),
         # Any pipeline: the step exists in the inference and the model-quality pipelines only.
         NotificationRule(pipeline="*", step=contracts.Step.MODEL_QUALITY_VIOLATED, status="Failed",
                          subject="[{{ environment }}] model quality below threshold: {{ retraining }}")],
        "per-step/per-status message rules, first match wins; final execution statuses and failed steps are "
        "always sent; a given list replaces this one whole")

    @field_validator("recipients")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _EMAIL.match(v)]
        if bad:
            raise ValueError(f"valid email addresses, found {', '.join(repr(b) for b in bad)}")
        if len(set(value)) != len(value):
            raise ValueError("each recipient once")
        return value

    @field_validator("slack_webhook_secret_name")
    @classmethod
    def _secret(cls, value: str) -> str:
        if value and not _SECRET_NAME.match(value):
            raise ValueError(f"empty or a Secrets Manager secret name, found '{value}'")
        return value

    @property
    def has_receiver(self) -> bool:
        return bool(self.recipients or self.slack_webhook_secret_name)

    @model_validator(mode="after")
    def _someone_receives(self) -> Notifications:
        # Rules written in the file say messages are wanted; with nobody to receive them they go nowhere.
        # (Left at the defaults, an empty list is legitimate: Settings.warnings() mentions it.)
        if "rules" in self.model_fields_set and any(not r.mute for r in self.rules) and not self.has_receiver:
            raise ValueError("rules are configured but nobody receives them: recipients is empty and "
                             "slack_webhook_secret_name is unset; add a recipient or remove the rules")
        return self


class Schedule(_Strict):
    pipeline: Literal[PIPELINE_KEYS] = _key(description="which pipeline the schedule starts")
    expression: str = _key(description="EventBridge rate(...) or cron(...) expression")
    enabled: bool = _key(True, "false: keep the entry but create no schedule")
    parameters: dict[str, str] = _key({}, "pipeline parameters of the started execution")

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str) -> str:
        return validate_schedule_expression(value)


class Approval(_Strict):
    gitlab_trigger_enabled: bool = _key(False, "true: approving a model version triggers a GitLab pipeline")
    gitlab_url: str = _key("", "GitLab base URL (https://...)")
    gitlab_project_id: str = _key("", "GitLab project id")
    gitlab_ref: str = _key("main", "branch or tag the triggered pipeline runs on")
    gitlab_token_secret_name: str = _key("", "Secrets Manager secret holding the trigger token")

    @model_validator(mode="after")
    def _gitlab(self) -> Approval:
        if self.gitlab_url and not re.fullmatch(r"https://[^\s/]+(/[^\s]*)?", self.gitlab_url):
            raise ValueError(f"gitlab_url must be an https:// URL, found '{self.gitlab_url}'")
        if self.gitlab_token_secret_name and not _SECRET_NAME.match(self.gitlab_token_secret_name):
            raise ValueError(f"gitlab_token_secret_name is not a valid secret name: '{self.gitlab_token_secret_name}'")
        if self.gitlab_trigger_enabled:
            missing = [k for k in ("gitlab_url", "gitlab_project_id", "gitlab_ref", "gitlab_token_secret_name")
                       if not getattr(self, k)]
            if missing:
                raise ValueError(f"gitlab_trigger_enabled = true needs {', '.join(missing)}")
        return self


# ------------------------------------------------------------------------------------------- accounts
# Where an environment stands among several AWS accounts (docs/infrastructure.md, "Several accounts"):
# standalone trains and scores in its own account; a registry trains, registers and lets its consumers read
# approved model versions; a consumer scores with model versions of one registry and trains nothing.
STANDALONE, REGISTRY, CONSUMER = ENVIRONMENT_ROLES = ("standalone", "registry", "consumer")
TRAINING_PIPELINE_KEYS = contracts.TRAINING_PIPELINES
# A model package group name (EntityName, botocore's SageMaker service model).
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def _account_id(value: str) -> str:
    if not _ACCOUNT_ID.match(value):
        raise ValueError(f"a 12-digit AWS account id, found '{value}'")
    return value


class Consumer(_Strict):
    account_id: str = _key(description="12-digit AWS account id of the consumer environment")
    environment: str = _key(description="the consumer's environment name: its stack's SageMaker execution role "
                                        "(<project>-<environment>-sagemaker-execution) is granted read access")
    execution_role_arn: str = _key("", "the consumer's execution role when it sets pipelines.execution_role_arn; "
                                       "empty: the role its stack creates")

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        return _account_id(value)

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"an environment name of lower-case letters, digits and '-', found '{value}'")
        return value

    @field_validator("execution_role_arn")
    @classmethod
    def _role(cls, value: str) -> str:
        if value and not _ROLE_ARN.match(value):
            raise ValueError(f"empty or an IAM role ARN (arn:aws:iam::<account>:role/<name>), found '{value}'")
        return value

    @model_validator(mode="after")
    def _role_in_account(self) -> Consumer:
        if self.execution_role_arn and f":iam::{self.account_id}:" not in self.execution_role_arn:
            raise ValueError(f"execution_role_arn '{self.execution_role_arn}' is not in account {self.account_id}")
        return self


class RegistrySource(_Strict):
    environment: str = _key("", "the registry's environment name (env_files/<name>.tfvars): CI checks a version's "
                                "approval there with that environment's role")
    account_id: str = _key("", "12-digit AWS account id of the registry")
    model_package_group: str = _key("", "the registry's model package group name")
    bucket: str = _key("", "the registry's data bucket (model artefacts, baselines, preprocessing)")
    kms_key_arn: str = _key("", "the KMS key of the registry's bucket (its Terraform output kms_key_arn)")
    outputs_prefix: str = _key(Prefixes.model_fields["outputs"].default,
                               "the registry's prefixes.outputs (where its training runs write)")

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        return _account_id(value) if value else value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        if value and not _NAME.match(value):
            raise ValueError(f"an environment name of lower-case letters, digits and '-', found '{value}'")
        return value

    @field_validator("model_package_group")
    @classmethod
    def _group(cls, value: str) -> str:
        if value and not _GROUP_NAME.match(value):
            raise ValueError(f"a model package group name (letters, digits, '-', max 63), found '{value}'")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if value and (not _BUCKET.match(value) or ".." in value):
            raise ValueError(f"a valid S3 bucket name (3-63 lower-case letters, digits, '.', '-'), found '{value}'")
        return value

    @field_validator("kms_key_arn")
    @classmethod
    def _kms(cls, value: str) -> str:
        if value and not _KMS_ARN.match(value):
            raise ValueError(f"a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), found '{value}'")
        return value

    @field_validator("outputs_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError(f"a key prefix without leading/trailing '/' or spaces, found '{value}'")
        return value

    @property
    def is_set(self) -> bool:
        return any(getattr(self, key) for key in ("environment", "account_id", "model_package_group", "bucket",
                                                  "kms_key_arn"))


class Accounts(_Strict):
    account_id: str = _key("", "the AWS account the environment lives in; set: credentials of another account are "
                               "refused (and an emulated environment is served as this account); empty: the "
                               "account of the credentials")
    role: Literal[ENVIRONMENT_ROLES] = _key(
        STANDALONE, "standalone: trains and scores in its own account | registry: trains and registers, its "
                    "consumers read approved versions | consumer: scores with versions of registry, trains nothing")
    consumers: list[Consumer] = _key([], "role = registry: the consumer environments granted read access to the "
                                         "model versions, their artefacts and the bucket's key")
    registry: RegistrySource = _section(RegistrySource, "role = consumer: the registry its model versions come from")

    @field_validator("account_id")
    @classmethod
    def _account(cls, value: str) -> str:
        return _account_id(value) if value else value

    @model_validator(mode="after")
    def _by_role(self) -> Accounts:
        others = [c.account_id for c in self.consumers] + [self.registry.account_id]
        if self.account_id and self.account_id in others:
            raise ValueError(f"account {self.account_id} is this environment's own: a registry and its consumers "
                             "live in different accounts")
        if self.role == REGISTRY and not self.consumers:
            raise ValueError("role = registry needs consumers (the account id and environment of each consumer)")
        if self.role != REGISTRY and self.consumers:
            raise ValueError(f"consumers applies only with role = registry, found role = {self.role}")
        accounts = [c.account_id for c in self.consumers]
        if len(set(accounts)) != len(accounts):
            raise ValueError("consumers: each account once")
        if self.role == CONSUMER:
            missing = [key for key in ("environment", "account_id", "model_package_group", "bucket", "kms_key_arn")
                       if not getattr(self.registry, key)]
            if missing:
                raise ValueError(f"role = consumer needs registry.{', registry.'.join(missing)}")
            if f":{self.registry.account_id}:key/" not in self.registry.kms_key_arn:
                raise ValueError(f"registry.kms_key_arn '{self.registry.kms_key_arn}' is not in the registry's "
                                 f"account {self.registry.account_id}")
        elif self.registry.is_set:
            raise ValueError(f"registry applies only with role = consumer, found role = {self.role}")
        return self


# CloudWatch Logs retention values (PutRetentionPolicy, Amazon CloudWatch Logs API reference).
_LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653)


class Lambdas(_Strict):
    runtime: Literal["python3.12", "python3.13"] = _key("python3.12", "Lambda runtime of both functions")
    timeout_seconds: Annotated[int, Field(ge=3, le=900)] = _key(60, "function timeout")
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = _key(256, "function memory")
    reserved_concurrency: Annotated[int, Field(ge=1)] = _key(5, "reserved concurrent executions per function")
    log_retention_days: Literal[_LOG_RETENTION_DAYS] = _key(30, "CloudWatch Logs retention of the functions")


# VpcConfig of CreateProcessingJob/CreateTrainingJob/CreateTransformJob/CreateModel (botocore's SageMaker service
# model: Subnets 1-16 SubnetId, SecurityGroupIds 1-5 SecurityGroupId, each at most 32 of [-0-9a-zA-Z]); the id
# shapes themselves are EC2's (subnet-<hex>, sg-<hex>, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Subnet.html).
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
# Step kinds whose container never calls an AWS API (pipelines/scripts): they may run network-isolated. ResolveModel
# (SSM, model registry), ModelQualityCheck (S3 listing of a batch's labels) and the training Preprocess that folds
# in feedback (S3 listing) call AWS and never run isolated.
ISOLATABLE_STEP_KINDS = ("preprocess", "data_quality", "evaluate", "training", "transform")


class Network(_Strict):
    subnets: list[str] = _key([], "subnet ids the jobs run in (empty: no VPC; give security_group_ids too); two "
                                  "or more in different Availability Zones recommended")
    security_group_ids: list[str] = _key([], "security group ids of the jobs' network interfaces (with subnets)")
    create_vpc: bool = _key(False, "true: Terraform creates a VPC, two private subnets in two Availability Zones "
                                   "and a security group, and the jobs run in them (subnets and "
                                   "security_group_ids stay empty)")
    create_vpc_endpoints: bool = _key(
        False, "true: Terraform creates the endpoints jobs in a private VPC need (S3 gateway; SageMaker API, SSM, "
               "STS, CloudWatch Logs interface endpoints) in the jobs' VPC")
    network_isolation: list[Literal[ISOLATABLE_STEP_KINDS]] = _key(
        [], f"step kinds whose jobs run network-isolated (no AWS calls from the container): any of "
            f"{', '.join(ISOLATABLE_STEP_KINDS)}")
    encrypt_inter_container_traffic: bool = _key(
        True, "encrypt traffic between the instances of a distributed training or processing job")
    job_kms_key_arn: str = _key("", "KMS key of job volumes and outputs; empty: the stack's data key "
                                    "(storage.kms_key_arn, or the key Terraform creates)")

    @field_validator("subnets", "security_group_ids")
    @classmethod
    def _ids(cls, value: list[str], info: ValidationInfo) -> list[str]:
        shape, pattern, kind = {"subnets": ("Subnets", _SUBNET_ID, "subnet-<hex>"),
                                "security_group_ids": ("VpcSecurityGroupIds", _SECURITY_GROUP_ID, "sg-<hex>")}[
            info.field_name]
        bad = [item for item in value if not pattern.match(item)]
        if bad:
            raise ValueError(f"ids of the form {kind}, found {', '.join(repr(b) for b in bad)}")
        if len(set(value)) != len(value):
            raise ValueError("each id once")
        limit = sagemaker_shape_limit(shape)
        if len(value) > limit:
            raise ValueError(f"at most {limit} (SageMaker VpcConfig.{shape}), found {len(value)}")
        return value

    @field_validator("network_isolation")
    @classmethod
    def _isolation(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each step kind once")
        return value

    @field_validator("job_kms_key_arn")
    @classmethod
    def _job_key(cls, value: str) -> str:
        # A key ARN, not an alias: a training job's ResourceConfig.VolumeKmsKeyId takes a key id or key ARN only
        # (botocore's SageMaker service model, ResourceConfig.VolumeKmsKeyId).
        if value and not _KMS_ARN.match(value):
            raise ValueError(f"empty or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), found '{value}'")
        return value

    @model_validator(mode="after")
    def _vpc(self) -> Network:
        if bool(self.subnets) != bool(self.security_group_ids):
            raise ValueError("give both subnets and security_group_ids, or neither (SageMaker's VpcConfig needs "
                             "both)")
        if self.create_vpc and self.subnets:
            raise ValueError("create_vpc = true makes the subnets and the security group: leave subnets and "
                             "security_group_ids empty")
        if self.create_vpc_endpoints and not self.in_vpc:
            raise ValueError("create_vpc_endpoints = true needs a VPC: set subnets and security_group_ids, or "
                             "create_vpc = true")
        return self

    @property
    def in_vpc(self) -> bool:
        return bool(self.subnets) or self.create_vpc

    def isolated(self, step_kind: str) -> bool:
        return step_kind in self.network_isolation


class Settings(_Strict):
    # Required: they name everything (project, environment), place it (region), or describe the user's data
    # (dataset, model thresholds), so no default could be right.
    project: str = _key(description="Project name; first part of every resource name.")
    environment: str = _key(description="Environment name; second part of every resource name (lower case; its "
                                        "longest length follows from the AWS name limits of the derived names).")
    # Filled in by _fill_derived when left out: true for the environment named `local`, false for any other.
    emulated: bool = _key(False, "true: the environment runs on the embedded emulator (Terraform state under "
                                 "BATCHOPS_HOME, never an AWS account); left out: true only for the environment "
                                 "named local")
    region: str = _key(description="AWS region of every resource.")
    tags: dict[str, str] = _key({}, "Tags added to every resource (besides project, environment and managed-by).")
    # storage and pipelines may be left out too: _fill_derived always supplies them (their names are derived).
    storage: Storage = _key(description="The data bucket and its encryption key.")
    prefixes: Prefixes = _section(Prefixes, "Key prefixes inside the bucket (no leading or trailing slash; none "
                                            "may contain another).")
    dataset: Dataset = _key(description="CSV schema of the training and inference data (used by the pipelines).")
    folder_datasets: FolderDatasets = _section(FolderDatasets, "Datasets of many files: the trigger file that "
                                                               "completes a folder of part files.")
    model: ModelGates = _key(description="Model quality gates (used by the pipelines and the notification Lambda).")
    xgboost: XGBoost = _section(XGBoost, "Built-in XGBoost algorithm version and hyperparameters (used by the "
                                         "pipelines).")
    script: Script = _section(Script, "Your own training script in a framework container (used when "
                                      "model.algorithm = \"script\"; docs/bring-your-own-model.md).")
    hpo: Hpo = _section(Hpo, "Hyperparameter tuning of the training-with-HPO pipeline.")
    data_quality: DataQuality = _section(DataQuality, "Data-quality check settings (used by the pipelines).")
    compute: Compute = _section(Compute, "SageMaker instance types and counts (used by the pipelines).")
    pipelines: Pipelines = _key(description="Names of the three SageMaker pipelines, the model package group "
                                         "and the execution role.")
    notifications: Notifications = _section(Notifications, "Email recipients, optional Slack webhook secret, and "
                                                            "per-step/per-status message rules.")
    schedules: list[Schedule] = _key([], "EventBridge schedules that start a pipeline (only enabled ones are "
                                         "created).")
    approval: Approval = _section(Approval, "What happens when a model version is approved: optional GitLab "
                                            "pipeline trigger.")
    lambdas: Lambdas = _section(Lambdas, "Runtime settings shared by the two Lambda functions.")
    accounts: Accounts = _section(Accounts, "The environment's role among several AWS accounts: standalone "
                                            "(default), a model registry, or a consumer of a registry's models.")
    network: Network = _section(Network, "Where SageMaker jobs run (VPC subnets and security groups, network "
                                         "isolation) and the KMS key of their volumes and outputs.")

    # Set by load_settings; not a tfvars key.
    source_file: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _fill_derived(cls, data: Any) -> Any:
        """Derived names the file leaves out: `<project>-<environment>-...` from each field's template."""
        if not isinstance(data, dict):
            return data
        project, environment = data.get("project"), data.get("environment")
        data = dict(data)
        data.setdefault("emulated", environment == LOCAL_ENVIRONMENT)
        if not (isinstance(project, str) and _NAME.match(project)
                and isinstance(environment, str) and _NAME.match(environment)):
            # Stand-ins only avoid follow-on errors: validation fails on project/environment anyway.
            project, environment = "invalid", LOCAL_ENVIRONMENT
        for (section, key), template in DERIVED_NAMES.items():
            block = data.get(section, {})
            if isinstance(block, dict) and key not in block:
                data[section] = {**block, key: template.format(project=project, environment=environment)}
        return data

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not _NAME.match(value) or len(value) > 24:
            raise ValueError(f"a lower-case name of letters, digits and '-' (max 24), found '{value}'")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str, info: ValidationInfo) -> str:
        if not _NAME.match(value):
            raise ValueError(f"a lower-case name of letters, digits and '-' that starts with a letter, found "
                             f"'{value}'")
        project = info.data.get("project")  # validated before this field; absent when invalid
        if project:
            check_resource_names(project, value)
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"an AWS region such as 'us-east-1', found '{value}'")
        return value

    @model_validator(mode="after")
    def _bucket_with_suffix(self) -> Settings:
        length = len(self.storage.bucket_name) + self.storage.suffix_length(self.region)
        if length > 63:
            raise ValueError(f"storage.bucket_name '{self.storage.bucket_name}' with bucket_name_suffix "
                             f"'{self.storage.bucket_name_suffix}' makes {length} characters; S3 allows 63")
        return self

    @model_validator(mode="after")
    def _schedule_rule_names(self) -> Settings:
        for index, schedule in enumerate(self.schedules):
            name = schedule_rule_name(self.project, self.environment, schedule.pipeline, index)
            limit = name_limit("EventBridge rule")
            if len(name) > limit:
                raise ValueError(f"schedules[{index}]: its EventBridge rule '{name}' would have {len(name)} "
                                 f"characters; AWS allows {limit} (shorten project or environment)")
        return self

    @property
    def uses_script(self) -> bool:
        return self.model.algorithm == SCRIPT_ALGORITHM

    @model_validator(mode="after")
    def _hyperparameters_vs_ranges(self) -> Settings:
        tuned = [r.name for r in self.hpo.ranges]
        if not self.uses_script:
            if "num_round" in tuned:
                raise ValueError("hpo.ranges: num_round is fixed by xgboost.hyperparameters, tune other parameters")
            return self
        # A script rejects options it does not define: each tuned one must be a stated argument of the script.
        unknown = [name for name in tuned if name not in self.script.hyperparameters]
        if unknown:
            raise ValueError(f"hpo.ranges: '{unknown[0]}' is not one of script.hyperparameters (the script's "
                             f"arguments: {', '.join(sorted(self.script.hyperparameters)) or 'none'}); state its "
                             "default there")
        return self

    @model_validator(mode="after")
    def _script_objective(self) -> Settings:
        # The tuning job reads its objective with the training job's MetricDefinitions (script mode): the objective
        # needs a definition; its name is a registry tuning objective (checked in _algorithm_fits_problem).
        names = self.script.metric_names()
        if self.uses_script and self.hpo.objective_metric not in names:
            raise ValueError(f"hpo.objective_metric: '{self.hpo.objective_metric}' is not one of "
                             f"script.metric_definitions ({', '.join(names) or 'none defined'}); define it with the "
                             "regex that reads it from the script's log")
        return self

    @model_validator(mode="after")
    def _target_fits_problem(self) -> Settings:
        target = self.dataset.column(self.dataset.target)
        if not self.model.is_classification and target.type == "categorical":
            raise ValueError(f"dataset.target: '{target.name}' must be integer or float for regression, found "
                             "categorical (for class labels set model.problem_type binary or multiclass)")
        if self.model.is_classification and target.type == "float":
            raise ValueError(f"dataset.target: '{target.name}' holds class labels for a {self.model.problem} "
                             "model: its type must be categorical or integer, found float")
        if self.model.is_classification and target.type == "integer":
            # The data check reads the labels as text: an integer target's classes must be written as its values.
            not_whole = [c for c in self.model.classes if not re.fullmatch(r"-?\d+", c)]
            if not_whole:
                raise ValueError(f"model.classes: the target '{target.name}' is integer, so its labels are whole "
                                 f"numbers such as \"0\" and \"1\", found {not_whole}")
        return self

    @model_validator(mode="after")
    def _algorithm_fits_problem(self) -> Settings:
        problem = self.model.problem
        hyperparameters = self.xgboost.hyperparameters
        objective = hyperparameters.get("objective", "reg:squarederror")  # the algorithm's default objective
        wanted = metrics.XGBOOST_OBJECTIVES.get(problem)
        if wanted and objective != wanted:
            raise ValueError(f"xgboost.hyperparameters.objective: a {problem} model needs '{wanted}' (class "
                             f"probabilities for the gates), found '{objective}'")
        if not wanted and objective.startswith(("binary:", "multi:")):
            raise ValueError(f"xgboost.hyperparameters.objective: '{objective}' is a classification objective, the "
                             "model is regression (set model.metric to a classification metric and model.classes)")
        for name in filter(None, (m.strip() for m in hyperparameters.get("eval_metric", "").split(","))):
            owners = {m.problem_type for m in _ENTRIES_BY_XGBOOST_NAME.get(name, ())}
            if owners and problem not in owners:
                raise ValueError(f"xgboost.hyperparameters.eval_metric: '{name}' is a {' or '.join(sorted(owners))} "
                                 f"metric, the model is {problem}")
        if "num_class" in hyperparameters:
            raise ValueError("xgboost.hyperparameters.num_class: set by the pipelines from model.classes (the "
                             f"number of labels), leave it out; found '{hyperparameters['num_class']}'")
        try:
            metrics.tuning_objective(self.hpo.objective_metric, problem)
        except metrics.MetricError as error:
            raise ValueError(f"hpo.objective_metric: {error}") from None
        return self

    @model_validator(mode="after")
    def _registry_owns_its_grants(self) -> Settings:
        # The consumers' read grants live in the bucket policy and the key policy: the stack must own both.
        if self.accounts.role == REGISTRY and (not self.storage.create_bucket or self.storage.kms_key_arn):
            raise ValueError("accounts.role = registry grants its consumers in the bucket policy and the key policy "
                             "of the stack: needs storage.create_bucket = true and storage.kms_key_arn empty")
        return self

    @model_validator(mode="after")
    def _consumer_trains_nothing(self) -> Settings:
        if self.accounts.role != CONSUMER:
            return self
        training = [f"schedules[{i}]" for i, s in enumerate(self.schedules)
                    if s.pipeline in TRAINING_PIPELINE_KEYS and s.enabled]
        if training:
            raise ValueError(f"accounts.role = consumer trains nothing (its models come from the registry "
                             f"'{self.accounts.registry.environment}'): remove the training schedule "
                             f"{', '.join(training)}")
        if self.approval.gitlab_trigger_enabled:
            raise ValueError("approval.gitlab_trigger_enabled: a consumer approves nothing (versions are approved in "
                             f"the registry '{self.accounts.registry.environment}'); enable the trigger there")
        key_region = self.accounts.registry.kms_key_arn.split(":")[3]
        if key_region != self.region:
            raise ValueError(f"accounts.registry.kms_key_arn is in {key_region}, the environment in {self.region}: "
                             "a registry serves consumers of its own region")
        return self

    def warnings(self) -> list[tuple[str, str]]:
        """Legitimate but suspicious values as (key path, text); the checker prints them, they do not fail."""
        found = []
        gates = self.model
        if gates.registration_threshold == gates.model_quality_threshold:
            found.append(("model.registration_threshold", f"equals model_quality_threshold "
                          f"({gates.registration_threshold}): a model registered at the threshold fails the first "
                          "batch that scores slightly worse"))
        for key, quota in (("max_jobs", self.hpo.max_jobs_quota), ("max_parallel_jobs", _TUNING_PARALLEL)):
            value = getattr(self.hpo, key)
            if value > quotas.default(quota):
                found.append((f"hpo.{key}", f"{value} is above SageMaker's default quota of "
                              f"{quotas.default(quota)} {quotas.BY_KEY[quota].what}: request an increase (up to "
                              f"{quotas.limit(quota)}) before the first tuning run"))
        network = self.network
        if len(network.subnets) == 1:
            found.append(("network.subnets", f"one subnet ({network.subnets[0]}): jobs stop when its Availability "
                          "Zone is unavailable; give two or more in different Availability Zones"))
        if not self.notifications.has_receiver:
            found.append(("notifications.recipients", "empty and no slack_webhook_secret_name: final execution "
                          "statuses and failed steps reach nobody"))
        return found

    # ---- derived values used across the project

    @property
    def training_hyperparameters(self) -> dict[str, str]:
        """The algorithm's hyperparameters as the training and tuning jobs get them: multi:softprob needs
        num_class, the number of model.classes."""
        hyperparameters = dict(self.xgboost.hyperparameters)
        if self.model.problem == metrics.MULTICLASS:
            hyperparameters["num_class"] = str(len(self.model.classes))
        return dict(sorted(hyperparameters.items()))

    @property
    def script_hyperparameters(self) -> dict[str, str]:
        """The script's own hyperparameters as the training and tuning jobs get them (sorted)."""
        return dict(sorted(self.script.hyperparameters.items()))

    @property
    def bucket(self) -> str:
        """The bucket's name; with a bucket_name_suffix, only on settings from `for_account`."""
        if self.storage.bucket_name_suffix:
            raise ValueError(f"storage.bucket_name_suffix = '{self.storage.bucket_name_suffix}': the bucket name "
                             "needs the account id; use settings.for_account(<account id>)")
        return self.storage.bucket_name

    def for_account(self, account_id: str) -> Settings:
        """These settings with the bucket name complete: bucket_name_suffix applied for `account_id`."""
        if not _ACCOUNT_ID.match(str(account_id)):
            raise ValueError(f"account_id must be a 12-digit AWS account id, found '{account_id}'")
        suffix = BUCKET_NAME_SUFFIXES[self.storage.bucket_name_suffix].format(region=self.region, account_id=account_id)
        storage = self.storage.model_copy(update={"bucket_name": self.storage.bucket_name + suffix,
                                                  "bucket_name_suffix": ""})
        return self.model_copy(update={"storage": storage})

    @property
    def partition(self) -> str:
        """The AWS partition of the region (aws, aws-cn, aws-us-gov): the second field of every ARN."""
        return contracts.partition_of(self.region)

    def s3_uri(self, prefix: str, *parts: str) -> str:
        """`s3://<bucket>/<prefixes.<prefix>>/<parts...>`."""
        return "/".join([f"s3://{self.bucket}", getattr(self.prefixes, prefix), *parts])

    @property
    def model_package_group_ref(self) -> str:
        """The group ResolveModel reads: this environment's own group by name, a consumer's registry group by ARN
        (ListModelPackages takes a group name or, across accounts, its ARN: ArnOrName in botocore's model)."""
        registry = self.accounts.registry
        if self.accounts.role != CONSUMER:
            return self.pipelines.model_package_group
        return (f"arn:{self.partition}:sagemaker:{self.region}:{registry.account_id}:model-package-group/"
                f"{registry.model_package_group.lower()}")

    @property
    def trains(self) -> bool:
        """False for a consumer: its model versions come from its registry."""
        return self.accounts.role != CONSUMER

    def consumer_execution_role_arns(self) -> list[str]:
        """A registry's grantees: each consumer's execution role (the one its stack creates unless stated)."""
        return [c.execution_role_arn or f"arn:{self.partition}:iam::{c.account_id}:role/"
                f"{contracts.EXECUTION_ROLE_TEMPLATE.format(project=self.project, environment=c.environment)}"
                for c in self.accounts.consumers]

    @property
    def pipeline_keys(self) -> tuple[str, ...]:
        """The pipelines this environment deploys: all of them, a consumer only those that score."""
        return tuple(key for key in PIPELINE_KEYS if self.trains or key not in TRAINING_PIPELINE_KEYS)

    @property
    def pipeline_names(self) -> dict[str, str]:
        """The deployed pipelines' names by key (pipeline_keys)."""
        return {key: self.pipelines.name_of(key) for key in self.pipeline_keys}

    @property
    def retraining(self) -> str:
        """What a model-quality violation leads to here (contracts.retraining)."""
        registry = self.accounts.registry
        return contracts.retraining() if self.trains else contracts.retraining(registry.environment,
                                                                               registry.account_id)

    def refuse_training(self, what: str) -> None:
        """Raise for `what` (a command that trains) in a consumer, naming the registry that trains its models."""
        if not self.trains:
            registry = self.accounts.registry
            raise ValueError(f"{what}: environment '{self.environment}' is a consumer (accounts.role) and trains "
                             f"nothing; training and retraining run in the registry environment "
                             f"'{registry.environment}' (account {registry.account_id})")

    @property
    def resource_prefix(self) -> str:
        """Prefix of every AWS resource name: project and environment, so environments never collide."""
        return f"{self.project}-{self.environment}"


# (section, key) -> template of its derived default, collected from the fields marked with _derived().
DERIVED_NAMES: dict[tuple[str, str], str] = {
    (section, key): field.json_schema_extra["derived"]
    for section, model in (("storage", Storage), ("pipelines", Pipelines))
    for key, field in model.model_fields.items()
    if isinstance(field.json_schema_extra, dict) and "derived" in field.json_schema_extra
}


# ------------------------------------------------------------------------------------------- resource names
# Every name Terraform's modules derive from `<project>-<environment>` (terraform/modules; a test keeps this table
# and the HCL in step), by the kind of resource it names. The longest valid environment name follows from it.

LAMBDA_FUNCTIONS = ("notification", "approval-trigger", "retrain-trigger")
_NAME_PREFIX = "{project}-{environment}"
FIXED_RESOURCE_NAMES: dict[str, tuple[str, ...]] = {
    "IAM role": (contracts.EXECUTION_ROLE_TEMPLATE, f"{_NAME_PREFIX}-pipeline-starter",
                 *(f"{_NAME_PREFIX}-{function}-lambda" for function in LAMBDA_FUNCTIONS)),
    "Lambda function": tuple(f"{_NAME_PREFIX}-{function}" for function in LAMBDA_FUNCTIONS),
    "CloudWatch log group": tuple(f"/aws/lambda/{_NAME_PREFIX}-{function}" for function in LAMBDA_FUNCTIONS),
    "SQS queue": (f"{_NAME_PREFIX}-events-dlq", *(f"{_NAME_PREFIX}-{function}-dlq" for function in LAMBDA_FUNCTIONS)),
    "EventBridge rule": tuple(f"{_NAME_PREFIX}-{rule}" for rule in (
        "training-data", "inference-data", "ground-truth-data", "pipeline-status", "retrain-on-model-quality",
        "model-approval")),
    "SNS topic": (f"{_NAME_PREFIX}-alerts",),
    "KMS alias": (f"alias/{_NAME_PREFIX}-data",),
    "DynamoDB table": (contracts.DEDUP_TABLE_TEMPLATE,),
    "SSM parameter": (contracts.ACTIVE_MODEL_PARAMETER_TEMPLATE,),
    "EC2 security group": (f"{_NAME_PREFIX}-jobs", f"{_NAME_PREFIX}-endpoints"),  # network.create_vpc(_endpoints)
}
SCHEDULE_RULE_TEMPLATE = f"{_NAME_PREFIX}-schedule-{{pipeline}}-{{index}}"

# Kind -> where its length limit comes from: (service, shape) of botocore's service model, or the documented
# limit where the model states none (or states the length of a whole ARN).
_NAME_LIMITS: dict[str, tuple[str, str] | int] = {
    "IAM role": ("iam", "roleNameType"),
    "EventBridge rule": ("events", "RuleName"),
    "KMS alias": ("kms", "AliasNameType"),
    "CloudWatch log group": ("logs", "LogGroupName"),
    "SSM parameter": ("ssm", "PSParameterName"),
    # A function name alone; the model's 140 counts a full ARN
    # (https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html, FunctionName).
    "Lambda function": 64,
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html (QueueName)
    "SQS queue": 80,
    # https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html (Name)
    "SNS topic": 256,
    # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html (TableName; the
    # model's 1024 counts a table ARN)
    "DynamoDB table": 255,
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html (GroupName)
    "EC2 security group": 255,
}


@functools.cache
def name_limit(kind: str) -> int:
    """The longest name AWS accepts for a resource of `kind` (a key of FIXED_RESOURCE_NAMES)."""
    source = _NAME_LIMITS[kind]
    if isinstance(source, int):
        return source
    from botocore.loaders import create_loader  # lazily: only checking a configuration needs the service model

    service, shape = source
    return int(create_loader().load_service_model(service, "service-2")["shapes"][shape]["max"])


def fixed_resource_names(project: str, environment: str) -> list[tuple[str, str]]:
    """(kind, name) of every name the modules derive for `project` and `environment`."""
    return [(kind, template.format(project=project, environment=environment))
            for kind, templates in FIXED_RESOURCE_NAMES.items() for template in templates]


def schedule_rule_name(project: str, environment: str, pipeline: str, index: int) -> str:
    """The EventBridge rule of schedules[index] (terraform/modules/events)."""
    return SCHEDULE_RULE_TEMPLATE.format(project=project, environment=environment,
                                         pipeline=pipeline.replace("_", "-"), index=index)


def max_environment_length(project: str) -> int:
    """The longest environment name whose derived names all fit their AWS limits, with `project`."""
    return min(name_limit(kind) - len(name) for kind, name in fixed_resource_names(project, ""))


def check_resource_names(project: str, environment: str) -> None:
    """ValueError naming the tightest derived name when `environment` is too long for it."""
    over = [(len(name) - name_limit(kind), kind, name) for kind, name in fixed_resource_names(project, environment)]
    excess, kind, name = max(over)
    if excess > 0:
        raise ValueError(f"'{environment}' is too long: the {kind} name '{name}' would have {len(name)} "
                         f"characters, AWS allows {name_limit(kind)}; with project '{project}' an environment "
                         f"name has at most {max_environment_length(project)} characters")


# ------------------------------------------------------------------------------------------- loading


def env_file_path(env_or_path: str | Path) -> Path:
    """`local` -> `<project>/env_files/local.tfvars`; a path is taken as it is."""
    text = str(env_or_path)
    if re.fullmatch(r"[a-z0-9\-]+", text):
        return ENV_DIR / f"{text}.tfvars"
    return Path(text)


def parse_tfvars(path: Path) -> dict[str, Any]:
    import hcl2

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot be read: {exc}"]) from None
    options = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False, preserve_heredocs=False)
    try:
        tree = hcl2.parses_to_tree(text)
    except Exception as exc:  # python-hcl2 raises lark errors of several kinds
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError([f"{path}: not valid HCL: {first}"]) from None
    # python-hcl2 keeps the last of two equal keys without a word; Terraform refuses the file.
    duplicates = [f"{path}: {key}: defined {'twice' if len(lines) == 2 else f'{len(lines)} times'} "
                  f"(lines {_and(lines)})"
                  for key, lines in _duplicate_keys(tree)]
    if duplicates:
        raise ConfigError(duplicates)
    data = hcl2.serialize(hcl2.transform(tree), serialization_options=options)
    data.pop("__comments__", None)
    return data


def _duplicate_keys(node: Any, where: str = "") -> list[tuple[str, list[int]]]:
    """(key path, line numbers) of every key given more than once in one block or object of the raw parse tree."""
    from lark import Token, Tree

    if not isinstance(node, Tree):
        return []
    found: list[tuple[str, list[int]]] = []
    if node.data in ("body", "object"):
        entries = [child for child in node.children if isinstance(child, Tree)
                   and child.data in ("attribute", "object_elem", "block")]
        lines: dict[str, list[int]] = {}
        for entry in entries:
            name = _entry_name(entry)
            if name is not None and entry.data != "block":
                lines.setdefault(name, []).append(entry.meta.line)
        found += [(_join(where, name), numbers) for name, numbers in lines.items() if len(numbers) > 1]
        for entry in entries:
            name = _entry_name(entry)
            value = entry.children[-1] if entry.data != "block" else entry
            found += _duplicate_keys(value, _join(where, name or "?"))
        return found
    index = 0
    for child in node.children:
        if node.data == "tuple" and isinstance(child, Tree) and child.data != "new_line_or_comment":
            found += _duplicate_keys(child, f"{where}[{index}]")
            index += 1
        elif not isinstance(child, Token):
            found += _duplicate_keys(child, where)
    return found


def _entry_name(entry: Any) -> str | None:
    """The key of an attribute or object element as the parser would read it; None if it is an expression."""
    from lark import Token

    key = entry.children[0]
    tokens = [t for t in key.scan_values(lambda v: isinstance(v, Token))] if not isinstance(key, Token) else [key]
    parts = [t for t in tokens if t.type in ("NAME", "STRING_CHARS")]
    if len(parts) != 1 or len(tokens) > 3:  # a name, or a string of one part between its quotes
        return None
    return str(parts[0])


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _and(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def load_settings(env_or_path: str | Path) -> Settings:
    path = env_file_path(env_or_path)
    return settings_from_data(parse_tfvars(path), path)


def settings_from_data(data: dict[str, Any], path: Path) -> Settings:
    """Validate parsed tfvars content; problems name `path` (the file the content came from)."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc, data)) from None
    # A file of env_files/ (or one named like a file there) declares the environment `--env <name>` selects.
    expected_env = path.name.removesuffix(".tfvars")
    named = path.resolve().parent == ENV_DIR.resolve() or (ENV_DIR / path.name).is_file()
    if named and settings.environment != expected_env:
        raise ConfigError([f"{path}: environment: expected '{expected_env}' (the file's name), "
                           f"found '{settings.environment}'"])
    return settings.model_copy(update={"source_file": path})


def check_env_file(env_or_path: str | Path) -> list[str]:
    """All problems of one env file, one line each; empty when the file is valid."""
    return inspect_env_file(env_or_path)[0]


def inspect_env_file(env_or_path: str | Path) -> tuple[list[str], list[str]]:
    """(problems, warnings) of one env file, one line each naming the file; warnings only of a valid file."""
    try:
        settings = load_settings(env_or_path)
    except ConfigError as exc:
        return exc.problems, []
    return [], [f"{settings.source_file}: {key}: warning: {text}" for key, text in settings.warnings()]


# ------------------------------------------------------------------------------------------- messages

_TYPE_NAMES = {
    "string_type": "a string", "bool_type": "true or false", "int_type": "a whole number",
    "float_type": "a number", "list_type": "a list", "dict_type": "a map", "model_type": "a block { ... }",
    "model_attributes_type": "a block { ... }", "int_from_float": "a whole number",
}


def _describe(path: Path, exc: ValidationError, data: dict[str, Any]) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if part not in ("function-after", "function-before")]
        key = _format_loc(loc, data)
        kind = error["type"]
        found = error.get("input")
        if kind == "missing":
            lines.append(f"{path}: {key}: missing required key")
        elif kind == "extra_forbidden":
            lines.append(f"{path}: {key}: unknown key{_did_you_mean(loc)}")
        elif kind in _TYPE_NAMES:
            lines.append(f"{path}: {key}: expected {_TYPE_NAMES[kind]}, found {_show(found)}")
        elif kind == "literal_error":
            expected = error.get("ctx", {}).get("expected", "")
            lines.append(f"{path}: {key}: expected one of {expected}, found {_show(found)}")
        elif kind == "value_error":
            message = str(error.get("ctx", {}).get("error", error["msg"]))
            lines.append(f"{path}: {key}: {message}")
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            lines.append(f"{path}: {key}: expected a value {error['msg'].removeprefix('Input should be ')}, "
                         f"found {_show(found)}")
        elif kind == "too_short":
            lines.append(f"{path}: {key}: expected at least {error['ctx']['min_length']} item(s), found "
                         f"{len(found) if isinstance(found, Iterable) else _show(found)}")
        else:
            lines.append(f"{path}: {key}: {error['msg']}, found {_show(found)}")
    return lines


def _format_loc(loc: list[Any], data: dict[str, Any]) -> str:
    """`dataset.columns[3].type`, and `schedules[0]` style indices for lists."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _did_you_mean(loc: list[Any]) -> str:
    model: type[BaseModel] | None = Settings
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_of(field.annotation) if field else None
    if model is None:
        return ""
    options = [name for name in model.model_fields if name != "source_file"]
    close = difflib.get_close_matches(str(loc[-1]), options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f" (expected one of: {', '.join(options)})"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found:
            return found
    return None


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"'{value}'"
    return repr(value)
