"""QualityCheck steps (DATA_QUALITY): the product's data-quality engine in place of the Model Monitor analyzer,
with QualityCheckStep's baseline semantics (aws-contracts §9.5).

- A new baseline (statistics.json, constraints.json) is always calculated from the input.
- The previous baseline is the supplied one, else the DriftCheckBaselines of the latest Approved package of
  ModelPackageGroupName; it is required unless SkipCheck and RegisterNewBaseline are both true.
- Unless SkipCheck, the input is checked against the previous baseline (constraint_violations.json);
  violations fail the step when FailOnViolation (default true).
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Any

from batchops_local.runner.aws import join_uri
from batchops_local.runner.errors import StepFailed
from batchops_local.runner.executor import StepContext, StepResult
from batchops_local.runner.expressions import to_text
from batchops_local.runner.jobs import ANALYZER_IMAGE, JobDir, job_name, require_image
from batchops_local.runner.steps.processing import (
    exit_message_bytes,
    job_lifecycle,
    prepare_output_dirs,
    stage_processing_inputs,
    upload_processing_outputs,
)
from batchops_local.runner.steps.registry import call

ENGINE_MODULE = "pipelines.scripts.data_quality"
ANALYZER_OUTPUT = "quality_check_output"
STATISTICS, CONSTRAINTS, VIOLATIONS = "statistics.json", "constraints.json", "constraint_violations.json"


def _flag(value: Any, default: bool, *, name: str) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = to_text(value).strip().lower()
    if text not in ("true", "false"):
        raise StepFailed(f"{name} must be true or false, found {value!r}")
    return text == "true"


def latest_approved_baseline(context: StepContext, group: str) -> tuple[str, str] | None:
    """DriftCheckBaselines.ModelDataQuality of the newest Approved package in the group, if any."""
    listing = call(context, "ListModelPackages", ModelPackageGroupName=group, ModelApprovalStatus="Approved",
                   SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
    summaries = listing.get("ModelPackageSummaryList") or []
    if not summaries:
        return None
    arn = summaries[0]["ModelPackageArn"]
    package = call(context, "DescribeModelPackage", ModelPackageName=arn)
    quality = (package.get("DriftCheckBaselines") or {}).get("ModelDataQuality") or {}
    statistics, constraints = (quality.get("Statistics") or {}).get("S3Uri"), \
        (quality.get("Constraints") or {}).get("S3Uri")
    if not statistics or not constraints:
        raise StepFailed(f"the latest Approved package {arn} has no DriftCheckBaselines.ModelDataQuality "
                         "statistics and constraints to check against")
    context.log.note(f"previous baseline from {arn}")
    return statistics, constraints


def load_engine() -> Any:
    try:
        module = importlib.import_module(ENGINE_MODULE)
    except ImportError as exc:
        raise StepFailed(f"the data-quality engine {ENGINE_MODULE} cannot be imported: {exc}") from None
    if not hasattr(module, "run_analyzer"):
        raise StepFailed(f"the data-quality engine {ENGINE_MODULE} has no run_analyzer(environment)")
    return module


def analyze(engine: Any, environment: dict[str, str], *, what: str) -> Any:
    try:
        return engine.run_analyzer(dict(environment))
    except Exception as exc:  # the engine's own errors name the problem; keep them as the failure reason
        raise StepFailed(f"{what}: {type(exc).__name__}: {exc}") from None


def run_quality_check(context: StepContext) -> StepResult:
    name = job_name(context.execution_id, context.name)
    arguments = context.arguments(ProcessingJobName=name)
    what = f"QualityCheck step '{context.name}'"
    require_image((arguments.get("AppSpecification") or {}).get("ImageUri"), (ANALYZER_IMAGE,), what=what)
    check_type = context.step_field("CheckType")
    if check_type != "DATA_QUALITY":
        raise StepFailed(f"{what}: CheckType '{check_type}' has no local implementation (DATA_QUALITY only)")
    skip_check = _flag(context.step_field("SkipCheck"), False, name="SkipCheck")
    register_new = _flag(context.step_field("RegisterNewBaseline"), False, name="RegisterNewBaseline")
    fail_on_violation = _flag(context.step_field("FailOnViolation"), True, name="FailOnViolation")
    group = context.step_field("ModelPackageGroupName")
    supplied = (context.step_field("SuppliedBaselineStatistics"), context.step_field("SuppliedBaselineConstraints"))
    arn = context.aws.register_processing_job(name, arguments)
    metadata: dict[str, Any] = {"CheckType": check_type, "CheckJobArn": arn, "SkipCheck": skip_check,
                                "RegisterNewBaseline": register_new}
    if group:
        metadata["ModelPackageGroupName"] = group
    context.metadata["QualityCheck"] = metadata
    job = JobDir(context.directory, name)
    with job_lifecycle(context, arn, job):
        violations = _run_check_job(context, job, arguments, metadata, what=what, group=group, supplied=supplied,
                                    skip_check=skip_check, register_new=register_new)
    # The analysis job completed; violations fail the step, not the job.
    context.aws.finish_job(arn, "Completed", exit_message_bytes=exit_message_bytes(job))
    if not context.keep_job_dirs:
        job.remove()
    if violations:
        described = "; ".join(f"{v.get('feature_name')}: {v.get('constraint_check_type')}" for v in violations[:5])
        message = f"{len(violations)} data-quality violation(s) against the baseline ({described}); report: " \
                  f"{metadata['ViolationReport']}"
        if fail_on_violation:
            raise StepFailed(message)
        context.log.note(f"{message} (FailOnViolation is false: the step succeeds)")
    return StepResult(properties={**arguments, "ProcessingJobName": name, "ProcessingJobArn": arn,
                                  **{k: v for k, v in metadata.items() if k.startswith(("Calculated", "Baseline"))}})


def _run_check_job(context: StepContext, job: JobDir, arguments: dict[str, Any], metadata: dict[str, Any], *,
                   what: str, group: Any, supplied: tuple[Any, Any], skip_check: bool,
                   register_new: bool) -> list[dict[str, Any]]:
    if (supplied[0] is None) != (supplied[1] is None):
        raise StepFailed(f"{what}: give both SuppliedBaselineStatistics and SuppliedBaselineConstraints, or neither")
    previous = supplied if supplied[0] is not None else \
        (latest_approved_baseline(context, group) if group else None)
    if previous is None and not (skip_check and register_new):
        raise StepFailed(f"{what}: no baseline to check against: nothing supplied and no Approved model package "
                         f"in group '{group or '(none)'}'; a first run needs SkipCheck and RegisterNewBaseline")

    outputs = (arguments.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    output = next((o for o in outputs if o.get("OutputName") == ANALYZER_OUTPUT), outputs[0] if outputs else None)
    if output is None:
        raise StepFailed(f"{what}: ProcessingOutputConfig has no output for the analysis results")
    output_uri = output["S3Output"]["S3Uri"]
    stage_processing_inputs(context, [job], arguments.get("ProcessingInputs") or [])
    prepare_output_dirs(job, outputs)
    job.write_json("/opt/ml/config/processingjobconfig.json", {**arguments, "ProcessingJobName": job.name})
    environment = {key: job.rewrite(to_text(value)) for key, value in (arguments.get("Environment") or {}).items()}
    output_dir = Path(environment.get("output_path") or job.host_path(output["S3Output"]["LocalPath"], what=what))
    engine = load_engine()

    if not skip_check:
        baseline_dir = job.opt_ml / "processing" / "baseline"
        environment["baseline_statistics"] = str(context.aws.download_file(
            to_text(previous[0]), baseline_dir / STATISTICS, what="baseline statistics"))
        environment["baseline_constraints"] = str(context.aws.download_file(
            to_text(previous[1]), baseline_dir / CONSTRAINTS, what="baseline constraints"))
    summary = analyze(engine, environment, what=what)
    context.log.note(f"analysis: {json.dumps(summary, default=str)[:2000]}")
    if not (output_dir / CONSTRAINTS).is_file():
        # A check run may not suggest constraints; the calculated baseline needs them: a baseline-only pass.
        suggest_dir = job.root / "suggested"
        suggest_dir.mkdir(parents=True, exist_ok=True)
        suggestion = {k: v for k, v in environment.items() if k not in ("baseline_statistics", "baseline_constraints")}
        analyze(engine, {**suggestion, "output_path": str(suggest_dir)}, what=what)
        for file_name in (CONSTRAINTS, STATISTICS):
            if not (output_dir / file_name).is_file() and (suggest_dir / file_name).is_file():
                shutil.copyfile(suggest_dir / file_name, output_dir / file_name)
    missing = [f for f in (STATISTICS, CONSTRAINTS) if not (output_dir / f).is_file()]
    if missing:
        raise StepFailed(f"{what}: the data-quality engine wrote no {', '.join(missing)} in {output_dir}")
    violations = _violations(output_dir / VIOLATIONS) if not skip_check else []
    upload_processing_outputs(context, [job], outputs)

    calculated = (join_uri(output_uri, STATISTICS), join_uri(output_uri, CONSTRAINTS))
    used = calculated if register_new else tuple(to_text(uri) for uri in previous)
    metadata.update({"CalculatedBaselineStatistics": calculated[0], "CalculatedBaselineConstraints": calculated[1],
                     "BaselineUsedForDriftCheckStatistics": used[0],
                     "BaselineUsedForDriftCheckConstraints": used[1]})
    if not skip_check:
        metadata["ViolationReport"] = join_uri(output_uri, VIOLATIONS)
    return violations


def _violations(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StepFailed(f"{path.name} written by the data-quality engine is not JSON: {exc}") from None
    return list(document.get("violations") or [])
