"""ResolveModel step: find the model version this batch is scored with and write `model.json`.

`--model-package-group` is this environment's own group (a name) or, in a consumer environment, its registry's
group in another account (the group's ARN). The SSM active-model parameter names the version to use:
- own group: the pointer wins when it holds an Approved version of the group; when it is unset (`none`) or names
  a version that is no longer Approved, the latest Approved version of the group is used;
- registry group: only the promoted version is used: unset, not Approved or unreadable is a clear failure (a
  consumer scores with nothing it was not promoted to).
A pointer to a version of any other group or account is a failure in both cases, never a silent fallback.
`model.json`: ModelPackageArn, ModelPackageVersion, ImageUri, ModelDataUrl, PreprocessingArtefact,
BaselineStatistics, BaselineConstraints (the version's drift-check baselines); with `--script-mode` also Program
and SubmitDirectory (the version's SAGEMAKER_PROGRAM / SAGEMAKER_SUBMIT_DIRECTORY: a script-mode version is
served with its own code). A version of the other kind than the configured algorithm is refused: the built-in
container cannot load a script's model, and a script-mode serving container needs the code. `result.json`
(batchops_core.results.StepResult): outcome passed, details model_package_arn, model_package_version,
model_package_group, account_id (the account the version is registered in) and chosen_by
(`active_model_parameter` or `latest_approved`).
"""

from __future__ import annotations

import argparse
import os
import re
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


# A group named by ARN (botocore's ModelPackageGroupArn) and a version's ARN: their account and group name.
_GROUP_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:(?P<account>\d{12}):model-package-group/(?P<name>.+)$")
_PACKAGE_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:(?P<account>\d{12}):model-package/(?P<group>[^/]+)/")


class Group:
    """The group the step may take versions from: by name (this account) or by ARN (a registry account)."""

    def __init__(self, reference: str):
        found = _GROUP_ARN.match(reference)
        self.reference = reference
        self.name = found["name"] if found else reference
        self.account = found["account"] if found else None  # None: the caller's own account

    @property
    def is_registry(self) -> bool:
        return self.account is not None

    def foreign(self, arn: str, own_account: str) -> str | None:
        """Why version `arn` is not one of this group's, or None when it is."""
        found = _PACKAGE_ARN.match(arn)
        if not found:
            return f"{arn} is not a model package version ARN"
        account = self.account or own_account
        if found["account"] != account or found["group"].lower() != self.name.lower():
            return (f"{arn} is a version of group '{found['group']}' in account {found['account']}, not of "
                    f"'{self.name}' in account {account}")
        return None


def pointer_value(ssm, parameter: str) -> str | None:
    """The ARN the active-model parameter holds, or None when it is missing or `none`."""
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"].strip()
    except ssm.exceptions.ParameterNotFound:
        print(f"active-model parameter {parameter} does not exist")
        return None
    if not value or value.lower() == "none":
        print(f"active-model parameter {parameter} is '{value}'")
        return None
    return value


def pointed_package(sagemaker, arn: str, group: Group, own_account: str) -> dict | None:
    """The package the pointer names when it is an Approved version of `group`. Another group's version fails;
    an unreadable or no longer Approved one is None (with the reason) for the own group, a failure for a
    registry's."""
    foreign = group.foreign(arn, own_account)
    if foreign:
        raise StepFailure(f"the active-model parameter names {foreign}: promote a version of "
                          f"{group.reference} to this environment")
    try:
        package = sagemaker.describe_model_package(ModelPackageName=arn)
    except Exception as error:
        if group.is_registry:
            raise StepFailure(f"cannot read the promoted model version {arn} from the registry account "
                              f"{group.account}: {error}") from None
        print(f"active-model parameter names {arn}, which cannot be described ({error})")
        return None
    if package.get("ModelApprovalStatus") != APPROVED:
        if group.is_registry:
            raise StepFailure(f"the promoted model version {arn} is {package.get('ModelApprovalStatus')}, not "
                              f"{APPROVED}: promote an approved version of {group.reference}")
        print(f"active-model parameter names {arn}, which is {package.get('ModelApprovalStatus')}")
        return None
    return package


def latest_approved(sagemaker, group: Group) -> dict:
    try:
        summaries = sagemaker.list_model_packages(
            ModelPackageGroupName=group.reference, ModelApprovalStatus=APPROVED,
            SortBy="CreationTime", SortOrder="Descending", MaxResults=1,
        )["ModelPackageSummaryList"]
    except Exception as error:
        raise StepFailure(f"cannot list the model versions of group '{group.name}': {error}") from None
    if not summaries:
        raise StepFailure(f"no Approved model version in model package group '{group.name}': run the training "
                          "pipeline and approve a version (ModelApprovalStatus=Approved) before batch inference")
    return sagemaker.describe_model_package(ModelPackageName=summaries[0]["ModelPackageArn"])


def resolve(sagemaker, ssm, group: Group, parameter: str, own_account: str) -> tuple[dict, str]:
    """(the package, how it was chosen)."""
    arn = pointer_value(ssm, parameter)
    package = pointed_package(sagemaker, arn, group, own_account) if arn else None
    if package is not None:
        return package, POINTER
    if group.is_registry:
        raise StepFailure(f"no model version is promoted to this environment (active-model parameter {parameter}): "
                          f"promote an approved version of {group.reference} (`batchops ci deploy-model`)")
    print("using the latest approved version")
    return latest_approved(sagemaker, group), LATEST


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
    group = Group(args.model_package_group)
    own_account = boto3.client("sts", region_name=args.region).get_caller_identity()["Account"]
    package, chosen_by = resolve(sagemaker, ssm, group, args.active_model_parameter, own_account)
    document = model_document(package, args.script_mode)
    steplib.write_json(steplib.processing_path("output", "model", OutputFile.RESOLVED_MODEL), document)
    account = _PACKAGE_ARN.match(document["ModelPackageArn"])["account"]
    how = f"the active-model parameter {args.active_model_parameter}" if chosen_by == POINTER else (
        f"the latest Approved version of {group.name}")
    message = (f"scoring with {document['ModelPackageArn']} (version {document['ModelPackageVersion']} of account "
               f"{account}), {how}")
    steplib.write_step_result(results.StepResult(
        step=Step.RESOLVE_MODEL, outcome=results.PASSED, message=message,
        details={results.MODEL_ARN_DETAIL: document["ModelPackageArn"],
                 results.MODEL_VERSION_DETAIL: document["ModelPackageVersion"], "chosen_by": chosen_by,
                 results.MODEL_GROUP_DETAIL: group.name, results.MODEL_ACCOUNT_DETAIL: account}))
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(steplib.run_step(main))
