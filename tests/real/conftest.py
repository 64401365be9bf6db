"""Fixtures for real-server tests: `nginx`, `apache`, `haproxy`, `caddy`, `fake_homeserver`, `down_upstream`.

Each server fixture is a factory: `proxy = nginx(config_text_or_Path, upstream=..., **driver_options)`
starts the server (after its own syntax check) and returns a running `RunningProxy`; every proxy a
test started is stopped when the test ends (or earlier with `with nginx(...) as proxy:`).
A missing binary skips the test, or fails it under MPL_REQUIRE_SERVERS=1; a config that cannot
run here (missing include…) skips with the reason; a config the server rejects fails with its output.
"""
from __future__ import annotations

from typing import Callable

import pytest

from real import driver_apache, driver_caddy, driver_haproxy, driver_nginx
from real.fake_homeserver import FakeHomeserver
from real.harness import RunningProxy, require_binary, start
from real.support import ClosedPort, Unrenderable


@pytest.fixture(scope="session")
def _shared_fake_homeserver():
    # One per session: it is stateless apart from `requests`/`fail_with`, which the
    # function-scoped fixture below resets for every test (tests run one at a time).
    with FakeHomeserver() as fake:
        yield fake


@pytest.fixture
def fake_homeserver(_shared_fake_homeserver) -> FakeHomeserver:
    fake = _shared_fake_homeserver
    fake.clear()
    fake.fail_with = None
    yield fake
    fake.fail_with = None


@pytest.fixture(scope="session")
def down_upstream() -> ClosedPort:
    """An upstream address that refuses every connection ("upstream down")."""
    with ClosedPort() as closed:
        yield closed


def _factory(driver, fake: FakeHomeserver, tmp_path_factory) -> Callable[..., RunningProxy]:
    require_binary(driver)
    started: list[RunningProxy] = []

    def run(config, *, upstream=None, **options) -> RunningProxy:
        try:
            proxy = start(driver, config, fake if upstream is None else upstream,
                          workdir=tmp_path_factory.mktemp(driver.NAME), **options)
        except Unrenderable as reason:
            pytest.skip(f"{driver.NAME}: this config cannot run here: {reason}")
        started.append(proxy)
        return proxy

    run.started = started
    return run


@pytest.fixture
def nginx(fake_homeserver, tmp_path_factory):
    run = _factory(driver_nginx, fake_homeserver, tmp_path_factory)
    yield run
    for proxy in run.started:
        proxy.stop()


@pytest.fixture
def apache(fake_homeserver, tmp_path_factory):
    run = _factory(driver_apache, fake_homeserver, tmp_path_factory)
    yield run
    for proxy in run.started:
        proxy.stop()


@pytest.fixture
def haproxy(fake_homeserver, tmp_path_factory):
    run = _factory(driver_haproxy, fake_homeserver, tmp_path_factory)
    yield run
    for proxy in run.started:
        proxy.stop()


@pytest.fixture
def caddy(fake_homeserver, tmp_path_factory):
    run = _factory(driver_caddy, fake_homeserver, tmp_path_factory)
    yield run
    for proxy in run.started:
        proxy.stop()
