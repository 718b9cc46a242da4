"""Steps with InstanceCount > 1: one local worker per instance, with SageMaker's distribution semantics
(batchops_local/runner/steps/instances.py): ShardedByS3Key / FullyReplicated processing inputs, each instance's
resourceconfig.json, outputs of all instances under one prefix (a name clash refused), batch transform objects
partitioned across instances."""

from __future__ import annotations

import json

import numpy as np
from runner_support import processing_step

from batchops_local.runner.steps import instances

# Records what this instance received and which host it is, in a file named after the host.
REPORT_HOST = r'''
import json, os, pathlib
base = pathlib.Path(os.environ["SAGEMAKER_BASE_DIR"])
config = json.loads((base / "config" / "resourceconfig.json").read_text())
received = {name: sorted(p.relative_to(base / "processing" / name).as_posix()
                         for p in (base / "processing" / name).rglob("*") if p.is_file())
            for name in ("sharded", "replicated")}
out = base / "processing" / "output"
out.mkdir(parents=True, exist_ok=True)
(out / (config["current_host"] + ".json")).write_text(json.dumps({"config": config, "received": received}))
'''

SAME_NAME = r'''
import os, pathlib
out = pathlib.Path(os.environ["SAGEMAKER_BASE_DIR"]) / "processing" / "output"
out.mkdir(parents=True, exist_ok=True)
(out / "result.csv").write_text("from every instance\n")
'''


def _cluster(step: dict, count: int) -> dict:
    step["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = count
    return step


def _sharded(step: dict, input_name: str) -> dict:
    for item in step["Arguments"]["ProcessingInputs"]:
        if item["InputName"] == input_name:
            item["S3Input"]["S3DataDistributionType"] = "ShardedByS3Key"
    return step


def test_each_instance_gets_its_shard_every_replicated_object_and_its_own_resource_config(aws, runner):
    parts = [f"part-{n:05d}.csv" for n in range(5)]
    for part in parts:
        aws.put(f"batch/{part}", "x\n1\n")
    aws.put("reference/ref.csv", "r\n")
    step = _sharded(_cluster(processing_step(
        "Report", aws.put_script("report.py", REPORT_HOST),
        inputs=[("sharded", aws.uri("batch"), "/opt/ml/processing/sharded"),
                ("replicated", aws.uri("reference"), "/opt/ml/processing/replicated")],
        outputs=[("out", aws.uri("out"), "/opt/ml/processing/output")]), 2), "sharded")
    sink, _ = runner.run([step])
    assert sink.final == ("Succeeded", None), sink.steps
    reports = {host: json.loads(aws.get(f"out/{host}.json")) for host in ("algo-1", "algo-2")}
    assert aws.keys("out/") == ["out/algo-1.json", "out/algo-2.json"]  # both instances' files, one prefix
    for host, report in reports.items():
        assert report["config"] == {"current_host": host, "hosts": ["algo-1", "algo-2"]}
        assert report["received"]["replicated"] == ["ref.csv"]
    shards = [reports[host]["received"]["sharded"] for host in ("algo-1", "algo-2")]
    assert sorted(shards[0] + shards[1]) == parts  # every object once, on one instance
    assert [len(shard) for shard in shards] == [3, 2]  # about 1/n each


def test_a_shard_may_leave_an_instance_without_objects(aws, runner):
    aws.put("batch/only.csv", "x\n1\n")
    aws.put("reference/ref.csv", "r\n")
    step = _sharded(_cluster(processing_step(
        "Report", aws.put_script("report.py", REPORT_HOST),
        inputs=[("sharded", aws.uri("batch"), "/opt/ml/processing/sharded"),
                ("replicated", aws.uri("reference"), "/opt/ml/processing/replicated")],
        outputs=[("out", aws.uri("out"), "/opt/ml/processing/output")]), 3), "sharded")
    sink, _ = runner.run([step])
    assert sink.final == ("Succeeded", None), sink.steps
    received = [json.loads(aws.get(f"out/algo-{n}.json"))["received"]["sharded"] for n in (1, 2, 3)]
    assert received == [["only.csv"], [], []]


def test_instances_writing_the_same_output_name_fail_the_step_and_upload_nothing(aws, runner):
    step = _cluster(processing_step("Clash", aws.put_script("same.py", SAME_NAME),
                                    outputs=[("out", aws.uri("clash"), "/opt/ml/processing/output")]), 2)
    sink, _ = runner.run([step])
    status, reason = sink.final
    assert status == "Failed"
    step_reason = sink.last("Clash")["reason"]
    assert "instances algo-1 and algo-2 both wrote 'result.csv'" in step_reason
    assert "current_host" in step_reason
    assert aws.keys("clash/") == []


def test_an_unknown_distribution_type_is_refused():
    import pytest

    from batchops_local.runner.errors import StepFailed

    with pytest.raises(StepFailed, match="S3DataDistributionType must be one of FullyReplicated, ShardedByS3Key, "
                                         "found 'ByRecord'"):
        instances.distribution_type({"S3DataDistributionType": "ByRecord"}, what="input 'data'")


def test_sharding_gives_every_object_to_exactly_one_instance():
    objects = [f"k{n:03d}" for n in range(11)]
    for count in (1, 2, 3, 4, 11, 12):
        shares = [instances.objects_of_host(objects, instances.SHARDED_BY_S3_KEY, n, count) for n in range(count)]
        assert sorted(sum(shares, [])) == objects
        assert max(map(len, shares)) - min(map(len, shares)) <= 1
        replicated = [instances.objects_of_host(objects, instances.FULLY_REPLICATED, n, count) for n in range(count)]
        assert all(share == objects for share in replicated)


def test_batch_transform_partitions_the_objects_across_its_instances(runner, aws):
    from test_models import _batch, _model_step, _trained_model, _transform_step

    from batchops_local.runner import read_step_log

    model_url, booster = _trained_model(aws)
    batches = {}
    for number in range(3):
        text, features = _batch(20 + number, number)
        aws.put(f"batch/part-{number}.csv", text)
        batches[f"part-{number}.csv"] = features
    step = _transform_step(aws, aws.uri("batch/"))
    step["Arguments"]["TransformResources"]["InstanceCount"] = 2
    sink, request = runner.run([_model_step(model_url), step])
    assert sink.final == ("Succeeded", None), sink.steps[-1]
    assert aws.keys("scored") == [f"scored/part-{n}.csv.out" for n in range(3)]
    for name, features in batches.items():  # every object scored once, whole, by the one instance it went to
        predictions = np.array([float(line.rsplit(",", 1)[1]) for line in aws.get(f"scored/{name}.out").splitlines()])
        np.testing.assert_allclose(predictions, booster.inplace_predict(features.round(6).astype(np.float32)),
                                   rtol=1e-6)
    assert "objects per instance: algo-1 2, algo-2 1" in read_step_log(runner.home, request.execution_id, "Score")


def test_training_on_more_than_one_instance_is_refused_not_run_as_one(runner, aws):
    from runner_support import regression_csv, training_arguments

    train, _ = regression_csv(50, seed=1)
    arguments = training_arguments(aws.put("ml/train/part-0.csv", train), None, aws.uri("ml/models"))
    arguments["ResourceConfig"]["InstanceCount"] = 2
    arguments["HyperParameters"] = {"objective": "reg:squarederror", "num_round": "2"}
    sink, _ = runner.run([{"Name": "Train", "Type": "Training", "Arguments": arguments}])
    assert sink.final[0] == "Failed"
    assert "ResourceConfig.InstanceCount 2: distributed training" in sink.last("Train")["reason"]
    assert aws.keys("ml/models") == []
