"""The small helpers behind the CI jobs: pinned Terraform installer, OIDC role set-up, definitions."""

from __future__ import annotations

import hashlib
import io
import re
import sys
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest
from ci_testkit import run_bash, run_wrapper, wrapper_env

from batchops import terraform as install_terraform  # the pinned installer lives beside the adapter
from batchops_core.settings import load_settings

# ------------------------------------------------------------------------------------------------ installer


def terraform_zip(version: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("terraform")
        info.external_attr = 0o755 << 16
        archive.writestr(info, f"#!/bin/sh\necho 'Terraform v{version}'\necho 'on linux_amd64'\n")
    return buffer.getvalue()


@pytest.fixture
def release_server():
    """Serves whatever bytes the test puts in `files` (URL path -> bytes) on 127.0.0.1."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", files
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_installer_unpacks_a_release_whose_checksum_matches(release_server, tmp_path):
    base_url, files = release_server
    payload = terraform_zip("9.8.7")
    files["/9.8.7/terraform_9.8.7_linux_amd64.zip"] = payload

    digest = hashlib.sha256(payload).hexdigest()
    bin_dir = install_terraform.install(tmp_path, base_url=base_url, expected_sha256=digest,
                                        platform_name="linux_amd64", version="9.8.7")

    assert bin_dir == tmp_path / "terraform-9.8.7"
    assert install_terraform.installed_version(bin_dir / "terraform") == "9.8.7"
    files.clear()  # a second call finds the installed binary and downloads nothing
    assert install_terraform.install(tmp_path, base_url=base_url, expected_sha256="unused",
                                     platform_name="linux_amd64", version="9.8.7") == bin_dir


def test_installer_refuses_a_release_with_another_checksum(release_server, tmp_path):
    base_url, files = release_server
    files["/9.8.7/terraform_9.8.7_linux_amd64.zip"] = terraform_zip("9.8.7")

    with pytest.raises(install_terraform.InstallError, match="checksum mismatch"):
        install_terraform.install(tmp_path, base_url=base_url, expected_sha256="0" * 64,
                                  platform_name="linux_amd64", version="9.8.7")
    assert not (tmp_path / "terraform-9.8.7" / "terraform").exists()


def test_installer_reports_a_failed_download(release_server, tmp_path):
    base_url, _ = release_server
    with pytest.raises(install_terraform.InstallError, match="download of .* failed"):
        install_terraform.install(tmp_path, base_url=base_url, expected_sha256="0" * 64,
                                  platform_name="linux_amd64", version="9.8.7")


def test_installer_pins_one_checksum_per_supported_platform():
    assert install_terraform.TERRAFORM_VERSION == "1.11.4"
    assert set(install_terraform.RELEASE_SHA256) == {"linux_amd64", "linux_arm64"}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in install_terraform.RELEASE_SHA256.values())


# ------------------------------------------------------------------------------------------------ OIDC

ROLE = "arn:aws:iam::111122223333:role/abalone-dev-deploy"
PLAN_ROLE = "arn:aws:iam::111122223333:role/abalone-dev-plan"
SHOW = ('echo "ROLE=$AWS_ROLE_ARN"; echo "FILE=$AWS_WEB_IDENTITY_TOKEN_FILE"; '
        'echo "TOKEN=$(cat "$AWS_WEB_IDENTITY_TOKEN_FILE")"')


def parse(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if re.match(r"^[A-Z]+=", line))


def test_oidc_token_becomes_a_web_identity_role_for_boto3_and_terraform():
    env = wrapper_env(GITLAB_CI="true", AWS_ID_TOKEN="header.payload.signature", AWS_DEPLOY_ROLE_ARN_DEV=ROLE,
                      AWS_PROFILE="someone", CI_PIPELINE_ID="77", CI_JOB_ID="1001")
    result = run_bash(f'use_aws_role dev deploy; {SHOW}; echo "PROFILE=${{AWS_PROFILE:-unset}}"; '
                      'echo "SESSION=$AWS_ROLE_SESSION_NAME"', env=env)
    assert result.returncode == 0, result.stderr
    values = parse(result.stdout)
    assert values["ROLE"] == ROLE
    assert values["TOKEN"] == "header.payload.signature"
    assert values["PROFILE"] == "unset"
    assert values["SESSION"] == "gitlab-local-77-1001"
    assert not Path(values["FILE"]).exists(), "the token file is removed when the wrapper exits"


def test_plan_role_is_preferred_for_plans_and_deploy_role_is_the_fallback():
    env = wrapper_env(AWS_ID_TOKEN="t", AWS_DEPLOY_ROLE_ARN_DEV=ROLE, AWS_PLAN_ROLE_ARN_DEV=PLAN_ROLE)
    assert parse(run_bash(f"use_aws_role dev plan; {SHOW}", env=env).stdout)["ROLE"] == PLAN_ROLE
    assert parse(run_bash(f"use_aws_role dev deploy; {SHOW}", env=env).stdout)["ROLE"] == ROLE
    env.pop("AWS_PLAN_ROLE_ARN_DEV")
    assert parse(run_bash(f"use_aws_role dev plan; {SHOW}", env=env).stdout)["ROLE"] == ROLE


@pytest.mark.parametrize(("env", "message"), [
    ({"GITLAB_CI": "true"}, "no OIDC id token in AWS_ID_TOKEN"),
    ({"AWS_ID_TOKEN": "t"}, "set the CI/CD variable AWS_DEPLOY_ROLE_ARN_STAGING"),
    ({"AWS_ID_TOKEN": "t", "AWS_DEPLOY_ROLE_ARN_STAGING": "abalone-deploy"}, "is not an IAM role ARN"),
])
def test_missing_or_wrong_oidc_inputs_are_named(env, message):
    result = run_bash("use_aws_role staging deploy", env=wrapper_env(**env))
    assert result.returncode == 2
    assert message in result.stderr


def test_a_plan_without_any_role_names_both_variables():
    result = run_bash("use_aws_role prod plan", env=wrapper_env(AWS_ID_TOKEN="t"))
    assert result.returncode == 2
    assert "set the CI/CD variable AWS_PLAN_ROLE_ARN_PROD (or AWS_DEPLOY_ROLE_ARN_PROD)" in result.stderr


def test_off_ci_without_a_token_the_local_credential_chain_is_kept():
    result = run_bash('use_aws_role prod deploy; echo "ROLE=${AWS_ROLE_ARN:-unset}"; echo "P=$AWS_PROFILE"',
                      env=wrapper_env(AWS_PROFILE="platform-admin"))
    assert result.returncode == 0, result.stderr
    assert parse(result.stdout) == {"ROLE": "unset", "P": "platform-admin"}


def test_wrappers_use_the_pinned_terraform_already_on_path_without_downloading():
    # An unreachable mirror proves that nothing is fetched when PATH already has Terraform 1.11.4.
    env = wrapper_env(TERRAFORM_RELEASES_URL="http://127.0.0.1:9/none", PYTHON=sys.executable)
    result = run_bash('ensure_terraform; command -v terraform; terraform version', env=env)
    assert result.returncode == 0, result.stderr
    assert "Terraform v1.11.4" in result.stdout


def test_wrappers_install_terraform_when_the_image_has_none_and_refuse_a_bad_download(release_server, tmp_path):
    base_url, files = release_server
    files["/1.11.4/terraform_1.11.4_linux_amd64.zip"] = terraform_zip("1.11.4")  # not the official bytes
    env = wrapper_env(TERRAFORM_RELEASES_URL=base_url, PYTHON=sys.executable, PATH="/usr/bin:/bin",
                      TERRAFORM_INSTALL_DIR=str(tmp_path))
    result = run_bash('ensure_terraform; echo "unreachable"', env=env)
    assert result.returncode == 2
    assert "checksum mismatch" in result.stderr
    assert "could not install the pinned Terraform" in result.stderr
    assert "unreachable" not in result.stdout
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ definitions


@pytest.mark.slow  # a pipeline build with the SageMaker SDK
def test_definitions_name_the_account_of_the_environment_role(tmp_path):
    env = wrapper_env(BATCHOPS_CI_OUT=str(tmp_path), AWS_PLAN_ROLE_ARN_STAGING="arn:aws:iam::444455556666:role/plan")
    result = run_wrapper("definitions.sh", "staging", env=env)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "staging" / "definitions").iterdir())
    assert written == sorted(f"{name}.json" for name in load_settings("staging").pipeline_names.values())
    assert "abalone-staging-training.json" in written
    for name in written:
        text = (tmp_path / "staging" / "definitions" / name).read_text()
        assert "444455556666" in text and "123456789012" not in text


@pytest.mark.parametrize(("variables", "message"), [
    ({}, "no AWS account known for 'prod': set AWS_ACCOUNT_ID_PROD or AWS_DEPLOY_ROLE_ARN_PROD"),
    ({"AWS_ACCOUNT_ID_PROD": "12345"}, "AWS_ACCOUNT_ID_PROD='12345' is neither a 12-digit account id"),
])
def test_definitions_without_a_known_account_fail_clearly(tmp_path, variables, message):
    result = run_wrapper("definitions.sh", "prod", env=wrapper_env(BATCHOPS_CI_OUT=str(tmp_path), **variables))
    assert result.returncode == 2
    assert message in result.stderr
