"""Binary classification end to end (issue 19), offline through EventBridge like the regression path: the shipped
example env file `classification` (gate f1 of `malignant`, labels benign / malignant) applied with Terraform to
the emulator, its pipelines upserted; then, as a data engineer and a data scientist do it:

train (training data dropped) -> approve -> a clean batch passes model quality -> a batch from another clinic
whose labels follow other measurements fails model quality -> the HPO retraining it starts registers a new
version pending approval. The data is batchops.demo_data's deterministic tumour generator."""

from __future__ import annotations

import pytest

from batchops import operations as ops
from batchops.demo_data import TUMOUR_CLASSES, TUMOUR_TARGET, generate_tumours
from batchops.report import step_result
from batchops_core import results
from batchops_core.contracts import Step

pytestmark = pytest.mark.slow

TIMEOUT = 900
FOLDER = "clinic"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from batchops.aws_session import connect
    from batchops.terraform import Terraform
    from batchops_core.settings import load_settings
    from batchops_local.runtime import start_local_aws

    home = tmp_path_factory.mktemp("classification") / "home"
    settings = load_settings("classification")
    with start_local_aws(home) as local_aws:
        target = connect(settings, endpoint_url=local_aws.endpoint_url)
        terraform = Terraform(settings, home=home, endpoint_env=target.subprocess_env())
        terraform.init()
        terraform.apply()
        ops.upsert_pipelines(target)
        yield target, home


def drop_and_follow(target, path, kind: str, pipeline_key: str) -> ops.Execution:
    """Drop a file as the data engineer does; the execution EventBridge starts, waited for until it ends."""
    name = target.settings.pipeline_names[pipeline_key]
    known = {e.arn for e in ops.list_executions(target, [name])}
    ops.drop_data(target, path, kind, rel_path=f"{FOLDER}/{path.name}")
    started = ops.wait_for_new_execution(target, name, known, timeout=120)
    return ops.wait_for_execution(target, started.arn, timeout=TIMEOUT, poll=1.0)


def failures(target, execution: ops.Execution) -> dict[str, str | None]:
    return {s.name: s.failure_reason for s in ops.execution_steps(target, execution.arn) if s.status == "Failed"}


def score(target, tmp_path, name: str, *, shifted_labels: bool, seed: int) -> ops.Execution:
    frame = generate_tumours(400, seed=seed, id_prefix=name, shifted_labels=shifted_labels)
    batch, truth = tmp_path / f"{name}.csv", tmp_path / f"{name}-truth.csv"
    frame.drop(columns=[TUMOUR_TARGET]).to_csv(batch, index=False)
    frame[["record_id", TUMOUR_TARGET]].to_csv(truth, index=False)
    ops.drop_data(target, truth, "ground-truth", rel_path=f"{FOLDER}/{batch.name}")  # labels first, then the batch
    return drop_and_follow(target, batch, "inference", "inference")


def test_train_approve_pass_then_shifted_labels_fail_and_retraining_registers_a_new_version(stack, tmp_path):
    target, _ = stack
    settings = target.settings
    training = tmp_path / "training.csv"
    generate_tumours(1500, seed=1, id_prefix="train").to_csv(training, index=False)

    trained = drop_and_follow(target, training, "training", "training")
    assert trained.status == "Succeeded", failures(target, trained)
    evaluate = step_result(target, trained, Step.EVALUATE)
    assert (evaluate.outcome, evaluate.metric, evaluate.comparison) == ("passed", "f1", ">=")
    summary = results.classification_summary(evaluate)
    assert summary is not None and summary.labels == list(TUMOUR_CLASSES)
    [version] = [v for v in ops.model_versions(target) if v.approval_status == "PendingManualApproval"]
    assert version.metrics["f1"] == pytest.approx(evaluate.value)  # binary_classification_metrics registered
    ops.set_approval(target, str(version.version), "Approved", "e2e: evaluation reviewed")
    ops.wait_for(lambda: ops.active_model_arn(target) == version.arn, timeout=120, what="the approved version active")

    clean = score(target, tmp_path, "clean", shifted_labels=False, seed=2)
    assert clean.status == "Succeeded", failures(target, clean)
    quality = step_result(target, clean, Step.MODEL_QUALITY_CHECK)
    assert quality.outcome == results.PASSED and quality.counts == {"rows": 400, "matched": 400}
    assert quality.value >= settings.model.model_quality_threshold
    assert results.classification_summary(quality).per_class["malignant"]["support"] > 0
    prefix = "/".join([settings.prefixes.outputs, clean.pipeline, clean.execution_id, Step.LABEL_PREDICTIONS,
                       "predictions"])
    s3 = target.client("s3")
    [labelled] = [item["Key"] for item in s3.list_objects_v2(Bucket=settings.bucket, Prefix=prefix)["Contents"]]
    body = s3.get_object(Bucket=settings.bucket, Key=labelled)["Body"].read().decode()
    lines = body.splitlines()
    assert lines[0] == "record_id,diagnosis,probability_malignant" and len(lines) == 401
    assert {line.split(",")[1] for line in lines[1:]} == set(TUMOUR_CLASSES)  # people's labels, not 0 / 1
    # Published where consumers look, with the labels, the probability and the version that scored them.
    published = s3.get_object(Bucket=settings.bucket, Key=f"{settings.prefixes.results}/{FOLDER}/clean.csv")
    rows = published["Body"].read().decode().splitlines()
    assert rows[0] == "record_id,diagnosis,probability_malignant,model_package_version" and len(rows) == 401
    assert sorted(rows[1:]) == sorted(f"{line},1" for line in lines[1:])

    retraining_name = settings.pipeline_names["training_hpo"]
    known_retraining = {e.arn for e in ops.list_executions(target, [retraining_name])}
    shifted = score(target, tmp_path, "shifted", shifted_labels=True, seed=3)
    assert shifted.status == "Failed"
    assert set(failures(target, shifted)) == {Step.MODEL_QUALITY_VIOLATED}
    quality = step_result(target, shifted, Step.MODEL_QUALITY_CHECK)
    assert quality.outcome == results.FAILED and quality.value < settings.model.model_quality_threshold

    started = ops.wait_for_new_execution(target, retraining_name, known_retraining, timeout=120)
    retraining = ops.wait_for_execution(target, started.arn, timeout=TIMEOUT, poll=1.0)
    assert retraining.status == "Succeeded", failures(target, retraining)
    newest = ops.model_versions(target)[-1]
    assert newest.version > version.version and newest.approval_status == "PendingManualApproval"
    assert ops.active_model_arn(target) == version.arn  # the approved version stays active until approval
