"""The built-in XGBoost algorithm program, called in-process on a temporary SageMaker training layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from runner_support import regression_csv

from batchops_local.runner import xgboost_algorithm


def _layout(tmp_path, monkeypatch, hyperparameters: dict, channels: dict[str, tuple[str, str]]):
    """channels: name -> (content type, CSV text)."""
    base = tmp_path / "opt_ml"
    config = base / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(json.dumps({n: {"ContentType": c} for n, (c, _) in channels.items()}))
    for name, (_, text) in channels.items():
        (base / "input" / "data" / name).mkdir(parents=True)
        (base / "input" / "data" / name / "part.csv").write_text(text)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    return base


def test_training_prints_rounds_and_saves_a_loadable_model(tmp_path, monkeypatch, capsys):
    train, _ = regression_csv(200, seed=1)
    base = _layout(tmp_path, monkeypatch, {"num_round": "4", "max_depth": "2", "eval_metric": "rmse"},
                   {"train": ("text/csv", train), "validation": ("text/csv", regression_csv(50, seed=2)[0])})
    assert xgboost_algorithm.main(["prog", "train"]) == 0
    rounds = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(rounds) == 4 and rounds[3].startswith("[3]\ttrain-rmse:") and "\tvalidation-rmse:" in rounds[3]
    booster = xgboost_algorithm.load_booster(base / "model")
    assert booster.num_boosted_rounds() == 4 and booster.num_features() == 3


def test_the_tuning_objective_metric_is_always_evaluated(tmp_path, monkeypatch, capsys):
    train, validation = regression_csv(100, seed=4)[0], regression_csv(40, seed=5)[0]
    _layout(tmp_path, monkeypatch, {"num_round": "2", "eval_metric": "rmse", "_tuning_objective_metric":
                                    "validation:mae"},
            {"train": ("text/csv", train), "validation": ("text/csv", validation)})
    assert xgboost_algorithm.main(["prog", "train"]) == 0
    last = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[1]")][0]
    assert "\tvalidation-rmse:" in last and "\tvalidation-mae:" in last


def test_csv_weights_take_column_one_as_the_instance_weight(tmp_path, monkeypatch):
    rows = "\n".join(f"{i % 3},{1 if i % 2 else 5},{i / 10},{(i * 7) % 5}" for i in range(60)) + "\n"
    base = _layout(tmp_path, monkeypatch, {"num_round": "2", "csv_weights": "1"}, {"train": ("text/csv", rows)})
    assert xgboost_algorithm.main(["prog", "train"]) == 0
    assert xgboost_algorithm.load_booster(base / "model").num_features() == 2


def test_tab_separated_files_are_sniffed(tmp_path, monkeypatch):
    text = regression_csv(40, seed=3)[0].replace(",", "\t")
    base = _layout(tmp_path, monkeypatch, {"num_round": "2"}, {"train": ("csv", text)})
    assert xgboost_algorithm.main(["prog", "train"]) == 0
    assert xgboost_algorithm.load_booster(base / "model").num_features() == 3


@pytest.mark.parametrize(("hyperparameters", "channels", "message"), [
    ({"num_round": "2"}, {"train": ("text/libsvm", "1 1:0.5\n")},
     "channel 'train': content type 'text/libsvm' is not supported by the local algorithm"),
    ({"num_round": "2", "early_stopping_rounds": "3"}, {"train": ("text/csv", "1,2\n3,4\n")},
     "early_stopping_rounds needs a validation channel"),
    ({"max_depth": "2"}, {"train": ("text/csv", "1,2\n")}, "hyperparameter 'num_round' is required"),
    ({"num_round": "2"}, {"validation": ("text/csv", "1,2\n")}, "channel 'train' is required"),
    ({"num_round": "2"}, {"train": ("text/csv", "1,2\n"), "test": ("text/csv", "1,2\n")},
     "unsupported channel(s) test"),
    ({"num_round": "2"}, {"train": ("text/csv", ",2\n3,4\n")}, "channel 'train': 1 row(s) have no label in column 0"),
    ({"num_round": "2", "sagemaker_program": "train.py"}, {"train": ("text/csv", "1,2\n")},
     "script mode (sagemaker_program) is not supported"),
])
def test_problems_are_written_to_the_failure_file(tmp_path, monkeypatch, hyperparameters, channels, message):
    base = _layout(tmp_path, monkeypatch, hyperparameters, channels)
    assert xgboost_algorithm.main(["prog", "train"]) == 1
    failure = (base / "output" / "failure").read_text()
    assert failure.startswith("AlgorithmError: ") and message in failure


def test_the_model_loader_refuses_a_directory_without_a_model(tmp_path):
    (tmp_path / ".hidden").write_text("x")
    with pytest.raises(xgboost_algorithm.AlgorithmError, match="no model file"):
        xgboost_algorithm.load_booster(tmp_path)
    (tmp_path / "model.bin").write_bytes(np.arange(10, dtype=np.uint8).tobytes())
    with pytest.raises(xgboost_algorithm.AlgorithmError, match="'model.bin' is not an XGBoost model"):
        xgboost_algorithm.load_booster(tmp_path)


def _classification_csv(rows: int, classes: int, seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 3))
    labels = np.digitize(features[:, 0] + 0.5 * features[:, 1] + rng.normal(0, 0.5, rows),
                         np.linspace(-1, 1, classes - 1)) if classes > 2 else (features[:, 0] > 0).astype(int)
    text = "\n".join(",".join([str(int(label)), *map(str, row)]) for label, row in zip(labels, features, strict=True))
    text += "\n"
    return text, labels, features


def _last_round(capsys) -> dict[str, float]:
    last = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")][-1]
    return {name: float(value) for name, value in (part.split(":") for part in last.split("\t")[1:])}


def test_binary_logistic_reports_the_container_s_classification_metrics(tmp_path, monkeypatch, capsys):
    from sklearn import metrics as sk

    train, _, _ = _classification_csv(300, 2, seed=1)
    validation, labels, features = _classification_csv(120, 2, seed=2)
    base = _layout(tmp_path, monkeypatch, {"num_round": "5", "objective": "binary:logistic",
                                           "eval_metric": "logloss,f1_binary", "_tuning_objective_metric":
                                           "validation:accuracy"},
                   {"train": ("text/csv", train), "validation": ("text/csv", validation)})
    assert xgboost_algorithm.main(["prog", "train"]) == 0
    reported = _last_round(capsys)
    assert {"validation-logloss", "validation-f1_binary", "validation-accuracy"} <= set(reported)
    import xgboost
    probability = xgboost_algorithm.load_booster(base / "model").predict(xgboost.DMatrix(features))
    decided = (probability > 0.5).astype(int)  # the container's rule: margin > 0
    assert reported["validation-f1_binary"] == pytest.approx(sk.f1_score(labels, decided), abs=1e-5)
    assert reported["validation-accuracy"] == pytest.approx(sk.accuracy_score(labels, decided), abs=1e-5)


def test_multi_softprob_reports_macro_f1_and_mlogloss(tmp_path, monkeypatch, capsys):
    from sklearn import metrics as sk

    train, _, _ = _classification_csv(300, 3, seed=3)
    validation, labels, features = _classification_csv(120, 3, seed=4)
    base = _layout(tmp_path, monkeypatch, {"num_round": "4", "objective": "multi:softprob", "num_class": "3",
                                           "eval_metric": "mlogloss",
                                           "_tuning_objective_metric": "validation:f1_macro"},
                   {"train": ("text/csv", train), "validation": ("text/csv", validation)})
    assert xgboost_algorithm.main(["prog", "train"]) == 0
    reported = _last_round(capsys)
    import xgboost
    probabilities = xgboost_algorithm.load_booster(base / "model").predict(xgboost.DMatrix(features))
    assert probabilities.shape == (120, 3)
    assert reported["validation-mlogloss"] == pytest.approx(sk.log_loss(labels, probabilities), abs=1e-5)
    assert reported["validation-f1_macro"] == pytest.approx(
        sk.f1_score(labels, probabilities.argmax(axis=1), average="macro"), abs=1e-5)


# ------------------------------------------------------------------------------------ model format per image version


def test_the_model_format_follows_the_image_version():
    """Images up to 1.2-x pickle the Booster, 1.3-1 onwards write xgboost's own format (algorithm_mode/train.py)."""
    assert [xgboost_algorithm.saves_pickle(xgboost_algorithm.xgboost_version(v))
            for v in ("0.90", "1.0.2", "1.2.0", "1.3.1", "1.7.4", "3.0.5")] == [True, True, True, False, False, False]


def test_an_image_before_1_3_pickles_the_booster_and_serving_reads_it(tmp_path, monkeypatch):
    train, _ = regression_csv(60, seed=7)
    base = _layout(tmp_path, monkeypatch, {"num_round": "3"}, {"train": ("text/csv", train)})
    monkeypatch.setattr(xgboost_algorithm, "xgboost_version", lambda: (1, 2))
    assert xgboost_algorithm.main(["prog", "train"]) == 0
    raw = (base / "model" / "xgboost-model").read_bytes()
    assert raw[:1] == b"\x80" and raw[1] == 4  # pickle protocol 4, as the 1.2-x images write it
    assert xgboost_algorithm.load_booster(base / "model").num_boosted_rounds() == 3


def test_a_newer_xgboost_saves_its_own_format_under_the_container_s_name(tmp_path, monkeypatch):
    """The host's xgboost (3.x, as in sagemaker-xgboost 3.0-5) writes UBJSON for a name without extension; the
    1.7-1 image's legacy binary format is checked where that image's runtime trains (test_models)."""
    train, _ = regression_csv(60, seed=8)
    base = _layout(tmp_path, monkeypatch, {"num_round": "2"}, {"train": ("text/csv", train)})
    assert xgboost_algorithm.main(["prog", "train"]) == 0
    raw = (base / "model" / "xgboost-model").read_bytes()
    assert raw[:1] == b"{" and not raw.startswith(b'{"')  # UBJSON: an object marker, not JSON text
    assert xgboost_algorithm.load_booster(base / "model").num_boosted_rounds() == 2
