"""evaluate.py: scores the test split with the trained model archive and writes evaluation.json."""

from __future__ import annotations

import json
import pickle
import tarfile

import numpy as np
import pytest
import xgboost
from step_script_support import Job

FEATURES = 4


def make_split(rng: np.random.RandomState, rows: int) -> np.ndarray:
    features = rng.uniform(0, 1, size=(rows, FEATURES))
    label = 3 * features[:, 0] + features[:, 1] ** 2 + rng.normal(0, 0.05, rows)
    return np.column_stack([label, features])


@pytest.fixture(scope="module")
def booster() -> xgboost.Booster:
    train = make_split(np.random.RandomState(0), 300)
    return xgboost.train({"objective": "reg:squarederror", "max_depth": 3}, xgboost.DMatrix(train[:, 1:],
                         label=train[:, 0]), num_boost_round=30)


def prepare(job: Job, booster: xgboost.Booster, tmp_path, *, pickled: bool) -> np.ndarray:
    model_file = tmp_path / "xgboost-model"
    if pickled:
        model_file.write_bytes(pickle.dumps(booster))
    else:
        booster.save_model(str(model_file.with_suffix(".json")))
        model_file.with_suffix(".json").rename(model_file)  # the algorithm's file name has no extension
    job.input("model").mkdir(parents=True)
    with tarfile.open(job.input("model") / "model.tar.gz", "w:gz") as archive:
        archive.add(model_file, arcname="xgboost-model")
    test = make_split(np.random.RandomState(1), 50)
    job.input("test").mkdir(parents=True)
    np.savetxt(job.input("test") / "test.csv", test, delimiter=",", fmt="%.10g")
    return test


@pytest.mark.parametrize("pickled", [False, True], ids=["native model file", "pickled booster"])
def test_evaluation_report_matches_the_model(tmp_path, booster, pickled):
    job = Job(tmp_path / "job", {})
    test = prepare(job, booster, tmp_path, pickled=pickled)
    result = job.run("evaluate.py")
    assert result.returncode == 0, result.stderr
    report = json.loads((job.output("evaluation") / "evaluation.json").read_text())
    metrics = report["regression_metrics"]
    assert set(metrics) == {"mse", "rmse", "mae", "r2"}
    predicted = booster.predict(xgboost.DMatrix(test[:, 1:]))
    errors = test[:, 0] - predicted
    assert metrics["mse"]["value"] == pytest.approx(np.mean(errors ** 2), rel=1e-5)
    assert metrics["rmse"]["value"] == pytest.approx(np.sqrt(np.mean(errors ** 2)), rel=1e-5)
    assert metrics["mae"]["value"] == pytest.approx(np.mean(np.abs(errors)), rel=1e-5)
    assert metrics["mse"]["standard_deviation"] == pytest.approx(np.std(errors ** 2), rel=1e-4)
    assert 0.5 < metrics["r2"]["value"] <= 1


def test_a_missing_model_is_a_clear_failure(tmp_path):
    job = Job(tmp_path / "job", {})
    job.input("test").mkdir(parents=True)
    np.savetxt(job.input("test") / "test.csv", make_split(np.random.RandomState(1), 5), delimiter=",")
    result = job.run("evaluate.py")
    assert result.returncode == 1
    assert "expected one model.tar.gz under" in result.message and "found 0" in result.message


def test_an_unreadable_model_is_a_clear_failure(tmp_path):
    job = Job(tmp_path / "job", {})
    (tmp_path / "xgboost-model").write_text("not a model")
    job.input("model").mkdir(parents=True)
    with tarfile.open(job.input("model") / "model.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "xgboost-model", arcname="xgboost-model")
    job.input("test").mkdir(parents=True)
    np.savetxt(job.input("test") / "test.csv", make_split(np.random.RandomState(1), 5), delimiter=",")
    result = job.run("evaluate.py")
    assert result.returncode == 1
    assert "cannot load the model xgboost-model from model.tar.gz" in result.message
