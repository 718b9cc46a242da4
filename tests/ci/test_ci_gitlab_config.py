"""Static checks of .gitlab-ci.yml: structure, references, scripts, images, gates, rules and credentials."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
from gitlab_ci_model import (
    CiConfigError,
    effective_job,
    evaluate,
    job_names,
    load,
    needed_jobs,
    pipeline_jobs,
    resolve,
    template_names,
    yaml_variables,
)

ROOT = Path(__file__).resolve().parents[2]
CI_FILE = ROOT / ".gitlab-ci.yml"
SCHEMA = Path(__file__).parent / "schema" / "gitlab-ci.json"
CI_SCRIPTS = ROOT / "scripts" / "ci"
DEPLOYED_ENVIRONMENTS = ("dev", "staging", "prod")

MERGE_REQUEST = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_DEFAULT_BRANCH": "main",
                 "CI_MERGE_REQUEST_IID": "7"}
MAIN_PUSH = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}
FEATURE_PUSH = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature/x", "CI_DEFAULT_BRANCH": "main"}
SCHEDULE = {"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main",
            "RETRAIN_ENVIRONMENT": "prod"}
TRIGGER = {"CI_PIPELINE_SOURCE": "trigger", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main",
           "MODEL_PACKAGE_ARN": "arn:aws:sagemaker:us-east-1:111122223333:model-package/abalone-staging-models/3",
           "MODEL_PACKAGE_VERSION": "3"}


@pytest.fixture(scope="module")
def config() -> dict:
    return load(CI_FILE)


@pytest.fixture(scope="module")
def jobs(config) -> dict[str, dict]:
    return {name: effective_job(config, name) for name in job_names(config)}


def script_lines(job: dict) -> list[str]:
    lines = []
    for key in ("before_script", "script", "after_script"):
        value = job.get(key) or []
        lines.extend([value] if isinstance(value, str) else value)
    return lines


# The set-up line of every Python job (`.python` before_script): puts the project's `batchops` on PATH.
SETUP_SHIM = "scripts/ci/batchops_path.sh"
_CALLED = re.compile(r"(?:^|\s|\$\()(\./run|scripts/[\w./-]+)")


def called_paths(job: dict, *, with_setup: bool = False) -> list[str]:
    paths = [m.group(1) for line in script_lines(job) for m in _CALLED.finditer(line)]
    return paths if with_setup else [path for path in paths if path != SETUP_SHIM]


def batchops_calls(text: str) -> list[list[str]]:
    """The command words of every `batchops ...` call (a job line) or `batchops_cli ...` call (a wrapper), global
    options and their values left out: e.g. ["infra", "plan"], ["ci", "deploy-model"]."""
    calls = []
    for match in re.finditer(r"(?:^|[\s;(|&])batchops(?:_cli)?\s+([^\n;|&)]*)", text, re.MULTILINE):
        words, skip = [], False
        for word in match.group(1).split():
            if skip:
                skip = False
            elif word in ("--env", "-e", "--home"):
                skip = True
            elif word.startswith("-") or word.startswith('"') or word.startswith("$"):
                break
            else:
                words.append(word)
        calls.append(words)
    return calls


def cli_commands() -> set[tuple[str, ...]]:
    """Every command path of the `batchops` command line, e.g. ("infra", "plan"), ("report",)."""
    import typer.main

    from batchops.cli import app

    paths: set[tuple[str, ...]] = set()

    def walk(command, prefix: tuple[str, ...]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            paths.add((*prefix, name))
            walk(sub, (*prefix, name))

    walk(typer.main.get_command(app), ())
    return paths


def aws_wrappers() -> set[str]:
    """scripts/ci wrappers that obtain AWS credentials (they call use_aws_role)."""
    return {f"scripts/ci/{p.name}" for p in CI_SCRIPTS.glob("*.sh") if "use_aws_role " in p.read_text()}


# ------------------------------------------------------------------------------------------------ structure


def test_config_is_valid_against_gitlab_schema(config, jobs):
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(config)]
    # Templates are loosely checked by the schema: check every job again as it is after extends/default.
    for name, job in jobs.items():
        resolved = {"stages": config["stages"], name: job}
        problems += [f"{name} (resolved): {e.message[:200]}" for e in validator.iter_errors(resolved)]
    assert problems == []


def test_schema_check_catches_a_broken_job(config, jobs):
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    broken = {"stages": config["stages"], "apply:dev": {**jobs["apply:dev"], "when": "sometimes"}}
    assert list(validator.iter_errors(broken)), "the schema must reject an invalid 'when'"


def test_every_job_stage_exists(config, jobs):
    stages = config["stages"]
    assert [s for s in ("validate", "plan", "apply", "upsert", "destroy") if s not in stages] == []
    assert stages.index("validate") < stages.index("plan") < stages.index("apply") < stages.index("upsert") \
        < stages.index("destroy")
    missing = {name: job.get("stage") for name, job in jobs.items() if job.get("stage", "test") not in stages}
    assert missing == {}


def test_extends_needs_and_dependencies_point_at_existing_jobs(config, jobs):
    names, templates = set(job_names(config)), set(template_names(config))
    problems = []
    for name in [*names, *templates]:
        parents = config[name].get("extends", [])
        for parent in [parents] if isinstance(parents, str) else parents:
            if parent not in templates and parent not in names:
                problems.append(f"{name} extends unknown {parent}")
    for name, job in jobs.items():
        for need in needed_jobs(job):
            if need not in names:
                problems.append(f"{name} needs unknown {need}")
        for dependency in job.get("dependencies", []) or []:
            if dependency not in names:
                problems.append(f"{name} depends on unknown {dependency}")
    assert problems == []


def test_needs_point_at_same_or_earlier_stages(config, jobs):
    order = {stage: i for i, stage in enumerate(config["stages"])}
    late = [f"{name} ({job['stage']}) needs {need} ({jobs[need]['stage']})"
            for name, job in jobs.items() for need in needed_jobs(job)
            if order[jobs[need]["stage"]] > order[job["stage"]]]
    assert late == []


def test_loader_keeps_reference_tags(tmp_path):
    ci_file = tmp_path / "ci.yml"
    ci_file.write_text(".setup:\n  script: [echo a]\njob:\n  script:\n    - !reference [.setup, script]\n")
    assert load(ci_file)["job"]["script"] == [{"!reference": [".setup", "script"]}]


def test_extends_resolution_reports_unknown_templates():
    with pytest.raises(CiConfigError, match="unknown '.missing'"):
        resolve({"job": {"extends": ".missing", "script": ["true"]}}, "job")


def test_every_called_script_exists_and_is_executable(jobs):
    problems, seen = [], set()
    for name, job in jobs.items():
        paths = called_paths(job, with_setup=True)
        if not (called_paths(job) or batchops_calls("\n".join(script_lines(job)))):
            problems.append(f"{name}: calls neither `batchops` nor a wrapper of the repository (jobs stay thin)")
        for path in paths:
            seen.add(path)
            target = ROOT / path
            if not target.is_file():
                problems.append(f"{name}: {path} does not exist")
            elif not os.access(target, os.X_OK):
                problems.append(f"{name}: {path} is not executable")
            elif not target.read_text(encoding="utf-8").startswith("#!"):
                problems.append(f"{name}: {path} has no #! line")
    assert problems == []
    assert "scripts/ci/apply.sh" in seen and "scripts/ci/plan.sh" in seen
    assert SETUP_SHIM in seen


def test_every_batchops_command_that_jobs_and_wrappers_call_exists(jobs):
    """`batchops` is the one command line: jobs and wrappers call its commands, and no Python script."""
    known = cli_commands()
    texts = {wrapper.name: wrapper.read_text() for wrapper in CI_SCRIPTS.glob("*.sh")}
    texts |= {name: "\n".join(script_lines(job)) for name, job in jobs.items()}
    called: dict[tuple[str, ...], str] = {}
    unknown = []
    for where, text in texts.items():
        for words in batchops_calls(text):
            # the longest known command path; what follows are its arguments
            command = next((tuple(words[:n]) for n in range(len(words), 0, -1) if tuple(words[:n]) in known), None)
            if command is None:
                unknown.append(f"{where}: batchops {' '.join(words)}")
            else:
                called[command] = where
    assert unknown == []
    assert {("infra",), ("config", "check"), ("pipelines", "definitions"), ("pipelines", "upsert"),
            ("pipelines", "start"), ("ci", "deploy-model"), ("ci", "check-deployed"), ("ci", "teardown-pipelines"),
            ("ci", "install-terraform"), ("ci", "package-lambdas")} <= set(called)
    scripts = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scripts").rglob("*.py"))
    assert scripts == [], "Python entry points belong to `batchops` (batchops/cli/)"


def test_the_command_finder_sees_what_it_should():
    assert batchops_calls('batchops_cli --home "$CI_OUT" --env "$env" infra "$command" --x y') == [["infra"]]
    assert batchops_calls("  batchops --env dev ci deploy-model --report r") == [["ci", "deploy-model"]]
    assert ("infra", "plan") in cli_commands() and ("nonsense",) not in cli_commands()


def test_every_environment_has_an_env_file_and_jobs(jobs):
    envs = {str(job.get("variables", {}).get("ENVIRONMENT")) for job in jobs.values()} - {"None"}
    assert envs == set(DEPLOYED_ENVIRONMENTS)
    assert sorted(e for e in envs if not (ROOT / "env_files" / f"{e}.tfvars").is_file()) == []
    for env in DEPLOYED_ENVIRONMENTS:
        for kind in ("plan", "apply", "upsert", "destroy", "definitions"):
            assert f"{kind}:{env}" in jobs, f"missing job {kind}:{env}"


# ------------------------------------------------------------------------------------------------ images


def _image_name(image) -> str:
    return image["name"] if isinstance(image, dict) else image


def test_no_unpinned_image_anywhere(config, jobs):
    places = {"default": (config.get("default") or {}).get("image"), "top level": config.get("image")}
    places |= {name: config[name].get("image") for name in template_names(config)}
    places |= {name: job.get("image") for name, job in jobs.items()}
    assert all(jobs[name].get("image") for name in jobs), "every job must end up with an explicit image"
    pinned = re.compile(r"^[\w./-]+:(\d+\.\d+\.\d+[\w.-]*)(@sha256:[0-9a-f]{64})?$|^[\w./-]+@sha256:[0-9a-f]{64}$")
    bad = {where: _image_name(image) for where, image in places.items()
           if image is not None and (not pinned.match(_image_name(image)) or ":latest" in _image_name(image))}
    assert bad == {}


def test_terraform_runs_only_where_the_adapter_and_the_pinned_installer_can(jobs):
    """Jobs that run Terraform call the adapter, which needs the project's Python; the wrappers install the
    pinned Terraform themselves (`batchops ci install-terraform`), so no job depends on a Terraform image."""
    adapter_wrappers = {f"scripts/ci/{path.name}" for path in CI_SCRIPTS.glob("*.sh")
                        if "terraform_adapter " in path.read_text()}
    assert {"scripts/ci/plan.sh", "scripts/ci/apply.sh", "scripts/ci/destroy.sh",
            "scripts/ci/terraform_checks.sh"} <= adapter_wrappers
    terraform_jobs = {name for name, job in jobs.items() if set(called_paths(job)) & adapter_wrappers}
    assert {"terraform", "plan:dev", "apply:prod", "destroy:staging"} <= terraform_jobs
    images = {_image_name(jobs[name]["image"]) for name in terraform_jobs}
    assert images == {_image_name(jobs["tests"]["image"])}, images
    assert all("terraform" not in _image_name(job["image"]) for job in jobs.values())


# ------------------------------------------------------------------------------------------------ rules


def test_rule_expressions_evaluate_like_gitlab():
    variables = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}
    assert evaluate('$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && ($CI_PIPELINE_SOURCE == "push" || '
                    '$CI_PIPELINE_SOURCE == "web")', variables)
    assert not evaluate('$CI_PIPELINE_SOURCE == "push" && $MISSING', variables)
    assert evaluate('$MISSING || $CI_PIPELINE_SOURCE != "web"', variables)
    assert not evaluate('$MISSING == $CI_DEFAULT_BRANCH', variables)
    with pytest.raises(CiConfigError, match="regular-expression"):
        evaluate('$CI_COMMIT_BRANCH =~ /^release/', variables)


def test_every_job_has_rules(jobs):
    assert sorted(name for name, job in jobs.items() if not job.get("rules")) == []


def test_merge_requests_validate_and_plan_but_never_change_anything(config):
    created = pipeline_jobs(config, MERGE_REQUEST)
    assert created is not None
    stages = {name: resolve(config, name)["stage"] for name in created}
    assert set(stages.values()) == {"validate", "plan"}
    assert {f"plan:{env}" for env in DEPLOYED_ENVIRONMENTS} <= set(created)
    assert [name for name, d in created.items() if d.when == "manual"] == []


def test_default_branch_plans_then_applies_behind_manual_gates(config):
    created = pipeline_jobs(config, MAIN_PUSH)
    manual = {name for name, d in created.items() if d.when == "manual"}
    gates = {f"apply:{e}" for e in DEPLOYED_ENVIRONMENTS} | {f"destroy:{e}" for e in DEPLOYED_ENVIRONMENTS} \
        | {"promote:staging", "promote:prod", "rollback:staging", "rollback:prod"}
    assert manual == gates
    for env in DEPLOYED_ENVIRONMENTS:
        assert created[f"plan:{env}"].when == "on_success"
        assert created[f"upsert:{env}"].when == "on_success"
    # A blocked apply holds the pipeline; a destroy left unclicked does not.
    assert not any(created[f"apply:{e}"].allow_failure for e in DEPLOYED_ENVIRONMENTS)
    assert all(created[f"destroy:{e}"].allow_failure for e in DEPLOYED_ENVIRONMENTS)
    assert all(created[f"rollback:{e}"].allow_failure for e in ("staging", "prod"))
    assert not {"retrain", "deploy:staging", "deploy:prod"} & set(created)


def test_feature_branch_pushes_only_validate(config):
    created = pipeline_jobs(config, FEATURE_PUSH)
    assert {resolve(config, name)["stage"] for name in created} == {"validate"}


def test_promotion_chain_runs_dev_then_staging_then_prod(jobs):
    expected_needs = {
        "apply:dev": {"plan:dev"},
        "upsert:dev": {"apply:dev"},
        "promote:staging": {"upsert:dev", "definitions:dev"},
        "apply:staging": {"plan:staging", "promote:staging"},
        "upsert:staging": {"apply:staging"},
        "promote:prod": {"upsert:staging", "definitions:staging"},
        "apply:prod": {"plan:prod", "promote:prod"},
        "upsert:prod": {"apply:prod"},
    }
    missing = {job: sorted(needs - set(needed_jobs(jobs[job]))) for job, needs in expected_needs.items()
               if needs - set(needed_jobs(jobs[job]))}
    assert missing == {}
    for env in DEPLOYED_ENVIRONMENTS:
        apply = jobs[f"apply:{env}"]
        plan_need = next(n for n in apply["needs"] if (n if isinstance(n, str) else n["job"]) == f"plan:{env}")
        assert isinstance(plan_need, str) or plan_need.get("artifacts", True), "apply needs the plan artifacts"
        assert called_paths(apply) == ["scripts/ci/apply.sh"]


def test_needs_are_in_the_same_pipeline(config, jobs):
    for variables in (MERGE_REQUEST, MAIN_PUSH, FEATURE_PUSH, SCHEDULE, TRIGGER):
        created = pipeline_jobs(config, variables)
        missing = [f"{name} needs {need}" for name in created for need in needed_jobs(jobs[name])
                   if need not in created]
        assert missing == [], variables["CI_PIPELINE_SOURCE"]


def test_schedule_with_retrain_variable_only_starts_retraining(config, jobs):
    assert set(pipeline_jobs(config, SCHEDULE)) == {"retrain"}
    assert called_paths(jobs["retrain"]) == ["scripts/ci/retrain.sh"]
    assert set(pipeline_jobs(config, {**SCHEDULE, "RETRAIN_ENVIRONMENT": ""})) == set()
    unset = {key: value for key, value in SCHEDULE.items() if key != "RETRAIN_ENVIRONMENT"}
    assert set(pipeline_jobs(config, unset)) == set(), "the file's default must not start a retrain"


# Environment names: letters, digits, spaces and - _ / $ { } (https://docs.gitlab.com/ci/yaml/#environmentname),
# not starting or ending with "/".
ENVIRONMENT_NAME = re.compile(r"^(?!/)[A-Za-z0-9 _/${}-]+(?<!/)$")
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


def expansion_problems(config: dict, name: str) -> list[str]:
    """What a runner that expands a job before its rules (gitlab-ci-local does) finds wrong when the pipeline
    was started with none of the optional variables: only the file's own variables are set."""
    job, variables = effective_job(config, name), yaml_variables(config, name)
    environment = job.get("environment") or {}
    values = {"environment:name": environment.get("name") if isinstance(environment, dict) else environment,
              "resource_group": job.get("resource_group"),
              "artifacts:name": (job.get("artifacts") or {}).get("name")}
    problems = []
    for keyword, value in values.items():
        if value is None:
            continue
        unset = [var for var in _VARIABLE.findall(value) if var not in variables and not var.startswith("CI_")]
        expanded = _VARIABLE.sub(lambda m: variables.get(m.group(1), ""), value)
        if unset:
            problems.append(f"{name}: {keyword} '{value}' uses {', '.join(unset)}, which the file does not set")
        if keyword == "environment:name" and not ENVIRONMENT_NAME.match(expanded):
            problems.append(f"{name}: {keyword} '{value}' expands to the invalid name {expanded!r}")
    return problems


def test_no_job_keyword_expands_to_an_invalid_value_when_optional_variables_are_unset(config):
    assert [problem for name in job_names(config) for problem in expansion_problems(config, name)] == []
    without_default = {**config, "variables": {k: v for k, v in config["variables"].items()
                                               if k != "RETRAIN_ENVIRONMENT"}}
    assert expansion_problems(without_default, "retrain") == [
        "retrain: environment:name '$RETRAIN_ENVIRONMENT' uses RETRAIN_ENVIRONMENT, which the file does not set",
        "retrain: environment:name '$RETRAIN_ENVIRONMENT' expands to the invalid name ''"]


def test_approval_trigger_deploys_staging_then_prod_behind_a_gate(config, jobs):
    created = pipeline_jobs(config, TRIGGER)
    assert set(created) == {"deploy:staging", "deploy:prod"}
    assert created["deploy:staging"].when == "on_success"
    assert created["deploy:prod"].when == "manual"
    assert "deploy:staging" in needed_jobs(jobs["deploy:prod"])
    assert pipeline_jobs(config, {**TRIGGER, "MODEL_PACKAGE_ARN": ""}) == {}
    for env in ("staging", "prod"):
        assert jobs[f"deploy:{env}"]["environment"]["name"] == "$ENVIRONMENT"
        assert jobs[f"deploy:{env}"]["variables"]["ENVIRONMENT"] == env


def test_plan_jobs_publish_the_merge_request_report_and_plan_file(jobs):
    for env in DEPLOYED_ENVIRONMENTS:
        artifacts = jobs[f"plan:{env}"]["artifacts"]
        assert artifacts["reports"]["terraform"] == "build/ci/$ENVIRONMENT/plan-report.json"
        # What apply.sh needs besides a checkout (tests/ci/test_ci_terraform_wrappers.py hands over the same).
        assert {"build/ci/$ENVIRONMENT/plan.tfplan",
                "build/ci/$ENVIRONMENT/plan.tfplan.lambda.sha256"} <= set(artifacts["paths"])
        assert "terraform/build/lambda/" in artifacts["paths"]
        assert artifacts["access"] == "developer"


def test_jobs_changing_an_environment_are_serialised_per_environment(jobs):
    for env in DEPLOYED_ENVIRONMENTS:
        for kind in ("plan", "apply", "destroy"):
            assert jobs[f"{kind}:{env}"]["resource_group"] == "terraform-$ENVIRONMENT"
        assert jobs[f"apply:{env}"]["environment"]["name"] == "$ENVIRONMENT"
        assert jobs[f"destroy:{env}"]["environment"]["action"] == "stop"
    # Auto-cancelling a job that holds a state lock or is half-way through a change is never wanted.
    changing = {name for name, job in jobs.items() if job.get("resource_group") or job.get("environment")}
    assert sorted(name for name in changing if jobs[name].get("interruptible") is not False) == []


# ------------------------------------------------------------------------------------------------ credentials


def test_aws_jobs_use_oidc_and_only_they_get_a_token(jobs):
    wrappers = aws_wrappers()
    assert {"scripts/ci/plan.sh", "scripts/ci/apply.sh", "scripts/ci/upsert.sh", "scripts/ci/destroy.sh",
            "scripts/ci/deploy.sh", "scripts/ci/retrain.sh", "scripts/ci/promote_check.sh",
            "scripts/ci/rollback.sh"} <= wrappers
    problems = []
    for name, job in jobs.items():
        touches_aws = bool(set(called_paths(job)) & wrappers)
        token = (job.get("id_tokens") or {}).get("AWS_ID_TOKEN")
        if touches_aws and not (token and token.get("aud")):
            problems.append(f"{name}: reaches AWS without an AWS_ID_TOKEN id_token with aud")
        if not touches_aws and job.get("id_tokens"):
            problems.append(f"{name}: has an id token but never reaches AWS")
    assert problems == []


def test_no_static_aws_keys_anywhere():
    texts = {".gitlab-ci.yml": CI_FILE.read_text()}
    texts |= {str(p.relative_to(ROOT)): p.read_text() for p in CI_SCRIPTS.iterdir() if p.is_file()}
    offenders = [name for name, text in texts.items()
                 if re.search(r"AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|AWS_SESSION_TOKEN", text)]
    assert offenders == []
