"""What the end-to-end tests on benchmarks/bench_load.py's stack share: the Terraform-applied local stack with an
approved model (each module its own copy), and the CLI pointed at it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batchops import operations as ops
from batchops.aws_session import connect
from batchops_core.settings import load_settings
from batchops_local.emulator.contracts import FINAL_EXECUTION_STATUSES

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_load  # noqa: E402

APPROVED_STACK = "approved-local-stack"  # the run-wide folder (build_once in tests/conftest.py)
SNAPSHOT = "emulator-snapshot.bin"
QUIET_TIMEOUT = 300.0


def build_approved_stack(folder: Path) -> None:
    """bench_load's stack (Terraform apply of env_files/local.tfvars, pipelines upserted, a model trained and
    approved) once, quiet (no Lambda invocation or execution running: those a snapshot does not carry), saved as
    the emulator's snapshot beside its home (Terraform state, run logs, outbox)."""
    with bench_load.approved_stack(folder / "home") as (local_aws, target):
        assert local_aws.wait_for_lambdas(QUIET_TIMEOUT), "Lambda invocations still running after the approval"
        ops.wait_for(lambda: all(e.status in FINAL_EXECUTION_STATUSES for e in ops.list_executions(target)),
                     timeout=QUIET_TIMEOUT, what="no pipeline execution running after the approval")
        local_aws.save_snapshot(folder / SNAPSHOT)


def check_restored(local_aws, target) -> None:
    """A restored stack that cannot serve the module fails it: nothing was interrupted, the three pipelines exist,
    the active model is the approved version."""
    assert local_aws.emulator.interrupted == [], local_aws.emulator.interrupted
    sagemaker = target.client("sagemaker")
    for name in target.settings.pipeline_names.values():
        sagemaker.describe_pipeline(PipelineName=name)
    approved = [v.arn for v in ops.model_versions(target) if v.approval_status == "Approved"]
    assert len(approved) == 1 and ops.active_model_arn(target) == approved[0], (approved,
                                                                               ops.active_model_arn(target))


@pytest.fixture(scope="module")
def approved_stack(request, tmp_path_factory, build_once):
    """(local AWS, target): the module's own stack, applied and with an approved model. The apply and training
    happen once per run (build_approved_stack); each module starts its own emulator from that snapshot, in its own
    copy of the home, so what one module changes no other sees."""
    prepared = build_once(APPROVED_STACK, build_approved_stack)
    home = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")) / "home"
    shutil.copytree(prepared / "home", home, symlinks=True)
    from batchops_local.runtime import start_local_aws

    with start_local_aws(home, restore_from=prepared / SNAPSHOT) as local_aws:
        target = connect(load_settings("local"), endpoint_url=local_aws.endpoint_url)
        check_restored(local_aws, target)
        yield local_aws, target


@pytest.fixture
def stack_cli(approved_stack, tmp_path, monkeypatch):
    """`batchops ...` against the module's stack, wide enough that tables do not wrap."""
    from batchops.cli import app

    _, target = approved_stack
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("BATCHOPS_HOME", str(tmp_path / "cli-home"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", target.endpoint_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))
