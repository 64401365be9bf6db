"""HAProxy driver: make a haproxy.cfg (or a frontend/backend snippet) run on loopback.

Textual, line by line (a real HAProxy parser is being written elsewhere); only these lines change:

- `bind` addresses → 127.0.0.1:<free port>, grouped by original port; `ssl` marks the listener
  TLS and its `crt`/`crt-list`/`ca-file` point at the test certificate.
- `server` / `server-template` addresses → the upstream targets (keys tried: the address as written,
  then the backend's name); TLS-to-upstream parameters (`ssl`, `verify`, `sni`, …) are dropped
  because the fake homeserver speaks plain HTTP.
- global `daemon`, `chroot`, `user`, `group`, `pidfile`, `log`, `*-base`, dhparam and state files are
  dropped; `stats socket` goes to the work dir; logging goes to stderr at level warning; a global
  `maxconn` above 1000 becomes 1000 (HAProxy cannot raise the file limit here for 50000).
- an `errorfile` that is not on this machine (the Docker image's /usr/local/etc/haproxy/errors/)
  points at Debian's stock file of the same name in /etc/haproxy/errors/, when there is one.

It runs in the foreground with `-db` (then HAProxy writes no pidfile; the harness uses the PID).
HAProxy sends HTTP/1 header names in lower case: compare names case-insensitively.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from real.harness import ConfigSource, Listener, Rendered, find_program
from real.support import Unrenderable, Upstreams, certificate, free_port

NAME = "haproxy"
SECTIONS = {"global", "defaults", "frontend", "backend", "listen", "peers", "resolvers", "userlist", "mailers",
            "cache", "program", "http-errors", "ring", "log-forward", "crt-store", "traces"}
GLOBAL_DROPPED = {"daemon", "chroot", "user", "group", "uid", "gid", "pidfile", "nbproc", "log", "ca-base",
                  "crt-base", "ssl-dh-param-file", "server-state-file", "server-state-base", "master-worker"}
# Server parameters for TLS or DNS towards the upstream, with how many values follow each.
SERVER_DROPPED = {"ssl": 0, "check-ssl": 0, "no-ssl-reuse": 0, "verify": 1, "verifyhost": 1, "ca-file": 1,
                  "crl-file": 1, "crt": 1, "sni": 1, "check-sni": 1, "alpn": 1, "npn": 1, "check-alpn": 1,
                  "ssl-min-ver": 1, "ssl-max-ver": 1, "ciphers": 1, "ciphersuites": 1, "resolvers": 1,
                  "resolve-prefer": 1, "resolve-opts": 1, "init-addr": 1, "namespace": 1}
STOCK_ERRORS = "/etc/haproxy/errors"
GLOBAL_MAXCONN = 1000
HOST_ACL = re.compile(r"\b(?:req\.)?hdr(?:_dom|_end|_beg|_reg)?\(host\)|\bhost\b", re.I)
DOMAIN = re.compile(r"^(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?$")


def find_binary() -> Optional[str]:
    return find_program("haproxy")


def render(config: ConfigSource, workdir: Path, upstreams: Upstreams) -> Rendered:
    if isinstance(config, Path):
        text, base = config.read_text(errors="replace"), config.resolve().parent
    else:
        text, base = config, workdir
    editor = _Editor(workdir, upstreams, base)
    lines = editor.edit(text.splitlines())
    path = workdir / "haproxy.cfg"
    path.write_text("\n".join(lines) + "\n")
    binary = find_binary() or "haproxy"
    return Rendered(NAME, workdir, path, run=[binary, "-db", "-f", str(path)], check=[binary, "-c", "-f", str(path)],
                    listeners=editor.listeners, notes=editor.notes)


def tokens(line: str) -> list[str]:
    """HAProxy words with quotes kept; a `#` outside quotes starts a comment."""
    words = re.findall(r'"(?:\\.|[^"\\])*"|\'[^\']*\'|(?:\\.|[^\s#"\'])+|#.*', line)
    return [w for w in words if not w.startswith("#")]


class _Editor:
    def __init__(self, workdir: Path, upstreams: Upstreams, base: Path):
        self.workdir = workdir
        self.upstreams = upstreams
        self.base = base
        self.listeners: dict[int, Listener] = {}
        self.notes: list[str] = []
        self.section = ""
        self.section_name = ""
        self.section_listeners: list[Listener] = []
        self.counter = 0

    def edit(self, lines: list[str]) -> list[str]:
        self.names = [w for line in lines if HOST_ACL.search(line) for w in tokens(line) if DOMAIN.match(w)]
        out: list[str] = []
        saw_global = False
        for line in lines:
            words = tokens(line)
            if not words:
                out.append(line)
                continue
            key = words[0].lower()
            indent = line[:len(line) - len(line.lstrip())]
            if key in SECTIONS:
                self.section, self.section_name = key, words[1] if len(words) > 1 else ""
                self.section_listeners = []
                out.append(line)
                if key == "global":
                    saw_global = True
                    out += self._own_global()
                continue
            rewritten = self._line(words, key)
            if rewritten is None:
                self.notes.append(f"dropped `{line.strip()}`")
            elif rewritten == words:
                out.append(line)
            else:
                out.append(indent + " ".join(rewritten))
        if not saw_global:
            out[:0] = ["global", *self._own_global(), ""]
        return out

    def _own_global(self) -> list[str]:
        return ["    log stderr format short local0 warning"]

    def _line(self, words: list[str], key: str) -> Optional[list[str]]:
        if self.section == "global":
            if key in GLOBAL_DROPPED:
                return None
            if key == "maxconn" and len(words) > 1 and words[1].isdigit() and int(words[1]) > GLOBAL_MAXCONN:
                self.notes.append(f"maxconn {words[1]}: lowered to {GLOBAL_MAXCONN}")
                return ["maxconn", str(GLOBAL_MAXCONN)]
            if key == "stats" and len(words) > 2 and words[1] == "socket":
                self.counter += 1
                return ["stats", "socket", str(self.workdir / f"admin{self.counter}.sock"), *words[3:]]
            if key == "lua-load" and len(words) > 1 and not words[1].startswith("/"):
                return ["lua-load", str(self.base / words[1]), *words[2:]]
            return words
        if key == "bind":
            return self._bind(words)   # in any section: a bind left alone would take a real port
        if key == "errorfile" and len(words) > 2 and not (self.base / words[2]).exists():
            stock = Path(STOCK_ERRORS) / Path(words[2]).name
            if stock.is_file():
                self.notes.append(f"errorfile {words[2]}: not here, Debian's {stock} used")
                return ["errorfile", words[1], str(stock), *words[3:]]
        if key == "server" and len(words) > 2 and self.section in ("backend", "listen"):
            target = self.upstreams.target(words[2], self.section_name, words[1])
            return ["server", words[1], target, *self._server_params(words[3:])]
        if key == "server-template" and len(words) > 3 and self.section in ("backend", "listen"):
            self.notes.append(f"server-template {words[1]}: replaced by one server")
            target = self.upstreams.target(words[3], self.section_name)
            return ["server", f"{words[1]}1", target, *self._server_params(words[4:])]
        if key == "default-server":
            return ["default-server", *self._server_params(words[1:])]
        if key == "acl" and HOST_ACL.search(" ".join(words)):
            hosts = [w.split(":")[0] for w in words if DOMAIN.match(w)]
            for listener in self.section_listeners:
                listener.names += [h for h in dict.fromkeys(hosts) if h not in listener.names]
        return words

    def _bind(self, words: list[str]) -> list[str]:
        params = words[2:]
        tls = "ssl" in params
        local = []
        for address in words[1].split(","):
            if address.startswith(("unix@", "/", "abns@", "fd@", "sockpair@")):
                raise Unrenderable(f"bind {address}: not a TCP port, cannot be reached here")
            match = re.search(r":(\d+)$", address)
            if not match:
                raise Unrenderable(f"bind {address}: no single port to map (ranges are not supported)")
            port = int(match.group(1))
            if port not in self.listeners:
                self.listeners[port] = Listener(original=port, port=free_port(), tls=False, spec=" ".join(words[1:]))
            listener = self.listeners[port]
            listener.tls = listener.tls or tls
            if listener not in self.section_listeners:
                self.section_listeners.append(listener)
            local.append(f"127.0.0.1:{listener.port}")
        out, skip, have_crt = [], 0, False
        for i, word in enumerate(params):
            if skip:
                skip -= 1
                continue
            if word in ("v4v6", "v6only", "transparent"):
                continue
            if word in ("crt", "crt-list", "ca-file", "crl-file", "interface", "namespace"):
                skip = 1
                if word in ("crt", "crt-list") and not have_crt:
                    have_crt = True
                    out += ["crt", str(certificate(self.names).bundle)]
                elif word == "ca-file":
                    out += ["ca-file", str(certificate(self.names).cert)]
                continue
            out.append(word)
        if tls and not have_crt:
            out += ["crt", str(certificate(self.names).bundle)]
        return ["bind", ",".join(dict.fromkeys(local)), *out]

    def _server_params(self, params: list[str]) -> list[str]:
        out, skip = [], 0
        for word in params:
            if skip:
                skip -= 1
                continue
            if word in SERVER_DROPPED:
                skip = SERVER_DROPPED[word]
                if word == "ssl":
                    self.notes.append("TLS to the upstream dropped (the fake homeserver speaks plain HTTP)")
                continue
            out.append(word)
        return out
