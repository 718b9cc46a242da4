"""Scale-out of the engine (partial_output / partials_source): each instance profiles its share of the files, one
more run merges the partial profiles into the reports a one-pass run writes: the same statistics (counts,
categories and distinct counts exactly, moments up to rounding, sketches within their rank error), the same
constraints and the same violations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from pipelines.scripts import data_quality as dq

RANK_ERROR = 0.01  # the KLL rank error bound test_merge.py uses (k = 2048)
FORMAT = json.dumps({"csv": {"header": True}})


def shard(files: list[Path], count: int, root: Path) -> list[Path]:
    """Round-robin shares of the files, one directory per instance (ShardedByS3Key as the runner deals it)."""
    shares = []
    for index in range(count):
        share = root / f"algo-{index + 1}" / "processing" / "input" / "data"
        share.mkdir(parents=True)
        for file in files[index::count]:
            (share / file.name).write_bytes(file.read_bytes())
        shares.append(share)
    return shares


def run_in_shards(tmp_path: Path, files: list[Path], count: int, env: dict[str, str]) -> tuple[Path, dict]:
    """Each instance's run writes its partial profile; the merging run writes the reports (as the two steps)."""
    partials = tmp_path / "partials"
    for index, share in enumerate(shard(files, count, tmp_path / "instances")):
        base = share.parents[2]
        (base / "config").mkdir()
        (base / "config" / "resourceconfig.json").write_text(json.dumps(
            {"current_host": f"algo-{index + 1}", "hosts": [f"algo-{n + 1}" for n in range(count)]}))
        summary = dq.run_analyzer({**env, "dataset_source": str(share), "output_path": str(tmp_path / "unused"),
                                   "partial_output": str(partials)}, base_dir=str(base))
        assert summary["mode"] == "partial"
    assert sorted(path.name for path in partials.iterdir()) == [f"algo-{n + 1}.json" for n in range(count)]
    assert not (tmp_path / "unused").exists()  # a shard writes its partial profile only
    merged = tmp_path / "merged"
    summary = dq.run_analyzer({**env, "partials_source": str(partials), "output_path": str(merged)})
    return merged, summary


def documents(directory: Path) -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def assert_statistics_match(merged: dict, whole: dict) -> None:
    assert merged["dataset"] == whole["dataset"]
    assert merged.get(dq.LABEL_DISTRIBUTION) == whole.get(dq.LABEL_DISTRIBUTION)
    assert [f["name"] for f in merged["features"]] == [f["name"] for f in whole["features"]]
    for got, want in zip(merged["features"], whole["features"]):  # noqa: B905 (same names above)
        assert got["inferred_type"] == want["inferred_type"], got["name"]
        if "string_statistics" in want:
            assert got["string_statistics"] == want["string_statistics"], got["name"]  # exact
            continue
        got, want = got["numerical_statistics"], want["numerical_statistics"]
        assert got["common"] == want["common"]
        assert (got["min"], got["max"]) == (want["min"], want["max"])
        for key in ("mean", "sum", "std_dev"):
            assert math.isclose(got[key], want[key], rel_tol=1e-9), key
        items = want["common"]["num_present"]
        got_cum = want_cum = 0.0
        for mine, theirs in zip(got["distribution"]["kll"]["buckets"],  # noqa: B905 (10 buckets each)
                                want["distribution"]["kll"]["buckets"]):
            got_cum, want_cum = got_cum + mine["count"], want_cum + theirs["count"]
            assert abs(got_cum - want_cum) <= RANK_ERROR * items


@pytest.fixture
def batch_files(make_frame, write_csv) -> list[Path]:
    """Five part files of one dataset (uneven sizes), with a label column."""
    frame = make_frame(50_000, 5)
    frame["label"] = (frame["count"] % 3).astype(str)
    bounds = [0, 14_000, 21_000, 33_000, 34_000, 50_000]
    return [write_csv(f"batch/part-{n:05d}.csv", frame.iloc[bounds[n]:bounds[n + 1]]) for n in range(5)]


@pytest.fixture
def baseline_dir(tmp_path, make_frame, write_csv) -> Path:
    """A baseline computed from a shifted dataset (so the check finds drift and domain violations)."""
    frame = make_frame(20_000, 9, shift=0.6, category_shares=(0.2, 0.3, 0.5))
    frame["label"] = (frame["count"] % 2).astype(str)
    frame.loc[:50, "colour"] = "purple"  # a value of the baseline's domain the batch does not have
    path = write_csv("baseline/baseline.csv", frame)
    out = tmp_path / "baseline-reports"
    dq.run_analyzer({"dataset_source": str(path), "output_path": str(out), "dataset_format": FORMAT,
                     "label_column": "label"})
    return out


def test_a_baseline_merged_from_three_instances_equals_the_one_pass_baseline(tmp_path, batch_files):
    env = {"dataset_format": FORMAT, "label_column": "label"}
    merged, summary = run_in_shards(tmp_path, batch_files, 3, env)
    whole = tmp_path / "whole"
    dq.run_analyzer({**env, "dataset_source": str(batch_files[0].parent), "output_path": str(whole)})
    got, want = documents(merged), documents(whole)
    assert set(got) == set(want) == {dq.STATISTICS_FILE, dq.CONSTRAINTS_FILE}
    assert_statistics_match(got[dq.STATISTICS_FILE], want[dq.STATISTICS_FILE])
    assert got[dq.CONSTRAINTS_FILE] == want[dq.CONSTRAINTS_FILE]
    assert summary["item_count"] == 50_000 and len(summary["files"]) == 5


def test_a_check_merged_from_two_instances_finds_the_one_pass_violations(tmp_path, batch_files, baseline_dir):
    env = {"dataset_format": FORMAT, "label_column": "label",
           "baseline_statistics": str(baseline_dir / dq.STATISTICS_FILE),
           "baseline_constraints": str(baseline_dir / dq.CONSTRAINTS_FILE)}
    merged, summary = run_in_shards(tmp_path, batch_files, 2, env)
    whole = tmp_path / "whole"
    one_pass = dq.run_analyzer({**env, "dataset_source": str(batch_files[0].parent), "output_path": str(whole)})
    got, want = documents(merged), documents(whole)
    assert want[dq.VIOLATIONS_FILE]["violations"], "the fixture is meant to violate the baseline"
    assert_statistics_match(got[dq.STATISTICS_FILE], want[dq.STATISTICS_FILE])
    assert got[dq.CONSTRAINTS_FILE] == want[dq.CONSTRAINTS_FILE]
    checks = [(v["feature_name"], v["constraint_check_type"]) for v in got[dq.VIOLATIONS_FILE]["violations"]]
    assert checks == [(v["feature_name"], v["constraint_check_type"])
                      for v in want[dq.VIOLATIONS_FILE]["violations"]]
    assert summary["violation_counts"] == one_pass["violation_counts"]
    assert summary["class_balance"] == one_pass["class_balance"]


def test_an_instance_without_files_profiles_nothing_and_the_merge_is_unchanged(tmp_path, batch_files):
    env = {"dataset_format": FORMAT}
    merged, summary = run_in_shards(tmp_path, batch_files[:1], 2, env)  # one object, two instances
    whole = tmp_path / "whole"
    dq.run_analyzer({**env, "dataset_source": str(batch_files[0]), "output_path": str(whole)})
    assert documents(merged) == documents(whole)  # one instance read everything: the same bytes
    assert summary["item_count"] == 14_000


def test_distinct_values_past_the_tracking_limit_merge_like_one_pass(tmp_path, write_csv, monkeypatch):
    monkeypatch.setattr(dq, "TRACKED_DISTINCT_LIMIT", 50)  # overflow in one share, not in the other
    many = pd.DataFrame({"code": [f"c{n}" for n in range(300)], "n": range(300)})
    few = pd.DataFrame({"code": ["c1", "c2"] * 20, "n": [1, 2] * 20})
    files = [write_csv("data/a.csv", many), write_csv("data/b.csv", few)]
    merged, _ = run_in_shards(tmp_path, files, 2, {"dataset_format": FORMAT})
    whole = tmp_path / "whole"
    dq.run_analyzer({"dataset_format": FORMAT, "dataset_source": str(files[0].parent), "output_path": str(whole)})
    got, want = documents(merged), documents(whole)
    assert got[dq.STATISTICS_FILE]["features"][0] == want[dq.STATISTICS_FILE]["features"][0]  # HLL: exact
    assert got[dq.CONSTRAINTS_FILE] == want[dq.CONSTRAINTS_FILE]


def test_bad_partial_profiles_are_refused_naming_the_file(tmp_path, batch_files, baseline_dir):
    partials = tmp_path / "partials"
    dq.run_analyzer({"dataset_format": FORMAT, "dataset_source": str(batch_files[0].parent),
                     "output_path": str(tmp_path / "o"), "partial_output": str(partials)})
    check_env = {"dataset_format": FORMAT, "partials_source": str(partials), "output_path": str(tmp_path / "m"),
                 "baseline_statistics": str(baseline_dir / dq.STATISTICS_FILE),
                 "baseline_constraints": str(baseline_dir / dq.CONSTRAINTS_FILE)}
    with pytest.raises(dq.DataQualityError, match=r"algo-1\.json: profiled for a baseline run, merged for a check"):
        dq.run_analyzer(check_env)
    with pytest.raises(dq.DataQualityError, match="profiled with label_column None, merged with 'label'"):
        dq.run_analyzer({**check_env, "label_column": "label", "baseline_statistics": "", "baseline_constraints": ""})
    (partials / "algo-2.json").write_text(json.dumps({"format": dq.PARTIAL_FORMAT, "mode": "baseline"}))
    with pytest.raises(dq.DataQualityError, match=r"algo-2\.json: malformed partial profile \(KeyError"):
        dq.run_analyzer({"dataset_format": FORMAT, "partials_source": str(partials),
                         "output_path": str(tmp_path / "m")})
    (partials / "algo-2.json").write_text("[]")
    with pytest.raises(dq.DataQualityError, match=r"algo-2\.json: not a partial profile of this engine"):
        dq.run_analyzer({"dataset_format": FORMAT, "partials_source": str(partials),
                         "output_path": str(tmp_path / "m")})
    (tmp_path / "none").mkdir()
    with pytest.raises(dq.DataQualityError, match="no partial profile"):
        dq.run_analyzer({"dataset_format": FORMAT, "partials_source": str(tmp_path / "none"),
                         "output_path": str(tmp_path / "m")})
    with pytest.raises(dq.DataQualityError, match="partial_output and partials_source: give one"):
        dq.run_analyzer({"dataset_source": str(batch_files[0]), "output_path": str(tmp_path / "m"),
                         "partial_output": str(partials), "partials_source": str(partials)})


def test_no_file_on_any_instance_is_the_one_pass_error(tmp_path):
    partials = tmp_path / "partials"
    empty = tmp_path / "share"
    empty.mkdir()
    dq.run_analyzer({"dataset_source": str(empty), "output_path": str(tmp_path / "o"),
                     "partial_output": str(partials)})
    with pytest.raises(dq.DataQualityError, match="no CSV file found on any instance"):
        dq.run_analyzer({"partials_source": str(partials), "output_path": str(tmp_path / "m")})
