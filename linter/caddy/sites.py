"""Caddyfile sites as Caddy serves them: global options, listeners and host names per site block.

A site block with addresses on several ports is served by one Caddy server per port, each with
only the host names written for that port (httpcaddyfile/addresses.go), so it becomes one
`SiteBlock` per port. Defaults follow Caddy: an address without scheme or port listens on the
HTTPS port, `http://` on the HTTP port; TLS is on where automatic HTTPS would turn it on (a host
name on a port other than the HTTP port, `https://`, or a `tls` directive) unless `auto_https
off`; host-less sites (`:8448`) catch every host on their port.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from linter.caddy.address import parse_address
from linter.caddy.numbers import atoi
from linter.model import Listen
from linter.syntax import Directive


@dataclass
class GlobalOptions:
    http_port: int = 80
    https_port: int = 443
    auto_https: str = "on"            # "on", "off", "disable_redirects", "disable_certs", ...
    default_bind: list = field(default_factory=list)
    directives: list = field(default_factory=list)
    # `servers [<listener>] { trusted_proxies <source> ... }`: (listener address or None for
    # every server, the `trusted_proxies` directive), in written order.
    trusted_proxies: list = field(default_factory=list)
    trusted_proxies_unix: list = field(default_factory=list)     # likewise

    @classmethod
    def read(cls, tree_directives: list) -> "GlobalOptions":
        opts = cls()
        block = next((d for d in tree_directives if d.name == "global"), None)
        if block is None:
            return opts
        opts.directives = list(block.block or [])
        for d in opts.directives:
            if d.key == "http_port" and d.args and _digits(d.args[0]) \
                    and atoi(d.args[0]) is not None:
                opts.http_port = atoi(d.args[0])
            elif d.key == "https_port" and d.args and _digits(d.args[0]) \
                    and atoi(d.args[0]) is not None:
                opts.https_port = atoi(d.args[0])
            elif d.key == "auto_https" and d.args:
                opts.auto_https = d.args[0]
            elif d.key == "default_bind":
                opts.default_bind = list(d.args)
            elif d.key == "servers":
                listener = d.args[0] if d.args else None
                for c in d.block or ():
                    if c.key == "trusted_proxies":
                        opts.trusted_proxies.append((listener, c))
                    elif c.key == "trusted_proxies_unix":
                        opts.trusted_proxies_unix.append((listener, c))
        return opts

    def server_option(self, pairs: list, port: Optional[int]):
        """The last `servers` setting that applies to the server on `port` (a `servers` block
        with a listener address applies to that port only; one without, to every server)."""
        found = None
        for listener, value in pairs:
            if listener is None or _listener_port(listener) == port:
                found = value
        return found


@dataclass
class SiteBlock:
    directive: Directive
    port: Optional[int]
    hosts: list                        # lower-cased host names written for this port ([] = any)
    paths: list                        # site address paths (`example.com/api/*`)
    listens: list                      # Listen per bind address
    address_spans: list
    catch_all: bool = False            # a host-less address: every host on the port


def site_blocks(tree_directives: list, opts: GlobalOptions) -> list:
    out = []
    for d in tree_directives:
        if d.name != "site" or d.block is None:
            continue
        by_port: dict = {}
        for index, text in enumerate(d.args or ([""] if d.extra.get("fragment") else [])):
            addr = parse_address(text)
            port = _port(addr, opts)
            entry = by_port.setdefault(port, {"hosts": [], "paths": [], "schemes": set(), "spans": [],
                                              "hostless": False})
            host = addr.host.lower()
            entry["hostless"] = entry["hostless"] or not host
            if host and host not in entry["hosts"]:
                entry["hosts"].append(host)
            if addr.path and addr.path not in entry["paths"]:
                entry["paths"].append(addr.path)
            entry["schemes"].add(addr.scheme)
            entry["spans"].append(d.arg_span(index) if d.args else d.span)
        has_tls_directive = any(c.key == "tls" for c in d.block)
        binds = [a for c in d.block if c.key == "bind" for a in c.args] or opts.default_bind
        for port, entry in by_port.items():
            tls = _tls(port, entry, has_tls_directive, opts)
            # One host-less address makes the whole block match every host on that port.
            catch_all = not entry["hosts"] or entry["hostless"]
            listens = [Listen(port, _bind_host(b), tls, default=catch_all, span=entry["spans"][0])
                       for b in (binds or [None])]
            out.append(SiteBlock(d, port, entry["hosts"], entry["paths"], listens, entry["spans"], catch_all))
    _tls_per_port(out)
    return out


def _port(addr, opts: GlobalOptions) -> Optional[int]:
    if addr.port:
        return atoi(addr.port) if _digits(addr.port) else None
    if addr.scheme == "http":
        return opts.http_port
    return opts.https_port


def _tls(port, entry, has_tls_directive: bool, opts: GlobalOptions) -> bool:
    if has_tls_directive or "https" in entry["schemes"]:
        return True
    if opts.auto_https == "off" or "http" in entry["schemes"] and len(entry["schemes"]) == 1:
        return False
    if port == opts.http_port:
        return False
    return bool(entry["hosts"]) or port == opts.https_port


def _tls_per_port(blocks: list) -> None:
    """One Caddy server per port: it speaks TLS for every site on it if it does for one."""
    tls_ports = {b.port for b in blocks if any(l.tls for l in b.listens)}
    for b in blocks:
        if b.port in tls_ports:
            for l in b.listens:
                l.tls = True


def _bind_host(bind: Optional[str]) -> Optional[str]:
    if not bind:
        return None
    if bind.startswith(("unix/", "unix:")):
        return "unix:" + bind.split("/", 1)[1] if "/" in bind else bind
    host = bind.split("/", 1)[1] if bind.startswith(("tcp", "udp")) and "/" in bind else bind
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _listener_port(listener: str) -> Optional[int]:
    """The port of a `servers` listener address (`:443`, `tcp/127.0.0.1:8448`)."""
    text = listener.rsplit("/", 1)[-1] if "/" in listener else listener
    port = text.rsplit(":", 1)[-1] if ":" in text else ""
    return atoi(port) if _digits(port) else None


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes `²`, which int() then refuses."""
    return text.isascii() and text.isdigit()
