"""The warm-up: moto's service handlers and IAM backends exist before the first request needs them."""

from __future__ import annotations

import threading

from moto.iam.models import iam_backends
from moto.utilities.utils import PARTITION_NAMES

from batchops_local.emulator import Emulator, accounts
from batchops_local.emulator.service_warmup import (
    FIRST_REQUEST_PER_SERVICE,
    IAM_BACKENDS,
    PRODUCT_SERVICES,
    ServiceWarmup,
)


def _record_handler_builds(dispatcher) -> list[str]:
    built: list[str] = []
    original = dispatcher.create_app

    def create_app(service):
        built.append(service)
        return original(service)

    dispatcher.create_app = create_app
    return built


def test_first_requests_of_every_product_service_find_their_handler_ready(tmp_path):
    with Emulator(tmp_path / "home", load_aws_managed_policies=False) as emulator:
        assert emulator.warmup.wait(60)
        assert emulator.warmup.failures == {}
        assert emulator.warmup.warmed == [*PRODUCT_SERVICES, IAM_BACKENDS]
        dispatcher = emulator._server.dispatcher
        built = _record_handler_builds(dispatcher)
        for service, call in FIRST_REQUEST_PER_SERVICE.items():
            call(emulator.client(service))
        # the warm-up used the dispatcher's own keys: no request had to build a handler
        assert built == []
        assert set(PRODUCT_SERVICES) <= set(dispatcher.app_instances)


def test_iam_backends_of_every_partition_exist_after_start_and_after_a_reset(tmp_path):
    with Emulator(tmp_path / "home", load_aws_managed_policies=False) as emulator:
        assert emulator.warmup.wait(60)
        assert set(PARTITION_NAMES) <= set(iam_backends[accounts.default_account_id()].keys())
        emulator.client("iam").create_role(RoleName="kept-until-reset", AssumeRolePolicyDocument="{}")

        emulator.reset()

        assert emulator.warmup is not None and emulator.warmup.wait(60)
        assert emulator.warmup.warmed == [IAM_BACKENDS]  # handlers survive a reset; only backends are rebuilt
        assert set(PARTITION_NAMES) <= set(iam_backends[accounts.default_account_id()].keys())
        assert emulator.client("iam").list_roles()["Roles"] == []


def test_without_warm_up_handlers_are_built_on_first_use(tmp_path):
    with Emulator(tmp_path / "home", load_aws_managed_policies=False, warm_up_services=False) as emulator:
        assert emulator.warmup is None
        dispatcher = emulator._server.dispatcher
        assert "ssm" not in dispatcher.app_instances
        built = _record_handler_builds(dispatcher)
        emulator.client("ssm").describe_parameters()
        assert built == ["ssm"]


def test_stopping_while_warming_up_waits_for_the_step_in_progress_and_skips_the_rest(tmp_path):
    emulator = Emulator(tmp_path / "home", load_aws_managed_policies=False).start()
    warmup = emulator.warmup
    emulator.stop()
    assert warmup.wait(0)  # the thread has ended
    assert emulator.warmup is None


class _FakeDispatcher:
    def __init__(self, broken: str):
        self.lock = threading.Lock()
        self.app_instances: dict[str, object] = {}
        self.broken = broken

    def create_app(self, service: str) -> object:
        if service == self.broken:
            raise ImportError(f"no module for {service}")
        return object()


def test_a_service_that_cannot_be_prepared_is_reported_and_the_others_still_are():
    dispatcher = _FakeDispatcher(broken="kms")
    warmup = ServiceWarmup(dispatcher, accounts.default_account_id(), services=("sts", "kms", "s3")).start()
    assert warmup.wait(60)
    assert warmup.failures == {"kms": "ImportError: no module for kms"}
    assert warmup.warmed == ["sts", "s3", IAM_BACKENDS]
    assert set(dispatcher.app_instances) == {"sts", "s3"}
