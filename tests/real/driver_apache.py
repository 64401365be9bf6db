"""Apache httpd driver: make a config (full httpd.conf / apache2.conf or a vhost snippet) run on loopback.

Textual, line by line (a real Apache parser is being written elsewhere): includes are inlined,
then only these directives are rewritten, everything else is copied as written:

- `Listen` and `<VirtualHost>` addresses → 127.0.0.1:<free port>, grouped by original port;
  a port is TLS when a vhost on it has `SSLEngine on` or its Listen says `https`.
- `ProxyPass`, `ProxyPassMatch`, `ProxyPassReverse`, `BalancerMember`, `<Proxy url>` and
  `RewriteRule … [P]` targets → the upstream targets, path kept; https/wss become http/ws.
- certificates, logs, pid, runtime dir, mutexes → the work dir; `User nobody`/`Group nogroup`.
- a prelude loads modules by absolute path: a config with its own LoadModule lines only gets an
  MPM if it has none; a snippet gets Debian's default modules plus proxy, proxy_http,
  proxy_wstunnel, headers, rewrite, ssl, socache_shmcb, remoteip, http2, expires, cache and the
  balancer (proxy_balancer, lbmethod_byrequests, slotmem_shm).

The upstream sees the rewritten address in `Host` unless the config sets `ProxyPreserveHost On`.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from real.harness import ConfigSource, Listener, Rendered, find_program
from real.support import Unrenderable, Upstreams, certificate, free_port, resolve_include, split_url

NAME = "apache"
MODULES = Path("/usr/lib/apache2/modules")
SYSTEM_FILES = ("mods-available/*", "conf-available/*", "magic")
SNIPPET_MODULES = ["mpm_event", "access_compat", "alias", "auth_basic", "authn_core", "authn_file",
                   "authz_core", "authz_host", "authz_user", "deflate", "dir", "env", "filter", "mime",
                   "reqtimeout", "setenvif", "proxy", "proxy_http", "proxy_wstunnel", "headers", "rewrite",
                   "socache_shmcb", "ssl", "remoteip", "http2", "expires", "cache", "proxy_balancer",
                   "lbmethod_byrequests", "slotmem_shm"]
# Directives the prelude owns (dropped from the config) and ones that need files we do not have.
DROPPED = {"serverroot", "pidfile", "defaultruntimedir", "mutex", "lockfile", "user", "group",
           "scoreboardfile", "coredumpdirectory", "namevirtualhost", "sslcertificatechainfile",
           "sslusestapling", "sslstaplingcache", "sslcarevocationfile", "sslcarevocationpath"}
PROXY_TARGETS = {"proxypass", "proxypassmatch", "proxypassreverse", "balancermember"}
URL = re.compile(r"^(?P<scheme>https?|wss?|h2c?)://(?P<authority>[^/\"'\s>]*)(?P<rest>.*)$", re.I)


def find_binary() -> Optional[str]:
    return find_program("apache2") or find_program("httpd")


def render(config: ConfigSource, workdir: Path, upstreams: Upstreams, missing_includes: str = "skip") -> Rendered:
    """`missing_includes="drop"` leaves out `Include`s that are not here instead of skipping."""
    notes: list[str] = []
    if isinstance(config, Path):
        lines = _load(config.resolve(), config.resolve().parent, (), missing_includes, notes)
    else:
        lines = _inline(_logical_lines(config), workdir, (), missing_includes, notes)
    editor = _Editor(workdir, upstreams)
    editor.notes += notes
    body = editor.edit(lines)
    text = "\n".join(editor.prelude() + body) + "\n"
    path = workdir / "httpd.conf"
    path.write_text(text)
    binary = find_binary() or "apache2"
    env = {"APACHE_RUN_USER": "nobody", "APACHE_RUN_GROUP": "nogroup", "APACHE_PID_FILE": str(workdir / "httpd.pid"),
           "APACHE_RUN_DIR": str(workdir / "run"), "APACHE_LOCK_DIR": str(workdir / "run"),
           "APACHE_LOG_DIR": str(workdir / "logs")}
    return Rendered(NAME, workdir, path, run=[binary, "-d", str(workdir), "-f", str(path), "-DFOREGROUND"],
                    check=[binary, "-t", "-d", str(workdir), "-f", str(path)], env=env,
                    listeners=editor.listeners, logs=[workdir / "error.log"], notes=editor.notes)


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined, as Apache reads them."""
    out, pending = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\") and not line.lstrip().startswith("#"):
            pending += line.rstrip()[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def _load(path: Path, base: Path, seen: tuple, missing: str, notes: list[str]) -> list[str]:
    if path in seen:
        raise Unrenderable(f"include loop at {path}")
    return _inline(_logical_lines(path.read_text(errors="replace")), base, seen + (path,), missing, notes)


def _inline(lines: list[str], base: Path, seen: tuple, missing: str, notes: list[str]) -> list[str]:
    """The lines with every Include replaced by the included files' lines (ServerRoot = `base`)."""
    out = []
    for line in lines:
        words = tokens(line)
        if words and words[0].lower() in ("include", "includeoptional") and len(words) > 1:
            pattern = unquote(words[1])
            root = "/etc/httpd" if pattern.startswith("/etc/httpd/") else "/etc/apache2"
            try:
                files = resolve_include(pattern, base, root, SYSTEM_FILES)
            except Unrenderable as absent:
                if words[0].lower() != "includeoptional" and missing != "drop":
                    raise
                if words[0].lower() != "includeoptional":
                    notes.append(f"dropped: {absent}")
                files = []
            for included in files:
                if included.is_file():
                    out.extend(_load(included, base, seen, missing, notes))
            continue
        out.append(line)
    return out


def tokens(line: str) -> list[str]:
    """Apache's words with their quotes kept (so untouched ones are written back as they were)."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return []
    return re.findall(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|[^\s]+', stripped)


def unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "\"'":
        return word[1:-1]
    return word


def _port_of(address: str) -> Optional[int]:
    address = unquote(address)
    match = re.search(r"(?:^|:)(\d+)$", address.split("]")[-1])
    return int(match.group(1)) if match else None


class _Editor:
    def __init__(self, workdir: Path, upstreams: Upstreams):
        self.workdir = workdir
        self.upstreams = upstreams
        self.listeners: dict[int, Listener] = {}
        self.notes: list[str] = []
        self.loaded: set[str] = set()
        self.listened: set[int] = set()   # original ports that have a Listen line
        self.counter = 0
        self.vhost_ports: list[int] = []   # ports of the <VirtualHost> being read
        self.names: list[str] = []
        for sub in ("logs", "run"):
            (workdir / sub).mkdir(exist_ok=True)

    def edit(self, lines: list[str]) -> list[str]:
        self.names = [unquote(w) for line in lines for w in self._server_names(line)]
        out, listens = [], set()
        for line in lines:
            words = tokens(line)
            if not words:
                out.append(line)
                continue
            key = words[0].lower()
            if key in DROPPED:
                self.notes.append(f"dropped `{line.strip()}`")
                continue
            if key == "listen":
                port = _port_of(words[1])
                if port is None:
                    raise Unrenderable(f"cannot read the port in `{line.strip()}`")
                self.listened.add(port)
                listener = self._listener(port, len(words) > 2 and unquote(words[2]).lower() == "https")
                if listener.port in listens:
                    continue   # `Listen 443` and `Listen [::]:443` are now the same socket
                listens.add(listener.port)
                out.append(" ".join([words[0], f"127.0.0.1:{listener.port}", *words[2:]]))
                continue
            rewritten = self._rewrite(line, words, key)
            indent = line[:len(line) - len(line.lstrip())]
            out.append(rewritten if rewritten == line else indent + rewritten)
        return out

    @staticmethod
    def _server_names(line: str) -> list[str]:
        words = tokens(line)
        if words and words[0].lower() in ("servername", "serveralias"):
            return words[1:]
        return []

    def _rewrite(self, line: str, words: list[str], key: str) -> str:
        work = self.workdir
        if key == "<virtualhost":
            return self._virtual_host(line)
        if key == "</virtualhost>":
            self.vhost_ports = []
        elif key == "sslengine" and len(words) > 1 and words[1].lower() == "on":
            for port in self.vhost_ports:
                self.listeners[port].tls = True
        elif key in ("servername", "serveralias") and self.vhost_ports:
            for port in self.vhost_ports:
                for name in words[1:]:
                    host = re.sub(r"^\w+://", "", unquote(name)).split(":")[0]
                    if host not in self.listeners[port].names and "*" not in host:
                        self.listeners[port].names.append(host)
        elif key == "loadmodule" and len(words) > 2:
            self.loaded.add(words[1])
            module = Path(unquote(words[2]))
            if not module.is_absolute() or not module.exists():
                module = MODULES / module.name
            if not module.exists():
                raise Unrenderable(f"Apache module {unquote(words[2])} is not installed here")
            return f"LoadModule {words[1]} {module}"
        elif key == "errorlog":
            return f"ErrorLog {work / 'error.log'}"
        elif key in ("customlog", "transferlog", "globallog") and len(words) > 1:
            self.counter += 1
            return " ".join([words[0], str(work / "logs" / f"access{self.counter}.log"), *words[2:]])
        elif key in ("sslcertificatefile", "sslcertificatekeyfile", "sslcacertificatefile"):
            cert = certificate(self.names)
            return f"{words[0]} {cert.key if key == 'sslcertificatekeyfile' else cert.cert}"
        elif key == "sslsessioncache":
            return f"SSLSessionCache shmcb:{work / 'run' / 'ssl_scache'}(512000)"
        elif key == "sslopensslconfcmd" and len(words) > 1 and unquote(words[1]).lower() == "dhparameters":
            return ""
        elif key in PROXY_TARGETS or key == "<proxy" or (key == "rewriterule" and _is_proxy_rule(words)):
            return _swap(line.strip(), [(w, self._url(w)) for w in words[1:]])
        return line

    def _virtual_host(self, line: str) -> str:
        # The header ends at the last '>' on the line; httpd ignores anything after it.
        header = line.strip()
        addresses = header[len("<VirtualHost"):header.rfind(">")].split()
        local = []
        self.vhost_ports = []
        for address in addresses:
            port = _port_of(address)
            if port is None:
                local.append("127.0.0.1:*")
                continue
            listener = self._listener(port, False)
            self.vhost_ports.append(port)
            local.append(f"127.0.0.1:{listener.port}")
        unique = list(dict.fromkeys(local))
        return f"<VirtualHost {' '.join(unique)}>"

    def _url(self, word: str) -> str:
        """A proxy target word with its host:port replaced; quotes and anything after kept."""
        quote = word[0] if word[:1] in "\"'" else ""
        raw = word[len(quote):]
        if raw.lower().startswith("unix:"):
            # unix:/run/synapse.sock|http://localhost/path → the path after the pipe is kept.
            sock, _, url = raw.partition("|")
            scheme, authority, rest = split_url(url)
            return f"{quote}http://{self.upstreams.target(sock, authority)}{rest}"
        match = URL.match(raw)
        if not match:
            return word
        scheme = match["scheme"].lower()
        if scheme in ("https", "wss"):
            self.notes.append(f"{word}: {scheme} upstream made plain {scheme[:-1]}")
            scheme = scheme[:-1]
        if scheme == "h2":
            scheme = "h2c"
        return f"{quote}{scheme}://{self.upstreams.target(match['authority'])}{match['rest']}"

    def _listener(self, port: int, tls: bool) -> Listener:
        if port not in self.listeners:
            self.listeners[port] = Listener(original=port, port=free_port(), tls=False, spec=str(port))
        self.listeners[port].tls = self.listeners[port].tls or tls
        return self.listeners[port]

    def prelude(self) -> list[str]:
        """What every rendered config starts with (before the config's own lines)."""
        work = self.workdir
        lines = [f"ServerRoot {work}", "ServerName localhost", f"PidFile {work / 'httpd.pid'}",
                 f"DefaultRuntimeDir {work / 'run'}", f"Mutex file:{work / 'run'} default",
                 f"ErrorLog {work / 'error.log'}", "LogLevel warn"]
        if os.geteuid() == 0:
            # As root Apache's children must switch to a user that exists (AH02155 otherwise).
            lines += ["User nobody", "Group nogroup"]
        own_modules = bool(self.loaded)
        wanted = SNIPPET_MODULES if not own_modules else (
            ["mpm_event"] if not any(m.startswith("mpm_") for m in self.loaded) else [])
        for module in wanted:
            if f"{module}_module" not in self.loaded:
                lines.append(f"LoadModule {module}_module {MODULES / f'mod_{module}.so'}")
        lines += ["<IfModule mpm_event_module>", "StartServers 1", "ServerLimit 1", "ThreadsPerChild 8",
                  "ThreadLimit 8", "MinSpareThreads 1", "MaxSpareThreads 8", "MaxRequestWorkers 8", "</IfModule>",
                  "<IfModule mime_module>", "TypesConfig /etc/mime.types", "</IfModule>"]
        if any(listener.tls for listener in self.listeners.values()):
            cert = certificate(self.names)
            lines += ["<IfModule ssl_module>", f"SSLCertificateFile {cert.cert}",
                      f"SSLCertificateKeyFile {cert.key}", "</IfModule>"]
        if not own_modules:
            # A snippet relies on the main config's Listen lines (Debian's ports.conf): listen on
            # every port its virtual hosts use; with no virtual host, on 80 for the main server.
            if not self.listeners:
                self._listener(80, False)
            lines += [f"Listen 127.0.0.1:{listener.port}" for original, listener in self.listeners.items()
                      if original not in self.listened]
        else:
            # A full config listens where it says; a vhost on a port it never listens on is unreachable.
            for original in [p for p in self.listeners if p not in self.listened]:
                self.notes.append(f"no Listen for port {original}: its virtual hosts are unreachable")
                del self.listeners[original]
        return lines


def _swap(text: str, replacements: list[tuple[str, str]]) -> str:
    """`text` with each word replaced in order, spacing and everything else untouched."""
    out, position = "", 0
    for old, new in replacements:
        index = text.index(old, position)
        out += text[position:index] + new
        position = index + len(old)
    return out + text[position:]


def _is_proxy_rule(words: list[str]) -> bool:
    # RewriteRule pattern substitution [flags]: httpd ignores any words after the flags.
    flags = unquote(words[3]) if len(words) > 3 else ""
    return flags.startswith("[") and bool(re.search(r"[\[,]\s*P\s*[,\]]", flags, re.I))
