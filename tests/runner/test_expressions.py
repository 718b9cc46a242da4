"""Expression resolution and the step graph, without any server."""

from __future__ import annotations

import json

import pytest

from batchops_local.runner.dag import build_graph
from batchops_local.runner.errors import DefinitionError, StepFailed
from batchops_local.runner.expressions import (
    PropertyFile,
    Resolver,
    coerce_parameters,
    parse_property_path,
    referenced_steps,
)
from batchops_local.runner.steps.control import evaluate_condition

DECLARED = [
    {"Name": "InputBucket", "Type": "String", "DefaultValue": "bucket-a"},
    {"Name": "Rounds", "Type": "Integer", "DefaultValue": 10},
    {"Name": "Threshold", "Type": "Float", "DefaultValue": 2.5},
    {"Name": "Strict", "Type": "Boolean", "DefaultValue": False},
]


def test_parameters_take_defaults_and_coerce_overrides_by_type():
    values = coerce_parameters(DECLARED, {"Rounds": "25", "Threshold": "0.75", "Strict": "TRUE"})
    assert values == {"InputBucket": "bucket-a", "Rounds": 25, "Threshold": 0.75, "Strict": True}


@pytest.mark.parametrize(("given", "message"), [
    ({"Rounds": "ten"}, "parameter 'Rounds' (Integer): value must be a whole number, found 'ten'"),
    ({"Threshold": "high"}, "parameter 'Threshold' (Float): value must be a number, found 'high'"),
    ({"Strict": "yes"}, "parameter 'Strict' (Boolean): value must be true or false, found 'yes'"),
    ({"Unknown": "1"}, "parameter(s) Unknown not declared by the pipeline"),
])
def test_bad_parameters_fail_with_the_name_and_the_problem(given, message):
    with pytest.raises(DefinitionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        coerce_parameters(DECLARED, given)


def test_parameter_without_default_must_be_given():
    with pytest.raises(DefinitionError, match="Needed have no DefaultValue"):
        coerce_parameters([{"Name": "Needed", "Type": "String"}], {})


def test_property_paths_parse_names_indices_and_quoted_keys():
    assert parse_property_path("ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri") == [
        "ProcessingOutputConfig", "Outputs", "train", "S3Output", "S3Uri"]
    assert parse_property_path("TrainingJobSummaries[0].TrainingJobName") == [
        "TrainingJobSummaries", 0, "TrainingJobName"]
    assert parse_property_path("FinalMetricDataList['validation:rmse'].Value") == [
        "FinalMetricDataList", "validation:rmse", "Value"]


def _resolver(documents: dict[str, object] | None = None) -> Resolver:
    properties = {
        "Prep": {"ProcessingOutputConfig": {"Outputs": [
            {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/out/train"}},
            {"OutputName": "evaluation", "S3Output": {"S3Uri": "s3://b/out/evaluation/"}}]}},
        "Tune": {"TrainingJobSummaries": [{"TrainingJobName": "best-job"}, {"TrainingJobName": "other"}]},
        "Train": {"FinalMetricDataList": [{"MetricName": "validation:rmse", "Value": 1.5}],
                  "HyperParameters": {"max_depth": "5"}},
    }
    files = {"Prep": {"Eval": PropertyFile("Prep", "Eval", "evaluation", "evaluation.json")}}
    store = documents or {}

    def read_json(uri: str):
        if uri not in store:
            raise FileNotFoundError(uri)
        return json.loads(json.dumps(store[uri]))

    return Resolver(coerce_parameters(DECLARED, {}), {"PipelineExecutionId": "exec1", "CurrentDateTime": lambda: "now"},
                    properties, files, read_json)


def test_get_resolves_parameters_execution_variables_and_step_properties():
    resolver = _resolver()
    assert resolver.resolve({"Get": "Parameters.Rounds"}) == 10
    assert resolver.resolve({"Get": "Execution.PipelineExecutionId"}) == "exec1"
    assert resolver.resolve({"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}) == \
        "s3://b/out/train"
    assert resolver.resolve({"Get": "Steps.Tune.TrainingJobSummaries[0].TrainingJobName"}) == "best-job"
    assert resolver.resolve({"Get": "Steps.Train.FinalMetricDataList['validation:rmse'].Value"}) == 1.5
    assert resolver.resolve({"Get": "Steps.Train.HyperParameters['max_depth']"}) == "5"


def test_join_stringifies_every_value_like_the_service():
    resolver = _resolver()
    joined = resolver.resolve({"Std:Join": {"On": "/", "Values": [
        "s3:/", {"Get": "Parameters.InputBucket"}, {"Get": "Execution.PipelineExecutionId"},
        {"Get": "Parameters.Threshold"}, {"Get": "Parameters.Strict"}]}})
    assert joined == "s3://bucket-a/exec1/2.5/false"
    assert resolver.resolve({"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Rounds"}]}}) == "10"


def test_json_get_reads_the_property_file_of_the_producing_step():
    resolver = _resolver({"s3://b/out/evaluation/evaluation.json": {"regression_metrics": {"mse": {"value": 2.25}},
                                                                    "list": [{"x": 7}]}})
    assert resolver.resolve({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Eval"},
                                             "Path": "regression_metrics.mse.value"}}) == 2.25
    assert resolver.resolve({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Eval"},
                                             "Path": "list[0].x"}}) == 7


@pytest.mark.parametrize(("expression", "message"), [
    ({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Eval"}, "Path": "regression_metrics.mae"}},
     "Std:JsonGet path 'regression_metrics.mae'"),
    ({"Get": "Steps.Missing.ProcessingJobName"}, "step 'Missing' has no properties yet"),
    ({"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['nope'].S3Output.S3Uri"}, "no element named 'nope'"),
    ({"Get": "Parameters.Nope"}, "unknown parameter 'Nope'"),
])
def test_unresolvable_expressions_fail_the_consuming_step_clearly(expression, message):
    resolver = _resolver({"s3://b/out/evaluation/evaluation.json": {"regression_metrics": {"mse": {"value": 1}}}})
    with pytest.raises(StepFailed, match=message.replace("(", r"\(").replace("[", r"\[")):
        resolver.resolve(expression)


def test_json_get_of_a_missing_file_names_the_file():
    with pytest.raises(StepFailed, match=r"cannot read property file 'Eval' of step 'Prep'"):
        _resolver().resolve({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Eval"},
                                             "Path": "a"}})


def test_conditions_compare_numbers_across_json_text_and_parameters():
    resolve = _resolver().resolve
    assert evaluate_condition({"Type": "LessThanOrEqualTo", "LeftValue": "2.5",
                               "RightValue": {"Get": "Parameters.Threshold"}}, resolve, where="c")
    assert not evaluate_condition({"Type": "GreaterThan", "LeftValue": 1, "RightValue": 2}, resolve, where="c")
    assert evaluate_condition({"Type": "In", "QueryValue": 10, "Values": [1, "10"]}, resolve, where="c")
    assert evaluate_condition({"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": "a", "RightValue": "b"}},
                              resolve, where="c")
    assert evaluate_condition({"Type": "Or", "Conditions": [
        {"Type": "Equals", "LeftValue": 1, "RightValue": 2},
        {"Type": "GreaterThanOrEqualTo", "LeftValue": 2, "RightValue": 2}]}, resolve, where="c")
    with pytest.raises(StepFailed, match="condition type 'Between' is not supported"):
        evaluate_condition({"Type": "Between"}, resolve, where="c")
    with pytest.raises(StepFailed, match="LessThan needs two numbers"):
        evaluate_condition({"Type": "LessThan", "LeftValue": "abc", "RightValue": 1}, resolve, where="c")


def _step(name: str, kind: str = "Processing", **extra):
    return {"Name": name, "Type": kind, "Arguments": {}, **extra}


def test_graph_collects_explicit_implicit_and_branch_dependencies():
    graph = build_graph({"Parameters": [], "Steps": [
        _step("A"),
        _step("B", Arguments={"x": {"Get": "Steps.A.ProcessingJobName"}}),
        _step("C", DependsOn=["A"]),
        {"Name": "Check", "Type": "Condition", "Arguments": {
            "Conditions": [], "IfSteps": [_step("Yes", "Fail")],
            "ElseSteps": [_step("No", Arguments={"y": {"Get": "Steps.B.X"}})]}},
        {"Name": "Legacy", "Type": "Condition", "Arguments": {"Conditions": []},
         "IfSteps": [_step("LegacyYes", Arguments={"z": {"Get": "Steps.C.X"}})]},
    ]})
    assert graph["Check"].dependencies == set()  # branch steps' references are theirs, not the condition's
    assert graph["LegacyYes"].dependencies == {"Legacy", "C"}
    assert graph["B"].dependencies == {"A"}
    assert graph["C"].dependencies == {"A"}
    assert graph["Yes"].dependencies == {"Check"} and graph["Yes"].condition == "Check"
    assert graph["No"].dependencies == {"Check", "B"}
    assert referenced_steps({"a": [{"Get": "Steps.A.B"}, {"Get": "Parameters.P"}]}) == {"A"}


@pytest.mark.parametrize(("steps", "message"), [
    ([_step("A", DependsOn=["Ghost"])], "step 'A' references unknown step\\(s\\): Ghost"),
    ([_step("A"), _step("A")], "step name 'A' is used more than once"),
    ([_step("../escape")], "step name '../escape' is not valid"),
    ([_step("A", DependsOn=["B"]), _step("B", DependsOn=["A"])], "cycle: A -> B -> A"),
    ([_step("A", Arguments={"p": {"Get": "Parameters.Nope"}})], "step 'A' uses undeclared parameter 'Nope'"),
])
def test_graph_rejects_broken_definitions_before_running(steps, message):
    with pytest.raises(DefinitionError, match=message):
        build_graph({"Parameters": [], "Steps": steps})


@pytest.mark.parametrize(("prefix", "key", "relative"), [
    ("data/in", "data/in/a.csv", "a.csv"),
    ("data/in/", "data/in/sub/b.csv", "sub/b.csv"),
    ("data/in/one.csv", "data/in/one.csv", "one.csv"),
    ("data/in", "data/input-other/c.csv", "input-other/c.csv"),
    ("", "top.csv", "top.csv"),
])
def test_objects_keep_their_path_relative_to_the_prefix(prefix, key, relative):
    from batchops_local.runner.aws import relative_key

    assert relative_key(prefix, key) == relative


def test_json_get_also_reads_an_s3_uri_expression():
    resolver = _resolver({"s3://b/reports/exec1/report.json": {"rows": [3, 5]}})
    value = resolver.resolve({"Std:JsonGet": {"S3Uri": {"Std:Join": {"On": "/", "Values": [
        "s3://b/reports", {"Get": "Execution.PipelineExecutionId"}, "report.json"]}}, "Path": "rows[1]"}})
    assert value == 5


def test_job_scoped_execution_variables_resolve_only_inside_their_job():
    resolver = _resolver()
    with pytest.raises(StepFailed, match="execution variable 'ProcessingJobName' is not available here"):
        resolver.resolve({"Get": "Execution.ProcessingJobName"})
    assert resolver.for_job(ProcessingJobName="job-1").resolve({"Get": "Execution.ProcessingJobName"}) == "job-1"
    assert resolver.resolve({"Get": "Execution.CurrentDateTime"}) == "now"
