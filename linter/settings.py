"""Project configuration: `.matrix-proxy-lint.toml`, or `[tool.matrix-proxy-lint]` in pyproject.toml.

    # .matrix-proxy-lint.toml (in pyproject.toml the same keys go under [tool.matrix-proxy-lint])
    prefix = "deploy/etc/nginx"          # paths are relative to this file
    nginx-version = "1.26.0"
    select = ["MPL1", "MPL2"]
    exclude = ["vendor/", "*.j2"]        # gitignore-style, relative to this file
    fail-on = "error"

    [severity]                           # per rule (code, prefix or slug)
    MPL404 = "info"

    [[paths]]                            # settings for some files only; later tables win
    include = ["haproxy/**"]
    server = "haproxy"
    haproxy-version = "2.8"

Discovery (unless --config FILE or --isolated): from the directory of the first checked path
upward, the first directory with `.matrix-proxy-lint.toml` (preferred) or a pyproject.toml that
has the table; the search stops at the repository root (the directory holding `.git`). An option
given on the command line wins over the file. An unknown key or a wrong value is a configuration
error at the file, line and column of the key (exit 2), never ignored.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

from linter.detect import SERVERS
from linter.rule import SEVERITIES
from linter.syntax import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:                                   # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib

FILE_NAME = ".matrix-proxy-lint.toml"


def _choice(values):
    def convert(value):
        if value not in values:
            raise ValueError(f"expected one of {', '.join(values)}")
        return value
    return convert


def parse_version(value) -> tuple:
    """`1.26.0` or `2.8` -> (1, 26, 0), (2, 8, 0); ValueError otherwise (the CLI shares it)."""
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", str(value))
    if not m:
        raise ValueError("expected a version like 1.26.0")
    return tuple(int(x or 0) for x in m.groups())


def parse_size_option(value) -> int:
    """`8M`, `512k`, `1G` or a positive int of bytes; ValueError otherwise (the CLI shares it)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)i?[bB]?\s*", str(value))
    if not m or int(m.group(1)) == 0:
        raise ValueError("expected a size like 8M, 512k or 1G")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]


def _bool(value):
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _strings(value):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return tuple(value)


def _string(value):
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


# key -> (option name, converter, is a path relative to the config file)
OPTION_KEYS: dict[str, tuple[str, Callable, str]] = {
    "server": ("server", _choice(SERVERS), ""),
    "format": ("fmt", _string, ""),
    "prefix": ("prefix", _string, "path"),
    "nginx-version": ("nginx_version", parse_version, ""),
    "haproxy-version": ("haproxy_version", parse_version, ""),
    "caddy-directives": ("caddy_directives", _strings, ""),
    "homeserver-config": ("homeserver_config", _string, "path"),
    "select": ("select", _strings, ""),
    "ignore": ("ignore", _strings, ""),
    "fail-on": ("fail_on", _choice(SEVERITIES), ""),
    "include-paths": ("include_paths", _strings, "paths"),
    "strict-includes": ("strict_includes", _bool, ""),
    "root": ("root", _string, "path"),
    "max-file-size": ("max_file_size", parse_size_option, ""),
    "max-total-size": ("max_total_size", parse_size_option, ""),
    "baseline": ("baseline", _string, "path"),
    "quiet": ("quiet", _bool, ""),
    "statistics": ("statistics", _bool, ""),
}
# What a [[paths]] table may set: what belongs to a file, not to the run.
PER_PATH_KEYS = ("server", "prefix", "nginx-version", "haproxy-version", "caddy-directives", "include-paths")


@dataclass
class Settings:
    source: Optional[str] = None                  # the file read; None: no project configuration
    options: dict = field(default_factory=dict)   # option name -> value (paths made absolute)
    exclude: Optional[Callable[[str], bool]] = None
    per_path: tuple = ()                          # ((matches(path) -> bool, {option name: value}), ...)
    severity: dict = field(default_factory=dict)  # code, prefix or slug -> severity


def discover(start: str) -> Optional[str]:
    """The project configuration that applies to `start` (a file or directory), or None."""
    here = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start) or ".")
    while True:
        own = os.path.join(here, FILE_NAME)
        if os.path.isfile(own):
            return own
        pyproject = os.path.join(here, "pyproject.toml")
        if os.path.isfile(pyproject) and _has_table(pyproject):
            return pyproject
        parent = os.path.dirname(here)
        if os.path.exists(os.path.join(here, ".git")) or parent == here:
            return None
        here = parent


def _has_table(pyproject: str) -> bool:
    try:
        with open(pyproject, "rb") as f:
            return "matrix-proxy-lint" in tomllib.load(f).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False


def load(path: str, rules: Optional[list] = None) -> Settings:
    """The settings in `path`; with `rules`, every rule named in [severity] must exist."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except OSError as e:
        raise ConfigError(f"cannot read the project configuration: {e.strerror}", path)
    except UnicodeDecodeError:
        raise ConfigError("the project configuration is not UTF-8", path)
    except tomllib.TOMLDecodeError as e:
        raise toml_error(e, path, text) from None
    in_pyproject = os.path.basename(path) == "pyproject.toml"
    if in_pyproject:
        data = data.get("tool", {}).get("matrix-proxy-lint", {})
    base = os.path.dirname(os.path.abspath(path))
    table = "tool.matrix-proxy-lint" if in_pyproject else ""
    where = _Locator(path, text, table)
    settings = Settings(source=path)
    for key, value in data.items():
        if key == "exclude":
            settings.exclude = _gitignore(_convert(where, key, value, _strings), base)
        elif key == "severity":
            settings.severity = _severities(where, value, rules)
        elif key == "paths":
            settings.per_path = _per_path(where, value, base)
        elif key in OPTION_KEYS:
            name, convert, kind = OPTION_KEYS[key]
            settings.options[name] = _absolute(_convert(where, key, value, convert), kind, base)
        else:
            where.fail(key, f"unknown key {key!r} (known: {', '.join(sorted([*OPTION_KEYS, 'exclude', 'severity', 'paths']))})")
    return settings


def _convert(where, key, value, convert):
    try:
        return convert(value)
    except ValueError as e:
        where.fail(key, f"{key}: {e}")


def _absolute(value, kind: str, base: str):
    if kind == "path":
        return os.path.normpath(os.path.join(base, value))
    if kind == "paths":
        return tuple(os.path.normpath(os.path.join(base, v)) for v in value)
    return value


def _severities(where, value, rules) -> dict:
    if not isinstance(value, dict):
        where.fail("severity", "severity: expected a table of rule = severity")
    out = {}
    for code, severity in value.items():
        if rules is not None and not any(r.code.startswith(code) or r.slug == code for r in rules):
            where.fail(code, f"no rule matches {code!r}")
        if severity not in SEVERITIES:
            where.fail(code, f"severity of {code}: expected one of {', '.join(SEVERITIES)}")
        out[code] = severity
    return out


def _per_path(where, value, base: str) -> tuple:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        where.fail("paths", "paths: expected [[paths]] tables")
    out = []
    for table in value:
        if "include" not in table:
            where.fail("paths", "a [[paths]] table needs `include`: the gitignore-style patterns it applies to")
        matches = _gitignore(_convert(where, "include", table["include"], _strings), base)
        overrides = {}
        for key, v in table.items():
            if key == "include":
                continue
            if key not in PER_PATH_KEYS:
                where.fail(key, f"unknown key {key!r} in [[paths]] (known: include, {', '.join(PER_PATH_KEYS)})")
            name, convert, kind = OPTION_KEYS[key]
            overrides[name] = _absolute(_convert(where, key, v, convert), kind, base)
        out.append((matches, overrides))
    return tuple(out)


def _gitignore(patterns: tuple, base: str) -> Callable[[str], bool]:
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(patterns)     # git's own matching, negation included

    def matches(path: str) -> bool:
        rel = os.path.relpath(os.path.abspath(path), base)
        if rel.startswith(".."):
            return False                # outside the project: its patterns say nothing
        return spec.match_file(rel.replace(os.sep, "/"))
    return matches


def toml_error(error, path: str, text: str) -> ConfigError:
    """tomllib's error as a ConfigError at its line and column (also the homeserver's TOML)."""
    message = str(error)
    m = re.search(r"at line (\d+), column (\d+)", message)
    if m:
        line, column = int(m.group(1)), int(m.group(2))
    else:
        lines = text.split("\n")      # "at end of document"
        line, column = len(lines), len(lines[-1]) + 1
    return ConfigError(f"not valid TOML: {re.sub(r' [(]at line.*', '', message)}", path, line, column)


class _Locator:
    """Finds where a key is written, for errors (tomllib keeps no positions)."""

    def __init__(self, path: str, text: str, table: str):
        self.path, self.lines, self.table = path, text.splitlines(), table

    def fail(self, key: str, message: str):
        pattern = re.compile(r'^\s*(?:"%s"|\'%s\'|%s)\s*=' % ((re.escape(key),) * 3))
        header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*$")
        inside = not self.table
        for number, line in enumerate(self.lines, 1):
            h = header.match(line)
            if h:
                name = h.group(1).strip().strip('"')
                inside = name == self.table or name.startswith(self.table + ".") if self.table else True
                if name.split(".")[-1] == key and inside:
                    raise ConfigError(message, self.path, number, line.index(key) + 1)
                continue
            m = pattern.match(line)
            if inside and m:
                raise ConfigError(message, self.path, number, len(line) - len(line.lstrip()) + 1)
        raise ConfigError(message, self.path)
