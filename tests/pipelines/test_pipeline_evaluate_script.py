"""evaluate.py: scores the test split with the trained model archive, writes evaluation.json and result.json."""

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


def gate(metric: str = "rmse", threshold: float = 10.0) -> list[str]:
    return ["--metric", metric, "--threshold", str(threshold)]


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
    result = job.run("evaluate.py", *gate("rmse", 10.0))
    assert result.returncode == 0, result.stderr
    report = json.loads((job.output("evaluation") / "evaluation.json").read_text())
    metrics = report["regression_metrics"]
    assert set(metrics) == {"mse", "rmse", "mae", "mape", "r2"}
    predicted = booster.predict(xgboost.DMatrix(test[:, 1:]))
    errors = test[:, 0] - predicted
    assert metrics["mse"]["value"] == pytest.approx(np.mean(errors ** 2), rel=1e-5)
    assert metrics["rmse"]["value"] == pytest.approx(np.sqrt(np.mean(errors ** 2)), rel=1e-5)
    assert metrics["mae"]["value"] == pytest.approx(np.mean(np.abs(errors)), rel=1e-5)
    assert metrics["mape"]["value"] == pytest.approx(np.mean(np.abs(errors / test[:, 0])), rel=1e-5)
    assert metrics["mse"]["standard_deviation"] == pytest.approx(np.std(errors ** 2), rel=1e-4)
    assert 0.5 < metrics["r2"]["value"] <= 1
    decision = job.result()
    assert {k: decision[k] for k in ("step", "outcome", "metric", "threshold", "comparison", "counts")} == {
        "step": "Evaluate", "outcome": "passed", "metric": "rmse", "threshold": 10.0, "comparison": "<=",
        "counts": {"rows": 50}}
    assert decision["value"] == metrics["rmse"]["value"]
    assert "meets the gate rmse <= 10.0" in decision["message"]


@pytest.mark.parametrize("metric,threshold,outcome", [
    ("rmse", 1e-6, "failed"),  # lower is better: an error above the threshold fails
    ("r2", 0.999999, "failed"),  # higher is better: below the threshold fails
    ("r2", 0.1, "passed"),
    ("mape", 1.0, "passed"),
])
def test_the_decision_follows_the_registry(tmp_path, booster, metric, threshold, outcome):
    job = Job(tmp_path / "job", {})
    prepare(job, booster, tmp_path, pickled=False)
    result = job.run("evaluate.py", *gate(metric, threshold))
    assert result.returncode == 0, result.stderr  # a failed gate is a decision, not an error of the step
    decision = job.result()
    assert (decision["metric"], decision["threshold"], decision["outcome"]) == (metric, threshold, outcome)
    assert decision["comparison"] == (">=" if metric == "r2" else "<=")


def test_mape_refuses_zero_labels_naming_them(tmp_path, booster):
    job = Job(tmp_path / "job", {})
    test = prepare(job, booster, tmp_path, pickled=False)
    test[:3, 0] = 0.0
    np.savetxt(job.input("test") / "test.csv", test, delimiter=",", fmt="%.10g")
    result = job.run("evaluate.py", *gate("mape", 0.5))
    assert result.returncode == 1
    assert "test split: mape is undefined when a label is 0: 3 of 50 labels are 0" in result.message
    assert not (job.output("result") / "result.json").exists()
    # Another gate metric still works on the same rows; mape is left out of evaluation.json, not an error.
    other = Job(tmp_path / "other", {})
    prepare(other, booster, tmp_path, pickled=False)
    np.savetxt(other.input("test") / "test.csv", test, delimiter=",", fmt="%.10g")
    assert other.run("evaluate.py", *gate("rmse", 10.0)).returncode == 0
    assert "mape" not in json.loads((other.output("evaluation") / "evaluation.json").read_text())["regression_metrics"]


def test_a_threshold_outside_the_metric_rule_is_refused(tmp_path, booster):
    job = Job(tmp_path / "job", {})
    prepare(job, booster, tmp_path, pickled=False)
    result = job.run("evaluate.py", *gate("rmse", -1.0))
    assert result.returncode == 1
    assert result.message == "--threshold: rmse thresholds must be > 0, found -1.0"


def test_a_missing_model_is_a_clear_failure(tmp_path):
    job = Job(tmp_path / "job", {})
    job.input("test").mkdir(parents=True)
    np.savetxt(job.input("test") / "test.csv", make_split(np.random.RandomState(1), 5), delimiter=",")
    result = job.run("evaluate.py", *gate())
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
    result = job.run("evaluate.py", *gate())
    assert result.returncode == 1
    assert "cannot load the model xgboost-model from model.tar.gz" in result.message


@pytest.mark.parametrize("metric,threshold,rows,reason", [
    ("r2", 0.5, 50, "every label is 7: a constant prediction would score perfectly"),
    ("rmse", 10.0, 50, "every label is 7: a constant prediction would score perfectly"),
    ("rmse", 10.0, 1, "1 row(s); a gate metric needs at least 2"),
])
def test_a_degenerate_test_split_never_passes_the_gate(tmp_path, booster, metric, threshold, rows, reason):
    # Issue 17 item 2: constant labels registered a model with rmse 0.0000 and r2 1.0000.
    job = Job(tmp_path / "job", {})
    test = prepare(job, booster, tmp_path, pickled=False)[:rows]
    test[:, 0] = 7.0
    np.savetxt(job.input("test") / "test.csv", test, delimiter=",", fmt="%.10g")
    result = job.run("evaluate.py", *gate(metric, threshold))
    assert result.returncode == 0, result.stderr
    decision = job.result()
    assert (decision["outcome"], decision["metric"], decision["value"]) == ("failed", metric, None)
    assert f"the test split is degenerate ({reason}" in decision["message"]
    assert "the model is not registered" in decision["message"]
    assert "r2" not in json.loads((job.output("evaluation") / "evaluation.json").read_text())["regression_metrics"]


# ------------------------------------------------------------------------------------------ classification

def _classification_archive(job: Job, tmp_path, objective: dict, classes: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(3)
    features = rng.uniform(0, 1, size=(400, FEATURES))
    score = 2 * features[:, 0] + features[:, 1] + rng.normal(0, 0.2, 400)
    labels = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    booster = xgboost.train({**objective, "max_depth": 3}, xgboost.DMatrix(features[:300], label=labels[:300]), 20)
    model_file = tmp_path / "xgboost-model"
    model_file.write_bytes(pickle.dumps(booster))
    job.input("model").mkdir(parents=True)
    with tarfile.open(job.input("model") / "model.tar.gz", "w:gz") as archive:
        archive.add(model_file, arcname="xgboost-model")
    job.input("test").mkdir(parents=True)
    np.savetxt(job.input("test") / "test.csv", np.column_stack([labels[300:], features[300:]]), delimiter=",",
               fmt="%.10g")
    return labels[300:], booster.predict(xgboost.DMatrix(features[300:]))


def test_binary_evaluation_gates_f1_and_adds_the_classification_summary(tmp_path):
    from sklearn import metrics as sk

    job = Job(tmp_path / "job", {})
    labels, probability = _classification_archive(job, tmp_path, {"objective": "binary:logistic"}, 2)
    result = job.run("evaluate.py", "--metric", "f1", "--problem-type", "binary", "--classes",
                     '["benign", "malignant"]', "--decision-threshold", "0.4", "--threshold", "0.5")
    assert result.returncode == 0, result.stderr
    report = json.loads((job.output("evaluation") / "evaluation.json").read_text())["binary_classification_metrics"]
    assert set(report) == {"f1", "precision", "recall", "accuracy", "auc", "logloss"}
    decided = (probability >= 0.4).astype(int)
    assert report["f1"]["value"] == pytest.approx(sk.f1_score(labels, decided), abs=1e-9)
    assert report["auc"]["value"] == pytest.approx(sk.roc_auc_score(labels, probability), abs=1e-9)
    decision = job.result()
    assert decision["outcome"] == "passed" and decision["metric"] == "f1" and decision["comparison"] == ">="
    summary = decision["details"]["classification"]
    assert summary["labels"] == ["benign", "malignant"] and summary["decision_threshold"] == 0.4
    assert summary["confusion_matrix"] == sk.confusion_matrix(labels, decided).tolist()
    assert summary["per_class"]["malignant"]["recall"] == pytest.approx(sk.recall_score(labels, decided), abs=1e-9)
    assert summary["metrics"]["f1"] == report["f1"]["value"]


def test_multiclass_evaluation_gates_mlogloss_lower_is_better(tmp_path):
    from sklearn import metrics as sk

    job = Job(tmp_path / "job", {})
    labels, probabilities = _classification_archive(job, tmp_path, {"objective": "multi:softprob", "num_class": 3}, 3)
    result = job.run("evaluate.py", "--metric", "mlogloss", "--problem-type", "multiclass", "--classes",
                     '["low", "mid", "high"]', "--threshold", "0.01")
    assert result.returncode == 0, result.stderr
    report = json.loads((job.output("evaluation") / "evaluation.json").read_text())
    values = report["multiclass_classification_metrics"]
    assert values["mlogloss"]["value"] == pytest.approx(sk.log_loss(labels, probabilities), abs=1e-6)
    decision = job.result()
    assert decision["outcome"] == "failed" and decision["comparison"] == "<="
    summary = decision["details"]["classification"]
    assert summary["decision_threshold"] is None and len(summary["confusion_matrix"]) == 3
    assert sum(map(sum, summary["confusion_matrix"])) == len(labels)


@pytest.mark.parametrize("arguments,message", [
    (["--metric", "f1", "--classes", '["a", "b"]'], "--metric: unknown regression metric 'f1'"),
    (["--metric", "f1", "--problem-type", "binary", "--classes", '["a"]'],
     "--classes: a binary gate takes exactly 2 distinct labels, found ['a']"),
    (["--metric", "auc", "--problem-type", "binary", "--classes", "a,b"], "--classes: expected a JSON list"),
])
def test_bad_classification_arguments_fail_clearly(tmp_path, arguments, message):
    job = Job(tmp_path / "job", {})
    result = job.run("evaluate.py", *arguments, "--threshold", "0.5")
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


# ---- script mode: the model is loaded and scored by the script's own serving functions


def stage_script_model(job: Job, tmp_path, source: dict[str, str], model_files: dict[str, bytes]) -> np.ndarray:
    """A source archive of `source` (name -> code), a model.tar.gz of `model_files`, and the test split."""
    import io

    from batchops_core.contracts import SCRIPT_CODE_INPUT

    for input_name, files in ((SCRIPT_CODE_INPUT, {k: v.encode() for k, v in source.items()}),
                              ("model", model_files)):
        job.input(input_name).mkdir(parents=True)
        name = "sourcedir.tar.gz" if input_name == SCRIPT_CODE_INPUT else "model.tar.gz"
        with tarfile.open(job.input(input_name) / name, "w:gz") as archive:
            for member, data in files.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    test = make_split(np.random.RandomState(1), 50)
    job.input("test").mkdir(parents=True)
    np.savetxt(job.input("test") / "test.csv", test, delimiter=",", fmt="%.10g")
    return test


def test_script_mode_scores_with_the_shipped_examples_model_fn_and_predict_fn(tmp_path):
    """The shipped example's own functions load and score its saved model; the gate is the registry's."""
    import io

    import joblib
    from sklearn.ensemble import GradientBoostingRegressor

    from batchops_core.settings import PROJECT_ROOT, load_settings

    script = load_settings("script-mode").script
    train = make_split(np.random.RandomState(0), 300)
    model = GradientBoostingRegressor(n_estimators=50, max_depth=2, random_state=0).fit(train[:, 1:], train[:, 0])
    saved = io.BytesIO()
    joblib.dump(model, saved)
    job = Job(tmp_path / "job", {})
    source = {script.program: (PROJECT_ROOT / script.entry_point).read_text()}
    test = stage_script_model(job, tmp_path, source, {"model.joblib": saved.getvalue()})
    result = job.run("evaluate.py", *gate("rmse", 10.0), "--entry-point", script.program)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((job.output("evaluation") / "evaluation.json").read_text())["regression_metrics"]
    expected = np.sqrt(np.mean((test[:, 0] - model.predict(test[:, 1:])) ** 2))
    assert metrics["rmse"]["value"] == pytest.approx(expected, rel=1e-6)
    assert job.result()["outcome"] == "passed"


def test_script_mode_without_predict_fn_uses_model_predict(tmp_path):
    source = {"serve.py": "import pickle, os\n"
                          "def model_fn(model_dir):\n"
                          "    return pickle.load(open(os.path.join(model_dir, 'm.pkl'), 'rb'))\n"}
    job = Job(tmp_path / "job", {})

    from sklearn.dummy import DummyRegressor

    model = DummyRegressor(strategy="constant", constant=1.5).fit([[0.0] * FEATURES], [1.5])
    test = stage_script_model(job, tmp_path, source, {"m.pkl": pickle.dumps(model)})
    result = job.run("evaluate.py", *gate("rmse", 100.0), "--entry-point", "serve.py")
    assert result.returncode == 0, result.stderr
    rmse = json.loads((job.output("evaluation") / "evaluation.json").read_text())["regression_metrics"]["rmse"]
    assert rmse["value"] == pytest.approx(np.sqrt(np.mean((test[:, 0] - 1.5) ** 2)), rel=1e-6)


def test_script_mode_without_model_fn_is_a_clear_failure(tmp_path):
    job = Job(tmp_path / "job", {})
    stage_script_model(job, tmp_path, {"train.py": "print('training only')\n"}, {"model.joblib": b"x"})
    result = job.run("evaluate.py", *gate(), "--entry-point", "train.py")
    assert result.returncode == 1
    assert result.message == ("train.py defines no model_fn(model_dir): the framework container needs it to load the "
                              "model for serving")
    assert not (job.output("result") / "result.json").exists()


def test_script_mode_decodes_with_the_scripts_input_fn_as_serving_does(tmp_path):
    """input_fn gets the rows as a text/csv body: its feature engineering applies in Evaluate as in serving."""
    source = {"serve.py": "import numpy as np\n"
                          "class Doubling:\n"
                          "    def predict(self, data):\n"
                          "        return data[:, 0]\n"
                          "def model_fn(model_dir):\n"
                          "    return Doubling()\n"
                          "def input_fn(body, content_type):\n"
                          "    assert content_type == 'text/csv'\n"
                          "    return 2 * np.loadtxt(body.splitlines(), delimiter=',', ndmin=2)\n"}
    job = Job(tmp_path / "job", {})
    test = stage_script_model(job, tmp_path, source, {"model.bin": b"-"})
    result = job.run("evaluate.py", *gate("rmse", 100.0), "--entry-point", "serve.py")
    assert result.returncode == 0, result.stderr
    rmse = json.loads((job.output("evaluation") / "evaluation.json").read_text())["regression_metrics"]["rmse"]
    assert rmse["value"] == pytest.approx(np.sqrt(np.mean((test[:, 0] - 2 * test[:, 1]) ** 2)), rel=1e-6)


def test_script_mode_in_the_xgboost_framework_predicts_on_a_dmatrix_by_default(tmp_path, booster):
    """No input_fn or predict_fn: the XGBoost container's defaults (a DMatrix, Booster.predict)."""
    source = {"train.py": "import os, xgboost\n"
                          "def model_fn(model_dir):\n"
                          "    booster = xgboost.Booster()\n"
                          "    booster.load_model(os.path.join(model_dir, 'xgboost-model.json'))\n"
                          "    return booster\n"}
    booster.save_model(str(tmp_path / "model.json"))
    job = Job(tmp_path / "job", {})
    test = stage_script_model(job, tmp_path, source, {"xgboost-model.json": (tmp_path / "model.json").read_bytes()})
    result = job.run("evaluate.py", *gate("rmse", 10.0), "--entry-point", "train.py", "--framework", "xgboost")
    assert result.returncode == 0, result.stderr
    rmse = json.loads((job.output("evaluation") / "evaluation.json").read_text())["regression_metrics"]["rmse"]
    predicted = booster.predict(xgboost.DMatrix(test[:, 1:]))
    assert rmse["value"] == pytest.approx(np.sqrt(np.mean((test[:, 0] - predicted) ** 2)), rel=1e-5)
