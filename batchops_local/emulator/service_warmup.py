"""Prepare, on a background thread, what moto would otherwise build inside the first requests.

AWS answers a first request as fast as any other. moto's server does two slow things on first use instead,
each under a process-wide lock, and a `terraform apply` opens with exactly such a burst of first requests:

- it creates the request handler of a service on that service's first request (importing `moto.ssm` alone
  takes about a second, the product's dozen services about two), and every other service's first request
  waits for that lock;
- every request looks up its access key in the account's IAM backends of *all* partitions, so the first
  requests create five IAM backends, each loading the ~1,600 AWS-managed policies when those are enabled
  (about 1.3 s, under moto's backend lock).

Measured on the local stack: CreateKey, CreateRole and CreateBucket each took about 2 s and the provider's
first GetCallerIdentity about 1 s, on the critical path of the apply. The warm-up builds the handlers once
per server and the IAM backends after every start and reset. A request that arrives before its part is
ready waits for the same lock it always did, so nothing changes but the timing.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("batchops_local.emulator.warmup")

# Every service the product's Terraform, runner, Lambdas and CLI call, named as moto's dispatcher keys its
# handlers (Lambda is `awslambda`).
PRODUCT_SERVICES = (
    "sts",
    "iam",
    "kms",
    "s3",
    "sqs",
    "sns",
    "events",
    "awslambda",
    "logs",
    "dynamodb",
    "ssm",
    "sagemaker",
    "secretsmanager",
)
# One cheap read per product service, keyed by boto3 client name: the kind of request Terraform sends first.
# Used to probe that the warm-up left nothing to build on the request path (tests, benchmarks).
FIRST_REQUEST_PER_SERVICE = {
    "sts": lambda c: c.get_caller_identity(),
    "iam": lambda c: c.list_roles(),
    "kms": lambda c: c.list_keys(),
    "s3": lambda c: c.list_buckets(),
    "sqs": lambda c: c.list_queues(),
    "sns": lambda c: c.list_topics(),
    "events": lambda c: c.list_rules(),
    "lambda": lambda c: c.list_functions(),
    "logs": lambda c: c.describe_log_groups(),
    "dynamodb": lambda c: c.list_tables(),
    "ssm": lambda c: c.describe_parameters(),
    "sagemaker": lambda c: c.list_model_package_groups(),
    "secretsmanager": lambda c: c.list_secrets(),
}
IAM_BACKENDS = "iam backends"  # the name of the second step in `warmed` / `failures`


class ServiceWarmup:
    """Builds the handlers of `services` in `dispatcher` (moto's DomainDispatcherApplication), then the IAM
    backends of `account_id` in every partition; `dispatcher=None` does only the latter (after a reset)."""

    def __init__(self, dispatcher: Any | None, account_id: str, services: tuple[str, ...] = PRODUCT_SERVICES):
        self.dispatcher = dispatcher
        self.account_id = account_id
        self.services = services if dispatcher is not None else ()
        self.warmed: list[str] = []
        self.failures: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emulator-warmup", daemon=True)

    def start(self) -> ServiceWarmup:
        self._thread.start()
        return self

    def _run(self) -> None:
        for service in self.services:
            self._step(service, lambda name=service: self._build_handler(name))
        self._step(IAM_BACKENDS, self._build_iam_backends)

    def _step(self, name: str, action: Any) -> None:
        if self._stop.is_set():
            return
        try:
            action()
            self.warmed.append(name)
        except Exception as error:  # whatever cannot be prepared is still built on first use, as before
            self.failures[name] = f"{type(error).__name__}: {error}"
            log.warning("could not prepare %s ahead of time: %s", name, error)

    def _build_handler(self, service: str) -> None:
        dispatcher = self.dispatcher
        with dispatcher.lock:  # the lock moto's dispatcher holds while it creates a handler
            if service not in dispatcher.app_instances:
                dispatcher.app_instances[service] = dispatcher.create_app(service)

    def _build_iam_backends(self) -> None:
        from moto.iam.models import iam_backends
        from moto.utilities.utils import PARTITION_NAMES

        account = iam_backends[self.account_id]
        for partition in PARTITION_NAMES:
            if self._stop.is_set():
                return
            account[partition]  # noqa: B018 - creating the backend on access is the point

    def wait(self, timeout: float | None = None) -> bool:
        """True once every step has been done (warmed or failed) or skipped by `stop`."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Skip the steps not started yet and wait for the one in progress."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
