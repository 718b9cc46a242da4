"""The approved local stack the e2e modules share (tests/e2e/conftest.py `approved_stack`): built once per run,
restored by each module into its own emulator and home."""

from __future__ import annotations

from pathlib import Path

import bench_load  # benchmarks/: on the path by tests/e2e/conftest.py

from batchops import operations as ops
from batchops_local.emulator.contracts import FINAL_EXECUTION_STATUSES

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
