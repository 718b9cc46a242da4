"""Warm job processes (batchops_local.runner.warm_pool): a job forked from a server that imported the heavy packages
once behaves as `python <script> <args>` in a fresh process would: its own argv, cwd, environment, sys.path,
random seeds, private /opt/ml, exit code and output, and it ends as the interpreter ends a script."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest
from runner_support import processing_step

from batchops_local.runner import private_opt_ml, read_step_log
from batchops_local.runner.jobs import JobDir, job_process_environment
from batchops_local.runner.warm_pool import WarmPool, startup_variables

REPORT = r'''
import json, os, random, sys, pathlib
import numpy
name = sys.argv[1]
pathlib.Path("/opt/ml/marker").write_text(name)
print(json.dumps({
    "argv": sys.argv, "cwd": os.getcwd(), "path0": sys.path[0], "main": __name__, "file": __file__,
    "job_var": os.environ.get("JOB_VAR"), "only_in_server": os.environ.get("ONLY_IN_SERVER"), "pid": os.getpid(),
    "random": random.random(), "numpy_random": float(numpy.random.rand()),
    "stdin": sys.stdin.read(),
}))
'''


@pytest.fixture
def pool():
    warm = WarmPool()
    yield warm
    warm.close()


def _env(**extra: str) -> dict[str, str]:
    return job_process_environment(extra)


def _run(pool: WarmPool, script: Path, args: list[str], job: JobDir, env: dict[str, str]) -> tuple[int, str]:
    process = pool.start([sys.executable, str(script), *args], cwd=job.root, env=env, opt_ml=job.opt_ml)
    assert process is not None, "the server was ready: the job should have been forked"
    output = process.stdout.read().decode()
    return process.wait(timeout=60), output


@pytest.fixture
def ready_pool(pool):
    assert pool.wait_until_ready(sys.executable, _env(), timeout=120)
    return pool


def test_a_forked_job_sees_its_own_argv_cwd_environment_sys_path_seeds_and_opt_ml(ready_pool, tmp_path):
    script = tmp_path / "code" / "report.py"
    script.parent.mkdir()
    script.write_text(REPORT)
    reports = []
    for name in ("first", "second"):
        job = JobDir(tmp_path, f"job-{name}")
        code, output = _run(ready_pool, script, [name], job, _env(JOB_VAR=name))
        assert code == 0, output
        reports.append(json.loads(output))
        assert (job.opt_ml / "marker").read_text() == name
    first, second = reports
    assert first["argv"] == [str(script), "first"] and first["main"] == "__main__" and first["file"] == str(script)
    assert first["cwd"] == str(tmp_path / "job-first") and first["path0"] == str(script.parent)
    assert first["job_var"] == "first" and second["job_var"] == "second" and first["stdin"] == ""
    assert first["pid"] != second["pid"] and os.getpid() not in (first["pid"], second["pid"])
    assert first["random"] != second["random"] and first["numpy_random"] != second["numpy_random"]
    assert not Path("/opt/ml/marker").exists()


def test_concurrent_jobs_each_have_their_own_opt_ml(ready_pool, tmp_path):
    assert private_opt_ml.unavailable_reason() is None  # else this would test the fallback
    script = tmp_path / "hold.py"
    script.write_text("import pathlib, sys, time\n"
                      "pathlib.Path('/opt/ml/name').write_text(sys.argv[1]); time.sleep(0.5)\n"
                      "print(pathlib.Path('/opt/ml/name').read_text())\n")
    jobs = {name: JobDir(tmp_path, name) for name in ("a", "b", "c")}
    processes = {name: ready_pool.start([sys.executable, str(script), name], cwd=job.root, env=_env(),
                                        opt_ml=job.opt_ml) for name, job in jobs.items()}
    for name, process in processes.items():
        assert process is not None
        assert process.stdout.read().decode().strip() == name
        assert process.wait(timeout=60) == 0
        assert (jobs[name].opt_ml / "name").read_text() == name


@pytest.mark.parametrize(("body", "code", "says"), [
    ("import sys; sys.exit(3)", 3, None),
    ("import sys; sys.exit('the input has no rows')", 1, "the input has no rows"),
    ("raise ValueError('bad column')", 1, "ValueError: bad column"),
    ("print('done')", 0, "done"),
])
def test_exit_codes_and_uncaught_errors_are_those_of_a_fresh_interpreter(ready_pool, tmp_path, body, code, says):
    script = tmp_path / "exit.py"
    script.write_text(body + "\n")
    returned, output = _run(ready_pool, script, [], JobDir(tmp_path, "job"), _env())
    assert returned == code, output
    if says:
        assert says in output


def test_the_job_ends_as_a_script_does_threads_joined_atexit_run_files_flushed(ready_pool, tmp_path):
    script = tmp_path / "ending.py"
    script.write_text(
        "import atexit, threading, time\n"
        "log = open('left-open.txt', 'w')\n"  # never closed: the interpreter flushes it at exit
        "log.write('buffered ' * 100)\n"
        "def late():\n    time.sleep(0.3)\n    open('thread.txt', 'w').write('joined')\n"
        "threading.Thread(target=late).start()\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n")
    job = JobDir(tmp_path, "job")
    code, output = _run(ready_pool, script, [], job, _env())
    assert code == 0 and "atexit ran" in output
    assert (job.root / "left-open.txt").read_text() == "buffered " * 100
    assert (job.root / "thread.txt").read_text() == "joined"


def test_a_warm_job_can_be_stopped(ready_pool, tmp_path):
    script = tmp_path / "forever.py"
    script.write_text("import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    job = JobDir(tmp_path, "job")
    process = ready_pool.start([sys.executable, str(script)], cwd=job.root, env=_env(), opt_ml=job.opt_ml)
    assert process is not None and process.stdout.readline() == b"started\n"
    started = time.monotonic()
    process.terminate()
    assert process.wait(timeout=30) == -15 and time.monotonic() - started < 10


def test_a_job_with_other_startup_variables_never_reaches_a_server_started_without_them(ready_pool, tmp_path):
    script = tmp_path / "threads.py"
    script.write_text("import os; print(os.environ.get('OMP_NUM_THREADS'))\n")
    job = JobDir(tmp_path, "job")
    env = _env(OMP_NUM_THREADS="1")
    assert startup_variables(env) != startup_variables(_env())
    # Its own server starts, and the job waits for it rather than running on the server without the variable.
    code, output = _run(ready_pool, script, [], job, env)
    assert (code, output.strip()) == (0, "1")
    assert len(ready_pool._servers) == 2


def test_only_plain_script_runs_are_forked_and_the_pool_can_be_turned_off(ready_pool, tmp_path, monkeypatch):
    job = JobDir(tmp_path, "job")
    assert ready_pool.start([sys.executable, "-c", "print(1)"], cwd=job.root, env=_env(), opt_ml=job.opt_ml) is None
    assert ready_pool.start([sys.executable, "-m", "json.tool"], cwd=job.root, env=_env(), opt_ml=job.opt_ml) is None
    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    monkeypatch.setenv("BATCHOPS_WARM_POOL", "0")
    assert ready_pool.start([sys.executable, str(script)], cwd=job.root, env=_env(), opt_ml=job.opt_ml) is None


def test_a_processing_step_runs_forked_once_its_runtime_is_warm(runner, aws, monkeypatch):
    from batchops_local.runner import warm_pool
    from batchops_local.runner.runtimes import SKLEARN_IMAGE, interpreter_for

    monkeypatch.setattr(warm_pool, "POOL", WarmPool())
    try:
        step = processing_step("Count", aws.put_script("count.py", (
            "import pathlib\n"
            "rows = pathlib.Path('/opt/ml/processing/input/data/rows.csv').read_text().splitlines()\n"
            "out = pathlib.Path('/opt/ml/processing/output'); out.mkdir(parents=True, exist_ok=True)\n"
            "(out / 'count.txt').write_text(str(len(rows)))\n")),
            inputs=[("data", aws.uri("data"), "/opt/ml/processing/input/data")],
            outputs=[("count", f"s3://{aws.bucket}/out/count", "/opt/ml/processing/output")])
        aws.put("data/rows.csv", "a\n1\n2\n")
        interpreter = interpreter_for(f"{SKLEARN_IMAGE}:1.2-1", what="test")
        assert warm_pool.POOL.wait_until_ready(interpreter, _env(), timeout=180)
        sink, request = runner.run([step])
        log = read_step_log(runner.home, request.execution_id, "Count")
        assert sink.final == ("Succeeded", None), log
        assert "forked by the runtime's warm server" in log
        assert aws.get("out/count/count.txt") == "3"
    finally:
        warm_pool.POOL.close()


def test_closing_the_pool_ends_its_servers(tmp_path):
    pool = WarmPool()
    assert pool.wait_until_ready(sys.executable, _env(), timeout=120)
    processes = [server.process for server in pool._servers.values()]
    pool.close()
    assert all(process.poll() is not None for process in processes)


def test_jobs_started_from_several_threads_at_once_each_get_their_own_process(ready_pool, tmp_path):
    script = tmp_path / "pid.py"
    script.write_text("import os; print(os.getpid())\n")
    results: dict[int, tuple[int, str]] = {}

    def start(number: int) -> None:
        results[number] = _run(ready_pool, script, [], JobDir(tmp_path, f"job-{number}"), _env())

    threads = [threading.Thread(target=start, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == list(range(6)) and all(code == 0 for code, _ in results.values())
    assert len({output.strip() for _, output in results.values()}) == 6


def test_a_runtime_whose_server_cannot_start_runs_its_jobs_cold(pool, tmp_path):
    job = JobDir(tmp_path, "job")
    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    for _ in range(2):  # the failed server is remembered, not started again for every job
        assert pool.start(["/bin/false", str(script)], cwd=job.root, env=_env(), opt_ml=job.opt_ml) is None
    assert len(pool._servers) == 1


BOTO = r'''
import json, os, boto3
client = boto3.client("sagemaker")
loaders = [boto3.session.Session()._session.get_component("data_loader") for _ in range(2)]
print(json.dumps({"region": client.meta.region_name, "endpoint": client.meta.endpoint_url,
                  "shared_loader": loaders[0] is loaders[1], "search_paths": loaders[0].search_paths}))
'''


def test_boto3_in_a_warm_job_reads_its_own_environment_and_shares_only_the_parsed_models(ready_pool, tmp_path):
    script = tmp_path / "boto.py"
    script.write_text(BOTO)
    reports = []
    for region, extra in (("eu-west-1", {}), ("us-west-2", {}), ("us-east-1", {"AWS_DATA_PATH": str(tmp_path)})):
        env = _env(AWS_DEFAULT_REGION=region, AWS_ENDPOINT_URL=f"http://127.0.0.1:1/{region}", AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", **extra)
        code, output = _run(ready_pool, script, [], JobDir(tmp_path, f"job-{region}"), env)
        assert code == 0, output
        reports.append(json.loads(output))
    assert [(r["region"], r["endpoint"]) for r in reports] == [
        ("eu-west-1", "http://127.0.0.1:1/eu-west-1"), ("us-west-2", "http://127.0.0.1:1/us-west-2"),
        ("us-east-1", "http://127.0.0.1:1/us-east-1")]
    assert reports[0]["shared_loader"] and reports[1]["shared_loader"]
    # A session with its own data path gets its own loader, searching that path.
    assert not reports[2]["shared_loader"] and str(tmp_path) in reports[2]["search_paths"]


def test_the_default_runtimes_warm_up_for_the_steps_and_tuning_jobs_of_the_default_configuration(monkeypatch):
    from batchops_core.settings import Hpo
    from batchops_local.runner import warm_pool, warm_up
    from batchops_local.runner.runtimes import DEFAULT_IMAGES, XGBOOST_IMAGE, interpreter_for
    from batchops_local.runner.steps.tuning import job_thread_cap

    monkeypatch.setattr(warm_pool, "POOL", WarmPool())
    try:
        warm_up.warm_default_runtimes()
        interpreters = {image: interpreter_for(f"{image}:{version}", what="test") for image, version in DEFAULT_IMAGES}
        tuning = _env(OMP_NUM_THREADS=str(job_thread_cap(Hpo().max_parallel_jobs)))
        expected = {(python, startup_variables(_env())) for python in interpreters.values()}
        expected.add((interpreters[XGBOOST_IMAGE], startup_variables(tuning)))
        assert set(warm_pool.POOL._servers) == expected
    finally:
        warm_pool.POOL.close()
