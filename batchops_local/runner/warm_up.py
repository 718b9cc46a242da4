"""The default configuration's warm servers (warm_pool), started while the caller does other work (the demo:
Terraform's apply), so that the first steps already start warm. A module of its own: it reads the steps' settings,
which themselves start their jobs through the pool."""

from __future__ import annotations

from batchops_core.settings import Hpo
from batchops_local.runner import warm_pool
from batchops_local.runner.jobs import job_process_environment
from batchops_local.runner.runtimes import DEFAULT_IMAGES, XGBOOST_IMAGE, interpreter_for
from batchops_local.runner.steps.tuning import job_thread_cap


def warm_default_runtimes() -> None:
    """Start the servers of the default configuration's images (what the demo's steps use), e.g. while Terraform
    applies; a runtime that cannot be provided is left to the first job to report."""
    # The default tuning job's training jobs run with their share of the cores, a startup variable of their own.
    tuning_threads = str(job_thread_cap(Hpo().max_parallel_jobs))
    for image, version in DEFAULT_IMAGES:
        try:
            interpreter = interpreter_for(f"{image}:{version}", what="warm pool")
        except Exception:  # noqa: BLE001 - the job that needs the runtime reports why it is unavailable
            continue
        warm_pool.POOL.warm(interpreter, job_process_environment({}))
        if image == XGBOOST_IMAGE:
            warm_pool.POOL.warm(interpreter, job_process_environment({"OMP_NUM_THREADS": tuning_threads}))
