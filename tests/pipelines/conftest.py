"""Fixtures for the pipeline tests: settings variants, a network guard, definitions built once per variant."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

# The suite imports tests with importlib (folders are not on sys.path): add this one for its helper modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_test_support import ACCOUNT_ID, network_guard  # noqa: E402
from step_script_support import BUCKET, REGION  # noqa: E402

# Offline SDK settings before anything imports sagemaker (its import makes a client that needs a region).
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


from batchops_core.settings import Column, Dataset, Settings, load_settings  # noqa: E402

BUILT_FILE = "built.json"


def other_schema_settings(base: Settings, *, engine: str = "builtin") -> Settings:
    """A non-abalone schema (3 numeric + 2 categorical features, other names), given engine, r2 gate, XGBoost 3."""
    dataset = Dataset(
        header=True, record_key="order_id", target="delivery_minutes",
        columns=[Column(name="order_id", type="integer"), Column(name="distance_km", type="float"),
                 Column(name="city", type="categorical"), Column(name="items", type="integer"),
                 Column(name="vehicle", type="categorical"), Column(name="weight_kg", type="float"),
                 Column(name="delivery_minutes", type="float")],
    )
    model = base.model.model_copy(update={"metric": "r2", "registration_threshold": 0.5,
                                          "model_quality_threshold": 0.4})
    quality = base.data_quality.model_copy(update={"engine": engine, "on_drift": "fail"})
    xgboost = base.xgboost.model_copy(update={"framework_version": "3.0-5"})
    return base.model_copy(update={"dataset": dataset, "model": model, "data_quality": quality, "xgboost": xgboost})


@pytest.fixture(scope="session")
def local_settings() -> Settings:
    return load_settings("local")


@pytest.fixture(scope="session")
def other_settings(local_settings: Settings) -> Settings:
    return other_schema_settings(local_settings)


@pytest.fixture(scope="session")
def monitor_settings(local_settings: Settings) -> Settings:
    """The env file `local` with the Model Monitor engine (the file itself uses the built-in one)."""
    quality = local_settings.data_quality.model_copy(update={"engine": "model_monitor"})
    return local_settings.model_copy(update={"data_quality": quality})


def built_once(build_once, settings: Settings) -> dict:
    """{"texts": the definitions of `settings` (build_definitions, under the network guard), "attempts": the
    network calls it tried}, built once per run for all workers (tests/run_once.py). The SDK's output is
    byte-identical between builds and processes (test_pipeline_definitions.py rebuilds and compares), and the
    folder is named by a hash of the settings; the code cannot change during a run."""

    def build(folder: Path) -> None:
        from pipelines.definitions import build_definitions

        with network_guard() as attempts:
            texts = build_definitions(settings, account_id=ACCOUNT_ID)
        (folder / BUILT_FILE).write_text(json.dumps({"texts": texts, "attempts": attempts}), encoding="utf-8")

    key = hashlib.sha256(f"{ACCOUNT_ID}\n{settings.model_dump_json()}".encode()).hexdigest()[:16]
    return json.loads((build_once(f"definitions-{key}", build) / BUILT_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def monitor_definitions(build_once, monitor_settings: Settings) -> dict[str, dict]:
    return {key: json.loads(text) for key, text in built_once(build_once, monitor_settings)["texts"].items()}


@pytest.fixture(scope="session")
def built_local(build_once, local_settings: Settings) -> dict:
    """Definitions of the env file `local` (built-in engine) built under the network guard."""
    return built_once(build_once, local_settings)


@pytest.fixture(scope="session")
def built_other(build_once, other_settings: Settings) -> dict:
    """Definitions of the other schema with the built-in engine, built under the network guard."""
    return built_once(build_once, other_settings)


@pytest.fixture(scope="session")
def local_definitions(built_local: dict) -> dict[str, dict]:
    return {key: json.loads(text) for key, text in built_local["texts"].items()}


@pytest.fixture(scope="session")
def other_definitions(built_other: dict) -> dict[str, dict]:
    return {key: json.loads(text) for key, text in built_other["texts"].items()}


@pytest.fixture
def in_process_aws(monkeypatch):
    """moto in this process for a step script's boto3 calls: fake credentials, no endpoint of a real server."""
    import moto

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        yield


@pytest.fixture
def s3(in_process_aws):
    """An S3 client with the data bucket BUCKET (in process)."""
    import boto3

    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    return client
