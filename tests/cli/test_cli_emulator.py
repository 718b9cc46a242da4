"""CLI commands against a running local emulator with seeded state (registry, runs, outbox, bucket).

One background emulator for the module, started with `batchops emulator up` and stopped with
`batchops emulator down` (and by its recorded PID if a test broke); the state is seeded with boto3.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import time

import boto3
import pytest
from typer.testing import CliRunner

from batchops.aws_session import LOCAL_ACCOUNT_ID
from batchops.cli import app
from batchops.demo_data import REFERENCE, SLOW_GROWING_SITE, generate
from batchops_core.settings import load_settings
from batchops_local.runtime import stop_background
from pipelines.scripts.data_quality import compute_baseline

pytestmark = pytest.mark.slow  # starts a background emulator and runs pipelines (~45 s for the module)

SETTINGS = load_settings("local")
ROLE = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/cli-test"
GROUP = SETTINGS.pipelines.model_package_group
BATCH = ("record_id,sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight\n"
         "a1,M,0.45,0.36,0.1,0.5,0.2,0.1,0.15\n")


DECLARED = ["InputBucket", "InputKey"]


def _definition(steps: list[dict]) -> str:
    parameters = [{"Name": name, "Type": "String", "DefaultValue": "x"} for name in DECLARED]
    return json.dumps({"Version": "2020-12-01", "Metadata": {}, "Parameters": parameters, "Steps": steps})


FAILING = _definition([{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "seeded failure for the CLI"}}])
PASSING = _definition([{"Name": "Check", "Type": "Condition", "Arguments": {
    "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}], "IfSteps": [], "ElseSteps": []}}])


# A team's own pipeline next to the product's: a script-mode training step whose script fails. Its step is named
# like a product step (CheckMetric) to show that `runs show` reads no product gates from another pipeline.
FOREIGN_PIPELINE = "team-churn-training"
FOREIGN_SCRIPT = "import sys\nprint('loading churn data')\nraise KeyError('churn_label column is missing')\n"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def _foreign_definition(bucket: str) -> str:
    channel = {"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/team/train/", "S3DataDistributionType": "FullyReplicated"}}}
    hyperparameters = {"sagemaker_program": '"train.py"',
                       "sagemaker_submit_directory": f'"s3://{bucket}/team/code/sourcedir.tar.gz"'}
    return json.dumps({"Version": "2020-12-01", "Metadata": {}, "Parameters": [], "Steps": [{
        "Name": "CheckMetric", "Type": "Training", "Arguments": {
            "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": SKLEARN_IMAGE},
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/team/models"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
            "RoleArn": ROLE, "InputDataConfig": [channel], "HyperParameters": hyperparameters}}]})


def _source_archive(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


def _wait_terminal(sagemaker, arn: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        if status in ("Succeeded", "Failed", "Stopped"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"{arn} did not finish")


class Clients:
    def __init__(self, endpoint_url: str):
        self.session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test",
                                     region_name=SETTINGS.region)
        self.endpoint_url = endpoint_url

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.endpoint_url)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-home")
    previous_home = os.environ.get("BATCHOPS_HOME")
    up = CliRunner().invoke(app, ["--home", str(home), "emulator", "up"])
    try:
        assert up.exit_code == 0, up.output
        status = CliRunner().invoke(app, ["--home", str(home), "emulator", "status"])
        assert status.exit_code == 0 and "emulator: running at http://127.0.0.1:" in status.output
        aws = Clients(json.loads((home / "emulator.json").read_text())["endpoint_url"])
        s3, sagemaker, ssm = aws.client("s3"), aws.client("sagemaker"), aws.client("ssm")
        s3.create_bucket(Bucket=SETTINGS.bucket)
        s3.put_bucket_versioning(Bucket=SETTINGS.bucket, VersioningConfiguration={"Status": "Enabled"})
        ssm.put_parameter(Name=f"/{SETTINGS.project}/local/active-model-package-arn", Value="none", Type="String")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        baseline_dir = home / "baseline"
        baseline_dir.mkdir()
        features = [c.name for c in SETTINGS.dataset.feature_columns]
        generate(REFERENCE, 1500, seed=1, id_prefix="b")[features].to_csv(baseline_dir / "b.csv", index=False)
        baseline = {}
        for name, document in zip(("Statistics", "Constraints"),
                                  compute_baseline([baseline_dir / "b.csv"], header=True), strict=True):
            s3.put_object(Bucket=SETTINGS.bucket, Key=f"baseline/{name}.json", Body=json.dumps(document))
            baseline[name] = {"ContentType": "application/json", "S3Uri": f"s3://{SETTINGS.bucket}/baseline/{name}.json"}
        for version, rmse in ((1, 1.5), (2, 2.25)):
            key = f"evaluations/{version}/evaluation.json"
            s3.put_object(Bucket=SETTINGS.bucket, Key=key,
                          Body=json.dumps({"regression_metrics": {"rmse": {"value": rmse}, "mae": {"value": 1.0}}}))
            sagemaker.create_model_package(
                ModelPackageGroupName=GROUP, ModelApprovalStatus="PendingManualApproval",
                InferenceSpecification={"Containers": [{"Image": "xgboost:1", "ModelDataUrl": "s3://b/m.tar.gz"}],
                                        "SupportedContentTypes": ["text/csv"],
                                        "SupportedResponseMIMETypes": ["text/csv"]},
                ModelMetrics={"ModelQuality": {"Statistics": {
                    "ContentType": "application/json", "S3Uri": f"s3://{SETTINGS.bucket}/{key}"}}},
                DriftCheckBaselines={"ModelDataQuality": baseline})
        executions = {}
        s3.put_object(Bucket=SETTINGS.bucket, Key="team/train/part.csv", Body=b"1,2\n3,4\n")
        s3.put_object(Bucket=SETTINGS.bucket, Key="team/code/sourcedir.tar.gz",
                      Body=_source_archive({"train.py": FOREIGN_SCRIPT}))
        for name, definition in ((SETTINGS.pipelines.training_name, FAILING),
                                 (SETTINGS.pipelines.inference_name, PASSING),
                                 (FOREIGN_PIPELINE, _foreign_definition(SETTINGS.bucket))):
            sagemaker.create_pipeline(PipelineName=name, PipelineDefinition=definition, RoleArn=ROLE)
            arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
            executions[name] = arn
            _wait_terminal(sagemaker, arn)
        sns = aws.client("sns")
        topic = sns.create_topic(Name="cli-test")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="reviewer@example.com")
        sns.publish(TopicArn=topic, Subject="[local] seeded message", Message="hello from the seeded outbox")
        deadline = time.monotonic() + 10
        while not list((home / "outbox").glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield {"home": home, "aws": aws, "executions": executions}
    finally:
        down = CliRunner().invoke(app, ["--home", str(home), "emulator", "down"])
        stop_background(home)  # no-op when `down` worked
        if previous_home is None:
            os.environ.pop("BATCHOPS_HOME", None)
        else:
            os.environ["BATCHOPS_HOME"] = previous_home
    assert down.exit_code == 0 and "emulator stopped" in down.output
    assert CliRunner().invoke(app, ["--home", str(home), "emulator", "status"]).exit_code == 1


@pytest.fixture
def cli(seeded, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["--home", str(seeded["home"]), *args])

    return invoke


def _execution_id(seeded, pipeline: str) -> str:
    return seeded["executions"][pipeline].rsplit("/", 1)[-1]


def test_models_list_show_approve_reject(cli, seeded):
    listed = cli("models", "list")
    assert listed.exit_code == 0, listed.output
    assert re.search(r"│ 1\s+│ PendingManualApproval │ 1\.5000", listed.output)
    assert re.search(r"│ 2\s+│ PendingManualApproval │ 2\.2500", listed.output)
    approved = cli("models", "approve", "1", "--note", "looks good")
    assert approved.exit_code == 0 and "version 1: Approved" in approved.output
    shown = cli("models", "show", "1")
    assert shown.exit_code == 0
    assert "Approved" in shown.output and "looks good" in shown.output and "metric rmse" in shown.output
    rejected = cli("models", "reject", "2", "--reason", "worse than version 1")
    assert rejected.exit_code == 0 and "version 2: Rejected" in rejected.output
    detail = seeded["aws"].client("sagemaker").describe_model_package(
        ModelPackageName=f"arn:aws:sagemaker:{SETTINGS.region}:{LOCAL_ACCOUNT_ID}:model-package/{GROUP}/2")
    assert detail["ModelApprovalStatus"] == "Rejected"
    assert detail["ApprovalDescription"] == "worse than version 1"


def test_models_unknown_version_lists_the_known_ones(cli):
    result = cli("models", "approve", "9")
    assert result.exit_code == 2
    assert f"model package group '{GROUP}' has no version 9 (versions: 1, 2)" in result.output
    assert cli("models", "show", "latest").exit_code == 2


def test_data_drop_refuses_to_overwrite(cli, seeded, tmp_path):
    batch = tmp_path / "batch.csv"
    batch.write_text(BATCH)
    first = cli("data", "drop", str(batch), "--kind", "inference", "--as", "cli/batch.csv")
    assert first.exit_code == 0, first.output
    assert f"s3://{SETTINGS.bucket}/data/inference/cli/batch.csv" in first.output
    again = cli("data", "drop", str(batch), "--kind", "inference", "--as", "cli/batch.csv")
    assert again.exit_code == 2
    assert "already exists; choose another --as path or pass --overwrite" in again.output
    replaced = cli("data", "drop", str(batch), "--kind", "inference", "--as", "cli/batch.csv", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    versions = seeded["aws"].client("s3").list_object_versions(Bucket=SETTINGS.bucket,
                                                               Prefix="data/inference/cli/batch.csv")
    assert len(versions["Versions"]) == 2


def test_data_drop_checks_the_schema_before_uploading(cli, seeded, tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("record_id,rings\na1,many\n")
    result = cli("data", "drop", str(bad), "--kind", "ground-truth")
    assert result.exit_code == 1  # refused like `data check`: the problem lines, nothing uploaded
    assert f"{bad}:2: column 'rings': 'many' is not a number" in result.output
    listed = seeded["aws"].client("s3").list_objects_v2(Bucket=SETTINGS.bucket, Prefix="data/ground-truth/")
    assert listed.get("KeyCount", 0) == 0
    escaped = cli("data", "drop", str(bad), "--kind", "ground-truth", "--as", "../escape.csv")
    assert escaped.exit_code == 2 and "a relative key path" in escaped.output


def test_data_drop_refuses_a_key_the_pipelines_processing_inputs_cannot_take(cli, seeded, tmp_path):
    batch = tmp_path / "batch.csv"
    batch.write_text(BATCH)
    long_path = "/".join(["p" * 200] * 5) + "/batch.csv"  # a valid S3 key, longer than a processing S3Uri allows
    result = cli("data", "drop", str(batch), "--kind", "inference", "--as", long_path)
    assert result.exit_code == 2
    assert "a SageMaker processing input's S3Uri allows at most 1024" in result.output
    listed = seeded["aws"].client("s3").list_objects_v2(Bucket=SETTINGS.bucket, Prefix="data/inference/p")
    assert listed.get("KeyCount", 0) == 0


def test_runs_list_show_logs_watch(cli, seeded):
    failed_id = _execution_id(seeded, SETTINGS.pipelines.training_name)
    passed_id = _execution_id(seeded, SETTINGS.pipelines.inference_name)
    listed = cli("runs", "list")
    assert listed.exit_code == 0, listed.output
    assert re.search(rf"{failed_id} │ training\s+│ Failed", listed.output)  # the pipeline's key, as `start` takes it
    assert re.search(rf"{passed_id} │ inference\s+│ Succeeded", listed.output)
    only = cli("runs", "list", "--pipeline", "inference")
    assert passed_id in only.output and failed_id not in only.output
    shown = cli("runs", "show", failed_id[:8])
    assert shown.exit_code == 0, shown.output
    assert re.search(r"Stop\s+│ Failed", shown.output)
    assert "seeded failure for the CLI" in shown.output
    logs = cli("runs", "logs", failed_id, "Stop")
    assert logs.exit_code == 0, logs.output
    missing = cli("runs", "logs", failed_id, "Train")
    assert missing.exit_code == 2 and "no log for step 'Train'" in missing.output
    assert cli("runs", "watch", passed_id).exit_code == 0
    assert cli("runs", "watch", failed_id).exit_code == 1
    unknown = cli("runs", "show", "doesnotexist")
    assert unknown.exit_code == 2 and "no execution 'doesnotexist'" in unknown.output


def test_runs_show_and_logs_work_for_another_pipeline_of_the_account(cli, seeded):
    foreign_id = _execution_id(seeded, FOREIGN_PIPELINE)
    listed = cli("runs", "list", "--pipeline", FOREIGN_PIPELINE)
    assert listed.exit_code == 0, listed.output
    assert re.search(rf"{foreign_id} │ {FOREIGN_PIPELINE}\s+│ Failed", listed.output), listed.output
    assert foreign_id not in cli("runs", "list").output  # the default listing stays the product's pipelines
    shown = cli("runs", "show", foreign_id[:10])
    assert shown.exit_code == 0, shown.output
    assert re.search(r"CheckMetric\s+│ Failed", shown.output) and "quality gates" not in shown.output
    # The failed script's failure reason carries the error part of its output, as the training toolkit reports it.
    assert "ExecuteUserScriptError" in shown.output and "churn_label column is missing" in shown.output
    logs = cli("runs", "logs", foreign_id, "CheckMetric")
    assert logs.exit_code == 0, logs.output
    assert "loading churn data" in logs.output and "Traceback (most recent call last)" in logs.output
    unknown = cli("runs", "list", "--pipeline", "no-such-pipeline")
    assert unknown.exit_code == 2 and "no such pipeline in the account" in unknown.output
    assert FOREIGN_PIPELINE in unknown.output


def test_pipelines_list_and_start(cli, seeded):
    listed = cli("pipelines", "list")
    assert listed.exit_code == 0, listed.output
    assert re.search(rf"training\s+│ {SETTINGS.pipelines.training_name}\s+│ yes", listed.output)
    assert re.search(rf"training_hpo\s+│ {SETTINGS.pipelines.training_hpo_name}\s+│ no", listed.output)
    started = cli("pipelines", "start", "inference", "--wait")
    assert started.exit_code == 0, started.output
    assert "started arn:aws:sagemaker" in started.output
    failing = cli("pipelines", "start", SETTINGS.pipelines.training_name, "--wait")
    assert failing.exit_code == 1
    unknown = cli("pipelines", "start", "nightly")
    assert unknown.exit_code == 2 and "unknown pipeline 'nightly'" in unknown.output


def test_pipelines_start_refuses_undeclared_parameters_and_starts_nothing(cli, seeded):
    sagemaker = seeded["aws"].client("sagemaker")
    name = SETTINGS.pipelines.inference_name
    before = sagemaker.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]
    refused = cli("pipelines", "start", "inference", "-p", "Foo=bar", "-p", "InputKey=data/x.csv", "-p", "Bar=1")
    assert refused.exit_code == 2, refused.output
    assert refused.output.strip() == (
        f"error: pipeline '{name}' does not declare parameter(s) Foo, Bar (declared: InputBucket, InputKey); "
        "nothing started")
    assert sagemaker.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"] == before
    declared = cli("pipelines", "start", "inference", "-p", "InputKey=data/x.csv", "--wait")
    assert declared.exit_code == 0, declared.output


def test_outbox_list_and_show(cli):
    listed = cli("outbox", "list")
    assert listed.exit_code == 0, listed.output
    assert "reviewer@example.com" in listed.output and "[local] seeded message" in listed.output
    shown = cli("outbox", "show", "1")
    assert shown.exit_code == 0
    assert "Subject: [local] seeded message" in shown.output and "hello from the seeded outbox" in shown.output
    missing = cli("outbox", "show", "99")
    assert missing.exit_code == 2 and "message 99 does not exist" in missing.output


def test_report_names_executions_versions_and_emails(cli, seeded, tmp_path):
    out = tmp_path / "report.html"
    result = cli("report", "--out", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert _execution_id(seeded, SETTINGS.pipelines.training_name) in page
    assert "seeded failure for the CLI" in page
    assert "[local] seeded message" in page
    assert "1.5000" in page and "2.2500" in page


def test_data_check_compares_with_the_approved_baseline(cli, seeded, tmp_path):
    sagemaker = seeded["aws"].client("sagemaker")
    first = f"arn:aws:sagemaker:{SETTINGS.region}:{LOCAL_ACCOUNT_ID}:model-package/{GROUP}/1"
    sagemaker.update_model_package(ModelPackageArn=first, ModelApprovalStatus="Approved")
    clean, drifted = tmp_path / "clean.csv", tmp_path / "drifted.csv"
    generate(REFERENCE, 600, seed=5, id_prefix="c").drop(columns=["rings"]).to_csv(clean, index=False)
    generate(SLOW_GROWING_SITE, 600, seed=6, id_prefix="d").drop(columns=["rings"]).to_csv(drifted, index=False)
    passed = cli("data", "check", str(clean))
    assert passed.exit_code == 0, passed.output
    assert "data quality vs model version 1's baseline: no violations" in passed.output
    flagged = cli("data", "check", str(drifted))
    assert flagged.exit_code == 3, flagged.output
    assert re.search(r"length: baseline_drift_check: .*distance", flagged.output)


def test_emulator_reset_wipes_everything(cli, seeded):
    """Last in this module: it empties the emulator the other tests use."""
    assert cli("models", "list").exit_code == 0
    reset = cli("emulator", "reset")
    assert reset.exit_code == 0 and "emulator state wiped" in reset.output
    after = cli("models", "list")
    assert after.exit_code == 2
    assert f"model package group '{GROUP}'" in after.output
    assert seeded["aws"].client("s3").list_buckets()["Buckets"] == []
    empty_report = seeded["home"] / "empty.html"
    reported = cli("report", "--out", str(empty_report))
    assert reported.exit_code == 0, reported.output
    assert "No executions yet." in empty_report.read_text()
    assert "No model version registered yet." in empty_report.read_text()


def test_emulator_up_on_a_busy_port_is_one_line_without_a_traceback(tmp_path):
    import socket

    home = tmp_path / "busy-home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["--home", str(home), "emulator", "up", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (f"error: --port {port}: 127.0.0.1:{port} is not free (Address already in "
                                     "use); choose another port or leave --port out for a free one")
    assert not (home / "emulator.json").exists()


SLEEPING_STEP = {"Name": "Sleep", "Type": "Processing", "Arguments": {
    "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                              "VolumeSizeInGB": 30}},
    "AppSpecification": {"ImageUri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                                     "sagemaker-scikit-learn:1.2-1-cpu-py3",
                         "ContainerEntrypoint": ["python3", "-c", "import time; time.sleep(600)"]},
    "RoleArn": ROLE,
    "ProcessingOutputConfig": {"Outputs": []},
}}


def test_emulator_down_names_the_executions_it_interrupts(tmp_path):
    home = tmp_path / "down-home"
    cli = CliRunner()
    up = cli.invoke(app, ["--home", str(home), "emulator", "up"])
    try:
        assert up.exit_code == 0, up.output
        sagemaker = Clients(json.loads((home / "emulator.json").read_text())["endpoint_url"]).client("sagemaker")
        sagemaker.create_pipeline(PipelineName=SETTINGS.pipelines.training_name, RoleArn=ROLE,
                                  PipelineDefinition=_definition([SLEEPING_STEP]))
        arn = sagemaker.start_pipeline_execution(PipelineName=SETTINGS.pipelines.training_name)["PipelineExecutionArn"]

        def sleeping():
            steps = sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
            return steps and steps[0]["StepStatus"] == "Executing"

        deadline = time.monotonic() + 60
        while not sleeping():
            assert time.monotonic() < deadline, "the sleeping step did not start"
            time.sleep(0.2)
        down = cli.invoke(app, ["--home", str(home), "emulator", "down"], env={"COLUMNS": "250"})
    finally:
        stop_background(home)
    assert down.exit_code == 0, down.output
    assert "interrupted 1 running execution(s); they come back Failed on the next `emulator up`:" in down.output
    assert re.search(rf"^  {re.escape(arn)} \({SETTINGS.pipelines.training_name}, Executing since ", down.output,
                     re.MULTILINE)
    idle = cli.invoke(app, ["--home", str(home), "emulator", "down"])
    assert idle.exit_code == 0 and idle.output.strip() == "emulator was not running"
