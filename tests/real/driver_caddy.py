"""Caddy driver: make a Caddyfile (or Caddy JSON) run on loopback.

Caddy's own adapter is the parser: `caddy adapt` turns the Caddyfile into JSON (this is the syntax
check; its output is in the failure message), then the JSON is edited — no Caddyfile text rewriting:

- every server's `listen` → 127.0.0.1:<free port>, grouped by original port. Whether a port was
  TLS is decided as Caddy's automatic HTTPS would have decided it (modules/caddyhttp/autohttps.go):
  explicit TLS connection policies; else not when it listens only on the HTTP port; else yes when
  only on the HTTPS port or when a top-level route has a host matcher not skipped.
- automatic HTTPS is then disabled everywhere (no ACME, no HTTP→HTTPS redirect servers — a redirect
  you expect from Caddy's automatic HTTPS cannot be tested here), TLS servers keep or get a
  connection policy, and the test certificate (SANs = every host matcher) is the only one loaded.
- `reverse_proxy` upstreams (`dial`) → the upstream targets; TLS to the upstream and dynamic
  upstreams are replaced (noted).
- admin endpoint off, config persistence off, storage and logs in the work dir, HOME/XDG there too.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Iterator, Optional

from real.harness import ConfigSource, Listener, Rendered, find_program
from real.support import ConfigRejected, Unrenderable, Upstreams, certificate, free_port

NAME = "caddy"


def find_binary() -> Optional[str]:
    return find_program("caddy")


def _env(workdir: Path) -> dict[str, str]:
    return {"HOME": str(workdir / "home"), "XDG_DATA_HOME": str(workdir / "data"),
            "XDG_CONFIG_HOME": str(workdir / "config")}


def render(config: ConfigSource, workdir: Path, upstreams: Upstreams) -> Rendered:
    binary = find_binary() or "caddy"
    env = _env(workdir)
    if isinstance(config, Path):
        source, text = config.resolve(), config.read_text(errors="replace")
    else:
        source, text = workdir / "Caddyfile", config
        source.write_text(text)
    try:
        data = json.loads(text)
    except ValueError:
        data = _adapt(binary, source, text, env, workdir)
    editor = _Editor(workdir, upstreams)
    editor.edit(data)
    path = workdir / "caddy.json"
    path.write_text(json.dumps(data, indent=2))
    return Rendered(NAME, workdir, path, run=[binary, "run", "--config", str(path)], env=env,
                    listeners=editor.listeners, notes=editor.notes)


def _adapt(binary: str, source: Path, text: str, env: dict, workdir: Path) -> dict:
    done = subprocess.run([binary, "adapt", "--config", str(source), "--adapter", "caddyfile"],
                          capture_output=True, text=True, env={**os.environ, **env}, cwd=source.parent, timeout=30)
    if done.returncode != 0:
        raise ConfigRejected(f"caddy adapt rejected {source}", done.stderr, text)
    return json.loads(done.stdout)


def _port(address: str) -> Optional[int]:
    """The port of a Caddy network address ("tcp/:443", "127.0.0.1:8448"); None for unix/udp."""
    network, _, rest = address.rpartition("/") if re.match(r"^\w+/", address) else ("", "", address)
    if network.startswith(("unix", "udp")):
        return None
    port = rest.rsplit(":", 1)[-1] if ":" in rest else ""
    if "-" in port:
        raise Unrenderable(f"listen {address}: port ranges are not supported")
    if not port.isdigit():
        raise Unrenderable(f"listen {address}: no port")
    return int(port)


def _host_matchers(server: dict) -> list[str]:
    """Hosts in the server's top-level routes — the ones automatic HTTPS looks at."""
    hosts = []
    for route in server.get("routes", []):
        for matcher_set in route.get("match", []):
            hosts += matcher_set.get("host", [])
    return hosts


def _serves_tls(server: dict, http_port: int, https_port: int) -> bool:
    if server.get("tls_connection_policies"):
        return True
    auto = server.get("automatic_https", {})
    if auto.get("disable"):
        return False
    ports = [p for p in map(_port, server.get("listen", [])) if p is not None]
    if ports and all(p == http_port for p in ports):
        return False
    if ports and all(p == https_port for p in ports):
        return True
    return any(h not in auto.get("skip", []) for h in _host_matchers(server))


def _handlers(node) -> Iterator[dict]:
    """Every handler object anywhere in the config (routes nest inside subroutes)."""
    if isinstance(node, dict):
        if "handler" in node:
            yield node
        for value in node.values():
            yield from _handlers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _handlers(value)


class _Editor:
    def __init__(self, workdir: Path, upstreams: Upstreams):
        self.workdir = workdir
        self.upstreams = upstreams
        self.listeners: dict[int, Listener] = {}
        self.notes: list[str] = []
        for sub in ("home", "data", "config", "logs"):
            (workdir / sub).mkdir(exist_ok=True)

    def edit(self, data: dict) -> None:
        data["admin"] = {"disabled": True, "config": {"persist": False}}
        data.pop("storage", None)
        self._logs(data.get("logging", {}))
        apps = data.setdefault("apps", {})
        http = apps.get("http", {})
        servers = http.get("servers", {})
        names = [h for server in servers.values() for h in _host_matchers(server)]
        any_tls = False
        for server in servers.values():
            tls = _serves_tls(server, http.get("http_port", 80), http.get("https_port", 443))
            any_tls = any_tls or tls
            self._listen(server, tls)
            server["automatic_https"] = {"disable": True}
            if tls:
                server["tls_connection_policies"] = self._policies(server.get("tls_connection_policies") or [{}])
            else:
                server.pop("tls_connection_policies", None)
        for handler in _handlers(http):
            if handler.get("handler") == "reverse_proxy":
                self._reverse_proxy(handler)
        tls_app = apps.get("tls")
        if tls_app and tls_app.get("automation"):
            self.notes.append("tls automation (ACME/internal issuers) removed; the test certificate is used")
        if tls_app or any_tls:
            cert = certificate(names)
            apps["tls"] = {"certificates": {"load_files": [{"certificate": str(cert.cert), "key": str(cert.key)}]}}

    def _logs(self, logging: dict) -> None:
        for index, log in enumerate(logging.get("logs", {}).values()):
            writer = log.get("writer", {})
            if writer.get("output") == "file":
                writer["filename"] = str(self.workdir / "logs" / f"caddy{index}.log")
            elif writer.get("output") == "net":
                log["writer"] = {"output": "stderr"}

    def _listen(self, server: dict, tls: bool) -> None:
        local = []
        hosts = [h for h in _host_matchers(server) if "*" not in h and "{" not in h]
        for address in server.get("listen", []):
            port = _port(address)
            if port is None:
                self.notes.append(f"listen {address}: dropped (only TCP ports are mapped)")
                continue
            if port not in self.listeners:
                self.listeners[port] = Listener(original=port, port=free_port(), tls=False, spec=address)
            listener = self.listeners[port]
            listener.tls = listener.tls or tls
            listener.names += [h for h in hosts if h not in listener.names]
            local.append(f"127.0.0.1:{listener.port}")
        if not local:
            raise Unrenderable(f"a server listens on nothing reachable: {server.get('listen')}")
        server["listen"] = list(dict.fromkeys(local))

    def _policies(self, policies: list[dict]) -> list[dict]:
        for policy in policies:
            # The adapter ties policies to the certificates it loaded (tags); only ours is loaded now.
            policy.pop("certificate_selection", None)
            if policy.pop("client_authentication", None) is not None:
                self.notes.append("TLS client authentication dropped")
        return policies

    def _reverse_proxy(self, handler: dict) -> None:
        if "dynamic_upstreams" in handler:
            handler.pop("dynamic_upstreams")
            handler["upstreams"] = [{"dial": "dynamic"}]
            self.notes.append("reverse_proxy dynamic upstreams replaced by the upstream target")
        for upstream in handler.get("upstreams", []):
            upstream["dial"] = self.upstreams.target(upstream.get("dial", ""))
        transport = handler.get("transport", {})
        if transport.pop("tls", None) is not None:
            self.notes.append("reverse_proxy TLS to the upstream dropped (the fake homeserver speaks plain HTTP)")
