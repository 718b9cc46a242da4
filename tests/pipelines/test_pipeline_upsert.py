"""upsert_pipelines under moto: create, unchanged, updated after a config change; scripts uploaded once."""

from __future__ import annotations

import json

import boto3
import moto
import pytest
from pipeline_test_support import ACCOUNT_ID

from batchops_core.settings import ENV_DIR, PIPELINE_KEYS, TRAINING_PIPELINE_KEYS, load_settings
from pipelines.common.code import all_step_scripts, dataset_schema_file, shipped_files


@pytest.fixture
def aws(monkeypatch, local_settings):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": local_settings.region}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        session = boto3.Session(region_name=local_settings.region)
        session.client("s3").create_bucket(Bucket=local_settings.bucket)
        yield session


@pytest.mark.slow
def test_create_then_unchanged_then_updated_keeps_executions(aws, local_settings, built_local, capsys):
    from pipelines.upsert import UpsertResult, upsert_pipelines

    names = local_settings.pipeline_names
    created = upsert_pipelines(local_settings, boto_session=aws, account_id=ACCOUNT_ID)
    assert created == [UpsertResult(names[key], "created") for key in PIPELINE_KEYS]  # standalone: every one
    sagemaker = aws.client("sagemaker")
    stored = sagemaker.describe_pipeline(PipelineName=names["training"])
    assert json.loads(stored["PipelineDefinition"]) == json.loads(built_local["texts"]["training"])
    assert stored["RoleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/abalone-local-sagemaker-execution"
    tags = sagemaker.list_tags(ResourceArn=stored["PipelineArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == local_settings.tags
    keys = {o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=local_settings.bucket)["Contents"]}
    assert keys == {script.key(local_settings) for script in shipped_files(local_settings)}
    execution = sagemaker.start_pipeline_execution(PipelineName=names["training"])["PipelineExecutionArn"]

    again = upsert_pipelines(local_settings, boto_session=aws, account_id=ACCOUNT_ID)
    assert [r.action for r in again] == ["unchanged"] * 4

    stricter = local_settings.model_copy(update={"model": local_settings.model.model_copy(
        update={"registration_threshold": 2.0})})
    changed = upsert_pipelines(stricter, boto_session=aws, account_id=ACCOUNT_ID)
    assert [r.action for r in changed] == ["updated", "updated", "unchanged", "unchanged"]  # the gate: training only
    definition = json.loads(sagemaker.describe_pipeline(PipelineName=names["training"])["PipelineDefinition"])
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    assert parameters["RegistrationThreshold"]["DefaultValue"] == 2.0
    executions = sagemaker.list_pipeline_executions(PipelineName=names["training"])["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in executions] == [execution]
    assert "pipeline abalone-local-training: updated" in capsys.readouterr().out


def test_scripts_are_uploaded_once_and_never_overwritten(aws, local_settings):
    from pipelines.upsert import upload_step_scripts

    s3 = aws.client("s3")
    first = upload_step_scripts(local_settings, s3)
    assert sorted(first) == sorted(script.key(local_settings) for script in shipped_files(local_settings))
    assert upload_step_scripts(local_settings, s3) == []
    for script in (all_step_scripts()[0], dataset_schema_file(local_settings)):
        body = s3.get_object(Bucket=local_settings.bucket, Key=script.key(local_settings))["Body"].read()
        assert body == script.read_bytes()
    # Another schema is another file beside the first (content-addressed): nothing is overwritten.
    other = local_settings.model_copy(update={"dataset": local_settings.dataset.model_copy(update={"header": False})})
    assert upload_step_scripts(other, s3) == [dataset_schema_file(other).key(other)]


def test_a_missing_bucket_is_not_swallowed(local_settings, monkeypatch):
    from botocore.exceptions import ClientError

    from pipelines.upsert import upload_step_scripts

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws(), pytest.raises(ClientError):
        upload_step_scripts(local_settings, boto3.client("s3", region_name=local_settings.region))


@pytest.mark.slow
def test_a_consumer_upserts_only_the_pipelines_that_score(monkeypatch):
    from pipelines.upsert import upsert_pipelines

    consumer = load_settings(ENV_DIR / "multi-account" / "staging.tfvars")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        session = boto3.Session(region_name=consumer.region)
        session.client("s3").create_bucket(Bucket=consumer.bucket)
        upserted = upsert_pipelines(consumer, boto_session=session, account_id="222222222222")
        stored = {p["PipelineName"] for p in session.client("sagemaker").list_pipelines()["PipelineSummaries"]}
    scoring = [key for key in PIPELINE_KEYS if key not in TRAINING_PIPELINE_KEYS]
    assert [result.pipeline for result in upserted] == [consumer.pipelines.name_of(key) for key in scoring]
    assert stored == {consumer.pipelines.name_of(key) for key in scoring}


@pytest.mark.slow
def test_definitions_built_ahead_are_used_only_for_the_inputs_they_were_built_from(aws, local_settings, monkeypatch):
    import pipelines.upsert as upsert_module
    from pipelines.common.context import StackResources
    from pipelines.upsert import build_for_stack, upsert_pipelines

    # moto's account has no key of the stack: the upsert finds no data key, as `StackResources()` says
    ahead = build_for_stack(local_settings, account_id=ACCOUNT_ID, stack=StackResources())
    stale_stack = build_for_stack(local_settings, account_id=ACCOUNT_ID, stack=StackResources(
        data_kms_key_arn=f"arn:aws:kms:{local_settings.region}:{ACCOUNT_ID}:key/00000000-0000-0000-0000-000000000000"))
    assert stale_stack.definitions != ahead.definitions
    builds = []
    real_build = upsert_module.build_definitions
    monkeypatch.setattr(upsert_module, "build_definitions", lambda *a, **k: builds.append(k) or real_build(*a, **k))
    sagemaker = aws.client("sagemaker")

    def stored_training() -> str:
        return sagemaker.describe_pipeline(PipelineName=local_settings.pipeline_names["training"])["PipelineDefinition"]

    assert [r.action for r in upsert_pipelines(local_settings, boto_session=aws, account_id=ACCOUNT_ID,
                                               built=ahead)] == ["created"] * 4
    assert builds == [] and stored_training() == ahead.definitions["training"]
    # built for another stack (the apply changed the key): built again, the stale definitions are not stored
    assert [r.action for r in upsert_pipelines(local_settings, boto_session=aws, account_id=ACCOUNT_ID,
                                               built=stale_stack)] == ["unchanged"] * 4
    assert len(builds) == 1 and stored_training() == ahead.definitions["training"]
    # other settings than the upsert's: built again from the upsert's own settings
    stricter = local_settings.model_copy(update={"model": local_settings.model.model_copy(
        update={"registration_threshold": 2.0})})
    assert [r.action for r in upsert_pipelines(stricter, boto_session=aws, account_id=ACCOUNT_ID,
                                               built=ahead)][:2] == ["updated", "updated"]
    assert len(builds) == 2 and stored_training() != ahead.definitions["training"]
