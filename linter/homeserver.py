"""The homeserver's own configuration, read to check the proxy against it (`--homeserver-config`).

Synapse's homeserver.yaml and Dendrite's dendrite.yaml (YAML, read with PyYAML), and the TOML of
the Conduit family (conduwuit, continuwuity, tuwunel: `[global]`, read with tomllib). Only what
the cross-checks in rules/homeserver.py need is kept, each value with the position it was
written at; what a file does not say is the implementation's default, and what the linter cannot
tell (a value from an environment variable, an `include`d file) is None.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Optional

from linter.model import parse_size
from linter.syntax import ConfigError, Span

if sys.version_info >= (3, 11):
    import tomllib
else:                                   # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib

# Defaults, from each implementation's documentation.
SYNAPSE_MAX_UPLOAD = 50 * 1024 * 1024          # synapse docs: max_upload_size "50M"
CONDUWUIT_MAX_REQUEST = 20 * 1024 * 1024       # conduwuit/continuwuity: max_request_size 20 MiB
DENDRITE_MAX_FILE = 10 * 1024 * 1024           # dendrite: media_api.max_file_size_bytes 10485760


@dataclass
class Listener:
    port: int
    x_forwarded: bool               # the listener takes the client address from X-Forwarded-For
    resources: tuple = ()           # "client", "federation", ...
    span: Optional[Span] = None


@dataclass
class Homeserver:
    path: str
    kind: str                               # "synapse" | "dendrite" | "conduwuit"
    span: Span                              # the file (for findings about what it lacks)
    server_name: Optional[str] = None
    upload_limit: Optional[int] = None      # bytes the homeserver accepts in one upload
    upload_limit_key: str = ""              # the setting's name, for messages
    upload_limit_span: Optional[Span] = None
    public_baseurl: Optional[str] = None
    public_baseurl_span: Optional[Span] = None
    serve_server_wellknown: bool = False
    serve_server_wellknown_span: Optional[Span] = None
    listeners: list = field(default_factory=list)

    def listener_on(self, port: Optional[int]) -> Optional[Listener]:
        return next((l for l in self.listeners if l.port == port), None)


def load(path: str) -> Homeserver:
    """The homeserver configuration at `path`; a ConfigError at file:line:column when it cannot
    be read as one."""
    from linter.inputs import Budget, read_config

    text = read_config(path, Budget())
    if path.lower().endswith(".toml"):
        return _conduwuit(path, text)
    return _yaml(path, text)


# -- Synapse and Dendrite (YAML) -----------------------------------------------------------------

def _yaml(path: str, text: str) -> Homeserver:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ConfigError(f"not valid YAML: {e.problem or e.context}", path,
                          mark.line + 1 if mark else None, mark.column + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}", path) from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise ConfigError("not a homeserver configuration: the file is not a YAML mapping", path, 1, 1)
    top = _mapping(root)
    hs = Homeserver(path, "dendrite" if "global" in top and "version" in top else "synapse", Span.point(path, 1, 1))
    if hs.kind == "dendrite":
        glob = _mapping(top["global"][1]) if isinstance(top["global"][1], yaml.MappingNode) else {}
        hs.server_name = _scalar(glob.get("server_name"))
        media = _mapping(top["media_api"][1]) if "media_api" in top and isinstance(top["media_api"][1], yaml.MappingNode) else {}
        hs.upload_limit, hs.upload_limit_span = _bytes(path, media.get("max_file_size_bytes"), DENDRITE_MAX_FILE)
        hs.upload_limit_key = "media_api.max_file_size_bytes"
        return hs
    hs.server_name = _scalar(top.get("server_name"))
    hs.upload_limit, hs.upload_limit_span = _bytes(path, top.get("max_upload_size"), SYNAPSE_MAX_UPLOAD)
    hs.upload_limit_key = "max_upload_size"
    hs.public_baseurl = _scalar(top.get("public_baseurl"))
    hs.public_baseurl_span = _span(path, top.get("public_baseurl"))
    wellknown = top.get("serve_server_wellknown")
    hs.serve_server_wellknown = _scalar(wellknown) in ("true", "True", "yes", "on")
    hs.serve_server_wellknown_span = _span(path, wellknown)
    listeners = top.get("listeners")
    if listeners is not None and isinstance(listeners[1], yaml.SequenceNode):
        for item in listeners[1].value:
            if not isinstance(item, yaml.MappingNode):
                continue
            entry = _mapping(item)
            port = _scalar(entry.get("port"))
            if not (port or "").isascii() or not (port or "").isdigit() or len(port) > 5:
                continue
            resources = []
            for res in (entry["resources"][1].value if "resources" in entry
                        and isinstance(entry["resources"][1], yaml.SequenceNode) else ()):
                if isinstance(res, yaml.MappingNode) and "names" in _mapping(res):
                    names = _mapping(res)["names"][1]
                    if isinstance(names, yaml.SequenceNode):
                        resources += [str(n.value) for n in names.value if isinstance(n, yaml.ScalarNode)]
            hs.listeners.append(Listener(int(port), _scalar(entry.get("x_forwarded")) in ("true", "True", "yes", "on"),
                                         tuple(resources), Span.point(path, item.start_mark.line + 1,
                                                                      item.start_mark.column + 1)))
    return hs


def _mapping(node) -> dict:
    """{key: (key node, value node)} of a YAML mapping node (scalar keys only)."""
    out = {}
    for k, v in node.value:
        if hasattr(k, "value") and isinstance(k.value, str):
            out[k.value] = (k, v)
    return out


def _scalar(entry) -> Optional[str]:
    if entry is None:
        return None
    value = entry[1]
    return str(value.value) if type(value).__name__ == "ScalarNode" and value.value is not None else None


def _span(path: str, entry) -> Optional[Span]:
    if entry is None:
        return None
    key = entry[0]
    return Span(path, key.start_mark.line + 1, key.start_mark.column + 1, key.end_mark.line + 1,
                key.end_mark.column + 1)


def _bytes(path: str, entry, default: int) -> tuple:
    if entry is None:
        return default, None
    return parse_size(_scalar(entry) or ""), _span(path, entry)


# -- conduwuit, continuwuity, tuwunel (TOML) -----------------------------------------------------

def _conduwuit(path: str, text: str) -> Homeserver:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        from linter.settings import toml_error

        raise toml_error(e, path, text) from None
    glob = data.get("global")
    if not isinstance(glob, dict):
        raise ConfigError("not a conduwuit/continuwuity/tuwunel configuration: no [global] table", path, 1, 1)
    hs = Homeserver(path, "conduwuit", Span.point(path, 1, 1))
    hs.server_name = glob.get("server_name") if isinstance(glob.get("server_name"), str) else None
    limit = glob.get("max_request_size")
    hs.upload_limit_key = "max_request_size"
    if limit is None:
        hs.upload_limit = CONDUWUIT_MAX_REQUEST
    else:
        hs.upload_limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else parse_size(str(limit))
        hs.upload_limit_span = _toml_key(path, text, "max_request_size")
    wellknown = glob.get("well_known")
    if isinstance(wellknown, dict) and isinstance(wellknown.get("client"), str):
        hs.public_baseurl = wellknown["client"]
        hs.public_baseurl_span = _toml_key(path, text, "client")
    port = glob.get("port")
    ports = port if isinstance(port, list) else [port]
    for p in ports:
        if isinstance(p, int) and not isinstance(p, bool):
            # The Conduit family reads X-Forwarded-For only with ip_source set (continuwuity);
            # it takes the right-most entry, which the proxy writes.
            hs.listeners.append(Listener(p, glob.get("ip_source") == "x_forwarded_for", ("client", "federation"),
                                         _toml_key(path, text, "port")))
    return hs


def _toml_key(path: str, text: str, key: str) -> Optional[Span]:
    for number, line in enumerate(text.split("\n"), 1):
        m = re.match(r"\s*(%s)\s*=" % re.escape(key), line)
        if m:
            return Span(path, number, m.start(1) + 1, number, m.end(1) + 1)
    return None

