"""One handler per pipeline step type; a type missing here fails its step with a clear message."""

from __future__ import annotations

from batchops_local.runner.executor import StepHandler
from batchops_local.runner.steps.control import run_condition, run_fail
from batchops_local.runner.steps.processing import run_processing
from batchops_local.runner.steps.quality_check import run_quality_check
from batchops_local.runner.steps.registry import run_model, run_register_model
from batchops_local.runner.steps.training import run_training
from batchops_local.runner.steps.transform import run_transform
from batchops_local.runner.steps.tuning import run_tuning

STEP_HANDLERS: dict[str, StepHandler] = {
    "Processing": run_processing,
    "Training": run_training,
    "Tuning": run_tuning,
    "QualityCheck": run_quality_check,
    "Model": run_model,
    "RegisterModel": run_register_model,
    "Transform": run_transform,
    "Condition": run_condition,
    "Fail": run_fail,
}
