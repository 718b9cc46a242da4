"""One handler per pipeline step type; a type missing here fails its step with a clear message."""

from __future__ import annotations

from batchops.runner.executor import StepHandler
from batchops.runner.steps.control import run_condition, run_fail
from batchops.runner.steps.processing import run_processing
from batchops.runner.steps.quality_check import run_quality_check
from batchops.runner.steps.registry import run_model, run_register_model
from batchops.runner.steps.training import run_training
from batchops.runner.steps.transform import run_transform
from batchops.runner.steps.tuning import run_tuning

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
