"""Two env files side by side in one emulator (issue 18 item 1): each applies with its own state and leaves the
other alone; a state that holds the other environment's stack (the issue's accident) gives a plan the guard
refuses before anything is applied."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from batchops.terraform import Terraform, TerraformRefusal
from batchops_core.settings import Settings, load_settings
from batchops_local.runtime import start_local_aws

pytestmark = pytest.mark.slow


def _live(aws, settings: Settings, outputs: dict) -> None:
    """The stack of `settings` is in the emulator: its bucket, rules, functions and model package group."""
    assert settings.bucket in {bucket["Name"] for bucket in aws.client("s3").list_buckets()["Buckets"]}
    rules = aws.client("events").list_rules(NamePrefix=f"{settings.resource_prefix}-")["Rules"]
    assert {rule["Name"] for rule in rules} == set(outputs["rule_names"].values())
    functions = {f["FunctionName"] for f in aws.client("lambda").list_functions()["Functions"]}
    assert set(outputs["lambda_function_names"].values()) <= functions
    assert aws.client("sagemaker").describe_model_package_group(
        ModelPackageGroupName=settings.pipelines.model_package_group)["ModelPackageGroupName"]


def test_two_env_files_in_one_emulator_with_their_own_state_and_no_cross_environment_destroy(
        tmp_path: Path, local_settings: Settings, write_env_file) -> None:
    home = tmp_path / "home"
    second = load_settings(write_env_file(tmp_path / "envs", "second"))
    assert second.emulated and second.resource_prefix == "abalone-second"
    with start_local_aws(home, execution_handler=None) as aws:
        first_tf = Terraform(local_settings, home=home, endpoint_env=aws.env())
        second_tf = Terraform(second, home=home, endpoint_env=aws.env())
        first_outputs = first_tf.apply()
        second_outputs = second_tf.apply()

        assert first_tf.state_file == home / "terraform" / "local" / "terraform.tfstate"
        assert second_tf.state_file.parent.parent == home / "terraform" and second_tf.state_file.is_file()
        assert second_tf.state_file != first_tf.state_file
        assert first_tf.resources() == second_tf.resources()  # the same addresses, different objects
        for settings, outputs in ((local_settings, first_outputs), (second, second_outputs)):
            _live(aws, settings, outputs)
        assert not first_tf.plan().has_changes, "the second environment's apply changed nothing of the first"

        # The accident: this file's state holds the other environment's stack.
        shutil.copyfile(first_tf.state_file, second_tf.state_file)
        with pytest.raises(TerraformRefusal) as refused:
            second_tf.plan()
        message = str(refused.value)
        assert len(message.splitlines()) == 1
        assert "resources of another environment: " in message and "(project abalone, environment local)" in message
        assert "the data bucket: module.storage.aws_s3_bucket.data[0] (abalone-local-data)" in message
        assert not second_tf.default_plan_file.exists(), "a refused plan cannot be applied later"
        _live(aws, local_settings, first_outputs)
