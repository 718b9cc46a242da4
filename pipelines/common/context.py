"""Everything a builder needs besides the SDK classes: settings, session, role, images, parameters, URIs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchops_core import contracts
from batchops_core.settings import Settings
from pipelines.common.code import dataset_schema_json, source_archive, step_script

__all__ = ["BuildContext", "dataset_schema_json", "execution_role_arn"]

SKLEARN_FRAMEWORK_VERSION = "1.2-1"
PROCESSING_BASE = "/opt/ml/processing"


def execution_role_arn(settings: Settings, account_id: str) -> str:
    """The configured role, or the one Terraform creates: `<project>-<environment>-sagemaker-execution`."""
    if settings.pipelines.execution_role_arn:
        return settings.pipelines.execution_role_arn
    return f"arn:{settings.partition}:iam::{account_id}:role/{settings.resource_prefix}-sagemaker-execution"


@dataclass(frozen=True)
class StackResources:
    """What the applied stack knows and the settings may not: its data key and the VPC it created."""

    data_kms_key_arn: str = ""
    subnets: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)


@dataclass
class BuildContext:
    settings: Settings
    pipeline_key: str  # training | training_hpo | inference | model_quality
    session: Any  # the offline PipelineSession
    role_arn: str
    stack: StackResources = field(default_factory=StackResources)  # what only the applied stack knows
    _parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def pipeline_name(self) -> str:
        return self.settings.pipelines.name_of(self.pipeline_key)

    @property
    def region(self) -> str:
        return self.settings.region

    # ---- images (resolved from JSON bundled with the SDK: no network)

    @property
    def xgboost_image(self) -> str:
        from sagemaker.core import image_uris

        return image_uris.retrieve("xgboost", region=self.region, version=self.settings.xgboost.framework_version)

    @property
    def sklearn_image(self) -> str:
        from sagemaker.core import image_uris

        return image_uris.retrieve("sklearn", region=self.region, version=SKLEARN_FRAMEWORK_VERSION,
                                   py_version="py3", instance_type=self.settings.compute.processing_instance_type)

    @property
    def framework_image(self) -> str:
        """Script mode: the framework container that trains and serves the model code."""
        from sagemaker.core import image_uris

        script = self.settings.script
        return image_uris.retrieve(script.framework, region=self.region, version=script.framework_version,
                                   py_version="py3", instance_type=self.settings.compute.training_instance_type)

    @property
    def model_image(self) -> str:
        """The image that trains, evaluates and serves the model: the built-in algorithm's or the framework's."""
        return self.framework_image if self.settings.uses_script else self.xgboost_image

    @property
    def source_uri(self) -> str:
        """Script mode: the content-addressed archive of the model's source directory."""
        return source_archive(self.settings).uri(self.settings)

    # ---- pipeline parameters: every pipeline has the two EventBridge S3 targets fill, plus its gate threshold

    @property
    def is_inference(self) -> bool:
        return self.pipeline_key == contracts.INFERENCE

    @property
    def checks_model_quality(self) -> bool:
        return self.pipeline_key in contracts.MODEL_QUALITY_PIPELINES

    @property
    def data_prefix(self) -> str:
        prefixes = self.settings.prefixes
        return {contracts.INFERENCE: prefixes.inference,
                contracts.MODEL_QUALITY: prefixes.ground_truth}.get(self.pipeline_key, prefixes.training)

    @property
    def input_bucket(self) -> Any:
        return self._parameter(contracts.PARAM_INPUT_BUCKET, self.settings.bucket)

    @property
    def input_key(self) -> Any:
        return self._parameter(contracts.PARAM_INPUT_KEY, self.data_prefix + "/")

    @property
    def threshold(self) -> Any:
        """The gate threshold of this pipeline (a run may be started with another one; the scripts record it)."""
        model = self.settings.model
        if self.checks_model_quality:
            return self._parameter(contracts.PARAM_MODEL_QUALITY_THRESHOLD, model.model_quality_threshold, float)
        return self._parameter(contracts.PARAM_REGISTRATION_THRESHOLD, model.registration_threshold, float)

    @property
    def parameters(self) -> list[Any]:
        return [self.input_bucket, self.input_key, self.threshold]

    def _parameter(self, name: str, default: Any, kind: type = str) -> Any:
        if name not in self._parameters:
            from sagemaker.core.workflow.parameters import ParameterFloat, ParameterString

            if kind is float:
                self._parameters[name] = ParameterFloat(name=name, default_value=float(default))
            else:
                self._parameters[name] = ParameterString(name=name, default_value=default)
        return self._parameters[name]

    @property
    def input_data_uri(self) -> Any:
        """`s3://<InputBucket>/<InputKey>`: a key-prefix match, so one object or a whole prefix both work."""
        from sagemaker.core.workflow.functions import Join

        return Join(on="/", values=["s3:/", self.input_bucket, self.input_key])

    @property
    def data_quality_label_column(self) -> str | None:
        """The column whose class balance data quality reports: a classifier's target, with the builtin engine only
        (the Model Monitor analyzer has no label setting and would profile it as a feature)."""
        settings = self.settings
        if settings.model.is_classification and settings.data_quality.engine == "builtin":
            return settings.dataset.target
        return None

    @property
    def label_arguments(self) -> list[str]:
        """Preprocess: keep the label column (when there is one) in the data-quality datasets it writes."""
        column = self.data_quality_label_column
        return ["--data-quality-label", column] if column else []

    @property
    def dataset_arguments(self) -> list[str]:
        """What a script reading the `data` input needs to find a folder dataset's parts (steplib.dataset_files)."""
        return ["--region", self.region, "--trigger-file", self.settings.folder_datasets.trigger_file]

    # ---- locations

    def output_uri(self, step_name: str, output_name: str) -> Any:
        """`s3://<bucket>/<outputs>/<pipeline>/<execution id>/<step>/<output>`: nothing is shared between runs."""
        from sagemaker.core.workflow.execution_variables import ExecutionVariables
        from sagemaker.core.workflow.functions import Join

        base = f"s3://{self.settings.bucket}/{self.settings.prefixes.outputs}/{self.pipeline_name}"
        return Join(on="/", values=[base, ExecutionVariables.PIPELINE_EXECUTION_ID, step_name, output_name])

    def output_key_prefix(self, step_name: str, output_name: str) -> Any:
        """The key part of `output_uri` (for SDK calls that take bucket and prefix separately)."""
        from sagemaker.core.workflow.execution_variables import ExecutionVariables
        from sagemaker.core.workflow.functions import Join

        base = f"{self.settings.prefixes.outputs}/{self.pipeline_name}"
        return Join(on="/", values=[base, ExecutionVariables.PIPELINE_EXECUTION_ID, step_name, output_name])

    @property
    def feedback_prefix_uri(self) -> str:
        """Where the inference pipeline leaves labelled batches for retraining (one folder per execution)."""
        return f"s3://{self.settings.bucket}/{self.settings.prefixes.outputs}/feedback/"

    def job_name_base(self, step_name: str) -> str:
        """Base name of the jobs a step starts (SageMaker appends a unique suffix; 32 characters at most)."""
        return f"{self.pipeline_name}-{step_name}"[:32].rstrip("-").lower()

    def code_uri(self, script_name: str) -> str:
        return step_script(script_name).uri(self.settings)

    def tags(self) -> list[dict[str, str]]:
        return [{"Key": key, "Value": value} for key, value in sorted(self.settings.tags.items())]

    def tag_shapes(self) -> list[Any]:
        """The tags as the SDK's `Tag` shapes (what pydantic-typed classes such as ModelTrainer accept)."""
        from sagemaker.core.shapes import Tag

        return [Tag(key=key, value=value) for key, value in sorted(self.settings.tags.items())]
