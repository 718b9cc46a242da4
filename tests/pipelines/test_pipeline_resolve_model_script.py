"""resolve_model.py against the registry (moto): pointer, latest approved, nothing approved, and a consumer's
registry group named by ARN (only the promoted version, never a fallback)."""

from __future__ import annotations

import json

import boto3
import pytest
from step_script_support import REGION, Job

GROUP = "shop-local-models"
ACCOUNT = "123456789012"  # moto's default account: the registry's in the consumer cases
GROUP_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/{GROUP}"
POINTER = "/shop/local/active-model-package-arn"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SCRIPT_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
CODE = {"SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/code/abc/sourcedir.tar.gz"}


@pytest.fixture
def registry(in_process_aws):
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    return sagemaker


def register(sagemaker, number: int, status: str, *, code: dict[str, str] | None = None) -> str:
    """A version as training registers it; `code`: a script-mode version's serving environment."""
    run = f"s3://bucket/runs/{number}"
    container = {"Image": SCRIPT_IMAGE if code else IMAGE, "ModelDataUrl": f"{run}/model.tar.gz",
                 **({"Environment": code} if code else {})}
    return sagemaker.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [container],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        DriftCheckBaselines={"ModelDataQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": f"{run}/statistics.json"},
            "Constraints": {"ContentType": "application/json", "S3Uri": f"{run}/constraints.json"}}},
        CustomerMetadataProperties={"PreprocessingArtefact": f"{run}/preprocessing.json"},
    )["ModelPackageArn"]


def resolve(tmp_path, monkeypatch, *options: str, group: str = GROUP) -> tuple[int, str | None, dict | None]:
    job = Job(tmp_path / "job", {})
    result = job.run_in_process("resolve_model.py", "--model-package-group", group, "--active-model-parameter",
                                POINTER, "--region", REGION, *options, monkeypatch=monkeypatch)
    model_file = job.output("model") / "model.json"
    return result.returncode, result.message, json.loads(model_file.read_text()) if model_file.exists() else None


def resolved_result(tmp_path) -> dict | None:
    """result.json of the last `resolve` (None when the step wrote none)."""
    job = Job(tmp_path / "job", {})
    return job.result() if (job.output("result") / "result.json").exists() else None


def test_nothing_approved_is_a_clear_failure(registry, tmp_path, monkeypatch):
    register(registry, 1, "PendingManualApproval")
    code, message, document = resolve(tmp_path, monkeypatch)
    assert code == 1 and document is None
    assert f"no Approved model version in model package group '{GROUP}'" in message
    assert resolved_result(tmp_path) is None


def test_the_latest_of_three_approved_versions_is_used(registry, tmp_path, monkeypatch):
    arns = [register(registry, number, "Approved") for number in (1, 2, 3)]
    register(registry, 4, "PendingManualApproval")
    code, message, document = resolve(tmp_path, monkeypatch)
    assert code == 0, message
    assert document == {
        "ModelPackageArn": arns[2], "ModelPackageVersion": 3, "ImageUri": IMAGE,
        "ModelDataUrl": "s3://bucket/runs/3/model.tar.gz",
        "PreprocessingArtefact": "s3://bucket/runs/3/preprocessing.json",
        "BaselineStatistics": "s3://bucket/runs/3/statistics.json",
        "BaselineConstraints": "s3://bucket/runs/3/constraints.json",
    }
    result = resolved_result(tmp_path)
    assert (result["step"], result["outcome"]) == ("ResolveModel", "passed")
    assert result["details"] == {"model_package_arn": arns[2], "model_package_version": 3,
                                 "chosen_by": "latest_approved", "model_package_group": GROUP, "account_id": ACCOUNT}
    assert result["metric"] is None and result["counts"] == {}


def test_the_active_model_pointer_is_honoured(registry, tmp_path, monkeypatch):
    arns = [register(registry, number, "Approved") for number in (1, 2, 3)]
    boto3.client("ssm", region_name=REGION).put_parameter(Name=POINTER, Value=arns[0], Type="String")
    code, message, document = resolve(tmp_path, monkeypatch)
    assert code == 0, message
    assert document["ModelPackageArn"] == arns[0] and document["ModelDataUrl"] == "s3://bucket/runs/1/model.tar.gz"
    details = resolved_result(tmp_path)["details"]
    assert (details["model_package_arn"], details["chosen_by"]) == (arns[0], "active_model_parameter")
    assert f"the active-model parameter {POINTER}" in resolved_result(tmp_path)["message"]


@pytest.mark.parametrize("pointer", ["none", "rejected version"])
def test_a_pointer_to_nothing_usable_falls_back_to_the_latest_approved(registry, tmp_path, monkeypatch, pointer):
    approved = register(registry, 1, "Approved")
    rejected = register(registry, 2, "Rejected")
    value = "none" if pointer == "none" else rejected
    boto3.client("ssm", region_name=REGION).put_parameter(Name=POINTER, Value=value, Type="String")
    code, message, document = resolve(tmp_path, monkeypatch)
    assert code == 0, message
    assert document["ModelPackageArn"] == approved
    assert resolved_result(tmp_path)["details"]["chosen_by"] == "latest_approved"


def test_a_version_without_the_registration_metadata_is_refused(registry, tmp_path, monkeypatch):
    registry.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://bucket/m.tar.gz"}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
    code, message, _ = resolve(tmp_path, monkeypatch)
    assert code == 1
    assert "lacks PreprocessingArtefact, BaselineStatistics, BaselineConstraints" in message


# ---- script mode: a version is served with its own code, and only by the kind of container that can load it


def test_script_mode_resolves_the_versions_own_code(registry, tmp_path, monkeypatch):
    arn = register(registry, 1, "Approved", code=CODE)
    code, message, document = resolve(tmp_path, monkeypatch, "--script-mode")
    assert code == 0, message
    assert (document["ModelPackageArn"], document["ImageUri"]) == (arn, SCRIPT_IMAGE)
    assert (document["Program"], document["SubmitDirectory"]) == (CODE["SAGEMAKER_PROGRAM"],
                                                                  CODE["SAGEMAKER_SUBMIT_DIRECTORY"])


def test_script_mode_refuses_a_built_in_version(registry, tmp_path, monkeypatch):
    arn = register(registry, 1, "Approved")
    code, message, document = resolve(tmp_path, monkeypatch, "--script-mode")
    assert code == 1 and document is None
    assert message == (f"model version {arn} carries no model code (SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY) "
                       "and model.algorithm is script: approve a version trained in script mode")


def test_the_built_in_algorithm_refuses_a_script_mode_version(registry, tmp_path, monkeypatch):
    arn = register(registry, 1, "Approved", code=CODE)
    code, message, document = resolve(tmp_path, monkeypatch)
    assert code == 1 and document is None
    assert message.startswith(f"model version {arn} is a script-mode model (SAGEMAKER_PROGRAM=train.py) and "
                              "model.algorithm is xgboost-builtin")


def point_at(value: str) -> None:
    boto3.client("ssm", region_name=REGION).put_parameter(Name=POINTER, Value=value, Type="String", Overwrite=True)


def test_a_pointer_to_another_group_is_a_failure_not_a_fallback(registry, tmp_path, monkeypatch):
    register(registry, 1, "Approved")
    registry.create_model_package_group(ModelPackageGroupName="other-models")
    other = registry.create_model_package(
        ModelPackageGroupName="other-models", ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{"Image": IMAGE}], "SupportedContentTypes": ["text/csv"],
                                "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    point_at(other)
    code, message, document = resolve(tmp_path, monkeypatch)
    assert code == 1 and document is None and resolved_result(tmp_path) is None
    assert (f"the active-model parameter names {other} is a version of group 'other-models' in account {ACCOUNT}, "
            f"not of '{GROUP}' in account {ACCOUNT}") in message


def test_a_consumer_scores_with_the_promoted_version_of_its_registry_group(registry, tmp_path, monkeypatch):
    promoted = register(registry, 1, "Approved")
    register(registry, 2, "Approved")  # newer, but not promoted: the consumer keeps version 1
    point_at(promoted)
    code, message, document = resolve(tmp_path, monkeypatch, group=GROUP_ARN)
    assert code == 0, message
    assert document["ModelPackageArn"] == promoted
    result = resolved_result(tmp_path)
    assert result["details"] == {"model_package_arn": promoted, "model_package_version": 1,
                                 "chosen_by": "active_model_parameter", "model_package_group": GROUP,
                                 "account_id": ACCOUNT}
    assert f"version 1 of account {ACCOUNT}" in result["message"]


@pytest.mark.parametrize("pointer", ["none", "rejected version"])
def test_a_consumer_without_a_usable_promoted_version_fails_clearly(registry, tmp_path, monkeypatch, pointer):
    register(registry, 1, "Approved")
    rejected = register(registry, 2, "Rejected")
    point_at("none" if pointer == "none" else rejected)
    code, message, document = resolve(tmp_path, monkeypatch, group=GROUP_ARN)
    assert code == 1 and document is None
    expected = (f"no model version is promoted to this environment (active-model parameter {POINTER}): promote "
                f"an approved version of {GROUP_ARN}") if pointer == "none" else (
        f"the promoted model version {rejected} is Rejected, not Approved")
    assert expected in message


def test_a_consumer_refuses_a_version_of_another_account(registry, tmp_path, monkeypatch):
    register(registry, 1, "Approved")
    foreign = f"arn:aws:sagemaker:{REGION}:999999999999:model-package/{GROUP}/1"
    point_at(foreign)
    code, message, _ = resolve(tmp_path, monkeypatch, group=GROUP_ARN)
    assert code == 1
    assert f"{foreign} is a version of group '{GROUP}' in account 999999999999, not of '{GROUP}' in account " \
           f"{ACCOUNT}" in message
