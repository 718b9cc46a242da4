"""`batchops demo`: the whole lifecycle on this machine, with the real parts and nothing faked.

Local AWS emulator → Terraform apply of env_files/local.tfvars → pipelines upserted from the SDK definitions →
training data dropped (S3 → EventBridge → training pipeline run by the local runner) → the new version approved
(approval_trigger Lambda points inference at it) → a clean batch scored (quality passes) → a drifted batch
scored (drift warning; ModelQualityCheck writes outcome "failed" and the execution fails at ModelQualityViolated)
→ EventBridge starts the HPO pipeline → a new version waits for approval → emails in the outbox (the
model-quality one shows the metric, value and threshold of the run's result.json) and an HTML report.

Every expected outcome is checked; a miss raises `DemoFailure` (the CLI exits non-zero).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from batchops import operations as ops
from batchops.aws_session import AwsTarget, batchops_home, connect, running_emulator
from batchops.demo_data import DemoFiles, check_demo_schema, write_demo_files
from batchops.report import result_text, step_result
from batchops_core import metrics, results
from batchops_core.contracts import Step
from batchops_core.settings import Settings, load_settings

DEMO_FOLDER = "demo"  # relative key path of every demo object under its prefix
REPORT_NAME = "demo-report.html"
# State a previous demo left in the home directory; removed so each run starts from nothing.
DEMO_STATE = ("outbox", "runs", "demo-data", "lambda-invocations.jsonl", "event-deliveries.jsonl", REPORT_NAME)


class DemoFailure(RuntimeError):
    """An expected outcome of the demo did not happen."""


@dataclass
class DemoOutcome:
    phase_seconds: dict[str, float] = field(default_factory=dict)
    executions: dict[str, ops.Execution] = field(default_factory=dict)  # training, clean, drifted, retraining
    first_version: ops.ModelVersion | None = None
    retrained_version: ops.ModelVersion | None = None
    drift_features: list[str] = field(default_factory=list)
    model_quality: results.StepResult | None = None  # the drifted batch's ModelQualityCheck result
    emails: int = 0
    report: Path | None = None
    checks: list[str] = field(default_factory=list)


class Demo:
    """The demo's phases against one running local environment (the emulator is started by the caller)."""

    def __init__(self, settings: Settings, home: Path, target: AwsTarget, *, console: Console,
                 report_path: Path | None = None, execution_timeout: float = 600):
        check_demo_schema(settings)
        self.settings = settings
        self.home = home
        self.target = target
        self.console = console
        self.report_path = report_path or home / REPORT_NAME
        self.timeout = execution_timeout
        self.outcome = DemoOutcome()
        self.files: DemoFiles | None = None

    # -------------------------------------------------------------------------------------------- plumbing

    def phases(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("infrastructure", self.set_up_infrastructure),
            ("training", self.train_and_approve),
            ("clean batch", self.score_clean_batch),
            ("drifted batch", self.score_drifted_batch_and_retrain),
            ("emails and report", self.collect_emails_and_report),
        ]

    def run(self) -> DemoOutcome:
        for number, (name, phase) in enumerate(self.phases(), start=1):
            self.console.rule(f"[bold]{number}. {name}")
            started = time.monotonic()
            run_phase(name, phase)
            self.outcome.phase_seconds[name] = time.monotonic() - started
        self._summary()
        return self.outcome

    def _ok(self, text: str) -> None:
        self.outcome.checks.append(text)
        self.console.print(f"  [green]✓[/green] {escape(text)}", soft_wrap=True)

    def _info(self, text: str, *, styled: bool = False) -> None:
        """A progress line; only `styled` lines (built from our own markup) are read as rich markup."""
        self.console.print(f"  {text if styled else escape(text)}", soft_wrap=True, highlight=False)

    def _expect(self, condition: bool, failure: str) -> None:
        if not condition:
            raise DemoFailure(failure)

    def _follow(self, execution: ops.Execution, label: str) -> ops.Execution:
        """Wait for an execution to end, showing each step as it changes."""
        shown: dict[str, str] = {}

        def show(current: ops.Execution, steps: list[ops.Step]) -> None:
            for step in steps:
                if shown.get(step.name) != step.status and step.status in ops.TERMINAL_STATUSES:
                    shown[step.name] = step.status
                    colour = "green" if step.status == "Succeeded" else "red"
                    self._info(f"{escape(label)} · {escape(step.name)}: [{colour}]{escape(step.status)}[/{colour}] "
                               f"({(step.duration_seconds or 0):.1f} s)", styled=True)

        with self.console.status(f"{label}: {execution.pipeline} {execution.execution_id} running"):
            final = ops.wait_for_execution(self.target, execution.arn, timeout=self.timeout, poll=0.5,
                                           on_change=show)
        return final

    def _known(self, pipeline_key: str) -> set[str]:
        return {e.arn for e in ops.list_executions(self.target, [self.settings.pipeline_names[pipeline_key]])}

    def _started_by_event(self, pipeline_key: str, known: set[str], why: str) -> ops.Execution:
        name = self.settings.pipeline_names[pipeline_key]
        with self.console.status(f"waiting for EventBridge to start {name}"):
            try:
                execution = ops.wait_for_new_execution(self.target, name, known, timeout=60)
            except ops.OperationError as exc:
                raise DemoFailure(f"{why}: {exc}") from None
        self._ok(f"{why}: EventBridge started {name} ({execution.execution_id})")
        return execution

    def _steps(self, execution: ops.Execution) -> dict[str, ops.Step]:
        return {s.name: s for s in ops.execution_steps(self.target, execution.arn)}

    def _violations(self, execution: ops.Execution) -> list[dict[str, Any]]:
        return ops.data_quality_violations(self.target, execution, self._steps(execution).get(Step.DATA_QUALITY_CHECK))

    def _ended(self, execution: ops.Execution, expected: str, what: str) -> None:
        """Fail the demo unless the execution ended as expected, pointing at the failed steps' logs."""
        if execution.status == expected:
            return
        runs = self.home / "runs" / execution.execution_id
        hints = [f"{s.name}: {s.failure_reason} (log: {runs / s.name / 'job.log'})"
                 for s in self._steps(execution).values() if s.status == "Failed"]
        raise DemoFailure(f"{what} {execution.execution_id} ended {execution.status}, expected {expected}: "
                          f"{execution.failure_reason or ''}" + "".join(f"\n  {hint}" for hint in hints))

    # -------------------------------------------------------------------------------------------- phases

    def set_up_infrastructure(self) -> None:
        from batchops.terraform import Terraform

        # The pipeline definitions (SDK import and build, seconds) are made while Terraform (a subprocess) applies.
        ahead = DefinitionsAhead(self.settings, self.target).start()
        terraform = Terraform(self.settings, home=self.home, endpoint_env=self.target.subprocess_env())
        # The emulator starts empty: state from an earlier demo would describe resources that no longer exist.
        for state in (terraform.state_file, terraform.state_file.with_name(terraform.state_file.name + ".backup")):
            state.unlink(missing_ok=True)
        started = time.monotonic()
        with self.console.status("terraform init"):
            terraform.init()
        with self.console.status("terraform apply env_files/local.tfvars (the provider waits for the emulator "
                                 "like for AWS)"):
            try:
                terraform.apply()
            finally:
                ahead.stop()
        applied = time.monotonic() - started
        # Joined before anything is printed: the build silences stdout (process-wide) while it runs.
        built = ahead.result()
        s3 = self.target.client("s3")
        versioning = s3.get_bucket_versioning(Bucket=self.settings.bucket).get("Status")
        self._expect(versioning == "Enabled", f"bucket {self.settings.bucket} should be versioned, found "
                                              f"{versioning!r}")
        rules = self.target.client("events").list_rules(NamePrefix=self.settings.resource_prefix)["Rules"]
        self._expect(len(rules) >= 4, f"Terraform should have created the EventBridge rules, found "
                                      f"{[r['Name'] for r in rules]}")
        self._ok(f"Terraform applied {len(terraform.resources())} resources in {applied:.0f} s: bucket "
                 f"{self.settings.bucket} (versioned), {len(rules)} EventBridge rules, topic, Lambdas, roles")
        started = time.monotonic()
        with self.console.status("upserting the pipelines"):
            results = ops.upsert_pipelines(self.target, built=built)
        sagemaker = self.target.client("sagemaker")
        stored = {name: json.loads(sagemaker.describe_pipeline(PipelineName=name)["PipelineDefinition"])
                  for name in self.settings.pipeline_names.values()}
        ahead_stored = built is not None and all(stored.get(self.settings.pipelines.name_of(key)) == json.loads(text)
                                                 for key, text in built.definitions.items())
        self._ok(f"pipelines upserted in {time.monotonic() - started:.0f} s (definitions built "
                 f"{'while Terraform applied' if ahead_stored else 'after the apply'}): "
                 + ", ".join(f"{r.pipeline} ({r.action})" for r in results))
        self.files = write_demo_files(self.home / "demo-data")
        self._info(f"demo data written to {self.files.training.parent}")

    def train_and_approve(self, name: str = "training") -> None:
        """Drop the training data as `<DEMO_FOLDER>/<name>.csv`, follow the run, approve its version."""
        assert self.files is not None
        known = self._known("training")
        dropped = ops.drop_data(self.target, self.files.training, "training", rel_path=f"{DEMO_FOLDER}/{name}.csv")
        self._info(f"data engineer drops training data -> {dropped.uri}")
        execution = self._follow(self._started_by_event("training", known, "training data dropped"), "training")
        self._ended(execution, "Succeeded", "training")
        self.outcome.executions["training"] = execution
        versions = [v for v in ops.model_versions(self.target) if v.generated_by in (None, execution.arn)]
        pending = [v for v in versions if v.approval_status == "PendingManualApproval"]
        self._expect(len(pending) == 1, f"expected one version pending approval after training, found "
                                        f"{[(v.version, v.approval_status) for v in versions]}")
        version = pending[0]
        metric, threshold = self.settings.model.metric, self.settings.model.registration_threshold
        value = version.metrics.get(metric)
        self._expect(value is not None and self.settings.model.passes(value, threshold),
                     f"version {version.version}: {metric} {value} should pass the registration threshold {threshold}")
        self._ok(f"model version {version.version} pending approval ({metric} {value:.3f}, threshold "
                 f"{self.settings.model.registration_threshold})")
        ops.set_approval(self.target, str(version.version), "Approved", "demo: evaluation reviewed by a data scientist")
        self._info(f"data scientist approves version {version.version} (update_model_package)")
        with self.console.status("waiting for the approval_trigger Lambda"):
            try:
                ops.wait_for(lambda: ops.active_model_arn(self.target) == version.arn, timeout=60,
                             what=f"the active-model parameter to point at version {version.version}")
            except ops.OperationError as exc:
                raise DemoFailure(str(exc)) from None
        self._ok(f"approval_trigger Lambda points inference at version {version.version} "
                 f"({ops.active_model_parameter(self.settings)})")
        self.outcome.first_version = ops.find_model_version(self.target, str(version.version))

    def _score(self, batch: Path, ground_truth: Path, name: str) -> ops.Execution:
        rel = f"{DEMO_FOLDER}/{name}.csv"
        truth = ops.drop_data(self.target, ground_truth, "ground-truth", rel_path=rel)
        self._info(f"ground truth for the batch -> {truth.uri}")
        known = self._known("inference")
        dropped = ops.drop_data(self.target, batch, "inference", rel_path=rel)
        self._info(f"data engineer drops an inference batch -> {dropped.uri}")
        return self._follow(self._started_by_event("inference", known, f"{name} dropped"), name)

    def score_clean_batch(self) -> None:
        assert self.files is not None
        execution = self._score(self.files.clean_batch, self.files.clean_ground_truth, "batch-clean")
        self.outcome.executions["clean"] = execution
        self._ended(execution, "Succeeded", "clean batch scoring")
        steps = self._steps(execution)
        self._expect(steps.get(Step.BATCH_TRANSFORM) is not None and steps[Step.BATCH_TRANSFORM].status == "Succeeded",
                     "the clean batch should have been scored by BatchTransform")
        violations = self._violations(execution)
        self._expect(not violations, f"the clean batch should show no drift, found "
                                     f"{[(v['feature_name'], v['constraint_check_type']) for v in violations]}")
        self._ok("clean batch scored; data quality: no violations")
        quality = self._model_quality(execution)
        self._expect(quality.outcome == results.PASSED,
                     f"model quality should have passed against the ground truth, it was {quality.outcome}: "
                     f"{quality.message}")
        self._ok(f"model quality passed ({result_text(quality)})")

    def _model_quality(self, execution: ops.Execution) -> results.StepResult:
        """ModelQualityCheck's result.json; a missing or malformed one fails the demo."""
        result = step_result(self.target, execution, Step.MODEL_QUALITY_CHECK)
        if result is None:
            raise DemoFailure(f"{Step.MODEL_QUALITY_CHECK} of {execution.execution_id} wrote no result.json")
        self._expect(result.metric == self.settings.model.metric and result.value is not None
                     and result.threshold is not None,
                     f"{Step.MODEL_QUALITY_CHECK}'s result should carry metric {self.settings.model.metric}, its value "
                     f"and the threshold used, found {result}")
        return result

    def score_drifted_batch_and_retrain(self) -> None:
        assert self.files is not None
        known_retraining = self._known("training_hpo")
        execution = self._score(self.files.drifted_batch, self.files.drifted_ground_truth, "batch-drifted")
        self.outcome.executions["drifted"] = execution
        steps = self._steps(execution)
        statuses = {name: step.status for name, step in steps.items()}
        self._expect(execution.status == "Failed" and statuses.get(Step.MODEL_QUALITY_VIOLATED) == "Failed"
                     and statuses.get(Step.MODEL_QUALITY_CHECK) == "Succeeded",
                     f"the drifted batch should fail at {Step.MODEL_QUALITY_VIOLATED} after {Step.MODEL_QUALITY_CHECK} "
                     f"succeeded, execution ended {execution.status} with steps {sorted(statuses.items())}")
        self.outcome.drift_features = sorted({v["feature_name"] for v in self._violations(execution)})
        self._expect(statuses.get(Step.DATA_QUALITY_CHECK) == "Succeeded" and bool(self.outcome.drift_features),
                     "the drifted batch should pass DataQualityCheck with drift violations (on_drift = warn)")
        self._ok(f"data-quality warning: drift on {', '.join(self.outcome.drift_features)}")
        quality = self._model_quality(execution)
        self._expect(quality.outcome == results.FAILED,
                     f"{Step.MODEL_QUALITY_CHECK} should have found a violation, its outcome is {quality.outcome}: "
                     f"{quality.message}")
        self.outcome.model_quality = quality
        self._ok(f"model-quality failure: {result_text(quality)} ({Step.MODEL_QUALITY_VIOLATED} failed)")
        retraining = self._follow(self._started_by_event("training_hpo", known_retraining,
                                                         "model-quality failure"), "retraining")
        self.outcome.executions["retraining"] = retraining
        self._ended(retraining, "Succeeded", "retraining")
        newest = ops.model_versions(self.target)[-1]
        first = self.outcome.first_version
        self._expect(first is not None and newest.version > first.version
                     and newest.approval_status == "PendingManualApproval",
                     f"retraining should register a new version pending approval, newest is {newest.version} "
                     f"({newest.approval_status})")
        metric = self.settings.model.metric
        self._ok(f"model version {newest.version} pending approval ({metric} "
                 f"{newest.metrics.get(metric, float('nan')):.3f}); version {first.version} stays active")
        self.outcome.retrained_version = newest

    def collect_emails_and_report(self) -> None:
        from batchops.report import write_report
        from batchops_local.emulator import read_outbox

        expected = {label: e.execution_id for label, e in self.outcome.executions.items()}
        drifted = self.outcome.executions["drifted"].execution_id

        def every_execution_mailed() -> list[dict[str, Any]] | None:
            messages = read_outbox(self.home)
            text = "\n".join(f"{m.get('subject')}\n{m.get('body')}" for m in messages)
            if not all(execution_id in text for execution_id in expected.values()):
                return None
            return messages if quality_gate_lines(messages, drifted) else None

        with self.console.status("waiting for the notification Lambda's emails"):
            try:
                messages = ops.wait_for(every_execution_mailed, timeout=120,
                                        what="an email about each execution and one about "
                                             f"{Step.MODEL_QUALITY_VIOLATED} in the outbox")
            except ops.OperationError as exc:
                raise DemoFailure(str(exc)) from None
        self.outcome.emails = len(messages)
        self._ok(f"{len(messages)} emails in {self.home / 'outbox'}; the latest subjects:")
        for message in messages[-6:]:
            self._info(f"  {message.get('to')}: {message.get('subject')}")
        assert self.outcome.model_quality is not None
        line = quality_gate_lines(messages, drifted)[0]
        problem = gate_line_problem(line, self.outcome.model_quality)
        self._expect(problem is None, f"the {Step.MODEL_QUALITY_VIOLATED} email should show the metric, value and "
                                      f"threshold of {Step.MODEL_QUALITY_CHECK}'s result: {problem}")
        self._ok(f"the model-quality email shows the run's result: {line}")
        with self.console.status("writing the report"):
            path = write_report(self.target, self.home, self.report_path)
        text = path.read_text(encoding="utf-8")
        self._expect(all(execution_id in text for execution_id in expected.values()),
                     f"the report {path} should name every execution")
        self.outcome.report = path
        self._ok(f"report written: {path}")

    def _summary(self) -> None:
        self.console.rule("[bold green]batchops demo: every expected outcome happened")
        table = Table("phase", "seconds")
        for name, seconds in self.outcome.phase_seconds.items():
            table.add_row(name, f"{seconds:.1f}")
        table.add_row("total", f"{sum(self.outcome.phase_seconds.values()):.1f}")
        self.console.print(table)
        self.console.print(f"Open {self.outcome.report} in a browser; emails are in {self.home / 'outbox'} "
                           f"(`batchops outbox list`).", soft_wrap=True)


def run_phase(name: str, phase: Callable[[], Any]) -> None:
    """Run one phase of a demo scenario: every failure of a phase is a failed expectation of the demo."""
    try:
        phase()
    except DemoFailure:
        raise
    except Exception as exc:
        raise DemoFailure(f"phase '{name}': {exc}") from exc


def quality_gate_lines(messages: list[dict[str, Any]], execution_id: str) -> list[str]:
    """The 'Quality gate:' lines of the emails about the model-quality Fail step of one execution."""
    lines = []
    for message in messages:
        body = str(message.get("body", ""))
        if execution_id in body and Step.MODEL_QUALITY_VIOLATED in f"{message.get('subject')}\n{body}":
            lines += [line.strip() for line in body.splitlines() if line.strip().startswith("Quality gate:")]
    return lines


def gate_line_problem(line: str, result: results.StepResult) -> str | None:
    """None when the email's gate line names the result's metric, value (as the registry formats it) and threshold."""
    value = metrics.get(result.metric or "").format(result.value) if result.value is not None else None
    missing = [f"{what} {text!r}" for what, text in (("metric", result.metric), ("value", value),
                                                     ("threshold", str(result.threshold)))
               if not text or text not in line]
    return f"{line!r} lacks {', '.join(missing)}" if missing else None


class DefinitionsAhead:
    """Builds the pipeline definitions in a thread while Terraform applies, from the same code path as the upsert.

    They need the stack's data key (created early in the apply) besides the settings: the thread waits for it,
    then builds. The upsert after the apply reuses the result only if it was built from the settings, account and
    stack resources the upsert then finds (`BuiltDefinitions.made_from`); anything else is built again there.
    """

    POLL_SECONDS = 0.5  # how often the thread looks for the stack's data key during the apply

    def __init__(self, settings: Settings, target: AwsTarget):
        self.settings = settings
        self.endpoint_url = target.endpoint_url
        self.account_id = target.account_id
        self._applied = threading.Event()
        self._built: Any = None
        self._thread = threading.Thread(target=self._build, name="definitions-ahead", daemon=True)

    def start(self) -> DefinitionsAhead:
        self._thread.start()
        return self

    def stop(self) -> None:
        """The apply has ended: a thread still waiting for the stack gives up (a build under way finishes)."""
        self._applied.set()

    def result(self) -> Any:
        """The `BuiltDefinitions`, or None when nothing was built (the upsert then builds)."""
        self._thread.join()
        return self._built

    def _build(self) -> None:
        try:
            from pipelines.common.sdk import prepare_sdk_environment

            prepare_sdk_environment(self.settings.region, offline=False)  # what the upsert sets before its import
            from pipelines.definitions import import_builders
            from pipelines.upsert import StackNotApplied, build_for_stack, stack_resources

            import_builders()  # the SDK import: most of the wait, done while the stack is still being created
            session = connect(self.settings, endpoint_url=self.endpoint_url).session  # boto3 sessions are per thread
            settings = self.settings.for_account(self.account_id)
            while not self._applied.is_set():
                try:
                    stack = stack_resources(settings, session)
                except StackNotApplied:
                    stack = None
                if stack is not None and (settings.storage.kms_key_arn or stack.data_kms_key_arn):
                    self._built = build_for_stack(settings, account_id=self.account_id, stack=stack)
                    return
                self._applied.wait(self.POLL_SECONDS)
        except Exception:  # noqa: BLE001 - building ahead is an optimisation: the upsert builds (and reports) itself
            return


def prepare_fresh_home(home: Path) -> None:
    """A demo scenario starts a fresh in-process emulator in `home`: refuse a running background one, and start
    empty, not from what an earlier demo or emulator left."""
    from batchops_local import runtime as local_runtime

    if running_emulator(home):
        raise DemoFailure(f"a background emulator is running for {home}; the demo starts a fresh one: stop it "
                          "with `batchops emulator down` (or pass another --home)")
    home.mkdir(parents=True, exist_ok=True)
    clear_previous_demo(home)
    local_runtime.discard_snapshot(home)


def clear_previous_demo(home: Path) -> None:
    """Remove what an earlier demo left in `home` (outbox, run logs, data, report); nothing else."""
    for name in DEMO_STATE:
        path = home / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def run_demo(home: Path | None = None, *, report_path: Path | None = None, console: Console | None = None,
             execution_timeout: float = 600, settings: Settings | None = None, keep_running: bool = False,
             before_stop: Callable[[Demo, Any], None] | None = None) -> DemoOutcome:
    """Start a fresh emulator in `home`, run every phase, stop the emulator.

    By default the emulator runs in this process and stops at the end. With `keep_running` it is the background
    emulator of `home` (as `batchops emulator up` starts it) and stays up, so every `batchops` command can look
    at what the demo left; `batchops emulator down` stops it.
    `before_stop(demo, local_aws)` runs after the last phase while the in-process emulator still answers (tests
    inspect the final state there; `local_aws` is None with `keep_running`).
    """
    from batchops_local import runtime as local_runtime

    home = batchops_home(home)
    settings = settings or load_settings("local")
    check_demo_schema(settings)
    console = console or Console()
    prepare_fresh_home(home)
    started = time.monotonic()
    local_aws = None
    with console.status("starting the local AWS emulator"):
        # Either way, the emulator's pipeline runner keeps job logs under <home>/runs.
        if keep_running:
            endpoint_url = local_runtime.start_background(home)["endpoint_url"]
        else:
            local_aws = local_runtime.start_local_aws(home)
            endpoint_url = local_aws.endpoint_url
    emulator_seconds = time.monotonic() - started
    try:
        console.print(f"local AWS emulator at {endpoint_url} (state in {home})")
        target = connect(settings, endpoint_url=endpoint_url)
        demo = Demo(settings, home, target, console=console, report_path=report_path,
                    execution_timeout=execution_timeout)
        demo.outcome.phase_seconds["emulator start"] = emulator_seconds
        outcome = demo.run()
        if before_stop:
            before_stop(demo, local_aws)
    finally:
        if local_aws is not None:
            local_aws.stop()
    console.print(f"demo finished in {time.monotonic() - started:.1f} s")
    if keep_running:
        console.print(f"the emulator keeps running at {endpoint_url}: try `batchops --home {home} models list`, "
                      "`runs list`, `outbox list`; stop it with `batchops emulator down`", soft_wrap=True)
    return outcome
