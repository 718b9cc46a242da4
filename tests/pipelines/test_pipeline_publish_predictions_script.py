"""PublishPredictions' results file (publish_predictions.write_results): a regression model's `.out` lines, or a
classification model's labelled predictions (LabelPredictions' CSV files) with their label and probability
columns, under one header that ends with the model version."""

from __future__ import annotations

import pytest
from step_script_support import load_script

publish = load_script("publish_predictions.py")


def _read(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_transform_output_is_published_with_the_prediction_and_version(tmp_path):
    source = tmp_path / "predictions"
    (source / "part-1.csv.gz.out").parent.mkdir(parents=True)
    (source / "part-1.csv.gz.out").write_text("a,1.5\nb,2.5\n")
    (source / "part-2.csv.gz.out").write_text("c,3.5\n")
    rows = publish.write_results(source, tmp_path / "out.csv", "record_id", "7", labelled=False)
    assert rows == 3
    assert _read(tmp_path / "out.csv") == ["record_id,prediction,model_package_version", "a,1.5,7", "b,2.5,7",
                                           "c,3.5,7"]


def test_labelled_predictions_are_published_with_their_label_and_probability_columns(tmp_path):
    source = tmp_path / "labelled"
    source.mkdir()
    header = "record_id,diagnosis,probability_malignant\n"
    (source / "part-1.csv").write_text(header + "a,malignant,0.91\nb,benign,0.12\n")
    (source / "part-2.csv").write_text(header + "c,benign,0.4\n")
    rows = publish.write_results(source, tmp_path / "out.csv", "record_id", "3", labelled=True)
    assert rows == 3
    assert _read(tmp_path / "out.csv") == [
        "record_id,diagnosis,probability_malignant,model_package_version",
        "a,malignant,0.91,3", "b,benign,0.12,3", "c,benign,0.4,3"]


def test_labelled_files_that_disagree_on_their_columns_are_refused(tmp_path):
    source = tmp_path / "labelled"
    source.mkdir()
    (source / "part-1.csv").write_text("record_id,diagnosis,probability_malignant\na,benign,0.1\n")
    (source / "part-2.csv").write_text("record_id,diagnosis,probability_benign\nb,benign,0.9\n")
    with pytest.raises(publish.StepFailure, match="part-2.csv: header .* differs"):
        publish.write_results(source, tmp_path / "out.csv", "record_id", "3", labelled=True)
    (source / "part-2.csv").write_text("id,diagnosis,probability_malignant\nb,benign,0.9\n")
    with pytest.raises(publish.StepFailure, match="expected the record key 'record_id'"):
        publish.write_results(source, tmp_path / "out.csv", "record_id", "3", labelled=True)
