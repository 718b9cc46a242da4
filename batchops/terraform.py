"""The one Terraform adapter: every `terraform` command of the project runs through `Terraform` here.

    tf = Terraform(load_settings("local"), home=Path(".local"), endpoint_env=local_aws.env(), progress=print)
    tf.init(); tf.plan(); tf.apply(); tf.output(); tf.destroy()

    # A reviewed change: save the plan, apply exactly that file later (possibly in another job).
    tf.plan(out=Path("build/ci/dev/plan.tfplan")); tf.apply(plan_file=Path("build/ci/dev/plan.tfplan"))

People and the CI wrappers in `scripts/ci/` run it through `batchops infra ...` (batchops/cli/infra.py): no
other file of the project runs the `terraform` binary (a test checks it). `install_pinned` below installs the
pinned release, verified by its checksum, for CI images without Terraform.

What it takes care of:
- the environment's variables come from `env_files/<env>.tfvars` (`-var-file`), the file Python reads too;
- the Lambda zips are built (`batchops.lambda_package`) before anything evaluates `filebase64sha256`;
- every env FILE has its own directory `<home>/terraform/<key>/` (`state_key`: the file's stem for a file of
  env_files/, else the stem and a short hash of its path), with its own `TF_DATA_DIR`, so neither init state
  nor local state is ever shared between two files, whatever `environment` they declare; two files whose
  derived resource names collide are refused (`check_env_file_collision`);
- Terraform runs in that directory's `root/`, made of links to the files of `terraform/` plus the run's own
  `backend_override.tf`: nothing is written into the source tree, and an override file someone else puts into
  `terraform/` (a CI wrapper's backend, say) never changes this run;
- state: an emulated environment (`emulated = true`, by default `local`) keeps it in
  `<home>/terraform/<key>/terraform.tfstate`; real environments use a remote backend (`http` for
  GitLab-managed state, or `s3`) configured with `-backend-config` entries, which must not carry credentials
  (Terraform records them in the data directory and in saved plans): those come from the backend's
  environment variables (`TF_HTTP_PASSWORD`, the AWS credential chain);
- every plan is checked before it can be applied (`check_plan`): one that would delete or replace a resource of
  another environment (its project/environment tags, or its names) or the data bucket is refused unless the
  caller allows it explicitly (`allow_foreign_destroy`, `allow_bucket_replacement`); an apply without a saved
  plan plans, checks and applies that plan, except on an empty local state (nothing to delete or replace: one
  `terraform apply` then plans and applies, saving the provider starts of two more commands);
- a saved plan records the SHA-256 of the Lambda zips it was made with (`<plan>.lambda.sha256`, the
  `sha256sum` format); applying that plan refuses other zips and never rebuilds them;
- providers install offline from a filesystem mirror when one is found (see `find_provider_mirror`);
- against the local emulator the process gets only the emulator's endpoint and dummy keys, never the
  caller's AWS credentials, so an emulated run cannot touch an AWS account.

python-terraform 0.10.1 builds the command lines (flags, `-var-file`, `-backend-config`). The adapter runs
them itself: python-terraform buffers all output until the end (no progress), does not raise on errors by
default, and its apply/destroy defaults (`-force`, no `-auto-approve`) fail on Terraform 1.11.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchops.errors import UserError
from batchops_core import contracts
from batchops_core.settings import ENV_DIR, PROJECT_ROOT, ConfigError, Settings, fixed_resource_names, load_settings

TERRAFORM_DIR = PROJECT_ROOT / "terraform"
BACKEND_OVERRIDE_FILE = "backend_override.tf"
REMOTE_BACKENDS = ("http", "s3")
PROVIDER_SOURCE = ("registry.terraform.io", "hashicorp", "aws")
MIRROR_ENV_VARS = ("BATCHOPS_TF_PLUGIN_MIRROR", "TF_PLUGIN_MIRROR")

# Variables that could point an emulated run at a real account; they are removed from its environment.
_AWS_CREDENTIAL_VARS = re.compile(r"^AWS_(?!CA_BUNDLE$)[A-Z_]+$")

Progress = Callable[[str], None]


class TerraformError(RuntimeError):
    """A Terraform command failed, or the adapter cannot run it; the message says which and why."""

    def __init__(self, message: str, *, command: Sequence[str] = (), returncode: int | None = None,
                 output: str = ""):
        self.command = list(command)
        self.returncode = returncode
        self.output = output
        super().__init__(message)


class TerraformRefusal(TerraformError, UserError):
    """The adapter refused an input before running Terraform (missing plan file, changed Lambda zips, a secret
    in the backend settings, an unconfirmed destroy): a user error (exit 2); other TerraformErrors exit 1."""


@dataclass(frozen=True)
class PlanSummary:
    """What a plan would do to resources (output-only changes do not count)."""

    add: int = 0
    change: int = 0
    destroy: int = 0
    addresses: tuple[str, ...] = field(default=())

    @property
    def changes(self) -> int:
        return self.add + self.change + self.destroy

    @property
    def has_changes(self) -> bool:
        return self.changes > 0

    def gitlab_report(self) -> dict[str, int]:
        """GitLab's Terraform report (`artifacts:reports:terraform`), shown in the merge-request widget."""
        return {"create": self.add, "update": self.change, "delete": self.destroy}

    def __str__(self) -> str:
        if not self.has_changes:
            return "no changes"
        return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"


# ------------------------------------------------------------------------------------------- provider mirror


def _is_mirror_root(path: Path) -> bool:
    return path.joinpath(*PROVIDER_SOURCE).is_dir()


def implied_mirror_dirs() -> list[Path]:
    """Terraform's implied local mirror directories on Unix (Terraform CLI configuration docs)."""
    home = Path.home()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    data_dirs = [Path(p) for p in (os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":") if p]
    return [home / ".terraform.d" / "plugins", data_home / "terraform" / "plugins",
            *[d / "terraform" / "plugins" for d in data_dirs]]


# Never descended into by the bounded search: pseudo file systems and trees that hold no provider mirror.
_SEARCH_SKIP = {"proc", "sys", "dev", "run", "snap", "lost+found", "node_modules", "__pycache__", ".git",
                "site-packages", "dist-packages", ".cache"}


def search_mirror(roots: Iterable[Path] = (Path("/"),), *, max_depth: int = 4,
                  time_budget: float = 10.0) -> Path | None:
    """Breadth-first search for a directory holding `registry.terraform.io/hashicorp/aws`.

    The mirror root is at most `max_depth` levels below a search root; the search stops after `time_budget`
    seconds so a huge file system cannot stall a command."""
    deadline = time.monotonic() + time_budget
    level = [Path(root) for root in roots]
    for _depth in range(max_depth + 1):
        next_level: list[Path] = []
        for directory in level:
            if time.monotonic() > deadline:
                return None
            if _is_mirror_root(directory):
                return directory
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if entry.name not in _SEARCH_SKIP and entry.is_dir(follow_symlinks=False):
                            next_level.append(Path(entry.path))
            except OSError:
                continue
        level = sorted(next_level)
    return None


def find_provider_mirror(cache_file: Path | None = None, *, search_roots: Iterable[Path] = (Path("/"),)) -> Path | None:
    """The filesystem mirror to install `hashicorp/aws` from, or None (then Terraform uses the registry).

    Order: BATCHOPS_TF_PLUGIN_MIRROR / TF_PLUGIN_MIRROR (must be valid), Terraform's implied mirror
    directories, the cached result of an earlier search, a bounded search of the file system (cached)."""
    for name in MIRROR_ENV_VARS:
        value = os.environ.get(name)
        if value:
            path = Path(value).expanduser()
            if not _is_mirror_root(path):
                raise TerraformError(f"{name}={value}: not a provider mirror (expected "
                                     f"{path.joinpath(*PROVIDER_SOURCE)} to be a directory)")
            return path
    for path in implied_mirror_dirs():
        if _is_mirror_root(path):
            return path
    if cache_file is not None and cache_file.is_file():
        try:
            cached = json.loads(cache_file.read_text(encoding="utf-8")).get("mirror")
        except (OSError, ValueError, AttributeError):
            cached = None
        if cached and _is_mirror_root(Path(cached)):
            return Path(cached)
    found = search_mirror(search_roots)
    if cache_file is not None and found is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps({"mirror": str(found)}) + "\n", encoding="utf-8")
    return found


def cli_config_text(mirror: Path) -> str:
    """A Terraform CLI configuration that installs hashicorp providers from `mirror` and never downloads them."""
    namespace = "/".join(PROVIDER_SOURCE[:2]) + "/*"
    return (
        "# Generated by batchops.terraform: install hashicorp providers from the filesystem mirror.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(mirror))}\n"
        f"    include = [{json.dumps(namespace)}]\n"
        "  }\n"
        "  direct {\n"
        f"    exclude = [{json.dumps(namespace)}]\n"
        "  }\n"
        "}\n"
    )


def backend_override_text(backend: str, environment: str) -> str:
    return (
        f"# Generated by batchops.terraform for environment '{environment}'; not committed. The backend's\n"
        "# settings come from -backend-config (docs/infrastructure.md).\n"
        "terraform {\n"
        f'  backend "{backend}" {{}}\n'
        "}\n"
    )


# Directories of the root module that its configuration or its tests refer to by relative path.
_LINKED_DIRS = {"modules", "tests"}


def _is_override_file(name: str) -> bool:
    """Terraform's override files: `override.tf` and `*_override.tf`."""
    return name == "override.tf" or name.endswith("_override.tf")


def _write_if_changed(path: Path, text: str) -> None:
    """Atomic, and untouched when equal, so concurrent runs of the same environment never see a half file."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(text)
    os.replace(handle.name, path)


# ------------------------------------------------------------------------------------------- the adapter


class Terraform:
    """Runs Terraform for one environment of `settings` (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        home: Path | str,
        endpoint_env: Mapping[str, str] | None,
        progress: Progress | None = None,
        backend: str | None = None,
        backend_config: Sequence[str] = (),
        terraform_bin: str | None = None,
        module_dir: Path = TERRAFORM_DIR,
        lambda_build_dir: Path | None = None,
        lock_timeout: str = "60s",
        allow_foreign_destroy: bool = False,
        allow_bucket_replacement: bool = False,
    ):
        if settings.source_file is None:
            raise TerraformError("settings have no source file: load them with batchops_core.settings.load_settings")
        self.settings = settings
        self.environment = settings.environment
        self.home = Path(home).resolve()
        self.endpoint_env = dict(endpoint_env) if endpoint_env else None
        self.progress = progress
        self.module_dir = Path(module_dir).resolve()
        if not self.module_dir.is_dir():
            raise TerraformRefusal(f"Terraform root module {self.module_dir} is not a directory")
        # The module reads its zips from `${path.module}/build/lambda`.
        self.lambda_build_dir = Path(lambda_build_dir) if lambda_build_dir else self.module_dir / "build" / "lambda"
        if not re.fullmatch(r"\d+[smh]", lock_timeout):
            raise TerraformRefusal(f"lock timeout '{lock_timeout}': expected a duration like 60s, 5m or 1h")
        self.lock_timeout = lock_timeout
        self.var_file = Path(settings.source_file).resolve()
        self.allow_foreign_destroy = allow_foreign_destroy
        self.allow_bucket_replacement = allow_bucket_replacement
        self.work_dir = self.home / "terraform" / state_key(self.var_file)
        self.data_dir = self.work_dir / "data"
        self.state_file = self.work_dir / "terraform.tfstate"
        self.root_dir = self.work_dir / "root"
        self.backend = self._choose_backend(backend)
        self.backend_config = list(backend_config) or _backend_config_from_env()
        check_backend_config(self.backend_config)
        self.terraform_bin = terraform_bin or os.environ.get("BATCHOPS_TERRAFORM") or shutil.which("terraform")
        if not self.terraform_bin:
            raise TerraformError("terraform is not on PATH: install Terraform 1.11 or set BATCHOPS_TERRAFORM")
        self._initialized = False

    def _choose_backend(self, backend: str | None) -> str:
        emulated = self.settings.emulated
        backend = backend or os.environ.get("BATCHOPS_TF_BACKEND") or ("local" if emulated else "")
        if emulated:
            if backend != "local":
                raise TerraformError(f"emulated environment '{self.environment}' keeps its state under "
                                     f"BATCHOPS_HOME; backend '{backend}' is for real environments")
            return backend
        if backend not in REMOTE_BACKENDS:
            raise TerraformError(
                f"environment '{self.environment}' needs remote state with locking: pass backend= (or set "
                f"BATCHOPS_TF_BACKEND) to one of {', '.join(REMOTE_BACKENDS)}, found '{backend or '(none)'}'")
        return backend

    # ---------------------------------------------------------------------------------- commands

    def init(self, *, backend: bool = True) -> None:
        """Install providers (from the mirror when found) and configure this environment's backend.

        `backend=False` initialises without any backend: enough for validate and test, never touches state."""
        if not backend:
            self._run("init", options={"backend": False})
            self._initialized = True
            return
        check_env_file_collision(self.settings, self.home)
        backend_config: dict[str, str] | None = None
        if self.backend == "local":
            self.work_dir.mkdir(parents=True, exist_ok=True)
            backend_config = {"path": str(self.state_file)}
        extra = [f"-backend-config={entry}" for entry in self.backend_config]
        self._run("init", *extra, options={"reconfigure": True, "backend_config": backend_config})
        self._initialized = True

    def validate(self) -> dict[str, Any]:
        """`terraform validate -json`; raises with every diagnostic when the configuration is invalid."""
        self._ensure_init()
        result = self._run("validate", options={"json": True, "input": None}, check=False)
        try:
            report = json.loads(result.output)
        except ValueError:
            raise TerraformError(f"terraform validate did not print JSON:\n{result.output[-2000:]}",
                                 command=result.command, returncode=result.returncode, output=result.output) from None
        if not report.get("valid"):
            problems = [_describe_diagnostic(d) for d in report.get("diagnostics", [])]
            raise TerraformError("terraform validate: the configuration is invalid:\n" + "\n".join(problems),
                                 command=result.command, returncode=result.returncode, output=result.output)
        return report

    def fmt_check(self) -> list[str]:
        """Files `terraform fmt` would rewrite (empty when everything is formatted)."""
        result = self._run("fmt", "-check", "-recursive", "-list=true",
                           options={"input": None}, check=False, ok_codes=(0, 3), cwd=self.module_dir)
        return [line.strip() for line in result.output.splitlines() if line.strip().endswith(".tf")]

    def test(self, *, filter_files: Sequence[str] = ()) -> str:
        """`terraform test` (terraform/tests/*.tftest.hcl, mocked provider); returns its output."""
        self._ensure_init()
        filters = [f"-filter={name}" for name in filter_files]
        return self._run("test", *filters, options={"var_file": str(self.var_file), "input": None}).output

    @property
    def default_plan_file(self) -> Path:
        return self.work_dir / "last.tfplan"

    def check_module_tests(self) -> list[Path]:
        """The module's `tests/*.tftest.hcl`; refuses a module without any (its tests must not vanish silently)."""
        tests = sorted((self.module_dir / "tests").glob("*.tftest.hcl"))
        if not tests:
            raise TerraformRefusal(f"no {self.module_dir}/tests/*.tftest.hcl found: the module's tests are missing")
        return tests

    def plan(self, out: Path | str | None = None) -> PlanSummary:
        """Plan against the environment's state and return how many resources would change.

        The plan is saved to `out` (default `<home>/terraform/<key>/last.tfplan`) with its Lambda manifest
        beside it; a failed plan, or one `check_plan` refuses, leaves neither behind, so an older plan file can
        never be mistaken for it."""
        self._prepare()
        plan_file = Path(out).resolve() if out else self.default_plan_file
        manifest = lambda_manifest_path(plan_file)
        plan_file.unlink(missing_ok=True)
        manifest.unlink(missing_ok=True)
        plan_file.parent.mkdir(parents=True, exist_ok=True)
        self._run("plan", options={"var_file": str(self.var_file), "out": str(plan_file),
                                   "lock_timeout": self.lock_timeout})
        shown = self.show_plan_json(plan_file)
        try:
            self.check_plan(shown)
        except TerraformRefusal:
            plan_file.unlink(missing_ok=True)
            raise
        write_lambda_manifest(self.lambda_build_dir, manifest)
        return summarize_plan(shown)

    def check_plan(self, plan: Mapping[str, Any]) -> None:
        """Refuse a plan that destroys another environment's resources or the data bucket, unless allowed."""
        foreign, bucket = plan_dangers(plan, self.settings)
        problems = []
        if foreign and not self.allow_foreign_destroy:
            problems.append(f"it would delete or replace resources of another environment: {_few(foreign)} "
                            f"(is {self.state_file if self.backend == 'local' else 'the backend state'} the "
                            f"state of {self.var_file}?); pass --allow-foreign-destroy if that is intended")
        if bucket and not self.allow_bucket_replacement:
            problems.append(f"it would delete or replace the data bucket: {_few(bucket)}, and every object in it; "
                            "pass --allow-bucket-replacement if that is intended")
        if problems:
            raise TerraformRefusal(f"refusing the plan for {self.var_file}: " + "; ".join(problems))

    def show_plan_json(self, plan_file: Path | str) -> dict[str, Any]:
        """`terraform show -json <plan file>`, parsed."""
        self._ensure_init()
        shown = self._run("show", str(Path(plan_file).resolve()), options={"json": True, "input": None}, quiet=True)
        try:
            return json.loads(shown.output)
        except ValueError:
            raise TerraformError(f"terraform show -json {plan_file} did not print JSON:\n{shown.output[-2000:]}",
                                 command=shown.command, output=shown.output) from None

    def show_plan_text(self, plan_file: Path | str) -> str:
        """The human-readable plan (`terraform show <plan file>`), for reviewers."""
        self._ensure_init()
        return self._run("show", str(Path(plan_file).resolve()), options={"input": None}, quiet=True).output + "\n"

    def apply(self, plan_file: Path | str | None = None) -> dict[str, Any]:
        """Create or update everything; returns the outputs.

        With `plan_file`, applies exactly that saved plan: its Lambda zips are checked against the plan's
        manifest first (and not rebuilt), and Terraform itself refuses a plan whose state has moved on. Without,
        it plans (checked by `check_plan`) and applies exactly that plan, or, when the local state holds no
        resource (the plan can only create: nothing for the check to refuse), runs one `terraform apply`."""
        checked = plan_file is None
        if plan_file is None and self.state_has_no_resources():
            # Nothing in the state: the plan can only create, so `check_plan` (deletes and replacements) has
            # nothing to refuse. One `terraform apply` plans and applies in one process, without the separate
            # plan, `show -json` and apply commands, each of which starts the provider again.
            self._prepare()
            self._run("apply", options={"var_file": str(self.var_file), "auto_approve": True,
                                        "lock_timeout": self.lock_timeout})
            return self.output()
        if plan_file is None:
            self.plan()
            plan_file = self.default_plan_file
        plan_file = Path(plan_file).resolve()
        if not plan_file.is_file():
            raise TerraformRefusal(f"no reviewed plan at {plan_file}: make one with the plan command (--out)")
        verify_lambda_manifest(self.lambda_build_dir, lambda_manifest_path(plan_file))
        self._prepare(build_lambdas=False)
        if not checked:
            self.check_plan(self.show_plan_json(plan_file))
        self._run("apply", str(plan_file), options={"auto_approve": True, "lock_timeout": self.lock_timeout})
        return self.output()

    def state_has_no_resources(self) -> bool:
        """True when this environment's local state file is missing or holds no managed resource. A remote
        backend's state is not read here: False."""
        if self.backend != "local":
            return False
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return True
        except (OSError, ValueError):
            return False  # unreadable: let Terraform plan and report it
        resources = state.get("resources") if isinstance(state, dict) else None
        if not isinstance(resources, list):
            return False
        return not any(isinstance(r, dict) and r.get("mode", "managed") == "managed" for r in resources)

    def destroy(self) -> None:
        """Remove everything Terraform created for this environment."""
        self._prepare()
        self._run("destroy", options={"var_file": str(self.var_file), "auto_approve": True,
                                      "lock_timeout": self.lock_timeout})

    def output(self) -> dict[str, Any]:
        """`terraform output -json` as {name: value} (empty before the first apply)."""
        self._ensure_init()
        result = self._run("output", options={"json": True, "input": None}, quiet=True)
        return {name: entry.get("value") for name, entry in json.loads(result.output or "{}").items()}

    def resources(self) -> list[str]:
        """Addresses of every resource in this environment's state (`terraform state list`)."""
        self._ensure_init()
        result = self._run("state list", options={"input": None}, quiet=True)
        return [line.strip() for line in result.output.splitlines() if line.strip()]

    # ---------------------------------------------------------------------------------- internals

    def _ensure_init(self) -> None:
        if not self._initialized:
            self.init()

    def _prepare(self, *, build_lambdas: bool = True) -> None:
        """Before any command that evaluates the configuration: zips built, init done, target checked."""
        if self.settings.emulated and self.endpoint_env is None:
            raise TerraformError(f"emulated environment '{self.environment}' runs only against the local "
                                 "emulator: pass endpoint_env (start it with batchops_local.runtime.start_local_aws)")
        if build_lambdas:
            self.build_lambda_packages()
        self._ensure_init()

    def build_lambda_packages(self) -> dict[str, Path]:
        try:
            from batchops.lambda_package import build_lambda_zips
        except ImportError as exc:
            raise TerraformError(f"cannot build the Lambda zips: {exc}") from None
        zips = build_lambda_zips(self.lambda_build_dir)
        self._say(f"lambda packages: {', '.join(f'{name}.zip' for name in sorted(zips))} in {self.lambda_build_dir}")
        return zips

    def _write_backend_override(self) -> None:
        _write_if_changed(self.root_dir / BACKEND_OVERRIDE_FILE, backend_override_text(self.backend, self.environment))

    def stage_root(self) -> Path:
        """Link the module's files into this environment's root; override files of the source tree are left out.

        The lock file is copied, not linked, so an init that records extra hashes never edits the committed one."""
        self.root_dir.mkdir(parents=True, exist_ok=True)
        wanted: dict[str, Path] = {}
        for entry in sorted(self.module_dir.iterdir()):
            if entry.is_dir() and entry.name in _LINKED_DIRS:
                wanted[entry.name] = entry
            elif entry.suffix == ".tf" and not _is_override_file(entry.name):
                wanted[entry.name] = entry
            elif entry.suffix == ".json" and entry.is_file():  # data the configuration reads (contracts.json)
                wanted[entry.name] = entry
        build = self.module_dir / "build"
        build.mkdir(exist_ok=True)
        wanted["build"] = build
        for existing in self.root_dir.iterdir():
            if existing.is_symlink() and existing.name not in wanted:
                existing.unlink()
        for name, target in wanted.items():
            link = self.root_dir / name
            if link.is_symlink() and Path(os.readlink(link)) == target:
                continue
            temporary = self.root_dir / f".{name}.{os.getpid()}.link"
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(target, target_is_directory=target.is_dir())
            os.replace(temporary, link)
        lock = self.module_dir / ".terraform.lock.hcl"
        if lock.is_file():
            _write_if_changed(self.root_dir / lock.name, lock.read_text(encoding="utf-8"))
        self._write_backend_override()
        return self.root_dir

    def cli_config_file(self) -> Path | None:
        mirror = find_provider_mirror(self.home / "terraform" / "provider-mirror.json")
        if mirror is None:
            return None
        path = self.home / "terraform" / "terraformrc"
        _write_if_changed(path, cli_config_text(mirror))
        return path

    def process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.endpoint_env is not None:
            for name in [n for n in env if _AWS_CREDENTIAL_VARS.match(n)]:
                del env[name]
            env.update(self.endpoint_env)
            env.setdefault("AWS_ACCESS_KEY_ID", "test")
            env.setdefault("AWS_SECRET_ACCESS_KEY", "test")
            # An unimplemented emulator operation answers HTTP 500: retry it twice, not 25 times.
            env["AWS_MAX_ATTEMPTS"] = env.get("AWS_MAX_ATTEMPTS") or "2"
            env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = self.settings.region
        env["TF_DATA_DIR"] = str(self.data_dir)
        env["TF_IN_AUTOMATION"] = "1"
        env["TF_INPUT"] = "0"
        config = self.cli_config_file()
        if config is not None:
            env["TF_CLI_CONFIG_FILE"] = str(config)
        elif env.get("TF_CLI_CONFIG_FILE") and not Path(env["TF_CLI_CONFIG_FILE"]).is_file():
            del env["TF_CLI_CONFIG_FILE"]  # a missing file only makes every command print a warning
        return env

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

    def _run(self, command: str, *args: str, options: Mapping[str, Any],
             check: bool = True, quiet: bool = False, ok_codes: Sequence[int] = (0,),
             cwd: Path | None = None) -> _Result:
        argv = self._command_line(command, *args, options=options)
        env = self.process_env()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if cwd is None:
            self.stage_root()
        if not quiet:
            self._say("$ terraform " + " ".join(argv[1:]))
        lines: list[str] = []
        try:
            process = subprocess.Popen(argv, cwd=cwd or self.root_dir, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1)
        except OSError as exc:
            raise TerraformError(f"cannot run {argv[0]}: {exc}", command=argv) from None
        assert process.stdout is not None
        with process:
            for line in process.stdout:
                line = line.rstrip("\n")
                lines.append(line)
                if not quiet:
                    self._say(line)
            returncode = process.wait()
        output = "\n".join(lines)
        if check and returncode not in ok_codes:
            raise TerraformError(
                f"terraform {command} failed (exit {returncode}) for environment '{self.environment}':\n"
                + _error_excerpt(lines),
                command=argv, returncode=returncode, output=output)
        return _Result(argv, returncode, output)

    def _command_line(self, command: str, *args: str, options: Mapping[str, Any]) -> list[str]:
        from python_terraform import IsFlagged
        from python_terraform import Terraform as CommandBuilder

        # python-terraform's option syntax: True -> bare flag, False -> "=false", None -> omitted.
        kwargs: dict[str, Any] = {"no_color": IsFlagged, "input": False}
        for name, value in options.items():
            kwargs[name] = IsFlagged if value is True and name != "input" else value
        builder = CommandBuilder(working_dir=str(self.root_dir), terraform_bin_path=self.terraform_bin)
        argv = builder.generate_cmd_string(command, **kwargs)
        return [*argv, *args]


@dataclass(frozen=True)
class _Result:
    command: list[str]
    returncode: int
    output: str


def _backend_config_from_env() -> list[str]:
    """BATCHOPS_TF_BACKEND_CONFIG: `key=value` entries or file paths, separated by newlines or ';'."""
    raw = os.environ.get("BATCHOPS_TF_BACKEND_CONFIG", "")
    return [entry.strip() for entry in re.split(r"[;\n]", raw) if entry.strip()]


# Backend settings that are credentials, and where each backend reads them from instead.
_SECRET_BACKEND_KEY = re.compile(r"password|secret|token|access_key|private_key", re.IGNORECASE)
_SECRET_HINT = ("credentials come from the environment instead: TF_HTTP_USERNAME / TF_HTTP_PASSWORD for the "
                "http backend, the AWS credential chain for s3")


def check_backend_config(entries: Sequence[str]) -> None:
    """Refuse credentials in `-backend-config`: Terraform writes those settings into its data directory and
    into every saved plan, which CI publishes as an artifact. Files are checked for the same keys."""
    for entry in entries:
        key, separator, _value = entry.partition("=")
        if separator:
            keys = [key.strip()]
            where = f"backend setting '{key.strip()}'"
        else:
            path = Path(entry).expanduser()
            if not path.is_file():
                raise TerraformRefusal(f"backend config '{entry}': neither key=value nor an existing file")
            keys = re.findall(r"^\s*([A-Za-z_][\w-]*)\s*=", path.read_text(encoding="utf-8"), re.MULTILINE)
            where = f"backend config file {path}"
        secret = [name for name in keys if _SECRET_BACKEND_KEY.search(name)]
        if secret:
            raise TerraformRefusal(f"{where}: {', '.join(secret)} is a credential and would be written into "
                                   f"saved plans; {_SECRET_HINT}")


# ------------------------------------------------------------------------------------------- env files and state


def state_key(env_file: Path) -> str:
    """The directory under `<home>/terraform/` of one env file: its stem for a file of env_files/ (so `local`
    keeps `<home>/terraform/local/`), else the stem and a hash of the resolved path (two `x.tfvars` elsewhere
    never share state)."""
    path = Path(env_file).resolve()
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", path.name.removesuffix(".tfvars")) or "env"
    if path.parent == ENV_DIR.resolve():
        return stem
    return f"{stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


ENV_FILE_RECORD = "env-file.json"


def owned_names(settings: Settings) -> set[str]:
    """Names of the resources the env file's stack creates (a configured bucket suffix kept as its kind)."""
    storage = settings.storage
    return ({name for _kind, name in fixed_resource_names(settings.project, settings.environment)}
            | {f"{storage.bucket_name}{'+' + storage.bucket_name_suffix if storage.bucket_name_suffix else ''}",
               settings.pipelines.model_package_group, *settings.pipeline_names.values()})


def check_env_file_collision(settings: Settings, home: Path) -> None:
    """Refuse an env file whose resource names are those of another env file used with `home` (each has its
    own state, so both would manage the same resources); then record this file for the next check."""
    path = Path(settings.source_file).resolve()
    mine = owned_names(settings)
    root = Path(home) / "terraform"
    for record in sorted(root.glob(f"*/{ENV_FILE_RECORD}")):
        try:
            other = Path(json.loads(record.read_text(encoding="utf-8"))["env_file"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if other == path or not other.is_file():
            continue
        try:
            shared = sorted(mine & owned_names(load_settings(other)))
        except ConfigError:
            continue  # an invalid file cannot be planned, so it manages nothing now
        if shared:
            raise TerraformRefusal(
                f"{path} and {other} both name {_few(shared)} (project '{settings.project}', environment "
                f"'{settings.environment}'): each file has its own state, so both would manage the same resources; "
                "give one of them another environment name")
    _write_if_changed(root / state_key(path) / ENV_FILE_RECORD, json.dumps({"env_file": str(path)}) + "\n")


def _few(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# Attributes that name a resource in the plan's `before` values (for resources without tags).
_NAME_ATTRIBUTES = ("name", "bucket", "function_name", "role", "rule", "topic_arn", "queue_url", "arn")
_BUCKET_TYPE = "aws_s3_bucket"


def plan_dangers(plan: Mapping[str, Any], settings: Settings) -> tuple[list[str], list[str]]:
    """(resources of another environment, data buckets) that `terraform show -json` plan deletes or replaces.

    A resource belongs to another environment when its tags (every resource of the stack carries project and
    environment: terraform/providers.tf default_tags) name another project or environment, or, without such
    tags, when none of its names contains this environment's name prefix, bucket or pipeline names."""
    summarize_plan(plan)  # the same shape checks
    own_tokens = [settings.resource_prefix, settings.storage.bucket_name, settings.pipelines.model_package_group,
                  contracts.active_model_parameter(settings.project, settings.environment),
                  *settings.pipeline_names.values()]
    foreign: list[str] = []
    buckets: list[str] = []
    for resource in plan.get("resource_changes") or []:
        change = resource.get("change") or {}
        if resource.get("mode", "managed") != "managed" or "delete" not in change.get("actions", []):
            continue
        before = change.get("before") if isinstance(change.get("before"), Mapping) else {}
        address = str(resource.get("address"))
        tags = before.get("tags_all") or before.get("tags") or {}
        owner = (tags.get("project"), tags.get("environment")) if isinstance(tags, Mapping) else (None, None)
        if owner != (None, None):
            if owner != (settings.project, settings.environment):
                foreign.append(f"{address} (project {owner[0]}, environment {owner[1]})")
        else:
            names = [str(before[key]) for key in _NAME_ATTRIBUTES if isinstance(before.get(key), str) and before[key]]
            if names and not any(token in name for token in own_tokens for name in names):
                foreign.append(f"{address} ({names[0]})")
        if resource.get("type") == _BUCKET_TYPE:
            buckets.append(f"{address} ({before.get('bucket', '?')})")
    return foreign, buckets


# ------------------------------------------------------------------------------------------- Lambda manifest


def lambda_manifest_path(plan_file: Path) -> Path:
    """Where the SHA-256 of the Lambda zips a plan was made with are kept: beside the plan file."""
    return plan_file.with_name(plan_file.name + ".lambda.sha256")


def _zip_digests(directory: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.glob("*.zip"))}


def write_lambda_manifest(lambda_dir: Path, manifest: Path) -> None:
    """`sha256sum` format, so a person can check it too: `cd <lambda dir> && sha256sum -c <manifest>`."""
    digests = _zip_digests(lambda_dir)
    if not digests:
        raise TerraformError(f"no Lambda zips in {lambda_dir} to record with the plan")
    manifest.write_text("".join(f"{digest}  {name}\n" for name, digest in digests.items()), encoding="utf-8")


def verify_lambda_manifest(lambda_dir: Path, manifest: Path) -> None:
    """Refuse zips other than the planned ones: the plan recorded their hashes, apply would upload these."""
    if not manifest.is_file():
        raise TerraformRefusal(f"no {manifest} beside the plan: the plan's artifacts are incomplete")
    planned: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        digest, _, name = line.partition("  ")
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or not name:
            raise TerraformRefusal(f"{manifest}:{number}: expected '<sha256>  <zip name>', found {line!r}")
        planned[name] = digest
    present = _zip_digests(lambda_dir) if lambda_dir.is_dir() else {}
    problems = [f"{name} {'missing' if name not in present else 'changed'}"
                for name, digest in planned.items() if present.get(name) != digest]
    problems += [f"{name} not planned" for name in present if name not in planned]
    if problems:
        raise TerraformRefusal(f"the Lambda zips in {lambda_dir} differ from the ones planned "
                               f"({', '.join(problems)}): plan again")


def _describe_diagnostic(diagnostic: Mapping[str, Any]) -> str:
    where = diagnostic.get("range") or {}
    location = f"{where.get('filename', '?')}:{(where.get('start') or {}).get('line', '?')}"
    return f"{diagnostic.get('severity')}: {diagnostic.get('summary')}: {diagnostic.get('detail', '')} ({location})"


def _error_excerpt(lines: list[str], limit: int = 40) -> str:
    """The `Error:` blocks of Terraform's output, or its last lines when there are none."""
    start = next((i for i, line in enumerate(lines) if re.match(r"^[│╷\s]*Error:", line)), None)
    chosen = lines[start:] if start is not None else lines
    return "\n".join(chosen[-limit:]) if start is None else "\n".join(chosen[:limit])


_PLAN_ACTIONS = {"create", "update", "delete", "no-op", "read", "forget"}


def summarize_plan(plan: Any) -> PlanSummary:
    """Counts from `terraform show -json <plan>`: a replace counts as one add and one destroy, as Terraform's own
    summary line does; reads, no-ops and forgets are not changes. Anything else is not a plan: an error."""
    if not isinstance(plan, Mapping):
        raise TerraformError("not a plan: expected the JSON object of `terraform show -json <plan file>`")
    resources = plan.get("resource_changes")
    resources = [] if resources is None else resources
    if not isinstance(resources, list):
        raise TerraformError("not a plan: 'resource_changes' is not a list")
    add = change = destroy = 0
    addresses = []
    for index, resource in enumerate(resources):
        address = resource.get("address", f"resource_changes[{index}]") if isinstance(resource, Mapping) else None
        actions = (resource.get("change") or {}).get("actions") if isinstance(resource, Mapping) else None
        if not isinstance(actions, list) or not all(isinstance(action, str) for action in actions):
            raise TerraformError(f"not a plan: {address or f'resource_changes[{index}]'} has no list of actions "
                                 "under change.actions")
        unknown = sorted(set(actions) - _PLAN_ACTIONS)
        if unknown:
            raise TerraformError(f"{address}: unknown plan action(s) {', '.join(unknown)}")
        counted = ("create" in actions, actions == ["update"], "delete" in actions)
        if any(counted):
            addresses.append(address)
            add, change, destroy = add + counted[0], change + counted[1], destroy + counted[2]
    return PlanSummary(add=add, change=change, destroy=destroy, addresses=tuple(addresses))


# ------------------------------------------------------------------------------------------- pinned installer

TERRAFORM_VERSION = "1.11.4"
# sha256 of terraform_<version>_<platform>.zip from the release's terraform_<version>_SHA256SUMS
# (https://releases.hashicorp.com/terraform/1.11.4/terraform_1.11.4_SHA256SUMS).
RELEASE_SHA256 = {
    "linux_amd64": "1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc",
    "linux_arm64": "a43d1d0da9b9bab214a8305a39db0e40869572594ccf50c416a7756499143633",
}
RELEASES_URL = "https://releases.hashicorp.com/terraform"


class InstallError(TerraformError):
    """The pinned Terraform could not be installed (download, checksum or unpacking failed)."""


def current_platform() -> str:
    import platform

    machines = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    machine = machines.get(platform.machine().lower(), platform.machine().lower())
    name = f"{platform.system().lower()}_{machine}"
    if name not in RELEASE_SHA256:
        raise InstallError(f"no pinned Terraform checksum for platform '{name}' (pinned: {', '.join(RELEASE_SHA256)})")
    return name


def installed_version(binary: str | Path) -> str | None:
    """The version `<binary> version` reports, or None (`terraform version` runs no Terraform operation)."""
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"Terraform v(\d+\.\d+\.\d+)", out)
    return found.group(1) if found else None


def install(dest: Path, *, base_url: str, expected_sha256: str, platform_name: str, version: str) -> Path:
    """Download, verify and unpack; returns the directory holding the `terraform` binary. Nothing unverified
    is ever written where it could run."""
    import io
    import urllib.error
    import urllib.request
    import zipfile

    bin_dir = dest / f"terraform-{version}"
    binary = bin_dir / "terraform"
    if binary.exists() and installed_version(binary) == version:
        return bin_dir
    url = f"{base_url.rstrip('/')}/{version}/terraform_{version}_{platform_name}.zip"
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError) as exc:
        raise InstallError(f"download of {url} failed: {exc}") from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != expected_sha256:
        raise InstallError(f"checksum mismatch for {url}: expected {expected_sha256}, got {digest}; not installed")
    try:
        member = zipfile.ZipFile(io.BytesIO(payload)).read("terraform")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise InstallError(f"{url} is not a Terraform release zip ({exc})") from None
    bin_dir.mkdir(parents=True, exist_ok=True)
    partial = bin_dir / "terraform.partial"
    partial.write_bytes(member)
    partial.chmod(0o755)
    os.replace(partial, binary)
    found = installed_version(binary)
    if found != version:
        raise InstallError(f"{binary} reports version {found!r}, expected {version}")
    return bin_dir


def install_pinned(dest: Path, *, base_url: str = RELEASES_URL, force: bool = False) -> Path:
    """The directory of a `terraform` at TERRAFORM_VERSION: the one on PATH when it is that version (unless
    `force`), else the verified release installed under `dest`."""
    on_path = shutil.which("terraform")
    if on_path and not force and installed_version(on_path) == TERRAFORM_VERSION:
        return Path(on_path).resolve().parent
    platform_name = current_platform()
    return install(dest.resolve(), base_url=base_url, expected_sha256=RELEASE_SHA256[platform_name],
                   platform_name=platform_name, version=TERRAFORM_VERSION)
