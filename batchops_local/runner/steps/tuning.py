"""Tuning steps: a hyperparameter tuning job over the built-in XGBoost algorithm (aws-contracts §8.4).

Random and Grid search run as on SageMaker; Bayesian and Hyperband run as Random locally (noted in the log).
Training jobs run `MaxParallelTrainingJobs` at a time (capped by the machine's cores); the objective is the
last value the algorithm's metric regex finds in a job's log; summaries are ordered best-first.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import random
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from batchops_core import quotas
from batchops_local.runner.errors import StepFailed, StepStopped
from batchops_local.runner.executor import StepContext, StepResult
from batchops_local.runner.expressions import to_text
from batchops_local.runner.jobs import job_name
from batchops_local.runner.logs import StepLog
from batchops_local.runner.steps.training import (
    TrainingOutcome,
    check_training_algorithm,
    matched_values,
    objective_pattern,
    run_training_job,
)

_RANGE_KINDS = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")


@dataclass
class ParameterRange:
    name: str
    kind: str  # Integer / Continuous / Categorical
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Auto"
    values: tuple[str, ...] = ()

    def sample(self, rng: random.Random) -> str:
        if self.kind == "Categorical":
            return rng.choice(self.values)
        value = _scaled_draw(rng, self.low, self.high, self.scaling)
        if self.kind == "Integer":
            return str(min(int(self.high), max(int(self.low), round(value))))
        return repr(min(self.high, max(self.low, value)))

    def grid(self) -> list[str]:
        if self.kind == "Categorical":
            return list(self.values)
        if self.kind == "Integer":
            return [str(v) for v in range(int(self.low), int(self.high) + 1)]
        raise StepFailed(f"Grid search cannot enumerate continuous range '{self.name}'; use Categorical or "
                         "Integer ranges, or the Random strategy")


def job_thread_cap(parallel: int) -> int:
    """Threads of each of `parallel` training jobs running at once: the cores shared out (OMP_NUM_THREADS)."""
    return max(1, (os.cpu_count() or 1) // parallel)


def _scaled_draw(rng: random.Random, low: float, high: float, scaling: str) -> float:
    if scaling == "Logarithmic":
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    if scaling == "ReverseLogarithmic":  # dense near 1: draw 1 - x on a log scale
        return 1 - math.exp(rng.uniform(math.log(1 - high), math.log(1 - low)))
    return rng.uniform(low, high)  # Linear, and Auto (SageMaker picks; linear is the neutral choice)


def check_tuning_limits(what: str, strategy: str, max_jobs: int, max_parallel: int) -> None:
    """SageMaker refuses a tuning job above its documented resource limits (the most an account can be granted;
    batchops_core/quotas.py names the page); the configuration check refuses the same values earlier."""
    per_strategy = quotas.BY_KEY.get(f"sagemaker.tuning_training_jobs.{strategy}")  # Grid: sized by its grid
    if per_strategy is not None and max_jobs > per_strategy.limit:
        raise StepFailed(f"{what}: ResourceLimitExceeded: MaxNumberOfTrainingJobs {max_jobs} is above the "
                         f"{per_strategy.limit} a {strategy} tuning job may run ({per_strategy.source})")
    parallel = quotas.BY_KEY["sagemaker.tuning_parallel_training_jobs"]
    if max_parallel > parallel.limit:
        raise StepFailed(f"{what}: ResourceLimitExceeded: MaxParallelTrainingJobs {max_parallel} is above the "
                         f"{parallel.limit} a tuning job may run at once ({parallel.source})")


def parse_ranges(config: dict[str, Any]) -> list[ParameterRange]:
    ranges = []
    spec = config.get("ParameterRanges") or {}
    unknown = sorted(set(spec) - set(_RANGE_KINDS))
    if unknown:
        raise StepFailed(f"ParameterRanges: unknown key(s) {', '.join(unknown)}")
    for kind_key in _RANGE_KINDS:
        kind = kind_key.removesuffix("ParameterRanges")
        for entry in spec.get(kind_key) or []:
            name = entry.get("Name")
            where = f"{kind_key} '{name}'"
            if kind == "Categorical":
                values = tuple(to_text(v) for v in entry.get("Values") or [])
                if not values:
                    raise StepFailed(f"{where}: Values must not be empty")
                ranges.append(ParameterRange(name, kind, values=values))
                continue
            try:
                low, high = float(entry["MinValue"]), float(entry["MaxValue"])
            except (KeyError, TypeError, ValueError):
                raise StepFailed(f"{where}: MinValue and MaxValue must be numbers, found "
                                 f"{entry.get('MinValue')!r} and {entry.get('MaxValue')!r}") from None
            scaling = entry.get("ScalingType", "Auto")
            if scaling not in ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic"):
                raise StepFailed(f"{where}: unknown ScalingType '{scaling}'")
            if low > high:
                raise StepFailed(f"{where}: MinValue {low:g} is above MaxValue {high:g}")
            if scaling == "Logarithmic" and low <= 0:
                raise StepFailed(f"{where}: Logarithmic scaling needs MinValue > 0")
            if scaling == "ReverseLogarithmic" and not (0 <= low and high < 1):
                raise StepFailed(f"{where}: ReverseLogarithmic scaling needs 0 <= MinValue <= MaxValue < 1")
            ranges.append(ParameterRange(name, kind, low, high, scaling))
    if not ranges:
        raise StepFailed("ParameterRanges defines no range to tune")
    return ranges


def candidate_hyperparameters(strategy: str, ranges: list[ParameterRange], max_jobs: int,
                              seed: int) -> list[dict[str, str]]:
    if strategy == "Grid":
        grid = [dict(zip([r.name for r in ranges], values, strict=True))
                for values in itertools.product(*(r.grid() for r in ranges))]
        return grid[:max_jobs]
    rng = random.Random(seed)
    return [{r.name: r.sample(rng) for r in ranges} for _ in range(max_jobs)]


def run_tuning(context: StepContext) -> StepResult:
    tuning_name = job_name(context.execution_id, context.name, max_length=32)
    arguments = context.arguments()
    config = arguments.get("HyperParameterTuningJobConfig") or {}
    definition = arguments.get("TrainingJobDefinition") or {}
    what = f"Tuning step '{context.name}'"
    check_training_algorithm(definition, what=what)
    context.aws.check_job_network(definition.get("VpcConfig"), "CreateHyperParameterTuningJob")
    arn = context.aws.arn("hyper-parameter-tuning-job", tuning_name.lower())
    context.metadata["TuningJob"] = {"Arn": arn}

    objective = config.get("HyperParameterTuningJobObjective") or {}
    metric, direction = objective.get("MetricName"), objective.get("Type", "Minimize")
    if not metric or direction not in ("Minimize", "Maximize"):
        raise StepFailed(f"{what}: HyperParameterTuningJobObjective needs MetricName and Type Minimize/Maximize, "
                         f"found {objective!r}")
    strategy = config.get("Strategy", "Bayesian")
    if strategy not in ("Random", "Grid", "Bayesian", "Hyperband"):
        raise StepFailed(f"{what}: unknown Strategy '{strategy}'")
    if strategy in ("Bayesian", "Hyperband"):
        context.log.note(f"strategy {strategy} runs as Random search locally")
    limits = config.get("ResourceLimits") or {}
    ranges = parse_ranges(config)
    grid_size = math.prod(len(r.grid()) for r in ranges) if strategy == "Grid" else None
    max_jobs = int(limits.get("MaxNumberOfTrainingJobs") or grid_size or 0)
    if max_jobs < 1:
        raise StepFailed(f"{what}: ResourceLimits.MaxNumberOfTrainingJobs must be at least 1")
    check_tuning_limits(what, strategy, max_jobs, int(limits.get("MaxParallelTrainingJobs") or 1))
    parallel = max(1, min(int(limits.get("MaxParallelTrainingJobs") or 1), max_jobs, os.cpu_count() or 1))
    cpu_share = job_thread_cap(parallel)
    seed = int(config["RandomSeed"]) if config.get("RandomSeed") is not None else \
        int(hashlib.sha256(tuning_name.encode()).hexdigest()[:8], 16)
    candidates = candidate_hyperparameters(strategy, ranges, max_jobs, seed)
    static = {k: to_text(v) for k, v in (definition.get("StaticHyperParameters") or {}).items()}
    context.log.note(f"tuning job {tuning_name}: {len(candidates)} training job(s), {parallel} at a time, "
                     f"objective {direction} {metric}")

    pattern = objective_pattern(definition, metric, what=what)

    def train_one(index: int) -> tuple[dict[str, str], TrainingOutcome | None]:
        tuned = candidates[index]
        if context.stop_requested():
            return tuned, None
        name = f"{tuning_name}-{index + 1:03d}-{secrets.token_hex(4)}"
        directory = context.directory / "training-jobs" / name
        hyperparameters = {**static, **tuned, "_tuning_objective_metric": metric}
        outcome = run_training_job(context.aws, definition, hyperparameters, name=name, directory=directory,
                                   log=StepLog(directory), stop_requested=context.stop_requested,
                                   keep_job_dir=context.keep_job_dirs, cpu_share=cpu_share)
        return tuned, outcome

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="tuning") as pool:
        results = list(pool.map(train_one, range(len(candidates))))
    if context.stop_requested():
        raise StepStopped()

    summaries = []
    for tuned, outcome in results:
        assert outcome is not None
        context.log.write(f"\n===== training job {outcome.name} ({outcome.status}) {tuned}\n{outcome.log_text}")
        values = matched_values(pattern, outcome.log_text) if outcome.status == "Completed" else []
        summary = {
            "TrainingJobName": outcome.name, "TrainingJobArn": outcome.arn, "TrainingJobStatus": outcome.status,
            "TunedHyperParameters": tuned, "CreationTime": outcome.start_time.isoformat(),
            "TrainingStartTime": outcome.start_time.isoformat(), "TrainingEndTime": outcome.end_time.isoformat(),
            "ObjectiveStatus": "Succeeded" if values else "Failed",
        }
        if values:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {"Type": direction, "MetricName": metric,
                                                                      "Value": values[-1]}
        if outcome.failure_reason:
            summary["FailureReason"] = outcome.failure_reason
        summaries.append(summary)

    scored = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
    if not scored:
        reasons = "; ".join(f"{s['TrainingJobName']}: {s.get('FailureReason') or f'no {metric} in its log'}"
                            for s in summaries)
        raise StepFailed(f"no training job of tuning job {tuning_name} reported objective {metric} ({reasons})")
    scored.sort(key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                reverse=direction == "Maximize")
    ordered = scored + [s for s in summaries if s not in scored]
    best = ordered[0]
    context.log.note(f"best training job {best['TrainingJobName']}: {metric} = "
                     f"{best['FinalHyperParameterTuningJobObjectiveMetric']['Value']} {best['TunedHyperParameters']}")
    properties = {
        **arguments, "HyperParameterTuningJobName": tuning_name, "HyperParameterTuningJobArn": arn,
        "HyperParameterTuningJobStatus": "Completed", "TrainingJobSummaries": ordered, "BestTrainingJob": best,
        "TrainingJobStatusCounters": {"Completed": sum(s["TrainingJobStatus"] == "Completed" for s in summaries),
                                      "Failed": sum(s["TrainingJobStatus"] == "Failed" for s in summaries)},
    }
    return StepResult(properties=properties)
