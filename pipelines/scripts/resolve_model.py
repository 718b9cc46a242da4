"""ResolveModel step: find the model version this batch is scored with and write `model.json`.

The SSM active-model parameter wins when it holds the ARN of an Approved version of the group; otherwise the
latest Approved version of the group is used. Nothing approved is a clear failure, never an IndexError.
`model.json`: ModelPackageArn, ModelPackageVersion, ImageUri, ModelDataUrl, PreprocessingArtefact,
BaselineStatistics, BaselineConstraints (the version's drift-check baselines); with `--script-mode` also Program
and SubmitDirectory (the version's SAGEMAKER_PROGRAM / SAGEMAKER_SUBMIT_DIRECTORY: a script-mode version is
served with its own code). A version of the other kind than the configured algorithm is refused: the built-in
container cannot load a script's model, and a script-mode serving container needs the code. `result.json`
(batchops_core.results.StepResult): outcome passed, details model_package_arn, model_package_version and
chosen_by (`active_model_parameter` or `latest_approved`, with the reason the pointer was not used).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# The shared helpers and the core modules: beside this file (core: installed) locally, the processing inputs
# `steplib` and `core` in a container; the shipped core comes first so that it is the one imported.
_INPUTS = os.path.join(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"), "processing", "input")
sys.path[:0] = [os.path.join(_INPUTS, "core"), str(Path(__file__).resolve().parent), os.path.join(_INPUTS, "steplib")]
import steplib  # noqa: E402

from batchops_core import contracts, results  # noqa: E402
from batchops_core.contracts import OutputFile, Step  # noqa: E402

StepFailure = steplib.StepFailure
APPROVED = "Approved"  # a SageMaker ModelApprovalStatus (contracts.MODEL_APPROVAL_STATUSES)
POINTER, LATEST = "active_model_parameter", "latest_approved"  # how the version was chosen (result details)


def pointer_value(ssm, parameter: str) -> str | None:
    """The ARN the active-model parameter holds, or None when it is missing or `none`."""
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"].strip()
    except ssm.exceptions.ParameterNotFound:
        print(f"active-model parameter {parameter} does not exist: using the latest approved version")
        return None
    if not value or value.lower() == "none":
        print(f"active-model parameter {parameter} is '{value}': using the latest approved version")
        return None
    return value


def pointed_package(sagemaker, arn: str, group: str) -> dict | None:
    """The package the pointer names, when it is an Approved version of `group`; None (with the reason) if not."""
    try:
        package = sagemaker.describe_model_package(ModelPackageName=arn)
    except Exception as error:  # a stale or malformed ARN must not stop scoring: fall back, say why
        print(f"active-model parameter names {arn}, which cannot be described ({error}): using the latest approved")
        return None
    if package.get("ModelPackageGroupName") != group:
        print(f"active-model parameter names {arn} of group {package.get('ModelPackageGroupName')}, not {group}: "
              "using the latest approved version")
        return None
    if package.get("ModelApprovalStatus") != APPROVED:
        print(f"active-model parameter names {arn}, which is {package.get('ModelApprovalStatus')}: "
              "using the latest approved version")
        return None
    return package


def latest_approved(sagemaker, group: str) -> dict:
    try:
        summaries = sagemaker.list_model_packages(
            ModelPackageGroupName=group, ModelApprovalStatus=APPROVED,
            SortBy="CreationTime", SortOrder="Descending", MaxResults=1,
        )["ModelPackageSummaryList"]
    except Exception as error:
        raise StepFailure(f"cannot list the model versions of group '{group}': {error}") from None
    if not summaries:
        raise StepFailure(f"no Approved model version in model package group '{group}': run the training "
                          "pipeline and approve a version (ModelApprovalStatus=Approved) before batch inference")
    return sagemaker.describe_model_package(ModelPackageName=summaries[0]["ModelPackageArn"])


def model_document(package: dict, script_mode: bool) -> dict:
    arn = package["ModelPackageArn"]
    containers = package.get("InferenceSpecification", {}).get("Containers", [])
    container = containers[0] if containers else {}
    environment = container.get("Environment") or {}
    code = {"Program": environment.get(contracts.SCRIPT_PROGRAM_ENVIRONMENT),
            "SubmitDirectory": environment.get(contracts.SCRIPT_SUBMIT_DIRECTORY_ENVIRONMENT)}
    if not script_mode and any(code.values()):
        raise StepFailure(f"model version {arn} is a script-mode model ({contracts.SCRIPT_PROGRAM_ENVIRONMENT}="
                          f"{code['Program']}) and model.algorithm is xgboost-builtin: the built-in container cannot "
                          "load it; approve a built-in version or set model.algorithm = \"script\"")
    drift = package.get("DriftCheckBaselines", {}).get("ModelDataQuality", {})
    document = {
        "ModelPackageArn": arn,
        "ModelPackageVersion": package.get("ModelPackageVersion"),
        "ImageUri": container.get("Image"),
        "ModelDataUrl": container.get("ModelDataUrl"),
        "PreprocessingArtefact": package.get("CustomerMetadataProperties", {}).get("PreprocessingArtefact"),
        "BaselineStatistics": drift.get("Statistics", {}).get("S3Uri"),
        "BaselineConstraints": drift.get("Constraints", {}).get("S3Uri"),
        **(code if script_mode else {}),
    }
    missing = [key for key, value in document.items() if value in (None, "")]
    if script_mode and set(code) & set(missing):
        raise StepFailure(f"model version {arn} carries no model code ({contracts.SCRIPT_PROGRAM_ENVIRONMENT} and "
                          f"{contracts.SCRIPT_SUBMIT_DIRECTORY_ENVIRONMENT}) and model.algorithm is script: approve a "
                          "version trained in script mode")
    if missing:
        raise StepFailure(f"model version {arn} lacks {', '.join(missing)}: it was not registered by this "
                          "product's training pipeline; approve a version that was")
    return document


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description="Resolve the approved model version for batch inference.")
    parser.add_argument("--model-package-group", required=True)
    parser.add_argument("--active-model-parameter", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--script-mode", action="store_true", help="the model is served with its own code")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import boto3

    args = parse_args(argv)
    sagemaker = boto3.client("sagemaker", region_name=args.region)
    ssm = boto3.client("ssm", region_name=args.region)
    package, chosen_by = None, POINTER
    arn = pointer_value(ssm, args.active_model_parameter)
    if arn:
        package = pointed_package(sagemaker, arn, args.model_package_group)
    if package is None:
        package, chosen_by = latest_approved(sagemaker, args.model_package_group), LATEST
    document = model_document(package, args.script_mode)
    steplib.write_json(steplib.processing_path("output", "model", OutputFile.RESOLVED_MODEL), document)
    how = f"the active-model parameter {args.active_model_parameter}" if chosen_by == POINTER else (
        f"the latest Approved version of {args.model_package_group}")
    message = f"scoring with {document['ModelPackageArn']} (version {document['ModelPackageVersion']}), {how}"
    steplib.write_step_result(results.StepResult(
        step=Step.RESOLVE_MODEL, outcome=results.PASSED, message=message,
        details={"model_package_arn": document["ModelPackageArn"],
                 "model_package_version": document["ModelPackageVersion"], "chosen_by": chosen_by,
                 "model_package_group": args.model_package_group}))
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(steplib.run_step(main))
