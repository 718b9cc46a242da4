"""The built-in XGBoost algorithm (algorithm mode of the `sagemaker-xgboost` image) as a local program.

`python -m batchops_local.runner.xgboost_algorithm train` reads the SageMaker training layout below
`SAGEMAKER_BASE_DIR` (default `/opt/ml`), exactly as the container does (aws-contracts §8.3):

- `input/config/hyperparameters.json` (all values strings; `num_round` required),
- `input/config/inputdataconfig.json` (channel content types), data in `input/data/<channel>/`,
  `train` required, `validation` optional; CSV without header, label in column 0,
- prints one line per round: `[<i>]\\ttrain-<metric>:<v>\\tvalidation-<metric>:<v>`,
- writes `model/xgboost-model`; on a problem writes `output/failure` and exits 1.

The serving side (model loading, CSV prediction) lives here too so training and transform agree on formats.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

MODEL_FILE = "xgboost-model"
CSV_CONTENT_TYPES = ("csv", "text/csv")
# Hyperparameters the container consumes itself instead of passing them to XGBoost.
_CONTAINER_HYPERPARAMETERS = {"num_round", "early_stopping_rounds", "_tuning_objective_metric", "csv_weights",
                              "save_model_on_termination", "_kfold", "_num_cv_round"}


class AlgorithmError(Exception):
    """A user-facing training problem (bad hyperparameter, bad data); written to output/failure."""


def base_dir() -> Path:
    return Path(os.environ.get("SAGEMAKER_BASE_DIR") or "/opt/ml")


def is_csv_content_type(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() in CSV_CONTENT_TYPES


# ------------------------------------------------------------------------------------------- training


def load_channel(directory: Path, channel: str, content_type: str | None) -> tuple[np.ndarray, np.ndarray]:
    """All files of a CSV channel (sorted, recursive) -> (columns after the label, labels); label is column 0."""
    if not is_csv_content_type(content_type):
        raise AlgorithmError(f"channel '{channel}': content type '{content_type or 'text/libsvm (default)'}' is "
                             "not supported by the local algorithm; set ContentType 'text/csv'")
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise AlgorithmError(f"channel '{channel}': no files in {directory}")
    frames = []
    for path in files:
        delimiter = _sniff_delimiter(path)
        try:
            frame = pd.read_csv(path, header=None, sep=delimiter, dtype=np.float32, engine="c")
        except pd.errors.EmptyDataError:
            continue
        except ValueError as exc:
            raise AlgorithmError(f"channel '{channel}': file '{path.name}' is not numeric CSV without a header "
                                 f"(label first): {exc}") from None
        frames.append(frame)
    if not frames:
        raise AlgorithmError(f"channel '{channel}': all files are empty")
    widths = {frame.shape[1] for frame in frames}
    if len(widths) > 1:
        raise AlgorithmError(f"channel '{channel}': files have different column counts {sorted(widths)}")
    data = pd.concat(frames, ignore_index=True).to_numpy()
    if data.shape[1] < 2:
        raise AlgorithmError(f"channel '{channel}': need a label column and at least one feature column")
    labels = data[:, 0]
    if np.isnan(labels).any():
        raise AlgorithmError(f"channel '{channel}': {int(np.isnan(labels).sum())} row(s) have no label in column 0")
    return data[:, 1:], labels


def _sniff_delimiter(path: Path) -> str:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
    for candidate in (",", "\t", ";", "|"):
        if candidate in first:
            return candidate
    return ","


def split_hyperparameters(hyperparameters: dict[str, str]) -> tuple[dict[str, Any], int, int | None]:
    if "num_round" not in hyperparameters:
        raise AlgorithmError("hyperparameter 'num_round' is required")
    try:
        num_round = int(hyperparameters["num_round"])
        stopping = hyperparameters.get("early_stopping_rounds")
        early_stopping = int(stopping) if stopping not in (None, "") else None
    except ValueError as exc:
        raise AlgorithmError(f"hyperparameter must be a whole number: {exc}") from None
    if num_round < 1:
        raise AlgorithmError(f"num_round must be at least 1, found {num_round}")
    if "sagemaker_program" in hyperparameters:
        raise AlgorithmError("script mode (sagemaker_program) is not supported by the local algorithm")
    params: dict[str, Any] = {k: v for k, v in hyperparameters.items() if k not in _CONTAINER_HYPERPARAMETERS}
    params.pop("eval_metric", None)
    # The container's own metrics go to a custom metric function, the rest to XGBoost (train_utils.py
    # get_eval_metrics_and_feval).
    native = [m for m in requested_metrics(hyperparameters) if m not in CONTAINER_METRICS]
    if native:
        params["eval_metric"] = native
    return params, num_round, early_stopping


def requested_metrics(hyperparameters: dict[str, str]) -> list[str]:
    """eval_metric may list several metrics ("rmse,mae"); a tuning objective's metric is always evaluated."""
    metrics = [m.strip() for m in str(hyperparameters.get("eval_metric", "")).split(",") if m.strip()]
    objective = hyperparameters.get("_tuning_objective_metric", "")
    if objective:
        metric = objective.split(":", 1)[-1]
        if metric not in metrics:
            metrics.append(metric)
    return metrics


# ------------------------------------------------------------------------------------------- container metrics
# The metrics the container computes itself on class labels (aws/sagemaker-xgboost-container, branch 1.7-1,
# src/sagemaker_xgboost_container/metrics/custom_metrics.py: scikit-learn scores of the label "margin > 0" for
# binary models, i.e. probability > 0.5, and the most probable class for multiclass ones; "f1" is macro-averaged,
# the positive class's f1 is "f1_binary"). The image's runtime here has no scikit-learn: the same scores in numpy.


def _confusion(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    classes = int(max(labels.max(initial=0), predicted.max(initial=0))) + 1
    cells = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(cells, (labels, predicted), 1)
    return cells


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def _per_class(labels: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, f1, present) per class; present: the class is a label or a prediction (scikit-learn
    averages over those)."""
    cells = _confusion(labels, predicted)
    hits = np.diag(cells).astype(np.float64)
    predicted_count, support = cells.sum(axis=0), cells.sum(axis=1)
    return (_ratio(hits, predicted_count), _ratio(hits, support), _ratio(2 * hits, predicted_count + support),
            (predicted_count + support) > 0)


def _positive_class(scores: np.ndarray) -> float:
    return float(scores[1]) if len(scores) > 1 else 0.0


def _macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    _, _, f1, present = _per_class(labels, predicted)
    return float(np.mean(f1[present]))


CONTAINER_METRICS: dict[str, Any] = {
    "accuracy": lambda y, p: float(np.mean(y == p)),
    "f1": _macro_f1,
    "f1_macro": _macro_f1,
    "f1_binary": lambda y, p: _positive_class(_per_class(y, p)[2]),
    "precision": lambda y, p: _positive_class(_per_class(y, p)[0]),
    "recall": lambda y, p: _positive_class(_per_class(y, p)[1]),
}


def container_metric(names: list[str]):
    """XGBoost's `custom_metric`: each named container metric on the predicted class labels. For the built-in
    objectives XGBoost passes probabilities: binary:logistic one per row, multi:softprob one row per record."""
    def evaluate(predictions: np.ndarray, matrix: xgb.DMatrix) -> list[tuple[str, float]]:
        labels = matrix.get_label().astype(np.int64)
        scores = predictions.reshape(len(labels), -1)
        predicted = (scores[:, 0] > 0.5).astype(np.int64) if scores.shape[1] == 1 else np.argmax(scores, axis=1)
        return [(name, CONTAINER_METRICS[name](labels, predicted)) for name in names]
    return evaluate


class _RoundPrinter(xgb.callback.TrainingCallback):
    """The container's per-round log line; tuning and FinalMetricDataList parse it."""

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        parts = [f"[{epoch}]"]
        for data, metrics in evals_log.items():
            for metric, values in metrics.items():
                parts.append(f"{data}-{metric}:{values[-1]:.5f}")
        print("\t".join(parts), flush=True)
        return False


def train(base: Path) -> None:
    config = base / "input" / "config"
    try:
        hyperparameters = json.loads((config / "hyperparameters.json").read_text(encoding="utf-8"))
        channels = json.loads((config / "inputdataconfig.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AlgorithmError(f"cannot read the training configuration: {exc}") from None
    if "train" not in channels:
        raise AlgorithmError(f"channel 'train' is required, found channels: {', '.join(channels) or 'none'}")
    unknown = sorted(set(channels) - {"train", "validation"})
    if unknown:
        raise AlgorithmError(f"unsupported channel(s) {', '.join(unknown)}: the algorithm takes train and "
                             "validation")
    params, num_round, early_stopping = split_hyperparameters({k: str(v) for k, v in hyperparameters.items()})
    custom = [m for m in requested_metrics({k: str(v) for k, v in hyperparameters.items()}) if m in CONTAINER_METRICS]
    data_dir = base / "input" / "data"
    weighted = str(hyperparameters.get("csv_weights", "0")) == "1"
    watchlist = []
    for channel in ("train", "validation"):
        if channel not in channels:
            continue
        columns, labels = load_channel(data_dir / channel, channel, channels[channel].get("ContentType"))
        if weighted and columns.shape[1] < 2:
            raise AlgorithmError(f"channel '{channel}': csv_weights=1 needs a weight column after the label")
        # csv_weights=1: column 1 holds the instance weight, features follow it.
        matrix = xgb.DMatrix(columns[:, 1:], label=labels, weight=columns[:, 0]) if weighted else \
            xgb.DMatrix(columns, label=labels)
        if watchlist and matrix.num_col() != watchlist[0][0].num_col():
            raise AlgorithmError(f"{channel} has {matrix.num_col()} feature columns, train has "
                                 f"{watchlist[0][0].num_col()}")
        watchlist.append((matrix, channel))
    if early_stopping and len(watchlist) < 2:
        raise AlgorithmError("early_stopping_rounds needs a validation channel")
    try:
        booster = xgb.train(params, watchlist[0][0], num_boost_round=num_round, evals=watchlist,
                            early_stopping_rounds=early_stopping, verbose_eval=False, callbacks=[_RoundPrinter()],
                            custom_metric=container_metric(custom) if custom else None)
    except xgb.core.XGBoostError as exc:
        raise AlgorithmError(f"XGBoost rejected the hyperparameters or data: {str(exc).strip().splitlines()[0]}") \
            from None
    model_dir = base / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    save_model(booster, model_dir / MODEL_FILE)


# The container's model format follows its version (aws/sagemaker-xgboost-container, algorithm_mode/train.py):
# branches 0.90-x to 1.2-x pickle the Booster into `xgboost-model` (1.2-x with protocol 4), 1.3-1 onwards call
# `bst.save_model(<model_dir>/xgboost-model)`, whose format the image's xgboost picks for a name without extension:
# its legacy binary format up to 2.0 (1.7-1 writes `binf...`), UBJSON from 2.1 (3.0-5). This program runs in the
# image's runtime, whose xgboost is the image's, so its version decides as the image's code does.
PICKLED_BEFORE = (1, 3)


def xgboost_version(text: str = xgb.__version__) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def saves_pickle(version: tuple[int, int]) -> bool:
    return version < PICKLED_BEFORE


def save_model(booster: xgb.Booster, path: Path) -> None:
    if saves_pickle(xgboost_version()):
        with path.open("wb") as handle:
            pickle.dump(booster, handle, protocol=4)
    else:
        booster.save_model(str(path))


# ------------------------------------------------------------------------------------------- serving


def load_booster(model_dir: Path) -> xgb.Booster:
    """The container's rule: the first non-dot file in the model directory, pickle first, then a saved model."""
    candidates = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    if not candidates:
        raise AlgorithmError(f"no model file in {model_dir}")
    data = candidates[0].read_bytes()
    if data[:1] == b"\x80":  # pickle protocol marker
        model = pickle.loads(data)
        return model.get_booster() if hasattr(model, "get_booster") else model
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgb.core.XGBoostError as exc:
        raise AlgorithmError(f"'{candidates[0].name}' is not an XGBoost model: {str(exc).splitlines()[0]}") from None
    return booster


def extract_model(archive: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(target, filter="data")
    except tarfile.TarError as exc:
        raise AlgorithmError(f"model artefact {archive.name} is not a tar archive: {exc}") from None
    return target


def main(argv: list[str]) -> int:
    if argv[1:] != ["train"]:
        print("usage: python -m batchops_local.runner.xgboost_algorithm train", file=sys.stderr)
        return 2
    base = base_dir()
    try:
        train(base)
    except AlgorithmError as exc:
        (base / "output").mkdir(parents=True, exist_ok=True)
        (base / "output" / "failure").write_text(f"AlgorithmError: {exc}", encoding="utf-8")
        print(f"AlgorithmError: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
