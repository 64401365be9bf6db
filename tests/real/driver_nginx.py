"""nginx driver: make a config (full nginx.conf, http-level file or server-level snippet) run on loopback.

The config is parsed with crossplane (includes inlined by us, so a copied tree brings its own
includes along), edited as a payload, and written back with crossplane.build. What is edited:

- every `listen` → 127.0.0.1:<free port>, grouped by the original port (all blocks that listened on
  443 share one local port, so server_name selection still works); an IPv6 listen is dropped when
  the same block also listens on that port over IPv4; a server with no listen gets port 80's.
- `proxy_pass` (and `*_pass`, `upstream { server … }`, `proxy_redirect`) hosts → the upstream
  targets; the URI part of a proxy_pass URL is kept exactly as written. `https://` upstreams become
  `http://` (the fake homeserver speaks plain HTTP); that is recorded in `notes`.
- certificates, pid, logs, temp and cache paths → the work dir; `user` (the worker keeps the user
  the harness runs as, so it can enter the work dir), `resolver`, OCSP stapling,
  dhparam and session-ticket files are dropped.
- a snippet is wrapped in a minimal main config that loads only the dynamic modules it uses
  (loading all of Debian's 20 costs ~150 ms per start).
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Optional

from real.harness import ConfigSource, Listener, Rendered, find_program
from real.support import ConfigRejected, Unrenderable, Upstreams, certificate, free_port, resolve_include, split_url

NAME = "nginx"
MODULES = Path("/usr/lib/nginx/modules")
# Stock Debian files a copied config may include from /etc/nginx without bringing them along.
SYSTEM_FILES = ("mime.types", "*_params", "fastcgi.conf", "koi-*", "win-utf", "modules-enabled/*",
                "snippets/fastcgi-php.conf", "snippets/snakeoil.conf")
# Blocks whose contents are data, not directives.
DATA_BLOCKS = {"map", "types", "geo", "split_clients", "charset_map", "match"}
# Directives that cannot work on loopback or point at files that are not here.
DROPPED = {"user", "lock_file", "working_directory", "resolver", "resolver_timeout", "ssl_stapling",
           "ssl_stapling_verify", "ssl_stapling_file", "ssl_stapling_responder", "ssl_dhparam",
           "ssl_session_ticket_key", "ssl_password_file", "ssl_crl", "proxy_ssl_certificate",
           "proxy_ssl_certificate_key", "proxy_ssl_password_file", "proxy_ssl_crl"}
# Main-context directives the harness sets itself.
OWN_MAIN = {"daemon", "pid", "worker_processes", "worker_cpu_affinity", "master_process"}
TEMP_PATHS = ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path")
CACHE_PATHS = {"proxy_cache_path", "fastcgi_cache_path", "uwsgi_cache_path", "scgi_cache_path"}
UPSTREAM_PASSES = {"proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass"}
# Dynamic modules a wrapped snippet may need: directive-name pattern → module files, load order kept.
SNIPPET_MODULES = [
    (re.compile(r"^more_"), ["ngx_http_headers_more_filter_module.so"]),
    (re.compile(r"_by_lua|^lua_"), ["ndk_http_module.so", "ngx_http_lua_module.so"]),
    (re.compile(r"^echo"), ["ngx_http_echo_module.so"]),
    (re.compile(r"^subs_filter"), ["ngx_http_subs_filter_module.so"]),
]
VARIABLE_AUTHORITY = re.compile(r"(?:\$\{?\w+\}?|[\w.\-]+)(?::(?:\d+|\$\{?\w+\}?))?")
SERVER_LEVEL_HINTS = {"location", "listen", "server_name", "return", "rewrite"}


def find_binary() -> Optional[str]:
    return find_program("nginx")


def render(config: ConfigSource, workdir: Path, upstreams: Upstreams, level: Optional[str] = None,
           missing_includes: str = "skip") -> Rendered:
    """`level` is "main", "http" or "server" (what the file's top level is); guessed when None.
    `missing_includes="drop"` leaves out includes that are not here instead of skipping."""
    if isinstance(config, Path):
        entry, base = config.resolve(), config.resolve().parent
    else:
        entry, base = workdir / "input.conf", workdir
        entry.write_text(config)
    directives, load_notes = load(entry, base, missing_includes)
    level = level or guess_level(directives)
    editor = _Editor(workdir, upstreams)
    main = editor.edit(_wrap(directives, level))
    path = workdir / "nginx.conf"
    import crossplane
    path.write_text(crossplane.build(main) + "\n")
    prefix = ["-p", str(workdir), "-c", str(path), "-e", str(workdir / "error.log")]
    binary = find_binary() or "nginx"
    return Rendered(NAME, workdir, path, run=[binary, *prefix], check=[binary, "-t", "-q", *prefix],
                    listeners=editor.listeners, logs=[workdir / "error.log"], notes=load_notes + editor.notes)


def guess_level(directives: list[dict]) -> str:
    names = {d["directive"] for d in directives}
    if names & {"http", "events", "stream", "mail"}:
        return "main"
    if names & SERVER_LEVEL_HINTS:
        return "server"
    return "http"


def load(path: Path, base: Path, missing_includes: str = "skip") -> tuple[list[dict], list[str]]:
    """Parse `path` with its includes spliced in place; returns (directives, notes).

    Includes resolve against `base` (the config's root, as nginx resolves them against its conf
    dir; crossplane's own resolution would use each including file's directory). An include that
    is not here raises Unrenderable, or with missing_includes="drop" is left out with a note.
    """
    notes: list[str] = []

    def parse(file: Path, seen: tuple) -> list[dict]:
        import crossplane
        if file in seen:
            raise ConfigRejected(f"include loop: {' → '.join(map(str, seen + (file,)))}")
        payload = crossplane.parse(str(file), single=True, check_ctx=False, check_args=False, comments=False)
        if payload["errors"]:
            error = payload["errors"][0]
            raise ConfigRejected(f"crossplane cannot parse {error['file']}:{error.get('line')}: {error['error']}")
        return splice(payload["config"][0]["parsed"], seen + (file,))

    def splice(block: list[dict], seen: tuple) -> list[dict]:
        out = []
        for d in block:
            if d["directive"] == "include":
                try:
                    files = resolve_include(d["args"][0], base, "/etc/nginx", SYSTEM_FILES)
                except Unrenderable as missing:
                    if missing_includes != "drop":
                        raise
                    notes.append(f"dropped: {missing}")
                    files = []
                for included in files:
                    out.extend(parse(included, seen))
                continue
            if "block" in d and d["directive"] not in DATA_BLOCKS:
                d = dict(d, block=splice(d["block"], seen))
            out.append(d)
        return out

    return parse(path, ()), notes


def _d(name: str, *args: str, block: Optional[list] = None) -> dict:
    d = {"directive": name, "args": list(args)}
    if block is not None:
        d["block"] = block
    return d


def _wrap(directives: list[dict], level: str) -> list[dict]:
    if level == "main":
        return directives
    if level == "server":
        directives = [_d("server", block=directives)]
    elif level != "http":
        raise ValueError(f"level must be main, http or server, not {level!r}")
    modules = []
    names = {d["directive"] for d in _walk(directives)}
    for pattern, files in SNIPPET_MODULES:
        if any(pattern.search(n) for n in names):
            modules += [f for f in files if f not in modules]
    return ([_d("load_module", str(MODULES / f)) for f in modules]
            + [_d("events", block=[]), _d("http", block=[_d("include", "/etc/nginx/mime.types"),
                                                          _d("default_type", "application/octet-stream"),
                                                          *directives])])


def _walk(block: list[dict]):
    for d in block:
        yield d
        if d.get("block") and d["directive"] not in DATA_BLOCKS:
            yield from _walk(d["block"])


def _listen_port(address: str) -> tuple[int, bool]:
    """(port, is_ipv6) of a listen address; nginx's default port is 80."""
    if "$" in address or "{" in address or "__" in address:
        raise Unrenderable(f"listen {address}: a template placeholder, not a port")
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return (int(rest[1:]) if rest.startswith(":") else 80), host not in ("", "0.0.0.0")
    if address.isdigit():
        return int(address), False
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit():
        return int(port), False
    return 80, False


class _Editor:
    def __init__(self, workdir: Path, upstreams: Upstreams):
        self.workdir = workdir
        self.upstreams = upstreams
        self.listeners: dict[int, Listener] = {}
        self.notes: list[str] = []
        self.upstream_names: set[str] = set()
        self.rewritten: dict[str, str] = {}   # original upstream authority → local one
        self.server_names: list[str] = []
        self.uses_tls = False
        self.counter = 0
        (workdir / "tmp").mkdir(exist_ok=True)
        (workdir / "logs").mkdir(exist_ok=True)

    def edit(self, main: list[dict]) -> list[dict]:
        main = copy.deepcopy(main)
        self.upstream_names = {d["args"][0] for d in _walk(main) if d["directive"] == "upstream" and d["args"]}
        self.server_names = [a for d in _walk(main) if d["directive"] == "server_name" for a in d["args"]]
        body = self._block(main, ())
        for d in _walk(body):
            # After the whole tree, so a proxy_redirect written before its proxy_pass is seen too.
            if d["directive"] == "proxy_redirect" and len(d["args"]) == 2:
                scheme, authority, rest = split_url(d["args"][0])
                if authority in self.rewritten:
                    d["args"][0] = f"http://{self.rewritten[authority]}{rest}"
        own = [_d("daemon", "off"), _d("worker_processes", "1"), _d("pid", str(self.workdir / "nginx.pid")),
               _d("error_log", str(self.workdir / "error.log"), "warn")]
        if os.geteuid() == 0:
            # Started as root, nginx runs its worker as `nobody`, which cannot enter the work dir
            # (0700): every file lookup under the default root (`<prefix>/html`) would be 403
            # "Permission denied". A deployment's worker can read its root, and a missing file is
            # 404: keep the worker's user so the static handler answers as it does there.
            own.append(_d("user", "root"))
        body = [d for d in body if d["directive"] not in OWN_MAIN and d["directive"] != "error_log"]
        if not any(d["directive"] == "events" for d in body):
            body.append(_d("events", block=[]))
        for d in body:
            if d["directive"] == "events" and not any(c["directive"] == "worker_connections" for c in d["block"]):
                d["block"].append(_d("worker_connections", "256"))
        for d in body:
            if d["directive"] == "http":
                d["block"][:0] = self._http_additions(d["block"])
        return own + body

    def _http_additions(self, http: list[dict]) -> list[dict]:
        present = {d["directive"] for d in http}
        extra = [_d(name, str(self.workdir / "tmp" / name.split("_temp")[0])) for name in TEMP_PATHS
                 if name not in present]
        if "access_log" not in present:
            extra.append(_d("access_log", str(self.workdir / "logs" / "access.log")))
        if self.uses_tls and "ssl_certificate" not in present:
            cert = self._certificate()
            extra += [_d("ssl_certificate", str(cert.cert)), _d("ssl_certificate_key", str(cert.key))]
        return extra

    def _certificate(self):
        return certificate(self.server_names)

    def _block(self, block: list[dict], context: tuple) -> list[dict]:
        out = []
        for d in block:
            name = d["directive"]
            if name in DROPPED:
                self.notes.append(f"dropped `{name} {' '.join(d['args'])}`")
                continue
            if name == "mail":
                # Its listeners would be real mail ports; nothing Matrix happens there.
                self.notes.append("dropped the mail {} block")
                continue
            if "block" in d and name not in DATA_BLOCKS:
                if name == "server" and context and context[-1] in ("http", "stream"):
                    d["block"] = self._server(d["block"], context + (name,))
                elif name == "upstream" and d["args"]:
                    d["block"] = self._upstream_block(d["block"], d["args"][0])
                else:
                    d["block"] = self._block(d["block"], context + (name,))
            out.append(self._directive(d))
        return out

    def _directive(self, d: dict) -> dict:
        """The directive as it must be written here (paths, certificates, upstreams)."""
        name, args = d["directive"], d["args"]
        work = self.workdir
        if name == "load_module" and args:
            module = Path(args[0])
            if not module.is_absolute() or not module.exists():
                module = MODULES / module.name
            if not module.exists():
                raise Unrenderable(f"nginx module {args[0]} is not installed here")
            d["args"] = [str(module)]
        elif name == "error_log" and args and args[0] != "stderr":
            d["args"] = [str(work / "error.log"), *args[1:]]
        elif name == "access_log" and args and args[0] != "off":
            d["args"] = ["off"] if args[0].startswith("syslog:") else [self._file("logs", "access", ".log"), *args[1:]]
        elif name in TEMP_PATHS and args:
            d["args"] = [self._file("tmp", name.split("_temp")[0]), *args[1:]]
        elif name in CACHE_PATHS and args:
            d["args"] = [self._file("tmp", "cache"), *args[1:]]
        elif name in ("ssl_certificate", "ssl_certificate_key"):
            cert = self._certificate()
            d["args"] = [str(cert.cert if name == "ssl_certificate" else cert.key)]
        elif name in ("ssl_trusted_certificate", "ssl_client_certificate", "proxy_ssl_trusted_certificate"):
            d["args"] = [str(self._certificate().cert)]
        elif name == "listen":
            # _server rewrites the listens of server blocks; one anywhere else would bind a real port.
            raise Unrenderable(f"listen {' '.join(args)} outside a server block")
        elif name in UPSTREAM_PASSES and args:
            d["args"] = [self._upstream_url(args[0], name), *args[1:]]
        return d

    def _file(self, folder: str, stem: str, suffix: str = "") -> str:
        self.counter += 1
        return str(self.workdir / folder / f"{stem}{self.counter}{suffix}")

    def _upstream_url(self, value: str, directive: str) -> str:
        if value.startswith("$"):   # the whole address is a variable: `proxy_pass $backend;`
            self.notes.append(f"{directive} {value}: variable address replaced by the upstream target")
            target = self.upstreams.target(value)
            return f"http://{target}" if directive == "proxy_pass" else target
        scheme, authority, rest = split_url(value)
        if authority.startswith("unix:"):
            # http://unix:/path/to.sock:/uri — the socket path ends at the next colon.
            sock, _, rest = value.split("unix:", 1)[1].partition(":")
            authority = "unix:" + sock
        if authority in self.upstream_names:
            if scheme == "https":
                self.notes.append(f"{directive} {value}: https upstream made plain http")
                return "http" + value[len("https"):]
            return value
        if "$" in authority:
            # `http://$host_var:8008$request_uri`: nothing separates the address from the path
            # variable, so take one host (literal or variable) and an optional port.
            match = VARIABLE_AUTHORITY.match(authority)
            if match:
                authority, rest = match.group(0), authority[match.end():] + rest
        if "$" in scheme + authority:
            self.notes.append(f"{directive} {value}: variables in the address replaced by the upstream target")
        target = self.upstreams.target(authority)
        self.rewritten[authority] = target
        if scheme in ("https", "grpcs"):
            self.notes.append(f"{directive} {value}: {scheme} upstream made plain {scheme[:-1]}")
            scheme = scheme[:-1]
        elif "$" in scheme:
            scheme = "http"
        return f"{scheme}://{target}{rest}" if scheme else f"{target}{rest}"

    def _upstream_block(self, block: list[dict], upstream_name: str) -> list[dict]:
        for d in block:
            if d["directive"] == "server" and d["args"]:
                target = self.upstreams.target(d["args"][0], upstream_name)
                self.rewritten[d["args"][0]] = target
                d["args"] = [target, *(a for a in d["args"][1:] if a != "resolve" and not a.startswith("service="))]
        return block

    def _server(self, block: list[dict], context: tuple) -> list[dict]:
        in_http = context[-2] == "http"
        listens = [d for d in block if d["directive"] == "listen" and d["args"]]
        names = [a for d in block if d["directive"] == "server_name" for a in d["args"]]
        ipv4_ports = {_listen_port(d["args"][0])[0] for d in listens
                      if not _listen_port(d["args"][0])[1] and not d["args"][0].startswith("unix:")}
        kept_ports: set[int] = set()
        new_listens = []
        for d in listens:
            address, params = d["args"][0], d["args"][1:]
            if address.startswith("unix:"):
                new_listens.append(_d("listen", "unix:" + self._file("tmp", "sock", ".sock"), *params))
                self.notes.append(f"listen {address}: unix socket moved into the work dir (not reachable by port)")
                continue
            port, ipv6 = _listen_port(address)
            if ipv6 and port in ipv4_ports:
                continue
            tls = "ssl" in params
            listener = self._listener(port, tls, " ".join(d["args"]))
            if listener.port in kept_ports:
                continue
            kept_ports.add(listener.port)
            default = "default_server" in params or "default" in params
            self._add_names(listener, names, default)
            new_listens.append(_d("listen", f"127.0.0.1:{listener.port}",
                                  *[p for p in params if not p.startswith("ipv6only=")]))
        if in_http and not listens:
            listener = self._listener(80, False, "(no listen: *:80)")
            self._add_names(listener, names, False)
            new_listens.append(_d("listen", f"127.0.0.1:{listener.port}"))
        rest = [d for d in block if d["directive"] != "listen"]
        return new_listens + self._block(rest, context)

    def _listener(self, port: int, tls: bool, spec: str) -> Listener:
        if port not in self.listeners:
            self.listeners[port] = Listener(original=port, port=free_port(), tls=False, spec=spec)
        listener = self.listeners[port]
        # nginx makes a socket TLS when any listen on that address:port says ssl.
        listener.tls = listener.tls or tls
        self.uses_tls = self.uses_tls or tls
        return listener

    @staticmethod
    def _add_names(listener: Listener, names: list[str], default: bool) -> None:
        usable = [n for n in names if n and n != "_" and not n.startswith("~") and "*" not in n and "$" not in n]
        fresh = [n for n in usable if n not in listener.names]
        if default:
            listener.names[0:0] = fresh
        else:
            listener.names.extend(fresh)

