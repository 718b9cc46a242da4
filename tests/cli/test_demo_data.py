"""The demo's generated data: deterministic, in the env file's schema, and shaped so the demo's gates behave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost

from batchops.demo_data import REFERENCE, SLOW_GROWING_SITE, check_demo_schema, generate, write_demo_files
from batchops_core.settings import load_settings


def test_same_seed_same_bytes(tmp_path):
    first = write_demo_files(tmp_path / "a", training_rows=300, batch_rows=50)
    second = write_demo_files(tmp_path / "b", training_rows=300, batch_rows=50)
    for name in ("training", "clean_batch", "clean_ground_truth", "drifted_batch", "drifted_ground_truth"):
        assert getattr(first, name).read_bytes() == getattr(second, name).read_bytes(), name
    other = write_demo_files(tmp_path / "c", training_rows=300, batch_rows=50, seed=7)
    assert other.training.read_bytes() != first.training.read_bytes()


def test_files_follow_the_local_schema(tmp_path):
    settings = load_settings("local")
    check_demo_schema(settings)
    files = write_demo_files(tmp_path, training_rows=200, batch_rows=40)
    training = pd.read_csv(files.training)
    assert training.columns.tolist() == settings.dataset.column_names
    batch = pd.read_csv(files.clean_batch)
    assert batch.columns.tolist() == [c for c in settings.dataset.column_names if c != settings.dataset.target]
    truth = pd.read_csv(files.drifted_ground_truth)
    assert truth.columns.tolist() == [settings.dataset.record_key, settings.dataset.target]
    assert len(training) == 200 and len(batch) == 40 and truth["record_id"].is_unique
    assert set(training["sex"]) == {"M", "F", "I"}
    assert training["rings"].between(1, 29).all() and (training["length"] > 0).all()


def test_another_schema_is_refused_with_the_file_named():
    settings = load_settings("local")
    columns = [c for c in settings.dataset.columns if c.name != "height"]
    changed = settings.model_copy(update={"dataset": settings.dataset.model_copy(update={"columns": columns})})
    with pytest.raises(ValueError, match=r"local\.tfvars: dataset: the demo generates abalone-like data"):
        check_demo_schema(changed)


def test_drifted_population_is_shifted():
    reference = generate(REFERENCE, 4000, seed=1, id_prefix="r")
    drifted = generate(SLOW_GROWING_SITE, 4000, seed=2, id_prefix="d")
    assert drifted["length"].mean() < reference["length"].mean() - 0.05
    assert (drifted["sex"] == "I").mean() < (reference["sex"] == "I").mean() - 0.1
    assert drifted["rings"].mean() > reference["rings"].mean() + 2


def test_gates_separate_clean_from_drifted_data():
    """A model like the pipeline's passes registration and the clean batch, and clearly fails the drifted one."""
    settings = load_settings("local")

    def features(frame: pd.DataFrame) -> np.ndarray:
        encoded = frame.drop(columns=["record_id", "rings"])
        for sex in "MFI":
            encoded[f"sex_{sex}"] = (encoded["sex"] == sex).astype(float)
        return encoded.drop(columns=["sex"]).to_numpy(dtype=float)

    def rmse(model, frame: pd.DataFrame) -> float:
        predictions = model.predict(xgboost.DMatrix(features(frame)))
        return float(np.sqrt(np.mean((predictions - frame["rings"].to_numpy()) ** 2)))

    training = generate(REFERENCE, 3000, seed=11, id_prefix="t")
    fit, test = training.iloc[:2550], training.iloc[2550:]
    parameters = {k: v for k, v in settings.xgboost.hyperparameters.items() if k != "num_round"}
    model = xgboost.train(parameters, xgboost.DMatrix(features(fit), fit["rings"].to_numpy()),
                          int(settings.xgboost.hyperparameters["num_round"]))
    assert rmse(model, test) < settings.model.registration_threshold * 0.8
    assert rmse(model, generate(REFERENCE, 800, seed=12, id_prefix="c")) < settings.model.model_quality_threshold * 0.7
    assert rmse(model, generate(SLOW_GROWING_SITE, 800, seed=13, id_prefix="d")) > \
        settings.model.model_quality_threshold * 1.5
