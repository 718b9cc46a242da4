"""Acceptance benchmark of binary classification: the pipeline's path against a plain xgboost script.

Data: scikit-learn's bundled breast-cancer data set (569 tumours, 30 measurements; ships inside the package, no
download), labelled `benign` / `malignant` as people write them. Configuration: the shipped example
env_files/classification.tfvars (gate metric f1 of `malignant`, its hyperparameters, split fractions and seed).

The pipeline's path, each part run as the pipeline runs it, in its image's runtime:
1. preprocess.py (train mode): validation, the seeded train/validation/test split, the label encoding;
2. the built-in XGBoost algorithm's local emulation (xgboost_algorithm.py train) on train + validation;
3. evaluate.py on the test split: the gated metric (result.json).
The plain script trains xgboost directly on the same split files with the same hyperparameters and scores the
test split with scikit-learn. Prints both numbers; exits 1 when they differ by more than 0.02.

    python benchmarks/bench_classification.py
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from batchops_core import contracts  # noqa: E402
from batchops_core.settings import load_settings  # noqa: E402
from batchops_local.runner import xgboost_algorithm  # noqa: E402
from batchops_local.runner.runtimes import SKLEARN_IMAGE, XGBOOST_IMAGE, interpreter_for  # noqa: E402
from pipelines.common.code import core_modules  # noqa: E402
from pipelines.common.context import SKLEARN_FRAMEWORK_VERSION  # noqa: E402
from pipelines.common.processing import gate_arguments  # noqa: E402

SCRIPTS = ROOT / "pipelines" / "scripts"
TOLERANCE = 0.02


def write_dataset(path: Path, positive_label: str, negative_label: str) -> list[dict[str, str]]:
    """The breast-cancer rows as a CSV with a header; scikit-learn's target 0 is malignant, 1 benign."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = [name.replace(" ", "_") for name in bunch.feature_names]
    columns = [{"name": "record_id", "type": "categorical"}, *({"name": n, "type": "float"} for n in names),
               {"name": "diagnosis", "type": "categorical"}]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([c["name"] for c in columns])
        for index, (row, target) in enumerate(zip(bunch.data, bunch.target)):  # noqa: B905
            label = positive_label if target == 0 else negative_label
            writer.writerow([f"t{index:04d}", *(repr(float(v)) for v in row), label])
    return columns


def stage_processing(base: Path, schema: dict) -> dict[str, str]:
    """The processing inputs every step script gets: the dataset schema and the shipped core modules."""
    schema_file = base / "processing" / "input" / contracts.DATASET_SCHEMA_INPUT / contracts.DATASET_SCHEMA_FILE
    schema_file.parent.mkdir(parents=True, exist_ok=True)
    schema_file.write_text(json.dumps(schema), encoding="utf-8")
    for module in core_modules():
        target = base / "processing" / "input" / "core" / module.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(module.path.read_bytes())
    return {**os.environ, "SAGEMAKER_BASE_DIR": str(base)}


def run(command: list[str], env: dict[str, str], what: str) -> str:
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if completed.returncode != 0:
        raise SystemExit(f"{what} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    return completed.stdout


def read_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(path, delimiter=",", ndmin=2)
    return data[:, 0], data[:, 1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="classification", help="env file whose model and xgboost settings apply")
    args = parser.parse_args(argv)
    settings = load_settings(args.env)
    model = settings.model
    negative, positive = model.classes
    work = Path(tempfile.mkdtemp(prefix="bench-classification-"))
    hyperparameters = settings.training_hyperparameters
    sklearn_image = f"{SKLEARN_IMAGE}:{SKLEARN_FRAMEWORK_VERSION}"
    xgboost_image = f"{XGBOOST_IMAGE}:{settings.xgboost.framework_version}"

    # 1. preprocess (scikit-learn image)
    pre = work / "preprocess"
    columns = write_dataset(pre / "processing" / "input" / "data" / "breast_cancer.csv", positive, negative)
    schema = {"header": True, "record_key": "record_id", "target": "diagnosis", "classes": model.classes,
              "columns": columns}
    run([interpreter_for(sklearn_image, what="preprocess"), str(SCRIPTS / "preprocess.py"), "--mode", "train",
         "--validation-fraction", str(model.validation_fraction), "--test-fraction", str(model.test_fraction),
         "--seed", str(model.split_seed)], stage_processing(pre, schema), "preprocess")
    splits = {name: pre / "processing" / "output" / name / f"{name}.csv" for name in ("train", "validation", "test")}

    # 2. the built-in algorithm's emulation (XGBoost image)
    training = work / "training"
    config = training / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters), encoding="utf-8")
    (config / "inputdataconfig.json").write_text(json.dumps({n: {"ContentType": "text/csv"}
                                                             for n in ("train", "validation")}), encoding="utf-8")
    for name in ("train", "validation"):
        channel = training / "input" / "data" / name
        channel.mkdir(parents=True)
        (channel / f"{name}.csv").write_bytes(splits[name].read_bytes())
    log = run([interpreter_for(xgboost_image, what="training"), xgboost_algorithm.__file__, "train"],
              {**os.environ, "SAGEMAKER_BASE_DIR": str(training)}, "training")
    last_round = [line for line in log.splitlines() if line.startswith("[")][-1]

    # 3. evaluate (XGBoost image)
    evaluation = work / "evaluate"
    env = stage_processing(evaluation, schema)
    model_input = evaluation / "processing" / "input" / "model"
    model_input.mkdir(parents=True)
    with tarfile.open(model_input / "model.tar.gz", "w:gz") as archive:
        archive.add(training / "model" / xgboost_algorithm.MODEL_FILE, arcname=xgboost_algorithm.MODEL_FILE)
    test_input = evaluation / "processing" / "input" / "test"
    test_input.mkdir(parents=True)
    (test_input / "test.csv").write_bytes(splits["test"].read_bytes())
    run([interpreter_for(xgboost_image, what="evaluate"), str(SCRIPTS / "evaluate.py"), *gate_arguments(model),
         "--threshold", str(model.registration_threshold)], env, "evaluate")
    result = json.loads((evaluation / "processing" / "output" / contracts.STEP_RESULT_OUTPUT /
                         contracts.OutputFile.STEP_RESULT).read_text(encoding="utf-8"))
    pipeline_value = float(result["value"])

    # The plain script: xgboost and scikit-learn on the same split files, same hyperparameters.
    import xgboost
    from sklearn.metrics import f1_score

    train_labels, train_features = read_split(splits["train"])
    test_labels, test_features = read_split(splits["test"])
    params = {k: v for k, v in hyperparameters.items() if k not in ("num_round", "eval_metric")}
    booster = xgboost.train(params, xgboost.DMatrix(train_features, label=train_labels),
                            num_boost_round=int(hyperparameters["num_round"]))
    probability = booster.predict(xgboost.DMatrix(test_features))
    plain_value = float(f1_score(test_labels, (probability >= model.decision_threshold).astype(int)))

    difference = abs(pipeline_value - plain_value)
    print(f"data: breast cancer, {sum(1 for _ in splits['train'].open())} train / "
          f"{sum(1 for _ in splits['validation'].open())} validation / {len(test_labels)} test rows "
          f"(seed {model.split_seed}), positive class '{positive}'")
    image_xgboost = run([interpreter_for(xgboost_image, what="training"), "-c",
                         "import sys, xgboost; print(sys.version.split()[0], xgboost.__version__)"], dict(os.environ),
                        "version check").split()
    print(f"emulated training (Python {image_xgboost[0]}, xgboost {image_xgboost[1]} of {xgboost_image}), last "
          f"round: {last_round}")
    print(f"pipeline path (preprocess + built-in XGBoost emulation + Evaluate): {result['metric']} = "
          f"{pipeline_value:.4f} ({result['outcome']}, gate {result['comparison']} {result['threshold']})")
    print(f"plain xgboost {xgboost.__version__} script on the same split:          f1 = {plain_value:.4f}")
    print(f"difference {difference:.4f} (tolerance {TOLERANCE}): {'ok' if difference <= TOLERANCE else 'TOO LARGE'}")
    print(f"work directory: {work}")
    return 0 if difference <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
