"""The plain script of bench_large_batch.py: the inference pipeline's ML work as one pandas + xgboost script.

    <python> benchmarks/plain_inference.py BATCH TRUTH MODEL ARTEFACT OUTPUT RECORD_KEY TARGET

Reads the batch, applies the model version's preprocessing (its artefact), scores with its model (one thread),
writes `key,prediction`, joins the ground truth by key and computes the RMSE; prints one JSON line (read time,
total time, rmse, peak memory). Standard library, numpy, pandas and xgboost only: it runs in the interpreter of the
image that serves the model (Python 3.9, xgboost 1.7), which reads the model in the format it was trained in.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(batch: Path, truth: Path, model: Path, artefact: Path, output: Path, record_key: str, target: str) -> None:
    import numpy as np
    import pandas as pd
    import xgboost

    started = time.perf_counter()
    frame = pd.read_csv(batch)
    read = time.perf_counter() - started
    spec = json.loads(artefact.read_text())
    columns = []
    for feature in spec["features"]:
        values = frame[feature["name"]]
        if feature["type"] == "categorical":
            columns.extend((values == category).astype(float) for category in feature["categories"])
        else:
            columns.append(values.fillna(feature["median"]).astype(float))
    matrix = np.column_stack(columns)
    booster = xgboost.Booster(params={"nthread": 1})
    booster.load_model(str(model))
    predictions = booster.inplace_predict(matrix.astype(np.float32))
    pd.DataFrame({record_key: frame[record_key], "prediction": predictions}).to_csv(output, index=False, header=False)
    labels = pd.read_csv(truth).set_index(record_key)[target]
    actual = labels.loc[frame[record_key]].to_numpy(dtype=float)
    rmse = float(np.sqrt(np.mean((predictions - actual) ** 2)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"read": read, "seconds": time.perf_counter() - started, "rmse": rmse, "peak_mb": peak}))


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:6]), *sys.argv[6:8])
