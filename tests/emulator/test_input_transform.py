"""What EventBridge targets receive: Input, InputPath, InputTransformer and JSON-path pipeline parameters."""

import pytest

from batchops_local.emulator.events.input_transform import (
    TargetInputError,
    render_input_template,
    resolve_json_path,
    resolve_pipeline_parameters,
    target_input,
)

EVENT = {
    "id": "e-1",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "time": "2026-11-21T06:00:00Z",
    "resources": ["arn:aws:s3:::data"],
    "detail": {"bucket": {"name": "data"}, "object": {"key": "in/a b.csv", "size": 12}, "tags": ["x", "y"]},
}
RULE = {"rule_name": "drop", "rule_arn": "arn:aws:events:us-east-1:123456789012:rule/drop"}


def test_json_paths_follow_dots_hyphens_indexes_and_quoted_names():
    assert resolve_json_path(EVENT, "$.detail.object.key") == "in/a b.csv"
    assert resolve_json_path(EVENT, "$.detail-type") == "Object Created"
    assert resolve_json_path(EVENT, "$.detail.tags[1]") == "y"
    assert resolve_json_path(EVENT, "$['detail']['bucket'].name") == "data"
    assert resolve_json_path(EVENT, "$") is EVENT


def test_json_path_that_matches_nothing_is_an_error_unless_a_default_is_given():
    with pytest.raises(TargetInputError, match=r"\$\.detail\.missing.*matches nothing"):
        resolve_json_path(EVENT, "$.detail.missing")
    assert resolve_json_path(EVENT, "$.detail.tags[5]", default=None) is None
    with pytest.raises(TargetInputError, match="must start with"):
        resolve_json_path(EVENT, "detail.object")


def test_template_values_are_text_inside_quotes_and_json_outside():
    values = {"key": 'a "quoted" key', "size": 12, "tags": ["x"], "nothing": None}
    rendered = render_input_template(
        '{"message": "got <key> (<size> bytes)", "key": <key>, "size": <size>, "tags": <tags>, "n": <nothing>}',
        values,
    )
    assert rendered == {
        "message": 'got a "quoted" key (12 bytes)',
        "key": 'a "quoted" key',
        "size": 12,
        "tags": ["x"],
        "n": None,
    }


def test_plain_text_template_gives_text_and_unknown_placeholders_stay():
    assert (
        render_input_template("Object <key> arrived <b>now</b>", {"key": "k.csv"}) == "Object k.csv arrived <b>now</b>"
    )
    assert render_input_template('"file <key>"', {"key": "k.csv"}) == "file k.csv"


def test_template_that_is_not_json_after_substitution_is_a_clear_error():
    with pytest.raises(TargetInputError, match="InputTemplate does not give valid JSON"):
        render_input_template('{"a": <key>', {"key": "x"})


def test_target_input_precedence_and_predefined_variables():
    assert target_input({"Id": "t"}, EVENT, **RULE) is EVENT
    assert target_input({"Id": "t", "Input": '{"fixed": true}'}, EVENT, **RULE) == {"fixed": True}
    assert target_input({"Id": "t", "InputPath": "$.detail.bucket"}, EVENT, **RULE) == {"name": "data"}
    transformed = target_input(
        {
            "Id": "t",
            "InputTransformer": {
                "InputPathsMap": {"key": "$.detail.object.key"},
                "InputTemplate": '{"key": <key>, "rule": "<aws.events.rule-name>", "event": <aws.events.event>}',
            },
        },
        EVENT,
        **RULE,
    )
    assert transformed == {"key": "in/a b.csv", "rule": "drop", "event": EVENT}


def test_bad_constant_input_names_the_target():
    with pytest.raises(TargetInputError, match="target 'broken': Input is not valid JSON"):
        target_input({"Id": "broken", "Input": "{nope"}, EVENT, **RULE)


def test_pipeline_parameters_resolve_whole_json_paths_only():
    parameters = [
        {"Name": "InputBucket", "Value": "$.detail.bucket.name"},
        {"Name": "InputKey", "Value": "$.detail.object.key"},
        {"Name": "Size", "Value": "$.detail.object.size"},
        {"Name": "Literal", "Value": "prefix/$.detail.object.key"},
    ]
    assert resolve_pipeline_parameters(parameters, EVENT) == [
        {"Name": "InputBucket", "Value": "data"},
        {"Name": "InputKey", "Value": "in/a b.csv"},
        {"Name": "Size", "Value": "12"},
        {"Name": "Literal", "Value": "prefix/$.detail.object.key"},
    ]
    with pytest.raises(TargetInputError, match="pipeline parameter 'InputKey'"):
        resolve_pipeline_parameters([{"Name": "InputKey", "Value": "$.detail.nope"}], EVENT)
