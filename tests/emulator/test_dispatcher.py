"""The emulator's request dispatcher: moto's host -> service lookup, remembered per host."""

from __future__ import annotations

from moto import backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from batchops_local.emulator.server import _Dispatcher


def test_each_host_is_looked_up_once_with_moto_s_own_answer(monkeypatch):
    listings = []
    real_listing = backends.list_of_moto_modules

    def counted_listing():
        listings.append(1)
        return real_listing()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted_listing)
    plain = DomainDispatcherApplication(create_backend_app)
    dispatcher = _Dispatcher(create_backend_app)
    hosts = ["s3.eu-west-1.amazonaws.com", "api.sagemaker.eu-west-1.amazonaws.com", "sts.amazonaws.com", "s3",
             "no-such-service.example.com", None]
    expected = [plain.get_backend_for_host(host) for host in hosts]
    assert expected[:4] == ["s3", "sagemaker", "sts", "s3"]  # the lookup itself answers (moto's URL patterns)
    listings.clear()
    assert [dispatcher.get_backend_for_host(host) for host in hosts * 3] == expected * 3
    assert len(listings) == len([host for host in hosts if host is not None])  # once per host, then remembered
