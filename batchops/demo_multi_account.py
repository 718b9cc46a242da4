"""`batchops demo --scenario multi-account`: a central model registry and two consumer accounts, offline.

The three env files of env_files/multi-account (registry dev 111111111111, consumers staging 222222222222 and prod
333333333333) in one emulator that serves each as its own account: the registry's stack is applied (its key's ARN
goes into copies of the consumers' files), then the consumers'; dev trains and approves version 1, which is
promoted to staging and prod; dev trains and approves version 2, which is promoted to staging only; staging
scores a batch with version 2 of the dev account, prod still with version 1; version 2 is promoted to prod and
prod scores with it. Each consumer reads the registry's version, artefacts and key across accounts through the
grants its Terraform wrote. The emails and a report per consumer say which account and version scored each batch.

Every expected outcome is checked; a miss raises `DemoFailure`.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from batchops import operations as ops
from batchops.aws_session import batchops_home, connect
from batchops.demo import Demo, DemoFailure, prepare_fresh_home, run_phase
from batchops.demo_data import write_demo_files
from batchops.report import step_result
from batchops_core import results
from batchops_core.contracts import Step
from batchops_core.settings import ENV_DIR, Settings, load_settings

SCENARIO = "multi-account"
EXAMPLE_DIR = ENV_DIR / "multi-account"
REGISTRY_ENV, CONSUMER_ENVS = "dev", ("staging", "prod")
ENV_COPY_DIR = "multi-account-envs"  # under the home: the consumers' files completed with the registry key


@dataclass
class MultiAccountOutcome:
    versions: dict[int, str] = field(default_factory=dict)  # registry version number -> ARN
    scored: list[tuple[str, str, str]] = field(default_factory=list)  # (environment, execution id, scored with)
    reports: dict[str, Path] = field(default_factory=dict)
    emails: int = 0
    checks: list[str] = field(default_factory=list)


def registry_env_file(home: Path) -> Path:
    """A copy of the example registry file in `<home>/multi-account-envs`, where its consumers find it."""
    folder = home / ENV_COPY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(EXAMPLE_DIR / f"{REGISTRY_ENV}.tfvars", folder / f"{REGISTRY_ENV}.tfvars"))


def consumer_env_files(home: Path, key_arn: str) -> Path:
    """Copies of the example consumer files beside the registry's, their registry key set to `key_arn` (the
    registry's Terraform output)."""
    folder = home / ENV_COPY_DIR
    for name in CONSUMER_ENVS:
        source = EXAMPLE_DIR / f"{name}.tfvars"
        placeholder = load_settings(source).accounts.registry.kms_key_arn
        (folder / f"{name}.tfvars").write_text(source.read_text(encoding="utf-8").replace(placeholder, key_arn),
                                               encoding="utf-8")
    return folder


class MultiAccountDemo:
    def __init__(self, home: Path, endpoint_url: str, *, console: Console, execution_timeout: float = 600):
        self.home, self.endpoint_url, self.console = home, endpoint_url, console
        self.timeout = execution_timeout
        self.outcome = MultiAccountOutcome()
        self.demos: dict[str, Demo] = {}
        self.trained: dict[int, ops.ModelVersion] = {}  # the registry's versions by number

    def _demo(self, settings: Settings) -> Demo:
        target = connect(settings, endpoint_url=self.endpoint_url)
        demo = Demo(settings, self.home, target, console=self.console, execution_timeout=self.timeout)
        self.demos[settings.environment] = demo
        return demo

    def _ok(self, text: str) -> None:
        self.outcome.checks.append(text)
        self.demos[REGISTRY_ENV]._ok(text)

    def run(self) -> MultiAccountOutcome:
        phases = [("registry stack (dev)", self.set_up_registry), ("consumer stacks (staging, prod)",
                                                                    self.set_up_consumers),
                  ("version 1: train, approve, promote to staging and prod", self.first_version),
                  ("version 2: train, approve, promote to staging", self.second_version),
                  ("score: staging with version 2, prod still with version 1", self.score_before_prod_promotion),
                  ("promote version 2 to prod and score there", self.promote_to_prod),
                  ("emails and reports", self.emails_and_reports)]
        for number, (name, phase) in enumerate(phases, start=1):
            self.console.rule(f"[bold]{number}. {name}")
            run_phase(name, phase)
        self.console.rule("[bold green]multi-account demo: every expected outcome happened")
        return self.outcome

    # -------------------------------------------------------------------------------------------- phases

    def set_up_registry(self) -> None:
        registry = self._demo(load_settings(registry_env_file(self.home)))
        registry.set_up_infrastructure()

    def set_up_consumers(self) -> None:
        from batchops.terraform import Terraform

        registry = self.demos[REGISTRY_ENV]
        key_arn = Terraform(registry.settings, home=self.home,
                            endpoint_env=registry.target.subprocess_env()).output()["kms_key_arn"]
        folder = consumer_env_files(self.home, key_arn)
        for name in CONSUMER_ENVS:
            consumer = self._demo(load_settings(folder / f"{name}.tfvars"))
            consumer.set_up_infrastructure()
            self._ok(f"{name}: consumer of {consumer.settings.model_package_group_ref} in account "
                     f"{consumer.settings.accounts.account_id}")

    def _train(self, name: str) -> ops.ModelVersion:
        registry = self.demos[REGISTRY_ENV]
        registry.train_and_approve(name)
        version = registry.outcome.first_version  # the version this training run registered and approved
        assert version is not None
        self.trained[version.version] = version
        self.outcome.versions[version.version] = version.arn
        return version

    def _promote(self, environment: str, version: ops.ModelVersion) -> None:
        consumer, registry = self.demos[environment], self.demos[REGISTRY_ENV]
        record = ops.deploy_model(consumer.target, version.arn, str(version.version), registry=registry.target)
        registry._expect(ops.active_model_arn(consumer.target) == version.arn,
                         f"{environment}'s active-model parameter should name {version.arn} after the promotion")
        self._ok(f"CI promotes version {version.version} of account {record['DEPLOYED_MODEL_ACCOUNT']} to "
                 f"{environment} ({record['DEPLOY_ACTION']}; was {record['PREVIOUS_MODEL_PACKAGE_ARN']})")

    def first_version(self) -> None:
        version = self._train("training-1")
        for environment in CONSUMER_ENVS:
            self._promote(environment, version)

    def second_version(self) -> None:
        version = self._train("training-2")
        self._promote("staging", version)

    def _score(self, environment: str, name: str, expected_version: int) -> None:
        consumer = self.demos[environment]
        files = write_demo_files(self.home / "demo-data" / environment)
        execution = consumer._score(files.clean_batch, files.clean_ground_truth, name)
        consumer._ended(execution, "Succeeded", f"{environment} scoring")
        resolved = step_result(consumer.target, execution, Step.RESOLVE_MODEL)
        consumer._expect(resolved is not None, f"{Step.RESOLVE_MODEL} of {execution.execution_id} wrote no result")
        assert resolved is not None
        details = resolved.details
        expected = (self.outcome.versions[expected_version], consumer.settings.accounts.registry.account_id)
        found = (details.get(results.MODEL_ARN_DETAIL), details.get(results.MODEL_ACCOUNT_DETAIL))
        consumer._expect(found == expected, f"{environment} should have scored with {expected}, found {found}")
        text = results.model_used_text(resolved)
        self.outcome.scored.append((environment, execution.execution_id, text))
        consumer.outcome.executions[name] = execution
        self._ok(f"{environment} scored {name} ({execution.execution_id}) with {text}")

    def score_before_prod_promotion(self) -> None:
        self._score("staging", "batch-staging", expected_version=2)
        self._score("prod", "batch-prod-before", expected_version=1)

    def promote_to_prod(self) -> None:
        self._promote("prod", self.trained[2])
        self._score("prod", "batch-prod-after", expected_version=2)

    def emails_and_reports(self) -> None:
        from batchops.report import write_report
        from batchops_local.emulator import read_outbox

        def every_batch_mailed() -> list[dict[str, Any]] | None:
            messages = read_outbox(self.home)
            bodies = [str(m.get("body", "")) for m in messages]
            wanted = [(execution_id, f"Scored with: {text}") for _env, execution_id, text in self.outcome.scored]
            mailed = all(any(execution_id in body and line in body for body in bodies)
                         for execution_id, line in wanted)
            return messages if mailed else None

        registry = self.demos[REGISTRY_ENV]
        with self.console.status("waiting for the consumers' notification Lambdas"):
            try:
                messages = ops.wait_for(every_batch_mailed, timeout=120,
                                        what="an email per scored batch saying which version and account scored it")
            except ops.OperationError as exc:
                raise DemoFailure(str(exc)) from None
        self.outcome.emails = len(messages)
        for environment, execution_id, text in self.outcome.scored:
            self._ok(f"email of {environment} {execution_id}: Scored with: {text}")
        for environment in CONSUMER_ENVS:
            consumer = self.demos[environment]
            path = write_report(consumer.target, self.home, self.home / f"demo-report-{environment}.html")
            page = path.read_text(encoding="utf-8")
            shown = [text for env, _id, text in self.outcome.scored if env == environment]
            registry._expect(all(text in page for text in shown), f"the report {path} should show {shown}")
            self.outcome.reports[environment] = path
            self._ok(f"report of {environment}: {path}")


def run_multi_account_demo(home: Path | None = None, *, console: Console | None = None,
                           execution_timeout: float = 600) -> MultiAccountOutcome:
    """Start a fresh in-process emulator in `home`, run the scenario, stop the emulator."""
    from batchops_local import runtime as local_runtime

    home = batchops_home(home)
    console = console or Console()
    prepare_fresh_home(home)
    shutil.rmtree(home / ENV_COPY_DIR, ignore_errors=True)
    started = time.monotonic()
    local_aws = local_runtime.start_local_aws(home)
    try:
        console.print(f"local AWS emulator at {local_aws.endpoint_url}, serving accounts 111111111111 (dev), "
                      f"222222222222 (staging) and 333333333333 (prod)")
        outcome = MultiAccountDemo(home, local_aws.endpoint_url, console=console,
                                   execution_timeout=execution_timeout).run()
    finally:
        local_aws.stop()
    console.print(f"multi-account demo finished in {time.monotonic() - started:.1f} s")
    return outcome
