"""S3 bucket policies evaluated as AWS evaluates them for requests over HTTPS, also across accounts.

moto only understands the `StringEquals` condition operator and treats every other one as satisfied, so
the usual `Deny s3:* when aws:SecureTransport is false` statement denied every request (HTTP 403). The
emulator stands in for AWS's HTTPS endpoint: requests carry `aws:SecureTransport = true`, and a statement
applies only when all of its conditions hold (`policies.conditions_hold`).

A request to a bucket of another account (moto serves it from the owner's backend, as the bucket namespace is
global) is allowed only when the bucket policy allows the caller and the caller's identity policies allow it
(`policies.cross_account_denial`); reading an object encrypted with a KMS key of another account also needs
kms:Decrypt on that key (`kms.key_policies`). Denied: `403 AccessDenied` "Access Denied", as S3 answers it.
"""

from __future__ import annotations

import json
from typing import Any

from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.s3.exceptions import S3AccessDeniedError
from moto.s3.models import FakeBucket, s3_backends
from moto.s3.responses import S3Response

from .. import accounts
from ..kms.key_policies import decrypt_denial, find_key
from ..patching import Patcher
from ..policies import conditions_hold, cross_account_denial

REQUEST_CONTEXT = {"aws:securetransport": "true"}  # keys are case-insensitive in IAM

# The IAM action of a request on an object / a bucket, by HTTP method and sub-resource (the S3 operations the
# stack makes across accounts; https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html).
# A request not listed is evaluated as `s3:<Method>Bucket<SubResource>` / `s3:<Method>Object<SubResource>`.
_OBJECT_ACTIONS = {("GET", ""): "s3:GetObject", ("HEAD", ""): "s3:GetObject", ("PUT", ""): "s3:PutObject",
                   ("POST", ""): "s3:PutObject", ("DELETE", ""): "s3:DeleteObject",
                   ("GET", "tagging"): "s3:GetObjectTagging", ("PUT", "tagging"): "s3:PutObjectTagging"}
_BUCKET_ACTIONS = {("GET", ""): "s3:ListBucket", ("HEAD", ""): "s3:ListBucket", ("GET", "versions"):
                   "s3:ListBucketVersions", ("GET", "location"): "s3:GetBucketLocation",
                   ("POST", "delete"): "s3:DeleteObject"}
_SUB_RESOURCES = ("tagging", "versions", "location", "delete", "policy", "acl", "versioning", "encryption",
                  "notification", "lifecycle", "uploads", "uploadId")


def install(patcher: Patcher) -> None:
    patcher.replace(FakeBucket, "get_permission", _get_permission)
    for name, on_object in (("_bucket_response", False), ("_key_response", True)):
        original = getattr(S3Response, name)

        def checked(self: S3Response, request: Any, full_url: str, _original: Any = original,
                    _on_object: bool = on_object) -> Any:
            _authorize_cross_account(self, request, _on_object)
            return _original(self, request, full_url)

        patcher.replace(S3Response, name, checked)


def _get_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
    statements = document.get("Statement", [])
    permitted = False
    for raw in statements if isinstance(statements, list) else [statements]:
        if not conditions_hold(raw.get("Condition") or {}, REQUEST_CONTEXT):
            continue  # a statement whose conditions do not hold does not apply at all
        unconditional = {key: value for key, value in raw.items() if key != "Condition"}
        result = IAMPolicyStatement(unconditional).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            return result
        permitted = permitted or result == PermissionResult.PERMITTED
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL


# ------------------------------------------------------------------------------------------- cross-account


def _action(request: Any, query: dict[str, Any], on_object: bool) -> str:
    method = request.method.upper()
    sub_resource = next((name for name in _SUB_RESOURCES if name in query), "")
    if not on_object and "list-type" in query:
        sub_resource = ""
    known = (_OBJECT_ACTIONS if on_object else _BUCKET_ACTIONS).get((method, sub_resource))
    if known is not None:
        return known
    verb = {"GET": "Get", "HEAD": "Get", "PUT": "Put", "POST": "Put", "DELETE": "Delete"}.get(method, method.title())
    return f"s3:{verb}{'Object' if on_object else 'Bucket'}{sub_resource[:1].upper()}{sub_resource[1:]}"


def _authorize_cross_account(response: S3Response, request: Any, on_object: bool) -> None:
    bucket_name = response.bucket_name
    owner = s3_backends.bucket_accounts.get(bucket_name) if bucket_name else None
    if owner is None:
        return  # no bucket of that name anywhere: moto answers NoSuchBucket
    partition, owner_account = owner
    if response.current_account == owner_account:
        return  # the owner's own request: answered as moto answers it
    caller = accounts.caller_of(response)
    bucket = s3_backends[owner_account][partition].buckets.get(bucket_name)
    if bucket is None:
        return
    query = response.querystring or {}
    if not on_object and request.method.upper() == "PUT" and not any(name in query for name in _SUB_RESOURCES):
        return  # CreateBucket of a taken name: moto answers BucketAlreadyExists, as S3 does
    action = _action(request, query, on_object)
    key_name = response.parse_key_name() if on_object else None
    resource = f"arn:{partition}:s3:::{bucket_name}" + (f"/{key_name}" if on_object else "")
    if cross_account_denial(caller, owner_account, action, resource, bucket.policy,
                            service_keys=_service_keys(action, query)) is not None:
        raise S3AccessDeniedError()
    if on_object and request.method.upper() == "GET" and action == "s3:GetObject":  # HeadObject decrypts nothing
        _authorize_object_key(response, bucket, key_name or "", caller)


def _service_keys(action: str, query: dict[str, Any]) -> dict[str, str]:
    """S3's own condition keys of a request: s3:prefix is the listing's `prefix` parameter, present only when the
    request has one (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html)."""
    prefix = (query.get("prefix") or [None])[0]
    if action in ("s3:ListBucket", "s3:ListBucketVersions") and prefix is not None:
        return {"s3:prefix": prefix}
    return {}


def _authorize_object_key(response: S3Response, bucket: FakeBucket, key_name: str, caller: accounts.Caller) -> None:
    version_id = (response.querystring.get("versionId") or [None])[0]
    key = bucket.keys.get(key_name) if version_id is None else None
    if version_id is not None:
        key = next((k for k in bucket.keys.getlist(key_name, []) if k.version_id == version_id), None)
    if key is not None and _decrypt_denied(caller, bucket, key):
        raise S3AccessDeniedError()


def _decrypt_denied(caller: accounts.Caller, bucket: FakeBucket, key: Any) -> bool:
    """An object encrypted with a customer managed key: S3 decrypts it as the caller, so the caller needs
    kms:Decrypt on that key (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html)."""
    if getattr(key, "encryption", None) != "aws:kms" or not getattr(key, "kms_key_id", None):
        return False
    kms_key_id = key.kms_key_id
    if not kms_key_id.startswith("arn:"):  # a bare key id or alias name: the bucket owner's key
        kms_key_id = f"arn:{bucket.partition}:kms:{bucket.region_name}:{bucket.account_id}:" + (
            kms_key_id if kms_key_id.startswith("alias/") else f"key/{kms_key_id}")
    kms_key = find_key(kms_key_id, bucket.region_name)
    return kms_key is not None and decrypt_denial(caller, kms_key) is not None


def object_read_denied(caller: accounts.Caller, bucket: FakeBucket, key_name: str, key: Any | None) -> bool:
    """Whether `caller` may not read (s3:GetObject) `key_name` of `bucket`, `key` being the object (None: there
    is none), evaluated as for a GetObject request: for another account's bucket, its policy and the caller's
    identity policies; and kms:Decrypt on the object's key. For services that read an object as their caller
    (Lambda's deployment packages)."""
    resource = f"arn:{bucket.partition}:s3:::{bucket.name}/{key_name}"
    if cross_account_denial(caller, bucket.account_id, "s3:GetObject", resource, bucket.policy) is not None:
        return True
    return key is not None and _decrypt_denied(caller, bucket, key)
