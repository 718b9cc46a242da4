"""label_predictions.py: the transform's predictions with people's labels and the class probabilities."""

from __future__ import annotations

import json

from step_script_support import Job, read_csv

SCHEMA = {"header": True, "record_key": "record_id", "target": "diagnosis", "classes": ["benign", "malignant"],
          "columns": [{"name": "record_id", "type": "categorical"}, {"name": "radius", "type": "float"},
                      {"name": "diagnosis", "type": "categorical"}]}
THREE = {**SCHEMA, "classes": ["benign", "borderline", "malignant"]}


def job_with(tmp_path, schema: dict, lines: list[str]) -> Job:
    job = Job(tmp_path / "job", schema)
    out = job.input("predictions") / "2026-12" / "batch.csv.out"
    out.parent.mkdir(parents=True)
    out.write_text("\n".join(lines) + "\n")
    return job


def arguments(schema: dict, problem: str, threshold: str = "0.5") -> list[str]:
    return ["--problem-type", problem, "--classes", json.dumps(schema["classes"]), "--decision-threshold", threshold]


def test_binary_predictions_get_the_label_by_the_decision_threshold(tmp_path):
    job = job_with(tmp_path, SCHEMA, ["t1,0.91", "t2,0.3", "t3,0.4"])
    result = job.run("label_predictions.py", *arguments(SCHEMA, "binary", "0.4"))
    assert result.returncode == 0, result.stderr
    rows = read_csv(job.output("predictions") / "2026-12" / "batch.csv")
    assert rows == [["record_id", "diagnosis", "probability_malignant"], ["t1", "malignant", "0.91"],
                    ["t2", "benign", "0.3"], ["t3", "malignant", "0.4"]]


def test_multiclass_predictions_get_the_most_probable_label_and_every_probability(tmp_path):
    job = job_with(tmp_path, THREE, ["t1,[0.1, 0.7, 0.2]", "t2,[0.8, 0.1, 0.1]"])
    result = job.run("label_predictions.py", *arguments(THREE, "multiclass"))
    assert result.returncode == 0, result.stderr
    rows = read_csv(job.output("predictions") / "2026-12" / "batch.csv")
    assert rows[0] == ["record_id", "diagnosis", "probability_benign", "probability_borderline",
                       "probability_malignant"]
    assert rows[1:] == [["t1", "borderline", "0.1", "0.7", "0.2"], ["t2", "benign", "0.8", "0.1", "0.1"]]


def test_malformed_predictions_and_other_classes_fail_clearly(tmp_path):
    job = job_with(tmp_path, THREE, ["t1,0.7"])
    result = job.run("label_predictions.py", *arguments(THREE, "multiclass"))
    assert result.returncode == 1
    assert "2026-12/batch.csv.out line 1: expected 'key,[3 class probabilities]', found 2 fields" in result.message
    other = job_with(tmp_path / "other", SCHEMA, ["t1,0.7"])
    result = other.run("label_predictions.py", *arguments(THREE, "multiclass"))
    assert result.returncode == 1 and "differ from the dataset schema's ['benign', 'malignant']" in result.message
