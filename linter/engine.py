"""Lint files and directories: find the configs, parse them, build the model, run the rules."""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Iterable, Optional

from linter.detect import ENTRY_NAMES, SERVERS, detect, read_text, worth_walking
from linter.rule import SEVERITIES, Rule, load_rules
from linter.syntax import ConfigError, LoadOptions, Span

SERVER_TITLES = {"nginx": "nginx", "apache": "Apache httpd", "caddy": "Caddy", "haproxy": "HAProxy"}
SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv"}
# The diagnostic for an include we could not read: information, never a reason to fail the run
# (unless --strict-includes turns it into an error).
UNRESOLVED_INCLUDE = "MPL001"


@dataclass
class Result:
    rule: Rule
    severity: str
    message: str
    span: Span
    server: str
    unless: tuple = ()     # the Unknowns this finding depends on (linter.model.Unknown)


@dataclass
class Report:
    findings: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    files: list = field(default_factory=list)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)


@dataclass
class Options:
    server: Optional[str] = None
    prefix: Optional[str] = None
    nginx_version: Optional[tuple] = None
    select: tuple = ()
    ignore: tuple = ()
    include_paths: tuple = ()
    strict_includes: bool = False

    def wants(self, rule: Rule) -> bool:
        def hit(patterns):
            return any(rule.code.startswith(p) or rule.slug == p for p in patterns)
        return (not self.select or hit(self.select)) and not hit(self.ignore)

    def model_options(self) -> dict:
        return {"nginx_version": self.nginx_version, "prefix": self.prefix}

    def load_options(self, tree_roots: tuple = ()) -> LoadOptions:
        return LoadOptions(prefix=self.prefix, include_paths=tuple(self.include_paths),
                           tree_roots=tuple(tree_roots), strict_includes=self.strict_includes)


def lint(paths: Iterable[str], **kwargs) -> Report:
    options = Options(**kwargs)
    report = Report()
    rules = [r for r in load_rules() if options.wants(r)]
    files = _collect(paths, options, report)
    covered: set = set()
    for path, server in files:
        if os.path.realpath(path) in covered:
            continue
        config = load_config(path, server, options, report)
        if config is None:
            continue
        covered.update(os.path.realpath(f) for f in config.tree.files)
        for f in config.tree.files:
            if f not in report.files:
                report.files.append(f)
        report.findings.extend(run_rules(config, rules))
    from linter.suppress import apply

    report.findings = apply(report.findings)
    report.findings.sort(key=lambda r: (r.span.path, r.span.line, r.span.column, r.rule.code))
    return report


def front_end(server: str):
    """The `parse` and `build` modules of a server's front end; None for parts not written yet."""
    parse = _optional(f"linter.{server}.parse")
    build = _optional(f"linter.{server}.build")
    return parse, build


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        return None


def load_config(path: str, server: str, options: Options, report: Report):
    """Parse one entry file and build its model; errors go to the report. None when nothing to lint."""
    parse, build = front_end(server)
    if parse is None or build is None:
        report.errors.append(ConfigError(
            f"{SERVER_TITLES[server]} configurations are not supported yet (detected from the file's name "
            f"and content; use --server to override)", path))
        if path not in report.files:
            report.files.append(path)
        return None
    tree = parse.load(path, prefix=options.prefix, load_options=options.load_options())
    report.errors.extend(tree.errors)
    if options.strict_includes:
        report.errors.extend(ConfigError(f"{u.kind} {u.target!r} {u.reason} (--strict-includes)",
                                         u.span.path, u.span.line, u.span.column) for u in tree.unresolved)
    config = build.build(tree, options.model_options())
    from linter.matrix import annotate

    annotate(config)
    return config


def run_rules(config, rules: list) -> list:
    return _drop_superseded(_run(config, rules))


def _drop_superseded(results: list) -> list:
    """One defect, one finding: a server-specific rule's finding replaces the cross-server one."""
    cover = set()
    for r in results:
        for code, scope in r.rule.supersedes:
            cover.add((code, r.span.path, r.span.line if scope == "line" else None))
    return [r for r in results
            if (r.rule.code, r.span.path, r.span.line) not in cover and (r.rule.code, r.span.path, None) not in cover]


def _run(config, rules: list) -> list:
    out = []
    for rule in rules:
        if not rule.applies_to(config.server):
            continue
        for finding in rule.run(config):
            severity = finding.severity or rule.severity
            if SEVERITIES.index(severity) < SEVERITIES.index(rule.severity):
                severity = rule.severity   # a finding may lower its severity, never raise it
            message, unless = finding.message, _distinct(finding.unless)
            if unless:
                # Open world: an unseen region could supply what this finding says is missing.
                severity = "info"
                message += f" (unless {_describe(unless)} provides it: not seen)"
            out.append(Result(rule, severity, message, finding.span, config.server, unless))
    return out


def _distinct(unknowns) -> tuple:
    seen, out = set(), []
    for u in unknowns or ():
        if (u.span, u.what) not in seen:
            seen.add((u.span, u.what))
            out.append(u)
    return tuple(out)


def _describe(unknowns: tuple) -> str:
    shown = [u.what for u in unknowns[:2]]
    if len(unknowns) > 2:
        shown.append(f"{len(unknowns) - 2} more")
    return " or ".join(shown) if len(shown) < 3 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _collect(paths: Iterable[str], options: Options, report: Report) -> list:
    """(path, server) for every config to lint, entry files (nginx.conf, ...) first."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path, followlinks=True):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
                for name in sorted(names):
                    full = os.path.join(root, name)
                    if not worth_walking(full) or not os.path.isfile(full):
                        continue
                    server = options.server or detect(full)
                    if server:
                        found.append((full, server))
        elif os.path.isfile(path):
            server = options.server or detect(path)
            if server is None:
                text = read_text(path)
                why = "it is not a text file" if text is None else "neither its name nor its content says"
                report.errors.append(ConfigError(
                    f"cannot tell which server this file is for ({why}); use --server "
                    f"{{{','.join(SERVERS)}}}", path))
                report.files.append(path)
                continue
            found.append((path, server))
        else:
            report.errors.append(ConfigError("no such file or directory", path))
    found.sort(key=lambda item: (os.path.basename(item[0]) not in ENTRY_NAMES, item[0]))
    return found
