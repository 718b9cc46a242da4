"""Evaluate step (XGBoost image): score the test split with the trained model and write `evaluation.json`.

`evaluation.json` = `{"regression_metrics": {"mse"|"rmse"|"mae"|"r2": {"value", "standard_deviation"}}}`.
Loads model files of the built-in algorithm from xgboost 1.7 (binary or pickled) and 3.x (UBJSON/JSON).
"""

from __future__ import annotations

import os
import pickle
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

# The shared helpers: beside this file locally, the processing input `steplib` in a container.
sys.path[:0] = [str(Path(__file__).resolve().parent),
                os.path.join(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"), "processing", "input", "steplib")]
import steplib  # noqa: E402

StepFailure = steplib.StepFailure


def load_booster(archive: Path):
    """The first non-hidden file of model.tar.gz, tried as a pickle, then as a native model (as the container does)."""
    import xgboost

    with tempfile.TemporaryDirectory(prefix="model-") as workdir:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and not Path(m.name).name.startswith(".")
                       and ".." not in Path(m.name).parts and not Path(m.name).is_absolute()]
            if not members:
                raise StepFailure(f"{archive.name} holds no model file")
            tar.extractall(workdir, members=members)  # members filtered above
        model_file = Path(workdir) / sorted(members, key=lambda m: m.name)[0].name
        try:
            with model_file.open("rb") as handle:
                booster = pickle.load(handle)  # the model this pipeline's own training step wrote
            if isinstance(booster, xgboost.Booster):
                return booster
        except Exception:  # not a pickle: a native model file
            pass
        booster = xgboost.Booster()
        try:
            booster.load_model(str(model_file))
        except xgboost.core.XGBoostError as error:
            raise StepFailure(f"cannot load the model {model_file.name} from {archive.name}: {error}") from None
        return booster


def read_test_split(directory: Path):
    files = steplib.list_files(directory, ".csv")
    if not files:
        raise StepFailure(f"no test split (*.csv) under {directory}")
    parts = [np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64) for path in files]
    data = np.vstack(parts)
    if data.shape[0] == 0 or data.shape[1] < 2:
        raise StepFailure(f"the test split under {directory} has no rows or no feature columns")
    return data[:, 0], data[:, 1:]


def main(argv: list[str] | None = None) -> int:
    import xgboost

    archives = steplib.list_files(steplib.processing_path("input", "model"), ".tar.gz")
    if len(archives) != 1:
        raise StepFailure(f"expected one model.tar.gz under {steplib.processing_path('input', 'model')}, "
                          f"found {len(archives)}")
    booster = load_booster(archives[0])
    actual, features = read_test_split(steplib.processing_path("input", "test"))
    predicted = booster.predict(xgboost.DMatrix(features))
    metrics = steplib.regression_metrics(actual, predicted)
    steplib.write_json(steplib.processing_path("output", "evaluation", "evaluation.json"),
                       {"regression_metrics": metrics})
    summary = ", ".join(f"{name} {values['value']:.4f}" for name, values in metrics.items())
    print(f"evaluated {len(actual)} test rows: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(steplib.run_step(main))
