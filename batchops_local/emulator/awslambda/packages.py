"""Deployment packages from S3 (CreateFunction / UpdateFunctionCode / PublishLayerVersion with S3Bucket, S3Key,
S3ObjectVersion), read as Lambda reads them.

Lambda fetches the object with the permissions of the caller of CreateFunction/UpdateFunctionCode, from a
bucket in the function's own Region that may belong to another account
(https://docs.aws.amazon.com/lambda/latest/api/API_FunctionCode.html). moto reads it from the caller's own
account only, ignores the bucket's Region and the caller's rights, and accepts a key that does not exist (the
function then has no code). Here moto's reads go through `_PackageBuckets`, which answers as Lambda does:

- no such bucket / key / version: InvalidParameterValueException "Error occurred while GetObject. S3 Error Code:
  NoSuchBucket|NoSuchKey|NoSuchVersion. ..." (HTTP 400);
- a bucket in another Region: InvalidParameterValueException "... S3 Error Code: PermanentRedirect. S3 Error
  Message: The bucket is in this region: <region>. Please use this region to retry the request";
- a caller the bucket policy / its identity policies (another account's bucket) or the object's KMS key do not
  allow: AccessDeniedException "Your access has been denied by S3, please make sure your request credentials have
  permission to GetObject for <bucket>/<key>. S3 Error Code: AccessDenied. S3 Error Message: Access Denied"
  (HTTP 403).

These are the answers Lambda gives (as its users report them verbatim, e.g. hashicorp/terraform-provider-aws#2540
for PermanentRedirect, awslabs/lambda-streams-to-firehose#21 for AccessDenied). The package's CodeSha256 and
CodeSize are then moto's, computed from the object's bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError
from moto.s3.models import FakeKey, s3_backends

from .. import accounts
from ..patching import Patcher
from ..s3.bucket_policies import object_read_denied

# The caller and Region of the Lambda request being handled on this thread (moto's reads name neither).
_request = threading.local()


class PackageAccessDenied(LambdaClientError):
    code = 403

    def __init__(self, bucket: str, key: str):
        super().__init__("AccessDeniedException",
                         f"Your access has been denied by S3, please make sure your request credentials have "
                         f"permission to GetObject for {bucket}/{key}. S3 Error Code: AccessDenied. "
                         "S3 Error Message: Access Denied")


def _get_object_error(code: str, message: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Error occurred while GetObject. S3 Error Code: {code}. "
                                          f"S3 Error Message: {message}")


def install(patcher: Patcher) -> None:
    from moto.awslambda import models
    from moto.awslambda.responses import LambdaResponse

    patcher.replace(models, "s3_backends", _PackageBuckets())
    for name in ("create_function", "update_function_code", "publish_layer_version"):
        patcher.replace(LambdaResponse, name, _as_caller(getattr(LambdaResponse, name)))


def _as_caller(handler: Any) -> Any:
    def answered(self: Any) -> Any:
        body = self.json_body if isinstance(self.json_body, dict) else {}
        # CreateFunction names the package under Code, PublishLayerVersion under Content, UpdateFunctionCode at the top.
        code = next((body[name] for name in ("Code", "Content") if isinstance(body.get(name), dict)), body)
        with _requested_by(accounts.caller_of(self), self.region, code.get("S3ObjectVersion")):
            return handler(self)

    answered.__name__ = handler.__name__
    return answered


@contextmanager
def _requested_by(caller: accounts.Caller, region: str, version_id: str | None) -> Iterator[None]:
    _request.caller, _request.region, _request.version_id = caller, region, version_id
    try:
        yield
    finally:
        _request.caller = _request.region = _request.version_id = None


def read_package(caller: accounts.Caller, region: str, bucket_name: str, key_name: str,
                 version_id: str | None = None) -> FakeKey:
    """The package object as Lambda reads it for `caller` creating a function in `region` (see the module doc)."""
    owner = s3_backends.bucket_accounts.get(bucket_name)
    bucket = s3_backends[owner[1]][owner[0]].buckets.get(bucket_name) if owner else None
    if bucket is None:
        raise _get_object_error("NoSuchBucket", "The specified bucket does not exist")
    if bucket.region_name != region:
        raise _get_object_error("PermanentRedirect", f"The bucket is in this region: {bucket.region_name}. "
                                                     "Please use this region to retry the request")
    backend = s3_backends[bucket.account_id][bucket.partition]
    key = backend.get_object(bucket_name, key_name, version_id)
    if object_read_denied(caller, bucket, key_name, key):
        raise PackageAccessDenied(bucket_name, key_name)
    if key is None:
        if version_id is not None:
            raise _get_object_error("NoSuchVersion", "The specified version does not exist.")
        raise _get_object_error("NoSuchKey", "The specified key does not exist.")
    return key


class _PackageBuckets:
    """Stands in for `s3_backends` in moto's Lambda models, which only ever call
    `s3_backends[account][partition].get_object(bucket, key)` to read a deployment package."""

    def __getitem__(self, _account_id: str) -> _PackageBuckets:
        return self

    def get_object(self, bucket_name: str, key_name: str) -> FakeKey:
        caller = getattr(_request, "caller", None)
        if caller is None:
            raise RuntimeError("a deployment package was read outside a Lambda CreateFunction/UpdateFunctionCode")
        return read_package(caller, _request.region, bucket_name, key_name, _request.version_id)

