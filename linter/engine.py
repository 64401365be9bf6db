"""Lint files and directories: find the configs, parse them, build the model, run the rules."""
from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Optional

from linter.detect import ENTRY_NAMES, SERVERS, detect, read_text, worth_walking
from linter.inputs import on_stdin
from linter.rule import SEVERITIES, Rule, load_rules
from linter.model import distinct_unknowns
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
class InternalError:
    """A bug in the linter met while linting one file: reported for that file, never hidden."""

    path: str
    stage: str          # "parsing", "building the model", "rule MPL401"
    summary: str        # "IndexError: list index out of range (linter/nginx/build.py:123)"
    traceback: str

    @classmethod
    def from_exception(cls, path: str, stage: str, error: BaseException) -> "InternalError":
        import traceback

        frames = traceback.extract_tb(error.__traceback__)
        # The innermost frame that is not the engine calling a rule, nor a library's or Python's.
        ours = [f for f in frames if not f.filename.endswith(_PLUMBING) and not _library(f.filename)] or frames
        where = f" ({_short(ours[-1].filename)}:{ours[-1].lineno})" if ours else ""
        # The innermost frames only: a RecursionError has a thousand, all alike.
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__, limit=-30))
        return cls(path, stage, f"{type(error).__name__}: {error}"[:300] + where, text)


_PLUMBING = (os.path.join("linter", "rule.py"), os.path.join("linter", "engine.py"))


def _library(filename: str) -> bool:
    if "/linter/" in filename or "/rules/" in filename:
        return False
    return filename.startswith(_library_paths()) or filename.startswith("<")


def _library_paths() -> tuple:
    global _LIBRARY_PATHS
    if _LIBRARY_PATHS is None:
        import sysconfig

        paths = sysconfig.get_paths()
        _LIBRARY_PATHS = (paths["stdlib"], paths["purelib"], paths["platlib"])
    return _LIBRARY_PATHS


_LIBRARY_PATHS = None


def _short(filename: str) -> str:
    for anchor in ("/linter/", "/rules/"):
        if anchor in filename:
            return anchor.strip("/") + "/" + filename.rsplit(anchor, 1)[1]
    return os.path.basename(filename)


@dataclass
class Report:
    findings: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    files: list = field(default_factory=list)
    # Things the user should know that are neither findings nor errors (files skipped as not a
    # proxy configuration, files read from this machine outside the checked tree). Never affect
    # the exit code.
    notes: list = field(default_factory=list)
    # Files read from this machine outside the checked tree: output never quotes their lines.
    outside: list = field(default_factory=list)
    # Bugs in the linter, one per file and stage (exit code 3).
    internal: list = field(default_factory=list)
    rules: list = field(default_factory=list, repr=False)      # the rules that ran (SARIF describes them)
    configs: list = field(default_factory=list, repr=False)    # the models, with Options.keep_models (HTML)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)


@dataclass
class Options:
    server: Optional[str] = None
    prefix: Optional[str] = None
    nginx_version: Optional[tuple] = None
    haproxy_version: Optional[tuple] = None
    # Directives the user's Caddy build has beyond the standard ones (plugins).
    caddy_directives: tuple = ()
    # The homeserver's configuration file, to check the proxy against (linter.homeserver).
    homeserver_config: Optional[str] = None
    # Keep every configuration's model on the report (the HTML report draws them).
    keep_models: bool = False
    select: tuple = ()
    ignore: tuple = ()
    include_paths: tuple = ()
    strict_includes: bool = False
    # A given file is linted in the context of the configs that include it, found under `root`
    # (default: the repository holding the file, else its directory). The CLI turns this on;
    # the Python API keeps linting a file as its own entry unless asked.
    includers: bool = False
    root: Optional[str] = None
    # The paths come from a hook (pre-commit): files that are no proxy config are skipped with a
    # note instead of being an error.
    hook: bool = False
    max_file_bytes: int = LoadOptions.max_file_bytes
    max_total_bytes: int = LoadOptions.max_total_bytes
    # From the project configuration (linter.settings): files to leave out, settings for some
    # files only ((matches(path), {option: value}), later entries win), severity per rule.
    exclude: Optional[Callable] = None
    per_path: tuple = ()
    severity: dict = field(default_factory=dict)

    def for_path(self, path: str) -> "Options":
        """These options with the project configuration's [[paths]] settings for `path`."""
        overrides: dict = {}
        for matches, values in self.per_path:
            if matches(path):
                overrides.update(values)
        return replace(self, **overrides) if overrides else self

    def excluded(self, path: str) -> bool:
        return self.exclude is not None and self.exclude(path)

    def severity_of(self, rule: Rule, severity: str) -> str:
        """The project's severity for the rule (code, then the longest prefix, then slug), else
        the finding's own."""
        table = self.severity
        if not table:
            return severity
        if rule.code in table:
            return table[rule.code]
        prefixes = [p for p in table if rule.code.startswith(p)]
        if prefixes:
            return table[max(prefixes, key=len)]
        return table.get(rule.slug, severity)

    def wants(self, rule: Rule) -> bool:
        def hit(patterns):
            return any(rule.code.startswith(p) or rule.slug == p for p in patterns)
        return (not self.select or hit(self.select)) and not hit(self.ignore)

    def model_options(self) -> dict:
        return {"nginx_version": self.nginx_version, "haproxy_version": self.haproxy_version,
                "caddy_directives": tuple(self.caddy_directives), "prefix": self.prefix}

    def load_options(self, tree_roots: tuple = ()) -> LoadOptions:
        return LoadOptions(prefix=self.prefix, include_paths=tuple(self.include_paths),
                           tree_roots=tuple(tree_roots), strict_includes=self.strict_includes,
                           max_file_bytes=self.max_file_bytes, max_total_bytes=self.max_total_bytes)


def lint(paths: Iterable[str], **kwargs) -> Report:
    """Lint files and directories.

    A directory is walked; only its entry points are linted: the configs no other config in it
    includes (each with everything it includes). A file is linted as its own entry, or, with
    `includers=True`, inside every config under its repository that includes it, and only the
    findings in that file (and the files it includes itself) are reported. Either way a finding
    that several configurations show is reported once, saying in how many it appears.
    """
    options = Options(**kwargs)
    rules = [r for r in load_rules() if options.wants(r)]
    run = _Run(options, rules)
    if options.homeserver_config:
        from linter.homeserver import load as load_homeserver

        try:
            run.homeserver = load_homeserver(options.homeserver_config)
            run.wanted.add(os.path.realpath(options.homeserver_config))    # its findings are asked for
        except ConfigError as error:
            run.report.errors.append(error)
    for path in paths:
        if os.path.isdir(path):
            run.directory(path)
        elif os.path.isfile(path) or on_stdin(path) is not None:
            run.file(path)
        else:
            run.report.errors.append(ConfigError("no such file or directory", path))
    return run.finish()


# How deep a directory walk goes: deeper is a symlink maze, not a configuration.
MAX_DEPTH = 32
# Never configurations, whatever links into them (as linter.inputs refuses to read them).
_SYSTEM_TREES = ("/proc/", "/sys/", "/dev/")
# Only a file that says `include`/`Include`/`IncludeOptional` (nginx, Apache) or `import` (Caddy)
# can pull another file in: the others need no parse to know they include nothing.
_INCLUDES_SOMETHING = re.compile(r"include|import", re.I)


@dataclass
class _Candidate:
    path: str
    real: str
    server: str
    tree_roots: tuple
    text: Optional[str] = None
    tree: object = None          # the parsed Tree, once parsed
    failure: Optional[str] = None
    crash: Optional[BaseException] = None    # the front end's exception, when it raised


@dataclass
class _Context:
    """One entry point to lint, and which of its findings the user asked about."""
    candidate: _Candidate
    keep_all: bool = False       # a directory run: every finding counts
    given: bool = False          # a file the user named, linted as its own entry


class _Run:
    def __init__(self, options: Options, rules: list):
        self.options = options
        self.rules = rules
        self.report = Report()
        self.contexts: dict = {}            # real path of the entry -> _Context
        self.wanted: set = set()            # real paths whose findings a file run reports
        self.display: dict = {}             # real path -> the path as the user wrote it
        self.skipped: list = []             # (path, why) of files that are no proxy config
        self.walks: dict = {}               # root -> {real path: _Candidate} (repository walks)
        self.outside: list = []             # files read from this machine outside the tree
        self.homeserver = None              # linter.homeserver.Homeserver, from --homeserver-config
        self.unreadable: list = []          # (path, why) of configs the include search could not parse
        self._reals: dict = {}

    # -- what to lint ---------------------------------------------------------------------------

    def directory(self, path: str) -> None:
        found = self._walk(path, note_skipped=True)
        candidates = list(found.values())
        included = self._included(candidates)
        entries = [c for c in candidates if c.real not in included]
        entries.sort(key=lambda c: (os.path.basename(c.path) not in ENTRY_NAMES, c.path))
        covered: set = set()
        for c in entries:
            self._add_context(c, keep_all=True)
            covered |= self._files_of(c)
        # Configs that include each other in a circle have no entry: lint them one by one.
        for c in sorted(candidates, key=lambda c: c.path):
            if c.real not in covered:
                self._add_context(c, keep_all=True)
                covered |= self._files_of(c)

    def file(self, path: str) -> None:
        if self.options.excluded(path):
            self.skipped.append((path, "excluded by the project configuration"))
            return
        options = self.options.for_path(path)
        if options.hook and not options.server and not worth_walking(path):
            self.skipped.append((path, "not a configuration file name"))
            return
        server = options.server or detect(path)
        if server is None:
            text = read_text(path)
            why = "it is not a text file" if text is None else "neither its name nor its content says"
            if options.hook:
                self.skipped.append((path, "binary" if text is None else "server not detected"))
                return
            self.report.errors.append(ConfigError(
                f"cannot tell which server this file is for ({why}); use --server "
                f"{{{','.join(SERVERS)}}}", path))
            self.report.files.append(path)
            return
        real = os.path.realpath(path)
        self.display.setdefault(real, path)
        if not options.includers:
            c = _Candidate(path, real, server, ())
            self._add_context(c, keep_all=False, given=True)
            self.wanted |= self._files_of(c)
            return
        root = options.root or repository_root(path)
        if root is None:
            # Outside a repository, and no --root: nothing says how far the file's world reaches
            # (its directory may be /tmp or a home directory), so it is linted on its own.
            c = _Candidate(path, real, server, ())
            self._add_context(c, keep_all=False, given=True)
            self.wanted |= self._files_of(c)
            return
        walk = self._repository(root)
        own = walk.get(real) or _Candidate(path, real, server, (root,))
        if own.server != server:
            own = _Candidate(path, real, server, (root,))
        includers = [c for c in walk.values() if c.real != real and real in self._files_of(c)]
        if not includers:
            self._add_context(own, keep_all=False, given=True)
            self.wanted |= self._files_of(own)
            return
        # Lint in the outermost configs only: those no other config (of this walk) includes.
        included = self._included(list(walk.values()))
        outer = [c for c in includers if c.real not in included] or includers
        # Report what is in the file and in the files it includes itself, not in its includers.
        self.wanted |= self._files_of(own)
        for c in outer:
            self._add_context(c, keep_all=False)

    def _add_context(self, candidate: _Candidate, keep_all: bool, given: bool = False) -> None:
        context = self.contexts.get(candidate.real)
        if context is None:
            self.contexts[candidate.real] = _Context(candidate, keep_all, given)
        else:
            context.keep_all |= keep_all
            context.given &= given

    def _drop_covered(self) -> None:
        """A named file that another configuration of this run includes is linted there, not
        also on its own (`check site.conf snippet.conf`, `check /etc/nginx /etc/nginx/x.conf`)."""
        files = {real: self._files_of(context.candidate) for real, context in self.contexts.items()}
        for real, context in list(self.contexts.items()):
            if context.given and not context.keep_all and any(
                    real in inside and other not in files[real]       # not two files including each other
                    for other, inside in files.items() if other != real and other in self.contexts):
                del self.contexts[real]

    # -- walking and the include index ----------------------------------------------------------

    def _repository(self, root: str) -> dict:
        if root not in self.walks:
            self.walks[root] = self._walk(root, note_skipped=False)
        return self.walks[root]

    def _walk(self, top: str, note_skipped: bool) -> dict:
        """{real path: _Candidate} for every config under `top`, in walk order."""
        found: dict = {}
        seen_dirs: set = set()
        base = top.rstrip(os.sep).count(os.sep)
        for root, dirs, names in os.walk(top, followlinks=True):
            real_root = os.path.realpath(root)
            if real_root in seen_dirs:          # a symlink back up the tree, or a second way in
                dirs[:] = []
                continue
            seen_dirs.add(real_root)
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
            if root.rstrip(os.sep).count(os.sep) - base >= MAX_DEPTH:
                dirs[:] = []
            for name in sorted(names):
                full = os.path.normpath(os.path.join(root, name))
                if not worth_walking(full) or not os.path.isfile(full) or self.options.excluded(full):
                    continue
                real = os.path.realpath(full)
                if real in found or real.startswith(_SYSTEM_TREES):   # a link to /proc/self/environ
                    continue
                text = read_text(full)
                server = None
                chosen = self.options.for_path(full).server
                if text is not None and note_skipped and chosen:
                    server = chosen         # the user's directory, the user's word
                elif text is not None:
                    # Looking for includers: only what looks like a config, parsed as --server says.
                    server = detect(full, text)
                    if server and chosen:
                        server = chosen
                if server is None:
                    if note_skipped:
                        self.skipped.append((full, "binary" if text is None else "server not detected"))
                    continue
                found[real] = _Candidate(full, real, server, (top,), text)
                # Shown as walked (relative stays relative), however a front end names it.
                self.display.setdefault(real, full)
        return found

    def _parse(self, c: _Candidate):
        if c.tree is None and c.failure is None:
            parse, _ = front_end(c.server)
            if parse is None:
                c.failure = "unsupported"
                return None
            options = self.options.for_path(c.path)
            c.tree = parse.load(c.path, prefix=options.prefix, load_options=options.load_options(c.tree_roots))
        return c.tree

    def _files_of(self, c: _Candidate) -> frozenset:
        """Real paths of every file the candidate reads, itself included."""
        if not _may_include(c):
            return frozenset((c.real,))
        try:
            tree = self._parse(c)
        except Exception as error:     # a front end's bug must not stop the given files' run
            c.failure = f"{type(error).__name__}: {error}"
            c.crash = error
            self.unreadable.append((c.path, c.failure))
            return frozenset((c.real,))
        if tree is None:
            return frozenset((c.real,))
        return frozenset({c.real} | {self._real(f) for f in tree.files})

    def _included(self, candidates: list) -> set:
        """Real paths of the candidates that another candidate includes."""
        out: set = set()
        for c in candidates:
            out |= self._files_of(c) - {c.real}
        return out

    # -- linting --------------------------------------------------------------------------------

    def finish(self) -> Report:
        report = self.report
        self._drop_covered()
        linted = []                 # (context, real paths of its files, files as listed, results, errors)
        for context in self.contexts.values():
            c = context.candidate
            scratch = Report()
            config = self._load(c, scratch)
            if config is not None and self.options.keep_models:
                report.configs.append(config)
            if config is not None:
                for f in config.tree.outside:
                    if f not in self.outside:
                        self.outside.append(f)
                listed = config.tree.files
            else:
                listed = [c.path]
            tree_files = {c.real} | {self._real(f) for f in listed}
            crashes: list = []
            results = run_rules(config, self.rules, crashes) if config is not None else []
            report.internal.extend(InternalError.from_exception(self._show(c.path), f"rule {code}", error)
                                   for code, error in crashes)
            linted.append((context, tree_files, listed, results, scratch.errors))

        def wanted(context, path: str) -> bool:
            return context.keep_all or self._real(path) in self.wanted

        # Files: those linted, as the user or the front end wrote them, once.
        shown: set = set(self._real(f) for f in report.files)
        for context, _, listed, _, _ in linted:
            for f in listed:
                real = self._real(f)
                if real not in shown and wanted(context, f):
                    shown.add(real)
                    report.files.append(self._show(f))
        # Errors: each once; those in an includer are outside what was asked.
        seen_errors: set = set()
        hidden: set = set()
        outside = {self._real(f) for f in self.outside}
        for context, _, _, _, errors in linted:
            for e in errors:
                if self._real(e.path) in outside:
                    # Its words may quote the file (a token, a line): say where, never what.
                    e = ConfigError("this file, read from outside the checked tree, is not a valid configuration "
                                    "(its content is not shown)", e.path, e.line, e.column)
                key = (self._real(e.path), e.line, e.column, e.message)
                if not wanted(context, e.path):
                    hidden.add(key)
                elif key not in seen_errors:
                    seen_errors.add(key)
                    report.errors.append(_with_path(e, self._show(e.path)))
        hidden -= seen_errors
        # Findings: each (rule, place) once, saying in how many configurations it shows.
        groups: dict = {}
        for index, (context, _, _, results, _) in enumerate(linted):
            for r in results:
                if wanted(context, r.span.path):
                    s = r.span
                    key = (r.rule.code, self._real(s.path), s.line, s.column, s.end_line, s.end_column)
                    groups.setdefault(key, []).append((index, r))
        for key, hits in groups.items():
            total = sum(1 for _, files, _, _, _ in linted if key[1] in files)
            for same in _same_findings(hits):
                best = min((r for _, r in same), key=lambda r: SEVERITIES.index(r.severity))
                message = best.message
                if total > 1:
                    shown_in = len({index for index, _ in same})
                    message += f" (in {shown_in} of {total} configurations that include this file)"
                span = best.span
                shown_path = self._show(span.path)
                if shown_path != span.path:
                    span = Span(shown_path, span.line, span.column, span.end_line, span.end_column)
                severity = best.severity
                if not best.unless and severity == best.rule.severity:
                    # The project's severity for the rule; a finding the rule or the open world
                    # lowered (it may not hold) stays lowered.
                    severity = self.options.severity_of(best.rule, severity)
                report.findings.append(Result(best.rule, severity, message, span, best.server, best.unless))
        self._suppressions(report)
        report.findings.sort(key=lambda r: (r.span.path, r.span.line, r.span.column, r.rule.code))
        report.outside = [self._show(f) for f in self.outside]
        report.rules = list(self.rules)
        self._notes(len(hidden))
        return report

    def _suppressions(self, report: Report) -> None:
        """Suppression comments silence findings; the comments that are malformed or silence
        nothing become findings themselves (MPL003, MPL002) in the files the user asked about."""
        from linter.suppress import apply

        known = {r.code for r in load_rules()}
        ran = {r.code for r in self.rules}
        outside = {self._real(f) for f in self.outside}
        files = [f for f in report.files if self._real(f) not in outside]
        report.findings, problems = apply(report.findings, files, known, ran)
        meta = {r.code: r for r in self.rules}
        servers = {context.candidate.real: context.candidate.server for context in self.contexts.values()}
        for code, message, span in problems:
            if code in meta:
                rule = meta[code]
                server = servers.get(self._real(span.path)) or next(iter(servers.values()), "")
                report.findings.append(Result(rule, self.options.severity_of(rule, rule.severity), message, span,
                                              server, ()))

    def _load(self, c: _Candidate, scratch: Report):
        """The configuration's model; a crash in its front end becomes an internal error for the
        file, and the run goes on with the other files."""
        try:
            tree = self._parse(c)
        except Exception as error:
            self.report.internal.append(InternalError.from_exception(self._show(c.path), "parsing", error))
            return None
        if tree is None and c.crash is not None:
            self.report.internal.append(InternalError.from_exception(self._show(c.path), "parsing", c.crash))
            return None
        try:
            config = load_config(c.path, c.server, self.options.for_path(c.path), scratch, c.tree_roots, tree=tree)
            if config is not None:
                config.homeserver = self.homeserver
            return config
        except Exception as error:
            self.report.internal.append(InternalError.from_exception(self._show(c.path), "building the model",
                                                                     error))
            return None

    def _real(self, path: str) -> str:
        """os.path.realpath, once per path and run: a run of many findings asked it millions of times."""
        real = self._reals.get(path)
        if real is None:
            real = self._reals[path] = os.path.realpath(path)
        return real

    def _show(self, path: str) -> str:
        return self.display.get(self._real(path), path)

    def _notes(self, hidden_errors: int) -> None:
        notes = self.report.notes
        if self.skipped:
            shown = ", ".join(f"{p} ({why})" for p, why in self.skipped[:5])
            more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            n = len(self.skipped)
            notes.append(f"skipped {n} file{'s' if n != 1 else ''} that {'are' if n != 1 else 'is'} not "
                         f"an nginx, Apache, Caddy or HAProxy configuration: {shown}{more}")
        if self.outside:
            n = len(self.outside)
            notes.append(f"read {n} file{'s' if n != 1 else ''} from this machine outside the checked tree "
                         f"(first: {self.outside[0]}); to audit a copied tree, pass --prefix DIR")
        crashed = {e.path for e in self.report.internal}
        unreadable = [(p, why) for p, why in self.unreadable if self._show(p) not in crashed]
        if unreadable:
            path, why = unreadable[0]
            n = len(unreadable)
            more = f" and {n - 1} more" if n > 1 else ""
            notes.append(f"could not parse {path} ({why}){more} to see which files it includes; this is a "
                         f"bug in the linter, please report it")
        if hidden_errors:
            n = hidden_errors
            notes.append(f"{n} configuration error{'s' if n != 1 else ''} in other files of the configurations "
                         f"that include the given files {'were' if n != 1 else 'was'} not reported; check "
                         f"those configurations to see {'them' if n != 1 else 'it'}")


def _same_findings(hits: list) -> list:
    """Split one rule's results at one place into the findings they are.

    One configuration reaching a file twice (a snippet included by two sites) gives the same
    finding twice, word for word: that is one finding. Different configurations word the same
    finding a little differently ("unless the configuration that includes a.conf ..."): while
    each says one thing there, that is one finding too. A configuration that says two different
    things at one place (the well-known `server` and `client` documents of one `return`) has two
    findings there, told apart by their words."""
    said: dict = {}
    for index, r in hits:
        said.setdefault(index, {}).setdefault(r.message, r)
    if all(len(messages) == 1 for messages in said.values()):
        return [[(index, r) for index, messages in said.items() for r in messages.values()]]
    by_message: dict = {}
    for index, messages in said.items():
        for message, r in messages.items():
            by_message.setdefault(message, []).append((index, r))
    return list(by_message.values())


def _may_include(c: _Candidate) -> bool:
    if c.text is None:
        c.text = read_text(c.path) or ""
    return bool(_INCLUDES_SOMETHING.search(c.text))


def _with_path(e: ConfigError, path: str) -> ConfigError:
    return e if e.path == path else ConfigError(e.message, path, e.line, e.column)


def repository_root(path: str) -> Optional[str]:
    """The directory holding `.git` above `path` (a file or a directory), else None. Keeps the
    user's way of writing it: relative stays relative."""
    here = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
    while True:
        if os.path.exists(os.path.join(here, ".git")):
            break
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
    if os.path.isabs(path):
        return here
    return os.path.relpath(here) if here != os.getcwd() else "."


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


def load_config(path: str, server: str, options: Options, report: Report, tree_roots: tuple = (), tree=None):
    """Parse one entry file (unless its `tree` is given) and build its model; errors go to the
    report. None when nothing to lint."""
    parse, build = front_end(server)
    if parse is None or build is None:
        report.errors.append(ConfigError(
            f"{SERVER_TITLES[server]} configurations are not supported yet (detected from the file's name "
            f"and content; use --server to override)", path))
        if path not in report.files:
            report.files.append(path)
        return None
    if tree is None:
        tree = parse.load(path, prefix=options.prefix, load_options=options.load_options(tree_roots))
    # Built first: a builder may waive errors the user's options excuse (a Caddy plugin's directive).
    config = build.build(tree, options.model_options())
    report.errors.extend(tree.errors)
    if options.strict_includes:
        report.errors.extend(ConfigError(f"{u.kind} {u.target!r} {u.reason} (--strict-includes)",
                                         u.span.path, u.span.line, u.span.column) for u in tree.unresolved)
    from linter.matrix import annotate

    annotate(config)
    return config


def run_rules(config, rules: list, crashes: Optional[list] = None) -> list:
    """Every rule's results on one configuration. With `crashes`, a rule that raises adds
    (code, exception) there and the other rules still run; without, the exception propagates."""
    return _drop_superseded(_run(config, rules, crashes))


def _drop_superseded(results: list) -> list:
    """One defect, one finding: a server-specific rule's finding replaces the cross-server one."""
    cover = set()
    for r in results:
        for code, scope in r.rule.supersedes:
            cover.add((code, r.span.path, r.span.line if scope == "line" else None))
    return [r for r in results
            if (r.rule.code, r.span.path, r.span.line) not in cover and (r.rule.code, r.span.path, None) not in cover]


def _run(config, rules: list, crashes: Optional[list] = None) -> list:
    out = []
    for rule in rules:
        if not rule.applies_to(config.server):
            continue
        try:
            findings = list(rule.run(config))
        except Exception as error:
            if crashes is None:
                raise
            crashes.append((rule.code, error))
            continue
        for finding in findings:
            severity = finding.severity or rule.severity
            if SEVERITIES.index(severity) < SEVERITIES.index(rule.severity):
                severity = rule.severity   # a finding may lower its severity, never raise it
            message, unless = finding.message, tuple(distinct_unknowns(finding.unless))
            if unless:
                # Open world: an unseen region could supply what this finding says is missing.
                severity = "info"
                message += f" (unless {_describe(unless)} provides it: not seen)"
            out.append(Result(rule, severity, message, finding.span, config.server, unless))
    return out




def _describe(unknowns: tuple) -> str:
    shown = [u.what for u in unknowns[:2]]
    if len(unknowns) > 2:
        shown.append(f"{len(unknowns) - 2} more")
    return " or ".join(shown) if len(shown) < 3 else ", ".join(shown[:-1]) + " or " + shown[-1]
