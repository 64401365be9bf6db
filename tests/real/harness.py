"""Run a rendered config under the real server: check it, start it, wait, talk to it, stop it.

The drivers (driver_nginx.py, …) only turn a config into a `Rendered`; everything about processes
lives here, so a new server needs a driver and nothing else.
"""
from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol, Union

from real.client import Headers, Response, http_request, send_raw
from real.support import ConfigRejected, Target, Unrenderable, Upstreams

ConfigSource = Union[str, Path]  # str = config text; Path = a file on disk (its includes resolve beside it)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


@dataclass
class Listener:
    """One port the original config listened on, and where it listens now."""

    original: int            # the port as written (443, 8448, 80 for a server with no listen)
    port: int                # the local port on 127.0.0.1
    tls: bool
    spec: str = ""           # how it was first written, e.g. "[::]:443 ssl http2"
    names: list[str] = field(default_factory=list)  # host names of the sites on it, default first


@dataclass
class Rendered:
    """A config made runnable in `workdir`, and how to run it."""

    server: str
    workdir: Path
    config_path: Path
    run: list[str]
    check: Optional[list[str]] = None
    env: Optional[dict[str, str]] = None
    listeners: dict[int, Listener] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)   # shown when something fails
    notes: list[str] = field(default_factory=list)   # what was changed beyond ports/certs/paths


class Driver(Protocol):
    NAME: str

    def find_binary(self) -> Optional[str]: ...

    def render(self, config: ConfigSource, workdir: Path, upstreams: Upstreams, **options) -> Rendered: ...


class ServerMissing(Exception):
    """The server binary is not installed here."""


def find_program(name: str, *extra_dirs: str) -> Optional[str]:
    """An executable named `name`: beside this Python first (pip-installed caddy), then PATH, /usr/sbin."""
    for directory in (os.path.dirname(sys.executable), *extra_dirs):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")


# Processes started and not yet stopped; an atexit hook ends them if a test run dies half-way.
_running: dict[int, subprocess.Popen] = {}


class RunningProxy:
    """A server running a rendered config. Stop it with stop() or by leaving `with`."""

    def __init__(self, rendered: Rendered, process: subprocess.Popen, remove_workdir: bool = False):
        self.rendered = rendered
        self.process = process
        self._remove_workdir = remove_workdir
        self.server = rendered.server
        self.listeners = rendered.listeners

    # -- addressing --------------------------------------------------------------------------
    def listener(self, listen: Union[int, str, None] = None) -> Listener:
        """The listener for an original port (443, "443 ssl", "[::]:8448"); None = the only one."""
        if listen is None:
            if len(self.listeners) != 1:
                raise KeyError(f"{self.server} listens on {sorted(self.listeners)}; say which (listen=…)")
            return next(iter(self.listeners.values()))
        port = listen if isinstance(listen, int) else original_port(listen)
        if port not in self.listeners:
            raise KeyError(f"{self.server} has no listener that was on port {port}; it has {sorted(self.listeners)}")
        return self.listeners[port]

    def port(self, listen: Union[int, str, None] = None) -> int:
        return self.listener(listen).port

    def request(self, method: str, target: Union[str, bytes], *, listen: Union[int, str, None] = None,
                host: Optional[str] = None, headers: Headers = (), body: Optional[bytes] = None,
                chunked: bool = False, timeout: float = 5.0) -> Response:
        """Send one request to the site that listened on `listen` (see client.http_request).

        `host` defaults to the first host name served on that listener, else "localhost".
        TLS is used when that listener was TLS.
        """
        chosen = self.listener(listen)
        if host is None:
            host = chosen.names[0] if chosen.names else "localhost"
        return http_request(chosen.port, method, target, host=host, headers=headers, body=body,
                            chunked=chunked, tls=chosen.tls, timeout=timeout)

    def send_raw(self, data: bytes, *, listen: Union[int, str, None] = None, timeout: float = 5.0) -> Response:
        chosen = self.listener(listen)
        return send_raw(chosen.port, data, tls=chosen.tls, timeout=timeout)

    # -- diagnostics -------------------------------------------------------------------------
    @property
    def config_text(self) -> str:
        return self.rendered.config_path.read_text()

    def logs(self, limit: int = 4000) -> str:
        return collect_logs(self.rendered, limit)

    # -- lifetime ----------------------------------------------------------------------------
    def stop(self) -> None:
        stop_process(self.process)
        if self._remove_workdir:
            shutil.rmtree(self.rendered.workdir, ignore_errors=True)

    def __enter__(self) -> "RunningProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def original_port(listen: str) -> int:
    """The port in a listen spec as written: "443 ssl" → 443, "[::]:8448" → 8448, "*:80" → 80."""
    first = listen.split()[0] if listen.split() else listen
    match = re.search(r"(?:^|:)(\d+)$", first)
    if not match:
        raise ValueError(f"no port in listen spec {listen!r}")
    return int(match.group(1))


def start(driver: Driver, config: ConfigSource, upstream: Union[Target, dict], *,
          workdir: Optional[Path] = None, **options) -> RunningProxy:
    """Render `config` for `driver`, run the server's own check, start it and wait for its ports.

    Raises ServerMissing, Unrenderable (cannot run here) or ConfigRejected (the server said no,
    or it died on start; the message has its output and the rendered config).
    """
    binary = driver.find_binary()
    if not binary:
        raise ServerMissing(f"{driver.NAME} is not installed")
    own_workdir = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix=f"mpl-{driver.NAME}-")) if own_workdir else Path(workdir)
    try:
        return _start_rendered(driver, driver.render(config, workdir, Upstreams(upstream), **options), own_workdir)
    except BaseException:
        if own_workdir:   # failure messages already carry the rendered config and the logs
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def _start_rendered(driver: Driver, rendered: Rendered, own_workdir: bool) -> RunningProxy:
    if not rendered.listeners:
        raise Unrenderable(f"the {driver.NAME} config has no listener that can run on loopback")
    if rendered.check:
        done = subprocess.run(rendered.check, capture_output=True, text=True, env=_env(rendered),
                              cwd=rendered.workdir, timeout=30)
        if done.returncode != 0:
            raise ConfigRejected(f"{driver.NAME} rejected the config ({' '.join(rendered.check)} "
                                 f"exited {done.returncode})", done.stdout + done.stderr + collect_logs(rendered),
                                 rendered.config_path.read_text())
    process = _spawn(rendered)
    try:
        _wait_for_ports(rendered, process)
    except BaseException:
        stop_process(process)
        raise
    return RunningProxy(rendered, process, remove_workdir=own_workdir)


def _env(rendered: Rendered) -> dict[str, str]:
    env = dict(os.environ)
    env.update(rendered.env or {})
    return env


def _spawn(rendered: Rendered) -> subprocess.Popen:
    out = open(rendered.workdir / "server.stdout", "wb")
    err = open(rendered.workdir / "server.stderr", "wb")
    rendered.logs[:0] = [rendered.workdir / "server.stdout", rendered.workdir / "server.stderr"]
    try:
        # A session of its own: stop_process can then end the server's children (nginx workers,
        # Apache children) with one killpg, and Ctrl-C in the terminal does not reach them.
        process = subprocess.Popen(rendered.run, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                   env=_env(rendered), cwd=rendered.workdir, start_new_session=True)
    finally:
        out.close()
        err.close()
    _running[process.pid] = process
    return process


def _wait_for_ports(rendered: Rendered, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    waiting = sorted({listener.port for listener in rendered.listeners.values()})
    while waiting:
        if process.poll() is not None:
            raise ConfigRejected(f"{rendered.server} exited with {process.returncode} while starting",
                                 collect_logs(rendered), rendered.config_path.read_text())
        try:
            socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.2).close()
            waiting.pop(0)
            continue
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_process(process)
            raise ConfigRejected(f"{rendered.server} did not open port(s) {waiting} within {START_TIMEOUT}s",
                                 collect_logs(rendered), rendered.config_path.read_text())
        time.sleep(0.005)


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM the server, wait, then SIGKILL its whole process group. Safe to call twice."""
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    # The group id is the server's pid (start_new_session); children it left behind die here.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process.poll() is None:
        process.wait(STOP_TIMEOUT)
    _running.pop(process.pid, None)


def collect_logs(rendered: Rendered, limit: int = 4000) -> str:
    """The tail of every log file the driver named, labelled, for failure messages."""
    parts = []
    for path in rendered.logs:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if text.strip():
            parts.append(f"--- {path.name} ---\n{text[-limit:]}")
    return "\n".join(parts)


@atexit.register
def _stop_everything() -> None:
    for process in list(_running.values()):
        stop_process(process)


def require_binary(driver: Driver) -> str:
    """The driver's binary, or skip the test — fail instead when MPL_REQUIRE_SERVERS=1 (CI)."""
    import pytest
    binary = driver.find_binary()
    if binary:
        return binary
    reason = f"{driver.NAME} is not installed (binary not found on PATH, /usr/sbin or beside {sys.executable})"
    if os.environ.get("MPL_REQUIRE_SERVERS") == "1":
        pytest.fail(f"MPL_REQUIRE_SERVERS=1 but {reason}", pytrace=False)
    pytest.skip(reason)
