"""The check every module's restored stack passes before its first test (tests/e2e/shared_stack.py check_restored)
fails on a stack that lacks what the module needs, rather than letting its tests run on it."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from shared_stack import check_restored  # tests/e2e/: on the path by its conftest.py

from batchops.aws_session import connect
from batchops_core.settings import load_settings
from batchops_local.runtime import start_local_aws


def test_an_empty_restored_stack_fails_the_check(tmp_path):
    with start_local_aws(tmp_path / "home", execution_handler=None, warm_up_services=False,
                         load_aws_managed_policies=False) as local_aws:
        target = connect(load_settings("local"), endpoint_url=local_aws.endpoint_url)
        with pytest.raises(ClientError, match="Could not find pipeline"):
            check_restored(local_aws, target)
