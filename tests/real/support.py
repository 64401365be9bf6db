"""Small pieces every driver shares: loopback ports, certificates, upstream targets, includes.

Nothing here starts a server; see harness.py for that.
"""
from __future__ import annotations

import atexit
import fnmatch
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Union

LOOPBACK = "127.0.0.1"


class Unrenderable(Exception):
    """The config cannot run on this machine (a missing include, a unix-socket-only listener…).

    It says nothing about the config being wrong; fixtures turn it into a skip with this message.
    """


class ConfigRejected(Exception):
    """The server's own check (or the parse needed to render) rejected the config.

    `output` is what the server printed; `config` is the rendered text it was given.
    """

    def __init__(self, message: str, output: str = "", config: str = ""):
        super().__init__(message)
        self.output = output
        self.config = config

    def __str__(self) -> str:
        parts = [self.args[0]]
        if self.output:
            parts.append("--- server output ---\n" + self.output.rstrip())
        if self.config:
            numbered = "\n".join(f"{n:4} {line}" for n, line in enumerate(self.config.splitlines(), 1))
            parts.append("--- rendered config ---\n" + numbered)
        return "\n".join(parts)


# --- ports -------------------------------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS just had free (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class ClosedPort:
    """A loopback port held bound but never listening: connecting to it is refused at once.

    Holding the socket keeps anyone else from taking the port, so "upstream down" stays down.
    Use it wherever an upstream is accepted (it has `.authority` like FakeHomeserver).
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((LOOPBACK, 0))
        self.port = self._sock.getsockname()[1]
        self.authority = f"{LOOPBACK}:{self.port}"

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "ClosedPort":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- certificates ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Certificate:
    cert: Path   # PEM certificate
    key: Path    # PEM private key (unencrypted)
    bundle: Path  # certificate followed by key, the form HAProxy's `crt` wants


_cert_lock = threading.Lock()
_cert_cache: dict[tuple[str, ...], Certificate] = {}
_cert_dir: list[str] = []


def certificate(names: Iterable[str] = ()) -> Certificate:
    """A self-signed EC certificate for localhost, 127.0.0.1 and `names`, made once per process.

    Made with the openssl CLI (always present on Debian) so the tests need no extra package.
    Names are put in the SAN list because Caddy picks certificates by SNI; the other servers
    do not care.
    """
    wanted = tuple(sorted({"localhost", *(n for n in names if _usable_dns_name(n))}))
    with _cert_lock:
        if wanted in _cert_cache:
            return _cert_cache[wanted]
        if not _cert_dir:
            _cert_dir.append(tempfile.mkdtemp(prefix="mpl-certs-"))
            atexit.register(shutil.rmtree, _cert_dir[0], True)
        base = Path(_cert_dir[0]) / f"cert{len(_cert_cache)}"
        san = ",".join(["IP:127.0.0.1"] + [f"DNS:{n}" for n in wanted])
        cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
               "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", f"subjectAltName={san}",
               # A leaf, not a CA: Apache warns about CA certificates used by a server (AH01906).
               "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth",
               "-keyout", f"{base}.key", "-out", f"{base}.crt"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"openssl could not make a test certificate: {done.stderr}")
        bundle = Path(f"{base}.pem")
        bundle.write_text(Path(f"{base}.crt").read_text() + Path(f"{base}.key").read_text())
        made = Certificate(Path(f"{base}.crt"), Path(f"{base}.key"), bundle)
        _cert_cache[wanted] = made
        return made


def _usable_dns_name(name: str) -> bool:
    # Regexes, placeholders, catch-alls and IPs cannot (or need not) go into the DNS SAN list.
    return bool(DNS_NAME.match(name)) and name != "localhost" and not name.replace(".", "").isdigit()


DNS_NAME = re.compile(r"^(?:\*\.)?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")


# --- upstream targets --------------------------------------------------------------------------

Target = Union[int, str, tuple, object]  # a port, "host:port", (host, port), or anything with .authority


def authority_of(target: Target) -> str:
    if hasattr(target, "authority"):
        return target.authority
    if isinstance(target, int):
        return f"{LOOPBACK}:{target}"
    if isinstance(target, tuple):
        return f"{target[0]}:{target[1]}"
    if isinstance(target, str):
        return target
    raise TypeError(f"not an upstream target: {target!r}")


class Upstreams:
    """Where each upstream written in a config goes on this machine.

    Built from one target (every upstream goes there) or a dict whose keys are upstream names
    as written in the config ("localhost:8008", "synapse", an nginx upstream{} name, a HAProxy
    backend name) plus an optional "*" for the rest.
    """

    def __init__(self, spec: Union[Target, Mapping[str, Target]]):
        if isinstance(spec, Mapping):
            self._map = {k: authority_of(v) for k, v in spec.items()}
        else:
            self._map = {"*": authority_of(spec)}

    def target(self, *names: str) -> str:
        for name in names:
            if name in self._map:
                return self._map[name]
        if "*" in self._map:
            return self._map["*"]
        raise Unrenderable(f"no upstream target given for {' / '.join(names)!r} "
                           f"(pass upstream={{..., '*': fake}} or name it)")


def split_url(url: str) -> tuple[str, str, str]:
    """`scheme://authority/rest` → (scheme, authority, rest); no scheme → ("", authority, rest)."""
    scheme = ""
    if "://" in url:
        scheme, url = url.split("://", 1)
    cut = len(url)
    for sep in "/?":
        i = url.find(sep)
        if i != -1:
            cut = min(cut, i)
    return scheme, url[:cut], url[cut:]


# --- includes ----------------------------------------------------------------------------------

def resolve_include(pattern: str, base: Path, conventional_root: str, system_files: Iterable[str]) -> list[Path]:
    """The files an include pattern stands for when the config's own tree lives in `base`.

    Relative patterns and absolute ones under the server's usual root (`/etc/nginx`) are looked up
    under `base` first: a config copied from elsewhere brings its includes along. The host's own
    files are only used for the distribution's stock files listed in `system_files` (mime.types,
    module loaders…), never for the host's sites. A glob that matches nothing is empty (as in the
    servers); a plain path that exists nowhere raises Unrenderable.
    """
    root = conventional_root.rstrip("/")
    if os.path.isabs(pattern):
        rel = pattern[len(root) + 1:] if pattern.startswith(root + "/") else None
    else:
        rel = pattern
    candidates = []
    if rel is not None:
        candidates.append(str(base / rel))
        if any(fnmatch.fnmatch(rel, allowed) for allowed in system_files):
            candidates.append(f"{root}/{rel}")
    elif Path(pattern).is_relative_to(base):
        candidates.append(pattern)
    is_glob = any(c in pattern for c in "*?[")
    for candidate in candidates:
        found = sorted(glob.glob(candidate)) if is_glob else ([candidate] if os.path.isfile(candidate) else [])
        if found:
            return [Path(f) for f in found]
    if is_glob:
        return []
    where = " and ".join(candidates) if candidates else f"not looked up: outside {root} and the config's tree"
    raise Unrenderable(f"include {pattern!r} is not available here ({where})")
