"""Benchmark of the GitLab CI deploy chain for one environment, run offline with the real wrappers and stack.

The jobs' scripts (scripts/ci/plan.sh, apply.sh, plan.sh again, upsert.sh, promote_check.sh, destroy.sh) run
against the local emulator instead of an AWS account and against the stand-in of GitLab's Terraform state API
that tests/ci uses, exactly as the jobs call them. Prints each step's wall time, exit code and last line; exits
non-zero if a step fails or the second plan is not empty.

    python benchmarks/bench_ci_chain.py [--env dev]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ci"))  # the state API stand-in is shared with the CI tests

from ci_testkit import start_state_api, wrapper_env  # noqa: E402

from batchops.terraform import cli_config_text, find_provider_mirror  # noqa: E402
from batchops_local.runtime import start_local_aws  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev", help="environment whose env file is deployed (default: dev)")
    args = parser.parse_args(argv)
    env_name = args.env
    work = Path(tempfile.mkdtemp(prefix="bench-ci-"))
    extra: dict[str, str] = {}
    mirror = find_provider_mirror(work / "mirror.json")
    if mirror is not None:  # offline machine: providers from the mirror, as batchops.terraform does
        (work / "terraform.rc").write_text(cli_config_text(mirror), encoding="utf-8")
        extra["TF_CLI_CONFIG_FILE"] = str(work / "terraform.rc")
    state_api = start_state_api()
    local_aws = start_local_aws(work / "home")
    env = wrapper_env(BATCHOPS_CI_OUT=str(work / "ci"), TF_STATE_BASE_ADDRESS=f"{state_api.base_url}/state",
                      TF_HTTP_USERNAME="bench", TF_HTTP_PASSWORD="bench", **local_aws.env(), **extra)
    steps = [
        ("plan", ["plan.sh", env_name], {}),
        ("apply reviewed plan", ["apply.sh", env_name], {}),
        ("plan again", ["plan.sh", env_name], {}),
        ("upsert pipelines", ["upsert.sh", env_name], {}),
        ("promotion gate", ["promote_check.sh", env_name, "prod" if env_name != "prod" else "staging"], {}),
        ("destroy", ["destroy.sh", env_name], {"BATCHOPS_CONFIRM_DESTROY": env_name}),
    ]
    failed = False
    print(f"{'step':<22} {'seconds':>8}  rc  last line")
    try:
        for label, command, step_env in steps:
            start = time.perf_counter()
            result = subprocess.run([str(ROOT / "scripts" / "ci" / command[0]), *command[1:]], env={**env, **step_env},
                                    cwd=ROOT, capture_output=True, text=True, timeout=1800)
            seconds = time.perf_counter() - start
            lines = (result.stdout.strip() or result.stderr.strip()).splitlines()
            print(f"{label:<22} {seconds:8.1f} {result.returncode:3d}  {lines[-1][:90] if lines else ''}")
            if result.returncode != 0:
                print(result.stderr[-2000:], file=sys.stderr)
                failed = True
                break
            if label == "plan again":
                report = json.loads((work / "ci" / env_name / "plan-report.json").read_text(encoding="utf-8"))
                if any(report.values()):
                    print(f"the plan after apply is not empty: {report}", file=sys.stderr)
                    failed = True
        print(f"state resources after the chain: {len(state_api.resources(f'/state/{env_name}'))}")
    finally:
        local_aws.stop()
        state_api.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
