"""SageMaker model registry: state-change events, UpdateModelPackage keeping fields, deletes, versions."""

import json

import pytest
from botocore.exceptions import ClientError

GROUP = "abc-models"
APPROVED_IN_GROUP = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Package State Change"],
    "detail": {"ModelPackageGroupName": [GROUP], "ModelApprovalStatus": ["Approved"]},
}
INFERENCE_SPECIFICATION = {
    "Containers": [
        {"Image": "123.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "ModelDataUrl": "s3://b/m.tar.gz"}
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}


def _register(aws, **extra):
    return aws.sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        InferenceSpecification=INFERENCE_SPECIFICATION,
        ModelApprovalStatus="PendingManualApproval",
        **extra,
    )["ModelPackageArn"]


@pytest.fixture
def group(aws):
    aws.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    return GROUP


def test_approval_emits_the_state_change_event_that_an_approval_rule_matches(aws, group):
    approvals = aws.capture("approvals", APPROVED_IN_GROUP)
    every_change = aws.capture("all-changes", {"detail-type": ["SageMaker Model Package State Change"]})
    arn = _register(aws, CustomerMetadataProperties={"PreprocessingArtefact": "s3://b/preprocessing.json"})

    assert aws.events_in(approvals) == []
    aws.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")

    [event] = aws.events_in(approvals)
    assert event["source"] == "aws.sagemaker" and event["resources"] == [arn]
    detail = event["detail"]
    assert detail["ModelPackageArn"] == arn and detail["ModelPackageVersion"] == 1
    assert detail["ModelPackageGroupName"] == GROUP and detail["ModelApprovalStatus"] == "Approved"
    assert detail["ModelPackageStatus"] == "Completed"
    assert detail["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == "s3://b/m.tar.gz"
    assert detail["CustomerMetadataProperties"] == {"PreprocessingArtefact": "s3://b/preprocessing.json"}
    assert detail["CreationTime"].endswith("Z")
    statuses = [e["detail"]["ModelApprovalStatus"] for e in aws.events_in(every_change)]
    assert statuses == ["PendingManualApproval", "Approved"]  # creation, then the approval change


def test_an_update_that_does_not_change_the_status_emits_nothing(aws, group):
    changes = aws.capture("changes", {"detail-type": ["SageMaker Model Package State Change"]})
    arn = _register(aws)
    aws.events_in(changes)
    aws.sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"note": "x"})
    assert aws.events_in(changes) == []


def test_update_model_package_keeps_what_the_request_omits(aws, group):
    arn = _register(aws, CustomerMetadataProperties={"PreprocessingArtefact": "s3://b/p.json", "Owner": "ml"})

    aws.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="ok")
    described = aws.sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["CustomerMetadataProperties"] == {"PreprocessingArtefact": "s3://b/p.json", "Owner": "ml"}

    aws.sagemaker.update_model_package(
        ModelPackageArn=arn,
        CustomerMetadataProperties={"Owner": "platform"},
        CustomerMetadataPropertiesToRemove=["PreprocessingArtefact"],
    )
    described = aws.sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "ok"
    assert described["CustomerMetadataProperties"] == {"Owner": "platform"}


def test_invalid_approval_status_is_still_rejected(aws, group):
    arn = _register(aws)
    with pytest.raises(ClientError, match="enum value set"):
        aws.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Maybe")


def test_delete_model_package_and_group(aws, group):
    first, second = _register(aws), _register(aws)
    aws.sagemaker.delete_model_package(ModelPackageName=first)
    listed = aws.sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in listed] == [second]
    with pytest.raises(ClientError, match="does not exist"):
        aws.sagemaker.delete_model_package(ModelPackageName=first)

    third = _register(aws)
    assert third.endswith(f"/{GROUP}/3")  # versions keep counting after a delete, as on AWS
    assert aws.sagemaker.describe_model_package(ModelPackageName=second)["ModelPackageVersion"] == 2

    aws.sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    assert aws.sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"] == []
    assert aws.sagemaker.list_model_packages()["ModelPackageSummaryList"] == []
    with pytest.raises(ClientError, match=f"ModelPackageGroup {GROUP} does not exist"):
        aws.sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)


def test_a_recreated_group_starts_again_at_version_one(aws, group):
    _register(aws)
    aws.sagemaker.delete_model_package_group(ModelPackageGroupName=GROUP)
    aws.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    assert _register(aws).endswith(f"/{GROUP}/1")


def test_creating_in_a_missing_group_is_a_clear_error(aws):
    with pytest.raises(ClientError, match="Model Package Group nope does not exist"):
        aws.sagemaker.create_model_package(ModelPackageGroupName="nope", InferenceSpecification=INFERENCE_SPECIFICATION)


def test_event_detail_is_json_serialisable_with_metrics(aws, group):
    changes = aws.capture("changes", {"detail-type": ["SageMaker Model Package State Change"]})
    metrics = {"ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/eval.json"}}}
    _register(aws, ModelMetrics=metrics, MetadataProperties={"GeneratedBy": "arn:exec"})
    [event] = aws.events_in(changes)
    assert event["detail"]["ModelMetrics"] == metrics
    assert event["detail"]["MetadataProperties"] == {"GeneratedBy": "arn:exec"}
    json.dumps(event)
