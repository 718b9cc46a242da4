"""SageMaker: the model registry (`model_registry`: Create/Update/DeleteModelPackage(Group), state change
events), pipeline executions (`pipeline_executions`: Start/Stop/Describe/ListPipelineExecution(s),
ListPipelineExecutionSteps, handed to the local runner), model package group policies and cross-account registry
access (`group_policies`) and jobs (`jobs`: processing and training jobs stay
InProgress until the runner reports their end, with ExitMessage and FailureReason); `model_registry` also
resolves CreateModel's ModelPackageName. CreatePipeline, UpdatePipeline and the other pipeline and model calls
are moto's own, unchanged.

Importing the package loads no moto; `install` applies the service's patches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..patching import Patcher


def install(patcher: Patcher) -> None:
    from . import group_policies, jobs, model_registry, pipeline_executions

    jobs.install(patcher)
    model_registry.install(patcher)
    group_policies.install(patcher)
    pipeline_executions.install(patcher)
