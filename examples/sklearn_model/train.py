"""A scikit-learn model in script mode: trained by the SageMaker scikit-learn container, served by its inference
toolkit. Runs in that image's runtime (Python 3.9, scikit-learn 1.2.1); see docs/bring-your-own-model.md.

Training (`python train.py --n_estimators 200 ...`, run by the container): the `train` and `validation` channels
hold headerless CSV files, the label in the first column and the encoded features after it (what the
pipelines' Preprocess step writes). The script fits a GradientBoostingRegressor, prints the validation metric
as the line `validation:rmse=<value>` (the MetricDefinitions regex that tuning reads), and saves the model to
SM_MODEL_DIR (packed into model.tar.gz by the container).

Serving (the same file, imported by the inference toolkit and by the Evaluate step): `model_fn` loads the model;
`predict_fn` scores the decoded rows. `input_fn` and `output_fn` are left to the toolkit's defaults (CSV rows in,
CSV lines out).
"""

import argparse
import glob
import os

import joblib
import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_squared_error

MODEL_FILE = "model.joblib"


def read_channel(directory):
    """(labels, features) of every CSV file in a channel directory."""
    files = sorted(glob.glob(os.path.join(directory, "*.csv")))
    if not files:
        raise FileNotFoundError(f"no CSV files in the channel directory {directory}")
    data = np.vstack([np.loadtxt(path, delimiter=",", ndmin=2) for path in files])
    return data[:, 0], data[:, 1:]


def parse_args():
    parser = argparse.ArgumentParser(description="Train a gradient-boosting regressor.")
    parser.add_argument("--n_estimators", type=int, default=200)
    parser.add_argument("--max_depth", type=int, default=3)
    parser.add_argument("--learning_rate", type=float, default=0.1)
    parser.add_argument("--subsample", type=float, default=1.0)
    parser.add_argument("--random_state", type=int, default=0)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    parser.add_argument("--validation",
                        default=os.environ.get("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"))
    return parser.parse_args()


def main():
    args = parse_args()
    train_labels, train_features = read_channel(args.train)
    validation_labels, validation_features = read_channel(args.validation)
    model = GradientBoostingRegressor(n_estimators=args.n_estimators, max_depth=args.max_depth,
                                      learning_rate=args.learning_rate, subsample=args.subsample,
                                      random_state=args.random_state)
    model.fit(train_features, train_labels)
    rmse = float(np.sqrt(mean_squared_error(validation_labels, model.predict(validation_features))))
    # The line the metric definition `validation:rmse=([-+0-9.eE]+)` matches (tuning's objective).
    print(f"validation:rmse={rmse:.6f}")
    os.makedirs(args.model_dir, exist_ok=True)
    joblib.dump(model, os.path.join(args.model_dir, MODEL_FILE))


def model_fn(model_dir):
    """The inference toolkit's model loader: the model this script saved."""
    return joblib.load(os.path.join(model_dir, MODEL_FILE))


def predict_fn(input_data, model):
    """One prediction per row of features."""
    return model.predict(np.asarray(input_data, dtype=np.float64))


if __name__ == "__main__":
    main()
