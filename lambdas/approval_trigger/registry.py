"""Model registry and active-model pointer: what the approval_trigger Lambda reads and writes."""

from __future__ import annotations

import re
from collections import namedtuple

from batchops_core import contracts
from lambdas.shared.runtime import EventError, client, error_code, event_envelope, log

TYPE_CHECKING = False  # typing is not imported at run time: it would cost the cold start ~10 ms
if TYPE_CHECKING:
    from typing import Any

DETAIL_TYPE = contracts.MODEL_PACKAGE_DETAIL_TYPE
NO_MODEL = contracts.ACTIVE_MODEL_NONE  # "no version chosen" (ResolveModel then uses the latest Approved)
PAGE_SIZE = 50
APPROVAL_STATUSES = contracts.MODEL_APPROVAL_STATUSES
APPROVED, REJECTED = "Approved", "Rejected"  # the two members of APPROVAL_STATUSES this function acts on
_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]+:\d{12}:model-package/(?P<group>[^/]+)/(?P<version>\d+)$"
)


PackageEvent = namedtuple("PackageEvent", "event_id group arn version approval_status region")


def parse_event(event: Any) -> PackageEvent:
    event_id, where, _, detail = event_envelope(event, (DETAIL_TYPE,))
    for key in ("ModelPackageGroupName", "ModelPackageArn", "ModelApprovalStatus"):
        if not isinstance(detail.get(key), str) or not detail[key]:
            raise EventError(f"{where}: detail.{key} is missing or not a string")
    arn = detail["ModelPackageArn"]
    match = _PACKAGE_ARN.match(arn)
    if not match:
        raise EventError(f"{where}: detail.ModelPackageArn {arn!r} is not a versioned model package ARN")
    status = detail["ModelApprovalStatus"]
    if status not in APPROVAL_STATUSES:
        raise EventError(f"{where}: detail.ModelApprovalStatus {status!r} is not one of {', '.join(APPROVAL_STATUSES)}")
    version = str(detail.get("ModelPackageVersion") or match.group("version"))
    if version != match.group("version"):
        raise EventError(f"{where}: detail.ModelPackageVersion {version} does not match the ARN's version")
    return PackageEvent(
        event_id=event_id,
        group=detail["ModelPackageGroupName"],
        arn=arn,
        version=version,
        approval_status=status,
        region=str(event.get("region") or ""),
    )


def current_approval_status(arn: str) -> str:
    return str(client("sagemaker").describe_model_package(ModelPackageName=arn).get("ModelApprovalStatus", ""))


def latest_approved_other_than(group: str, excluded_arn: str) -> str | None:
    """Newest Approved version of the group (by creation time) that is not `excluded_arn`, or None."""
    sagemaker = client("sagemaker")
    request: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "ModelApprovalStatus": APPROVED,
        "SortBy": "CreationTime",
        "SortOrder": "Descending",  # the API's default is Ascending: the oldest first
        "MaxResults": PAGE_SIZE,
    }
    while True:
        page = sagemaker.list_model_packages(**request)
        for summary in page.get("ModelPackageSummaryList", []):
            if summary.get("ModelPackageArn") != excluded_arn:
                return str(summary["ModelPackageArn"])
        if not page.get("NextToken"):
            return None
        request["NextToken"] = page["NextToken"]


def read_pointer(parameter: str) -> str:
    try:
        return str(client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"])
    except Exception as exc:
        if error_code(exc) == "ParameterNotFound":
            log("warning", f"SSM parameter {parameter} does not exist yet; treating it as '{NO_MODEL}'")
            return NO_MODEL
        raise


def write_pointer(parameter: str, value: str) -> int:
    """Overwrite the pointer (SSM keeps every earlier value in the parameter history); returns the version."""
    response = client("ssm").put_parameter(Name=parameter, Value=value, Type="String", Overwrite=True)
    return int(response.get("Version", 0))


def version_of(arn: str) -> str:
    match = _PACKAGE_ARN.match(arn)
    return match.group("version") if match else ""
