"""The settings' defaults: documented once, valid, used by the env files, and wired to the core registries."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel

from batchops_core import contracts, metrics
from batchops_core.settings import (
    DERIVED_NAMES,
    ENV_DIR,
    PIPELINE_KEYS,
    PIPELINE_STEP_STATUSES,
    ModelGates,
    Settings,
    Storage,
    parse_tfvars,
    settings_from_data,
)

REQUIRED = {"project", "environment", "region", "dataset", "model.registration_threshold",
            "model.model_quality_threshold"}


def _models(model: type[BaseModel] = Settings) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        annotation = field.annotation
        if typing.get_origin(annotation) is list:
            annotation = typing.get_args(annotation)[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += [m for m in _models(annotation) if m not in found]
    return found


def _keys(model: type[BaseModel] = Settings, prefix: str = "") -> dict[str, Any]:
    """Every key path of the settings (`dataset.columns[*].type`) -> its field."""
    out = {}
    for name, field in model.model_fields.items():
        if name == "source_file":
            continue
        path, annotation = f"{prefix}{name}", field.annotation
        if typing.get_origin(annotation) is list:
            annotation = typing.get_args(annotation)[0]
            path_items = f"{path}[*]."
        else:
            path_items = f"{path}."
        out[path] = field
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.update(_keys(annotation, path_items))
    return out


def _minimal() -> dict[str, Any]:
    local = parse_tfvars(ENV_DIR / "local.tfvars")
    return {"project": "demo", "environment": "dev", "region": "eu-west-1", "dataset": local["dataset"],
            "model": {"registration_threshold": 2.6, "model_quality_threshold": 3.0}}


def test_every_key_is_documented():
    undocumented = [path for path, field in _keys().items() if not field.description]
    assert undocumented == []


def test_the_required_keys_are_exactly_the_decided_ones():
    # storage and pipelines are filled with derived names; model is required for its two thresholds.
    top = {name for name, field in Settings.model_fields.items()
           if field.is_required() and name not in ("storage", "pipelines", "model")}
    nested = {f"model.{name}" for name, field in ModelGates.model_fields.items() if field.is_required()}
    assert top | nested == REQUIRED


def test_every_default_is_validated_like_a_value_from_a_file():
    assert all(model.model_config.get("validate_default") for model in _models())
    with pytest.raises(ValueError, match="a valid S3 bucket name"):
        type("Broken", (Storage,), {"__annotations__": {"bucket_name": str}, "bucket_name": "Not_A_Bucket"})()


def test_required_keys_alone_make_valid_settings_with_every_default_and_derived_name():
    settings = settings_from_data(_minimal(), ENV_DIR / "dev.tfvars")
    assert settings.storage.bucket_name == "demo-dev-data"
    assert settings.pipeline_names == {"training": "demo-dev-training", "training_hpo": "demo-dev-training-hpo",
                                       "inference": "demo-dev-inference", "model_quality": "demo-dev-model-quality"}
    assert settings.pipelines.model_package_group == "demo-dev-models"
    assert settings.storage.create_bucket is True and settings.storage.force_destroy is False
    assert settings.model.metric == "rmse" and settings.hpo.objective_metric == "validation:rmse"
    assert settings.notifications.recipients == [] and settings.schedules == []
    assert [(r.step, r.status) for r in settings.notifications.rules] == [
        (contracts.Step.DATA_QUALITY_CHECK, "Succeeded"), (contracts.Step.MODEL_QUALITY_VIOLATED, "Failed")]


def test_derived_names_are_one_template_each_and_an_explicit_value_wins():
    assert DERIVED_NAMES == {
        ("storage", "bucket_name"): "{project}-{environment}-data",
        ("pipelines", "training_name"): "{project}-{environment}-training",
        ("pipelines", "training_hpo_name"): "{project}-{environment}-training-hpo",
        ("pipelines", "inference_name"): "{project}-{environment}-inference",
        ("pipelines", "model_quality_name"): "{project}-{environment}-model-quality",
        ("pipelines", "model_package_group"): "{project}-{environment}-models",
    }
    data = _minimal() | {"storage": {"bucket_name": "shared-data"}, "pipelines": {"inference_name": "scoring"}}
    settings = settings_from_data(data, ENV_DIR / "dev.tfvars")
    assert settings.bucket == "shared-data"
    assert settings.pipelines.inference_name == "scoring" and settings.pipelines.training_name == "demo-dev-training"


def test_an_invalid_project_is_one_error_not_one_per_derived_name(tmp_path):
    from batchops_core.settings import ConfigError

    with pytest.raises(ConfigError) as info:
        settings_from_data(_minimal() | {"project": "Demo"}, tmp_path / "x.tfvars")
    assert info.value.problems == [f"{tmp_path / 'x.tfvars'}: project: a lower-case name of letters, digits and "
                                   "'-' (max 24), found 'Demo'"]


def _stated(document: dict[str, Any], path: str) -> bool:
    data: Any = document
    for part in path.split("."):
        if part.endswith("[*]"):
            data = data.get(part[:-3], []) if isinstance(data, dict) else None
            data = data[0] if data else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data is not None


def test_local_tfvars_is_the_full_reference():
    # A list a standalone environment must leave empty (accounts.consumers) shows its items' keys in the
    # multi-account example instead.
    local = parse_tfvars(ENV_DIR / "local.tfvars")
    examples = [parse_tfvars(path) for path in sorted((ENV_DIR / "multi-account").glob("*.tfvars"))]
    missing = [path for path in _keys() if not _stated(local, path)
               and not ("[*]" in path and any(_stated(example, path) for example in examples))]
    assert missing == [], "env_files/local.tfvars must state every key (it is the annotated reference)"


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_other_env_files_state_only_what_differs(env):
    stated = parse_tfvars(ENV_DIR / f"{env}.tfvars")
    redundant = []
    for section, value in stated.items():
        field = Settings.model_fields[section]
        if isinstance(value, dict) and isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            for key, item in value.items():
                sub = field.annotation.model_fields[key]
                if not sub.is_required() and sub.get_default(call_default_factory=True) == item:
                    redundant.append(f"{section}.{key}")
        elif not field.is_required() and field.get_default(call_default_factory=True) == value:
            redundant.append(section)
    assert redundant == [], f"{env}.tfvars restates defaults"


def test_choices_come_from_the_core_registries():
    assert typing.get_args(ModelGates.model_fields["metric"].annotation) == metrics.METRIC_NAMES
    from batchops_core.settings import Hpo
    assert set(typing.get_args(Hpo.model_fields["objective_metric"].annotation)) == {
        objective for _, objective in metrics.TUNING_OBJECTIVES}
    stated, none = typing.get_args(ModelGates.model_fields["problem_type"].annotation)  # left out: inferred
    assert typing.get_args(stated) == metrics.PROBLEM_TYPES and none is type(None)
    assert PIPELINE_KEYS == contracts.PIPELINE_KINDS
    assert PIPELINE_STEP_STATUSES == (*contracts.STEP_STATUSES, "*")


def _classes(problem: str) -> list[str]:
    return {metrics.BINARY: ["no", "yes"], metrics.MULTICLASS: ["a", "b", "c"]}.get(problem, [])


@pytest.mark.parametrize("problem,name", list(metrics.METRICS))
def test_model_gates_delegate_to_the_metric_registry(problem, name):
    metric = metrics.get(name, problem)
    threshold = 0.5
    gates = ModelGates(problem_type=problem, metric=name, classes=_classes(problem), registration_threshold=threshold,
                       model_quality_threshold=threshold)
    assert gates.gate_metric is metric
    assert gates.higher_is_better is metric.higher_is_better
    for value in (0.4, 0.5, 0.6):
        assert gates.passes(value, threshold) is metric.passes(value, threshold)


@pytest.mark.parametrize("problem,name", list(metrics.METRICS))
def test_threshold_problems_are_the_registry_s(problem, name, tmp_path):
    bad = next(v for v in (-1.0, 2.0) if metrics.get(name, problem).threshold_problem(v))
    data = _minimal() | {"model": {"problem_type": problem, "metric": name, "classes": _classes(problem),
                                   "registration_threshold": bad, "model_quality_threshold": bad}}
    from batchops_core.settings import ConfigError

    with pytest.raises(ConfigError) as info:
        settings_from_data(data, tmp_path / "x.tfvars")
    assert info.value.problems == [
        f"{tmp_path / 'x.tfvars'}: model: registration_threshold: "
        f"{metrics.get(name, problem).threshold_problem(bad)}"]


def test_a_mistyped_step_in_a_notification_rule_is_caught_with_a_suggestion(tmp_path):
    from batchops_core.settings import ConfigError

    rules = [{"step": "ModelQualityViolatd", "status": "Failed"}]
    with pytest.raises(ConfigError) as info:
        settings_from_data(_minimal() | {"notifications": {"rules": rules}}, tmp_path / "x.tfvars")
    assert info.value.problems == [f"{tmp_path / 'x.tfvars'}: notifications.rules[0].step: a step name of the "
                                   "pipelines or a pattern, found 'ModelQualityViolatd' (did you mean "
                                   "'ModelQualityViolated'?)"]
    notifications = {"recipients": ["ml-team@example.com"], "rules": [{"step": "*Quality*", "status": "*"}]}
    ok = settings_from_data(_minimal() | {"notifications": notifications}, tmp_path / "x.tfvars")
    assert ok.notifications.rules[0].pipeline == "*"
