"""A local job sees its own /opt/ml (batchops_local.runner.private_opt_ml): scripts written for the container with
hard-coded /opt/ml paths run unchanged, and the host's /opt is neither changed nor hidden from the job."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from runner_support import processing_step

from batchops_local.runner import private_opt_ml, read_step_log
from batchops_local.runner.jobs import JobDir

# Written as an ordinary container script: no SAGEMAKER_BASE_DIR, no arguments, literal container paths only.
HARD_CODED = r'''
import json, os, pathlib
rows = pathlib.Path("/opt/ml/processing/input/data/rows.csv").read_text().splitlines()
config = json.loads(pathlib.Path("/opt/ml/config/processingjobconfig.json").read_text())
out = pathlib.Path("/opt/ml/processing/output")
out.mkdir(parents=True, exist_ok=True)
(out / "summary.json").write_text(json.dumps({
    "rows": len(rows) - 1, "job": config["ProcessingJobName"],
    "opt_entries": sorted(name for name in os.listdir("/opt") if name != "ml"),
}))
pathlib.Path("/opt/ml/model").mkdir(parents=True, exist_ok=True)
pathlib.Path("/opt/ml/model/model.txt").write_text("written where the container writes models")
print("wrote", out / "summary.json")
'''


def _host_opt_ml() -> tuple[bool, list[str]]:
    path = Path("/opt/ml")
    return path.exists(), sorted(str(p) for p in path.rglob("*")) if path.is_dir() else []


def test_this_machine_gives_jobs_a_private_opt_ml():
    # The fallback (path rewriting only) is legitimate where the OS refuses namespaces, but not on the project's
    # development and CI image: if this fails, the tests below would silently test the fallback.
    assert private_opt_ml.unavailable_reason() is None


def test_a_script_with_hard_coded_container_paths_runs_unchanged_and_the_host_is_untouched(runner, aws):
    host_before = _host_opt_ml()
    aws.put("data/rows.csv", "x\n1\n2\n3\n")
    step = processing_step(
        "HardCoded", aws.put_script("hard_coded.py", HARD_CODED),
        inputs=[("data", aws.uri("data"), "/opt/ml/processing/input/data")],
        outputs=[("summary", f"s3://{aws.bucket}/out/summary", "/opt/ml/processing/output")],
    )
    sink, request = runner.run([step])
    assert sink.final == ("Succeeded", None), read_step_log(runner.home, request.execution_id, "HardCoded")

    summary = json.loads(aws.get("out/summary/summary.json"))
    assert summary["rows"] == 3 and summary["job"].startswith(request.execution_id)
    # The job still sees everything the host keeps under /opt (tools installed there keep working).
    assert summary["opt_entries"] == sorted(name for name in os.listdir("/opt") if name != "ml")
    assert _host_opt_ml() == host_before


def test_where_no_private_namespace_can_be_made_the_command_is_unchanged_and_the_reason_given(tmp_path,
                                                                                            monkeypatch):
    monkeypatch.setattr(private_opt_ml, "unavailable_reason", lambda: "util-linux 'unshare' is not installed")
    job = JobDir(tmp_path, "job-1")
    command, reason = private_opt_ml.wrap(["python3", "script.py"], job.opt_ml)
    assert command == ["python3", "script.py"] and reason == "util-linux 'unshare' is not installed"


def test_a_job_directory_under_opt_is_not_hidden_by_the_private_opt(tmp_path):
    command, reason = private_opt_ml.wrap(["python3", "script.py"], Path("/opt/somewhere/job/opt_ml"))
    assert command == ["python3", "script.py"] and "is itself under /opt" in reason


def test_the_job_process_runs_inside_the_namespace_with_its_own_opt_ml(tmp_path):
    job = JobDir(tmp_path, "job-2")
    command, reason = private_opt_ml.wrap(["/bin/sh", "-c", "echo inside > /opt/ml/marker"], job.opt_ml)
    assert reason is None and command[-3:] == ["/bin/sh", "-c", "echo inside > /opt/ml/marker"]
    subprocess.run(command, check=True, timeout=30)
    assert (job.opt_ml / "marker").read_text() == "inside\n"
    assert not Path("/opt/ml/marker").exists()
