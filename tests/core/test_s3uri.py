from __future__ import annotations

import pytest

from batchops_core.s3uri import S3UriError, join_s3_uri, split_s3_uri


@pytest.mark.parametrize(("uri", "expected"), [
    ("s3://bucket/a/b.csv", ("bucket", "a/b.csv")),
    ("s3://bucket/", ("bucket", "")),
    ("s3://bucket", ("bucket", "")),
])
def test_split(uri, expected):
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["bucket/a", "s3:///a", "", None, "S3://b/a"])
def test_split_refuses_what_is_not_an_s3_uri(uri):
    with pytest.raises(S3UriError, match="input"):
        split_s3_uri(uri, what="input")


def test_join():
    assert join_s3_uri("b", "a/", "/c") == "s3://b/a/c"
    assert join_s3_uri("b") == "s3://b/"
