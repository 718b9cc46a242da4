"""A job's own `/opt/ml`: the container's paths work unchanged inside a local job, the host's `/opt` is untouched.

In a SageMaker container every job sees its inputs, model and outputs under `/opt/ml`, and ordinary scripts
hard-code those paths. Locally each job has a directory standing in for `/opt/ml` (jobs.JobDir), and the
runner rewrites `/opt/ml` in arguments and environment values. That misses paths written inside a script, so
each job process also starts in a private mount namespace where `/opt/ml` *is* its job directory:

1. the host's `/opt` is bind-mounted on a staging directory inside the job directory (still reachable);
2. a tmpfs is mounted on `/opt` (only in the namespace: the host sees nothing);
3. every entry of the host's `/opt` is mounted back at its place (symbolic links recreated), so tools
   installed under `/opt` still work, and `/opt/ml` is created on the tmpfs and bound to the job directory.

A job started fresh gets the namespace from util-linux `unshare` (`--mount` as root; `--user --map-root-user
--mount` otherwise, where the kernel allows unprivileged user namespaces); a job forked by a warm server
(warm_pool.py) makes the same namespace itself with unshare(2) and runs the same mounts (FORKED_JOB_MOUNTS).
The mounts disappear with the job's last process. When neither works, or the host has no `/opt` to mount on
(creating it would change the host), jobs run as before with path rewriting only, and the step log says so once
per job.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CONTAINER_OPT = "/opt"

# $1: the job's /opt/ml directory, $2: an empty staging directory. Run inside the job's new mount namespace.
_MOUNTS = r"""
set -e
job_opt_ml=$1; stage=$2; shift 2
mount --bind /opt "$stage"
mount -t tmpfs -o mode=755 batchops-job-opt /opt
for entry in "$stage"/* "$stage"/.[!.]* "$stage"/..?*; do
  [ -e "$entry" ] || [ -L "$entry" ] || continue
  name=${entry##*/}
  [ "$name" = ml ] && continue
  if [ -L "$entry" ]; then ln -s "$(readlink "$entry")" "/opt/$name"; continue; fi
  if [ -d "$entry" ]; then mkdir "/opt/$name"; else : > "/opt/$name"; fi
  mount --rbind "$entry" "/opt/$name"
done
mkdir /opt/ml
mount --bind "$job_opt_ml" /opt/ml
"""
# Under `unshare`, then the job's command ($3...) in the namespace.
_ENTER = _MOUNTS + 'exec "$@"\n'
# For a job process that made its namespace itself (warm_worker.py: unshare(2) after fork): `unshare
# --propagation private` does the first line for the command-line path.
FORKED_JOB_MOUNTS = "mount --make-rprivate /\n" + _MOUNTS

STAGING_NAME = ".host_opt"


def _unshare_prefix() -> list[str] | None:
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    if os.geteuid() == 0:
        return [unshare, "--mount", "--propagation", "private"]
    return [unshare, "--user", "--map-root-user", "--mount", "--propagation", "private"]


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when jobs get a private /opt/ml here; else why not (said in each job's log)."""
    if not Path(CONTAINER_OPT).is_dir():
        return f"the host has no {CONTAINER_OPT} directory to mount a private {CONTAINER_OPT}/ml on"
    prefix = _unshare_prefix()
    if prefix is None:
        return "util-linux 'unshare' is not installed"
    with tempfile.TemporaryDirectory(prefix="batchops-optml-probe-") as probe:
        job, stage = Path(probe, "opt_ml"), Path(probe, STAGING_NAME)
        job.mkdir()
        stage.mkdir()
        try:
            done = subprocess.run([*prefix, "--", "/bin/sh", "-c", _ENTER, "sh", str(job), str(stage),
                                   "/bin/sh", "-c", ": > /opt/ml/probe"],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"a private mount namespace could not be made ({exc})"
        if done.returncode != 0 or not (job / "probe").is_file():
            detail = (done.stderr or done.stdout).strip().splitlines()
            return ("a private mount namespace is not allowed here"
                    + (f" ({detail[-1]})" if detail else f" (exit code {done.returncode})"))
    return None


def not_private_reason(job_opt_ml: Path) -> str | None:
    """None when a job whose /opt/ml is `job_opt_ml` gets a private /opt/ml; else why not."""
    reason = unavailable_reason()
    if reason is not None:
        return reason
    if job_opt_ml.resolve().is_relative_to(Path(CONTAINER_OPT).resolve()):
        # The tmpfs on /opt would hide the job's own directory.
        return f"the job directory {job_opt_ml} is itself under {CONTAINER_OPT}"
    return None


def staging_directory(job_opt_ml: Path) -> Path:
    """The empty directory the host's /opt is bound to inside the job's namespace."""
    stage = job_opt_ml.parent / STAGING_NAME
    stage.mkdir(exist_ok=True)
    return stage


def wrap(command: list[str], job_opt_ml: Path) -> tuple[list[str], str | None]:
    """`command` started in a mount namespace whose /opt/ml is `job_opt_ml`, or `command` unchanged and why."""
    reason = not_private_reason(job_opt_ml)
    if reason is not None:
        return command, reason
    prefix = _unshare_prefix()
    assert prefix is not None  # unavailable_reason() found it
    return [*prefix, "--", "/bin/sh", "-c", _ENTER, "sh", str(job_opt_ml), str(staging_directory(job_opt_ml)),
            *command], None
