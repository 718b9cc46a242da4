"""The launcher itself: endpoint and environment, ports, reset, HTTP routes, patches that come and go."""

import json
import socket
import threading
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError
from moto.events.models import Rule

from batchops_local.emulator import Emulator, context


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_endpoint_environment_and_a_given_port(tmp_path):
    port = _free_port()
    with Emulator(tmp_path / "home", port=port, load_aws_managed_policies=False) as emulator:
        assert emulator.endpoint_url == f"http://127.0.0.1:{port}"
        assert emulator.env() == {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_MAX_ATTEMPTS": "2",
        }
        assert emulator.client("sts").get_caller_identity()["Account"] == "123456789012"
    with socket.socket() as probe:  # the port is really released: nothing listens on it any more
        # SO_REUSEADDR lets the bind through closed connections still in TIME_WAIT (the kernel keeps
        # those for a minute after the client's keep-alive sockets close); a live listener still refuses.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()


def test_a_taken_port_and_a_second_emulator_are_clear_errors(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port}"):
            Emulator(tmp_path / "a", port=port).start()
    with Emulator(tmp_path / "a", load_aws_managed_policies=False):
        with pytest.raises(RuntimeError, match="already running in this process"):
            Emulator(tmp_path / "b").start()
    with pytest.raises(ValueError, match="port must be between 0 and 65535"):
        Emulator(tmp_path / "c", port=70000)


def test_patches_exist_only_while_the_emulator_runs(tmp_path):
    stock = Rule.send_to_targets
    with Emulator(tmp_path / "home", load_aws_managed_policies=False):
        assert Rule.send_to_targets is not stock
    assert Rule.send_to_targets is stock
    assert context.active_or_none() is None


def test_reset_clears_resources_and_running_executions_and_extensions_keep_working(aws, handler, wait):
    stopped = threading.Event()

    def run_until_stopped(request, sink):
        while not sink.stop_requested(request.execution_arn):
            stopped.wait(0.05)
        stopped.set()

    handler.behaviour = run_until_stopped
    aws.bucket("data-bucket")
    aws.pipeline("abc-training")
    aws.sagemaker.start_pipeline_execution(PipelineName="abc-training")
    wait(lambda: handler.requests, what="the execution to start")

    aws.emulator.reset()

    assert stopped.is_set()  # the running execution was asked to stop and has finished
    assert aws.s3.list_buckets()["Buckets"] == []
    assert aws.sagemaker.list_pipelines()["PipelineSummaries"] == []
    assert context.active().executions.find(handler.requests[0].execution_arn) is None
    queue = aws.capture("after-reset", {"source": ["aws.s3"]})
    aws.bucket("data-bucket")
    aws.s3.put_object(Bucket="data-bucket", Key="k.csv", Body=b"x")
    assert [e["detail"]["object"]["key"] for e in aws.events_in(queue)] == ["k.csv"]


def test_bucket_notification_configuration_round_trips_eventbridge(aws):
    _, queue_arn = aws.queue("s3-direct")
    aws.s3.create_bucket(Bucket="data-bucket")
    assert "EventBridgeConfiguration" not in aws.s3.get_bucket_notification_configuration(Bucket="data-bucket")
    aws.s3.put_bucket_notification_configuration(
        Bucket="data-bucket", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    assert aws.s3.get_bucket_notification_configuration(Bucket="data-bucket")["EventBridgeConfiguration"] == {}
    aws.s3.put_bucket_notification_configuration(
        Bucket="data-bucket",
        NotificationConfiguration={
            "EventBridgeConfiguration": {},
            "QueueConfigurations": [{"Id": "q", "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}],
        },
    )
    both = aws.s3.get_bucket_notification_configuration(Bucket="data-bucket")
    assert both["EventBridgeConfiguration"] == {} and both["QueueConfigurations"][0]["QueueArn"] == queue_arn


def test_http_routes_for_status_and_fire_rule(aws):
    url = aws.emulator.endpoint_url
    with urllib.request.urlopen(f"{url}/batchops-api/status", timeout=10) as response:
        status = json.loads(response.read())
    assert status["endpoint_url"] == url and status["execution_handler"] is True
    queue, queue_arn = aws.queue("fired")
    aws.events.put_rule(Name="nightly", ScheduleExpression="cron(0 2 * * ? *)")
    aws.events.put_targets(Rule="nightly", Targets=[{"Id": "q", "Arn": queue_arn}])

    code, body = _post(f"{url}/batchops-api/fire-rule", {"rule": "nightly"})
    assert code == 200 and body["rule"] == "nightly"
    assert [e["id"] for e in aws.events_in(queue)] == [body["event_id"]]
    assert _post(f"{url}/batchops-api/fire-rule", {"rule": "missing"})[0] == 404
    code, body = _post(f"{url}/batchops-api/fire-rule", {"name": "nightly"})
    assert code == 400 and "rule" in body["error"]


def test_aws_managed_policies_can_be_attached(tmp_path):
    with Emulator(tmp_path / "home") as emulator:
        iam = emulator.client("iam")
        iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
        policy = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        iam.attach_role_policy(RoleName="fn", PolicyArn=policy)
        attached = iam.list_attached_role_policies(RoleName="fn")["AttachedPolicies"]
        assert [p["PolicyArn"] for p in attached] == [policy]


def test_a_tls_only_bucket_policy_allows_requests_and_other_denies_still_apply(aws):
    def statement(sid, condition):
        return {
            "Sid": sid,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::data-bucket", "arn:aws:s3:::data-bucket/*"],
            "Condition": condition,
        }

    aws.s3.create_bucket(Bucket="data-bucket")
    tls_only = statement("DenyRequestsWithoutTls", {"Bool": {"aws:SecureTransport": "false"}})
    aws.s3.put_bucket_policy(
        Bucket="data-bucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": [tls_only]})
    )
    aws.s3.put_object(Bucket="data-bucket", Key="k.csv", Body=b"x")
    assert aws.s3.get_object(Bucket="data-bucket", Key="k.csv")["Body"].read() == b"x"

    unconditional = {key: value for key, value in statement("DenyAll", {}).items() if key != "Condition"}
    aws.s3.put_bucket_policy(
        Bucket="data-bucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": [tls_only, unconditional]})
    )
    with pytest.raises(ClientError, match="403|AccessDenied|Forbidden"):
        aws.s3.put_object(Bucket="data-bucket", Key="k2.csv", Body=b"x")
