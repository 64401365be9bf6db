"""What widely used include files contain, shipped as data: the open world made a little smaller.

A repository's configs often `include` files that live only on the server: Debian's
`proxy_params`, certbot's `options-ssl-nginx.conf`, the linuxserver/SWAG image's `proxy.conf`.
Their content is standard, so we ship it: each file under `linter/known/<server>/` is written
from the upstream file's facts (its directives and values, not its comments) and starts with a
header naming where it is found and where its facts come from:

    # path: /etc/nginx/proxy_params          (absolute paths it is usually installed at; repeatable)
    # name: proxy_params                     (how includes name it relative to the conf dir; repeatable)
    # source: Debian nginx-common 1.22.1-9 (debian/conf/proxy_params)

Front ends ask `lookup(server, target)` only after the checked tree, this machine and the user's
`--include-path` directories had nothing: a real file always wins over shipped knowledge.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Optional

_HERE = os.path.dirname(__file__)


@dataclass(frozen=True)
class KnownInclude:
    paths: tuple     # absolute install paths
    names: tuple     # names relative to the server's conf dir
    source: str      # where the facts come from, with a version
    text: str        # the directives, in the server's own syntax
    file: str        # the data file, for tests and `trace`

    def describe(self) -> str:
        return f"{(self.paths or self.names)[0]} as shipped by {self.source}"


_cache: dict = {}


def entries(server: str) -> list:
    if server not in _cache:
        found = []
        folder = os.path.join(_HERE, server)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else ():
            if not name.startswith((".", "_")):
                found.append(_read(os.path.join(folder, name)))
        _cache[server] = found
    return _cache[server]


def _read(file: str) -> KnownInclude:
    paths, names, source, body = [], [], "", []
    with open(file, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    header = True
    for line in lines:
        key, sep, value = line.lstrip("# ").partition(":")
        if header and line.startswith("#") and sep and key in ("path", "name", "source"):
            value = value.strip()
            {"path": paths, "name": names}.get(key, []).append(value)
            if key == "source":
                source = value
            continue
        header = False
        body.append(line)
    if not source or not (paths or names):
        raise ValueError(f"{file}: a known include needs a `# source:` and a `# path:` or `# name:`")
    return KnownInclude(tuple(paths), tuple(names), source, "".join(body), file)


def lookup(server: str, target: str) -> list:
    """The known includes an include target names (a glob may name several), in path order."""
    target = target.strip()
    hits = [k for k in entries(server) if _names(k, target)]
    return sorted(hits, key=lambda k: (k.paths or k.names)[0])


def _names(known: KnownInclude, target: str) -> bool:
    if os.path.isabs(target):
        if any(fnmatchcase(p, target) for p in known.paths):
            return True
        # An absolute path elsewhere (`/usr/local/nginx/conf/proxy_params`): the relative name
        # must make up its last components.
        return any(_suffix(target, n) for n in known.names)
    return any(fnmatchcase(n, target) or _suffix(target, n) for n in known.names)


def _suffix(target: str, name: str) -> bool:
    want = [p for p in name.split("/") if p]
    have = [p for p in target.split("/") if p]
    return len(have) >= len(want) and all(fnmatchcase(n, p) for p, n in zip(have[-len(want):], want))


def find(server: str, target: str) -> Optional[KnownInclude]:
    hits = lookup(server, target)
    return hits[0] if hits else None
