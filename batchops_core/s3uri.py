"""S3 URIs: `s3://bucket/key`, split and joined in one place. Python 3.9, standard library only (shipped)."""

from __future__ import annotations


class S3UriError(ValueError):
    """Not an `s3://bucket/...` URI."""


def split_s3_uri(uri: str, *, what: str = "S3 URI") -> tuple[str, str]:
    """`s3://bucket/a/b` -> ("bucket", "a/b"); the key may be empty (a bucket or prefix URI)."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise S3UriError(f"{what}: expected an s3://bucket/key URI, found {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise S3UriError(f"{what}: no bucket in {uri!r}")
    return bucket, key


def join_s3_uri(bucket: str, *parts: str) -> str:
    """`join_s3_uri("b", "a/", "/c")` -> "s3://b/a/c" (no doubled or trailing slashes between parts)."""
    key = "/".join(part.strip("/") for part in parts if part and part.strip("/"))
    return f"s3://{bucket}/{key}" if key else f"s3://{bucket}/"
