"""AWS-managed IAM policies: loaded while an emulator runs, never imposed on the rest of the process.

Each check runs in a fresh interpreter: whether importing the launcher changes the environment can only be
seen in a process that has not imported it yet (pytest's own has).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

VARIABLE = "MOTO_IAM_LOAD_MANAGED_POLICIES"

PROBE = textwrap.dedent(
    """
    import json, os, sys, tempfile

    import boto3
    from moto import mock_aws

    def aws_policies_in_plain_moto():
        with mock_aws():
            iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
            return len(iam.list_policies(Scope="AWS", MaxItems=5)["Policies"])

    import batchops_local.emulator.server  # the import under test
    from batchops_local.emulator import Emulator

    report = {"after_import": os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES"),
              "plain_moto_after_import": aws_policies_in_plain_moto()}
    with Emulator(tempfile.mkdtemp()) as emulator:
        report["while_running"] = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
        iam = emulator.client("iam")
        report["emulator_policies"] = len(iam.list_policies(Scope="AWS", MaxItems=5)["Policies"])
    report["after_stop"] = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    report["plain_moto_after_stop"] = aws_policies_in_plain_moto()
    print(json.dumps(report))
    """
)


def _probe(environment_value: str | None) -> dict:
    env = {key: value for key, value in os.environ.items() if key != VARIABLE}
    if environment_value is not None:
        env[VARIABLE] = environment_value
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_launcher_sets_nothing_and_the_emulator_restores_an_unset_variable():
    report = _probe(None)
    assert report == {
        "after_import": None,
        "plain_moto_after_import": 0,  # stock moto: no AWS-managed policies, no cost to load them
        "while_running": "true",
        "emulator_policies": 5,  # AWSLambdaBasicExecutionRole and friends are attachable in the emulator
        "after_stop": None,
        "plain_moto_after_stop": 0,
    }


def test_a_value_the_user_set_is_kept_around_the_emulator():
    report = _probe("false")
    assert report["after_import"] == "false"
    assert report["while_running"] == "true"
    assert report["emulator_policies"] == 5
    assert report["after_stop"] == "false"
    assert report["plain_moto_after_stop"] == 0
