"""The environment every local job process (processing, training, transform) starts with."""

from __future__ import annotations

from batchops_local.runner.jobs import job_process_environment


def test_job_threads_wait_passively_and_real_aws_settings_stay_out(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setenv("AWS_PROFILE", "real-account")
    env = job_process_environment({"TRAINING_JOB_NAME": "job-1"})
    assert env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert env["TRAINING_JOB_NAME"] == "job-1" and "AWS_PROFILE" not in env


def test_a_wait_policy_of_the_caller_or_of_the_job_wins(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert job_process_environment({})["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert job_process_environment({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"
