"""The CLI's error policy: a user error exits 2 with ONE line on stderr; anything unexpected keeps its traceback
and exits 1 (no built-in exception type is mistaken for a user error)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from typer.testing import CliRunner

from batchops import operations as ops
from batchops.cli import app
from batchops.cli._base import user_error_message
from batchops.errors import UserError
from batchops_core.settings import PROJECT_ROOT, ConfigError

GOOD_CSV = ("record_id,sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight\n"
            "a1,M,0.45,0.36,0.1,0.5,0.2,0.1,0.15\n")


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCHOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    return lambda *args: CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("args", [
    ["--env", "qa", "config", "show"],                                  # ConfigError
    ["data", "check", "/nonexistent/batch.csv", "--offline"],           # a missing input file
    ["pipelines", "start", "training", "--param", "oops"],              # a bad argument
    ["models", "list"],                                                 # no emulator for `local`
    ["pipelines", "definitions", "--out", "/tmp/x", "--account-id", "1"],
])
def test_a_user_error_is_one_line_on_stderr_and_exit_2(cli, args):
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_a_multi_problem_config_error_is_still_one_line(cli, tmp_path):
    broken = tmp_path / "broken.tfvars"
    broken.write_text('project = 7\nregion = "nowhere-1"\n')
    result = cli("--env", str(broken), "config", "show")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and str(broken) in result.stderr


def test_an_unexpected_exception_keeps_its_traceback_and_exits_1(tmp_path):
    """In a real process (the console script's path): the traceback is printed and the exit code is 1."""
    batch = tmp_path / "batch.csv"
    batch.write_text(GOOD_CSV)
    program = textwrap.dedent(f"""
        import sys
        from batchops import operations
        def broken(*args, **kwargs):
            return 1 / 0
        operations.check_csv_schema = broken
        from batchops.cli import main
        sys.argv = ["batchops", "data", "check", {str(batch)!r}, "--offline"]
        main()
    """)
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=PROJECT_ROOT,
                            timeout=120, env={"PATH": "/usr/bin:/bin", "BATCHOPS_HOME": str(tmp_path / "home")})
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert "error:" not in result.stderr


def test_an_unexpected_exception_is_not_turned_into_a_user_error(cli, tmp_path, monkeypatch):
    batch = tmp_path / "batch.csv"
    batch.write_text(GOOD_CSV)
    for exc in (ZeroDivisionError("x"), ValueError("x"), RuntimeError("x"), OSError("x")):
        def broken(*args, _exc=exc, **kwargs):
            raise _exc
        monkeypatch.setattr(ops, "check_csv_schema", broken)
        result = cli("data", "check", str(batch), "--offline")
        assert result.exit_code == 1 and result.exception is exc, (exc, result.output)


@pytest.mark.parametrize(("exc", "expected"), [
    (UserError("bad --as"), "bad --as"),
    (ConfigError(["a.tfvars: x: wrong", "a.tfvars: y: wrong"]), "a.tfvars: x: wrong; a.tfvars: y: wrong"),
    (ClientError({"Error": {"Code": "ResourceNotFound", "Message": "no pipeline p"}}, "DescribePipeline"),
     "DescribePipeline failed: ResourceNotFound: no pipeline p"),
    (ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, "ListModelPackages"),
     "ListModelPackages failed: AccessDeniedException: not allowed"),
    (NoCredentialsError(), "AWS client set-up: Unable to locate credentials"),
])
def test_user_errors_are_classified_with_one_line(exc, expected):
    assert user_error_message(exc) == expected


@pytest.mark.parametrize("exc", [
    ClientError({"Error": {"Code": "InternalFailure", "Message": "boom"}}, "DescribePipeline"),
    ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "DescribePipeline"),
    ValueError("x"), RuntimeError("x"), OSError("x"), KeyError("x"), ZeroDivisionError(),
])
def test_everything_else_is_unexpected(exc):
    assert user_error_message(exc) is None


def test_the_product_errors_are_user_errors():
    from batchops.aws_session import AwsTargetError
    from batchops.terraform import TerraformError, TerraformRefusal

    assert issubclass(ops.OperationError, UserError) and issubclass(AwsTargetError, UserError)
    assert issubclass(TerraformRefusal, UserError)
    assert not issubclass(TerraformError, UserError), "a failed Terraform run is a failure (exit 1), not a user error"
