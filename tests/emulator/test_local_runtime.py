"""batchops_local.runtime: the in-process LocalAws and the background `serve` process."""

import json

import boto3
import psutil
import pytest

from batchops_local import runtime as local_runtime


def test_start_local_aws_in_process_with_a_handler(tmp_path):
    seen = []

    def handler(request, sink):
        seen.append(request.parameters)
        sink.execution_status(request.execution_arn, "Succeeded")

    with local_runtime.start_local_aws(
        tmp_path / "home", execution_handler=handler, load_aws_managed_policies=False
    ) as aws:
        assert aws.env()["AWS_ENDPOINT_URL"] == aws.endpoint_url
        sagemaker = aws.client("sagemaker")
        sagemaker.create_pipeline(
            PipelineName="p-one",
            PipelineDefinition='{"Version": "2020-12-01", "Steps": []}',
            RoleArn="arn:aws:iam::123456789012:role/r",
        )
        arn = sagemaker.start_pipeline_execution(
            PipelineName="p-one", PipelineParameters=[{"Name": "InputKey", "Value": "k"}]
        )["PipelineExecutionArn"]
        assert aws.wait_for_execution(arn, 30) == "Succeeded"
        aws.client("events").put_rule(Name="tick", ScheduleExpression="rate(1 hour)")
        assert aws.fire_rule_now("tick")["detail-type"] == "Scheduled Event"
    assert seen == [{"InputKey": "k"}]


def test_the_default_handler_is_the_local_runner_with_the_same_home(tmp_path, monkeypatch):
    import batchops_local.runner

    calls = []

    def fake_runner(request, sink, *, home=None):
        calls.append(home)
        sink.execution_status(request.execution_arn, "Succeeded")

    monkeypatch.setattr(batchops_local.runner, "handle_execution", fake_runner)
    handler = local_runtime.local_runner_handler(tmp_path / "home")

    class Sink:
        def execution_status(self, arn, status, failure_reason=None):
            calls.append((arn, status))

    request = type("Request", (), {"execution_arn": "arn:x"})()
    handler(request, Sink())
    assert calls == [(tmp_path / "home").resolve(), ("arn:x", "Succeeded")]


def test_background_serve_start_status_fire_reset_and_stop_by_pid(tmp_path):
    home = tmp_path / "home"
    info = local_runtime.start_background(home)
    try:
        assert info["endpoint_url"] == f"http://127.0.0.1:{info['port']}"
        assert json.loads((home / "emulator.json").read_text())["pid"] == info["pid"]
        assert local_runtime.status(home) == info
        assert local_runtime.start_background(home) == info  # already running: the same one
        client = boto3.client(
            "events",
            endpoint_url=info["endpoint_url"],
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        client.put_rule(Name="nightly", ScheduleExpression="cron(0 2 * * ? *)")
        assert local_runtime.fire_rule_background(home, "nightly")["rule"] == "nightly"
        with pytest.raises(local_runtime.LocalRuntimeError, match="HTTP 404.*'missing' does not exist"):
            local_runtime.fire_rule_background(home, "missing")
        local_runtime.reset_background(home)
        assert client.list_rules()["Rules"] == []
    finally:
        stopped = local_runtime.stop_background(home)
    assert stopped is True
    assert not psutil.pid_exists(info["pid"]) or psutil.Process(info["pid"]).status() == psutil.STATUS_ZOMBIE
    assert not (home / "emulator.json").exists()
    assert local_runtime.status(home) is None
    assert local_runtime.stop_background(home) is False
    log = (home / "emulator.log").read_text()
    assert "local AWS emulator ready at" in log and "export AWS_ENDPOINT_URL=" in log and "stopped" in log


def test_a_stale_record_is_not_trusted_and_a_broken_one_is_reported(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "emulator.json").write_text(
        json.dumps({"pid": psutil.Process().pid, "port": 1, "endpoint_url": "http://127.0.0.1:1"})
    )
    assert local_runtime.status(home) is None  # that PID is this test process, not a serve process
    assert local_runtime.stop_background(home) is False
    assert not (home / "emulator.json").exists()
    (home / "emulator.json").write_text("{not json")
    with pytest.raises(local_runtime.LocalRuntimeError, match="unreadable emulator record"):
        local_runtime.status(home)
    with pytest.raises(local_runtime.LocalRuntimeError, match="no background emulator is running"):
        local_runtime.reset_background(tmp_path / "elsewhere")


def test_serve_rejects_a_bad_port(capsys):
    with pytest.raises(SystemExit):
        local_runtime.main(["serve", "--home", "/tmp/x", "--port", "70000"])
    assert "--port must be between 0 and 65535" in capsys.readouterr().err


def test_background_start_on_a_taken_port_says_so_in_one_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(local_runtime.LocalRuntimeError) as refused:
            local_runtime.start_background(tmp_path / "home", port=port)
    assert str(refused.value).startswith(f"--port {port}: 127.0.0.1:{port} is not free")
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "home" / "emulator.json").exists()
