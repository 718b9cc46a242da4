"""Bring your own model code end to end (issue 20), offline through EventBridge: the shipped example env file
`script-mode` (a scikit-learn GradientBoostingRegressor script, examples/sklearn_model/train.py) applied with
Terraform to the emulator, its pipelines upserted; then the demo's phases with that model:

train (the script in the scikit-learn container, Evaluate scoring with the script's model_fn) -> register (the
package carries the framework image and the code) -> approve -> a clean batch is transformed by the script's
serving functions and passes model quality -> a drifted batch fails model quality -> the HPO retraining it
starts tunes the script's arguments on the MetricDefinitions objective read from its log -> a new version pending
approval."""

from __future__ import annotations

import re

import pytest

from batchops import operations as ops
from batchops_core import contracts
from batchops_core.contracts import Step
from batchops_local.runner.logs import JOB_LOG, read_step_record, step_dir
from pipelines.common.code import source_archive

pytestmark = pytest.mark.slow

ENVIRONMENT = "script-mode"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import bench_load  # tests/e2e/conftest.py puts benchmarks/ on the path

    with bench_load.demo_stack(tmp_path_factory.mktemp("script-mode") / "home", ENVIRONMENT) as (_, demo):
        yield demo


def step_metadata(target, execution: ops.Execution, name: str) -> dict:
    [step] = [s for s in ops.execution_steps(target, execution.arn) if s.name == name]
    return step.metadata


def log_value(settings, text: str) -> float:
    """The objective's value as its MetricDefinitions regex reads it (the last match, as SageMaker does)."""
    [definition] = [d for d in settings.script.metric_definitions if d.name == settings.hpo.objective_metric]
    return float(re.findall(definition.regex, text)[-1])


def test_script_mode_trains_registers_serves_checks_quality_and_retrains_with_metric_definitions(demo):
    target, settings = demo.target, demo.settings
    sagemaker = target.client("sagemaker")
    assert settings.uses_script
    code_uri = source_archive(settings).uri(settings)

    # Train -> Evaluate -> RegisterModel, then approval (the demo checks the version passes the gate).
    demo.train_and_approve()
    training = demo.outcome.executions["training"]
    job = read_step_record(demo.home, training.execution_id, Step.TRAIN)["Properties"]  # the runner's job record
    assert "sagemaker-scikit-learn" in job["AlgorithmSpecification"]["TrainingImage"]
    assert job["HyperParameters"][contracts.SCRIPT_PROGRAM_HYPERPARAMETER] == settings.script.program
    assert job["HyperParameters"][contracts.SCRIPT_SUBMIT_DIRECTORY_HYPERPARAMETER] == code_uri
    final = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
    assert 0 < final[settings.hpo.objective_metric] < 10  # read from the script's log line by the regex
    version = demo.outcome.first_version
    package = sagemaker.describe_model_package(ModelPackageName=version.arn)
    [container] = package["InferenceSpecification"]["Containers"]
    assert "sagemaker-scikit-learn" in container["Image"]
    assert container["Environment"] == {contracts.SCRIPT_PROGRAM_ENVIRONMENT: settings.script.program,
                                        contracts.SCRIPT_SUBMIT_DIRECTORY_ENVIRONMENT: code_uri}
    assert container["ModelDataUrl"] == job["ModelArtifacts"]["S3ModelArtifacts"]

    # Transform with the script's serving functions, model quality against the ground truth.
    demo.score_clean_batch()
    clean = demo.outcome.executions["clean"]
    model_name = step_metadata(target, clean, Step.CREATE_MODEL)["Model"]["Arn"].rsplit("/", 1)[-1]
    served = sagemaker.describe_model(ModelName=model_name)["PrimaryContainer"]
    assert served["Environment"] == container["Environment"] and served["Image"] == container["Image"]

    # A drifted batch fails model quality; the HPO retraining tunes on the MetricDefinitions objective.
    demo.score_drifted_batch_and_retrain()
    retraining = demo.outcome.executions["retraining"]
    tuning = read_step_record(demo.home, retraining.execution_id, Step.TUNE)["Properties"]
    assert tuning["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": d.name, "Regex": d.regex} for d in settings.script.metric_definitions]
    best = tuning["BestTrainingJob"]
    best_log = (step_dir(demo.home, retraining.execution_id, Step.TUNE) / "training-jobs" / best["TrainingJobName"]
                / JOB_LOG).read_text()
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pytest.approx(log_value(settings, best_log))
    tuned = {spec.name for spec in settings.hpo.ranges}
    assert tuned <= set(best["TunedHyperParameters"])
    assert demo.outcome.retrained_version.version > version.version
