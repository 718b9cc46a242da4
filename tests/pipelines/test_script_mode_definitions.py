"""Script mode (`model.algorithm = "script"`, env file `script-mode`): the framework estimator, tuning on the
script's MetricDefinitions, Evaluate with the script's code, registration and serving with image + code, and the
content-addressed source archive."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import jsonschema
import pytest
from pipeline_definition_tools import all_steps, unresolved_references
from pipeline_test_support import ACCOUNT_ID, network_guard
from test_pipeline_definitions import SCHEMA

from batchops_core import contracts
from batchops_core.contracts import Step
from batchops_core.settings import PIPELINE_KEYS, load_settings
from pipelines.common.code import SOURCE_ARCHIVE, shipped_files, source_archive

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture(scope="module")
def settings():
    return load_settings("script-mode")


@pytest.fixture(scope="module")
def definitions(settings) -> dict[str, dict]:
    from pipelines.definitions import build_definitions

    with network_guard() as attempts:
        texts = build_definitions(settings, account_id=ACCOUNT_ID)
    assert attempts == []
    return {key: json.loads(text) for key, text in texts.items()}


def code_uri(settings) -> str:
    return source_archive(settings).uri(settings)


def test_script_mode_definitions_are_valid_and_resolve(definitions):
    validator = jsonschema.Draft7Validator(SCHEMA)
    for key in PIPELINE_KEYS:
        assert [e.message[:200] for e in validator.iter_errors(definitions[key])] == [], key
        assert unresolved_references(definitions[key]) == [], key


def test_train_runs_the_script_in_the_framework_image_with_its_metric_definitions(definitions, settings):
    train = all_steps(definitions["training"])[Step.TRAIN]["Arguments"]
    assert train["AlgorithmSpecification"] == {
        "TrainingInputMode": "File", "TrainingImage": SKLEARN_IMAGE,
        "MetricDefinitions": [{"Name": "validation:rmse", "Regex": "validation:rmse=([-+0-9.eE]+)"}]}
    assert train["HyperParameters"] == {**settings.script.hyperparameters, "sagemaker_program": "train.py",
                                        "sagemaker_submit_directory": code_uri(settings)}


def test_tuning_reads_the_objective_with_the_metric_definitions_and_keeps_the_code_static(definitions, settings):
    tune = all_steps(definitions["training_hpo"])[Step.TUNE]["Arguments"]
    definition = tune["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": d.name, "Regex": d.regex} for d in settings.script.metric_definitions]
    assert tune["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] == {
        "Type": "Minimize", "MetricName": "validation:rmse"}
    tuned = {spec.name for spec in settings.hpo.ranges}
    static = definition["StaticHyperParameters"]
    assert static[contracts.SCRIPT_PROGRAM_HYPERPARAMETER] == "train.py"
    assert static[contracts.SCRIPT_SUBMIT_DIRECTORY_HYPERPARAMETER] == code_uri(settings)
    assert not tuned & set(static)  # a tuned argument is never also a static one


@pytest.mark.parametrize("pipeline", ["training", "training_hpo"])
def test_evaluate_scores_with_the_scripts_code_and_registration_carries_image_and_code(definitions, settings,
                                                                                       pipeline):
    steps = all_steps(definitions[pipeline])
    evaluate = steps[Step.EVALUATE]["Arguments"]
    assert evaluate["AppSpecification"]["ImageUri"] == SKLEARN_IMAGE
    assert evaluate["AppSpecification"]["ContainerArguments"][-4:] == ["--entry-point", "train.py",
                                                                      "--framework", settings.script.framework]
    inputs = {i["InputName"]: i["S3Input"] for i in evaluate["ProcessingInputs"]}
    assert len(inputs) == len(evaluate["ProcessingInputs"])  # no two inputs of one name
    assert inputs[contracts.SCRIPT_CODE_INPUT]["S3Uri"] == code_uri(settings)
    [container] = steps[Step.REGISTER_MODEL]["Arguments"]["InferenceSpecification"]["Containers"]
    assert container["Image"] == SKLEARN_IMAGE
    assert container["Environment"] == {"SAGEMAKER_PROGRAM": "train.py",
                                        "SAGEMAKER_SUBMIT_DIRECTORY": code_uri(settings)}


def test_inference_serves_each_version_with_the_code_it_was_registered_with(definitions):
    steps = all_steps(definitions["inference"])
    assert "--script-mode" in steps[Step.RESOLVE_MODEL]["Arguments"]["AppSpecification"]["ContainerArguments"]
    container = steps[Step.CREATE_MODEL]["Arguments"]["PrimaryContainer"]
    resolved = {name: value["Std:JsonGet"]["Path"] for name, value in container["Environment"].items()}
    assert resolved == {"SAGEMAKER_PROGRAM": "Program", "SAGEMAKER_SUBMIT_DIRECTORY": "SubmitDirectory"}
    assert container["Image"]["Std:JsonGet"]["Path"] == "ImageUri"


def test_built_in_definitions_carry_no_script_mode_keys(local_settings, built_local):
    texts = built_local["texts"]
    for key in PIPELINE_KEYS:
        for word in ("sagemaker_program", "SAGEMAKER_PROGRAM", "--script-mode", "--entry-point",
                     contracts.SCRIPT_CODE_INPUT, SOURCE_ARCHIVE):
            assert word not in texts[key], (key, word)
    assert SOURCE_ARCHIVE not in {f.name for f in shipped_files(local_settings)}


def test_the_source_archive_is_deterministic_and_holds_the_source_directory(settings):
    first, second = source_archive(settings), source_archive(settings)
    assert first.content == second.content and first.sha256 == second.sha256
    assert first in shipped_files(settings) and first.key(settings).endswith(f"/{first.sha256}/{SOURCE_ARCHIVE}")
    with tarfile.open(fileobj=io.BytesIO(first.content), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert "train.py" in members and all(m.mtime == 0 and m.isfile() for m in members.values())
        extracted = tar.extractfile("train.py").read()
    assert extracted == settings.script.source_path.joinpath("train.py").read_bytes()
    assert gzip.decompress(first.content)  # a plain gzip stream (no timestamp: mtime 0)


def test_changed_code_gets_a_new_address(settings, tmp_path, monkeypatch):
    import batchops_core.settings as settings_module

    source = tmp_path / "model"
    source.mkdir()
    (source / "train.py").write_text("print('v1')\n")
    monkeypatch.setattr(settings_module, "PROJECT_ROOT", tmp_path)
    script = settings.script.model_copy(update={"source_dir": "model", "entry_point": "model/train.py"})
    moved = settings.model_copy(update={"script": script})
    before = source_archive(moved).key(moved)
    (source / "train.py").write_text("print('v2')\n")
    assert source_archive(moved).key(moved) != before
