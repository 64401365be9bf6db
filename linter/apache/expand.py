"""Read a configuration the way httpd does at startup: Define, IfDefine, Include, mod_macro.

httpd executes these while it reads ("EXEC_ON_READ"), in file order, so one depth-first pass
over the parsed directives does the same. Conventions added to the tree:

- `Include`/`IncludeOptional` stay in the tree as simple directives with `extra["includes"]`
  = the files they read (possibly empty); the included directives follow them *inline*, as
  siblings, and the top-level directives of each included file carry `extra["included_from"]`
  = the Span of the Include (the same convention as the nginx front end). A file included
  twice is read twice; an include cycle is an error at the Include that closes it.
- Where an include is looked for (includes.py): the checked tree, then this machine (an
  absolute path outside the tree; such files are listed in `Tree.outside`), then the
  `include_paths` directories, then shipped knowledge (`linter.known.lookup("apache", target)`).
  A known include is parsed here like a file but is not one: its directives follow the Include
  with every span and arg span set to the Include's span, each carries `extra["known"]` = its
  `KnownInclude`, the Include's `extra["known"]` lists them, and `Tree.files` does not name them.
- An include found nowhere (a missing file, a directory the tree and this machine lack, a path
  with a `${VAR}` nobody defined) is not an error: the Include gets `extra["unresolved"]` =
  a `linter.syntax.Unresolved`, also listed in `Tree.unresolved`. The same holds for
  `IncludeOptional`: what it would read on the server is just as unknown. An unreadable file and
  an include cycle stay errors, and so does a wildcard matching nothing in a directory we do see
  (httpd fails on it).
- `Use` stays in the tree too and is followed inline by its expansion; every directive of the
  expansion (at any depth) carries `extra["use"]` = the Span of the `Use` that produced it (for
  nested macros, the innermost one), and its own spans point into the macro body. A `Use` of a
  macro defined nowhere in what was read is a leaf with `extra["unresolved"]` (kind "macro"):
  the macro lives in a file we were not given; an `UndefMacro` of such a macro is accepted
  silently. One defined only later, only in an inactive `<IfDefine>`, or removed by
  `UndefMacro` is an error, as in httpd.
- `<Macro>` definitions stay as sections with an empty block; `extra["macro_body"]` is the
  raw body text.
- `${VAR}` (and `${VAR?=default}`) in arguments is replaced by the value of `Define VAR value`
  (or of the `defines` given to `load`); an undefined variable stays as written. Arguments
  that changed keep their written form in `extra["raw_args"]`; `arg_spans` still point at the
  written text. Unlike httpd, process environment variables are not used (the machine running
  the linter is not the server), and substitution is per argument, so a value containing
  blanks never splits into several arguments.
- `<IfDefine [!]NAME>` is evaluated when it can be decided: NAME was `Define`d (true) or
  `UnDefine`d (false) earlier, or `defines` was given (then it is the complete list of -D
  parameters, and anything else is undefined). `extra["active"]` is True, False or None
  (undecidable). An inactive section keeps an empty `block` and its unexpanded directives in
  `extra["inactive_block"]`; nothing in it is executed (no Define, Include, Macro or Use), as
  in httpd. An undecidable one is expanded like any other section.
- `<IfModule>`, `<IfVersion>`, `<IfFile>` and `<If>` are not evaluated: their children are kept.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Optional

from ..syntax import ConfigError, Directive, LoadOptions, Span, Unresolved, walk
from . import structure
from .includes import Paths, has_wildcard, unexpanded_variable
from .macros import check_definition, cut_bodies, substitute
from .source import Mapped, Origin, decode, ensure_final_newline, join_continuations

_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Macro:
    name: str
    params: list[str]
    body: Mapped
    span: Span


class Loader:
    def __init__(self, entry_path: str, prefix: Optional[str], defines: Optional[dict],
                 options: Optional[LoadOptions] = None):
        options = options or LoadOptions()
        self.entry_path = entry_path
        self.paths = Paths(os.path.dirname(os.path.abspath(entry_path)), prefix,
                           options.tree_roots, options.include_paths)
        defines = dict(defines) if defines is not None else None
        self.parameters = set(defines or ())
        self.variables = {k: str(v) for k, v in (defines or {}).items() if v is not None}
        self.undefined: set[str] = set()
        self.all_defines_known = defines is not None
        self.macros: dict[str, Macro] = {}
        self.files: list[str] = []
        self.errors: list[ConfigError] = []
        self.unresolved: list[Unresolved] = []
        self.outside: list[str] = []     # files read from this machine, outside the checked tree
        self._bodies: dict[int, Mapped] = {}
        self._macro_names: set[str] = set()     # every <Macro> header parsed, executed or not
        self._removed_macros: set[str] = set()  # names UndefMacro removed
        self._pending_uses: list[tuple[Directive, str]] = []
        self._pending_undefs: list[Directive] = []
        self._reading: list[str] = []  # real paths of the files being read, outermost first
        self._using: list[str] = []    # macros being expanded, outermost first

    # -- files --------------------------------------------------------------------------

    def load_text(self, path: str, text: str) -> list[Directive]:
        origin = Origin(path, text)
        if path not in self.files:
            self.files.append(path)
        mapped = ensure_final_newline(join_continuations(Mapped.of(origin)), origin)
        self._reading.append(os.path.realpath(path))
        try:
            return self.expand(self._parse(mapped, path))
        finally:
            self._reading.pop()

    def _load_file(self, path: str, include: Directive) -> list[Directive]:
        try:
            with open(path, "rb") as f:
                text = decode(f.read())
        except OSError as error:
            self._error(f"{include.name}: cannot read {path}: {error.strerror or error}",
                        include.span)
            return []
        return self.load_text(path, text)

    def _parse(self, mapped: Mapped, path: str) -> list[Directive]:
        text, bodies, problems = cut_bodies(mapped, path)
        for message, span in problems:
            self._error(message, span)
        parsed = structure.parse(text, path, bodies)
        self.errors += parsed.errors
        self._bodies.update(parsed.macro_bodies)
        self._macro_names.update(d.args[0].lower() for d in walk(parsed.directives)
                                 if d.key == "macro" and d.block is not None and d.args)
        return parsed.directives

    def finish(self) -> None:
        """After the whole configuration is read: a `Use` or `UndefMacro` of a macro that the
        files do define, only too late (or in an inactive <IfDefine>), is httpd's error, not a
        macro from elsewhere."""
        for use, key in self._pending_uses:
            if key in self._macro_names:
                unresolved = use.extra.pop("unresolved")
                self.unresolved.remove(unresolved)
                self._error(f"macro '{use.args[0]}' is not defined (a <Macro> must come before "
                            f"its Use)", use.span)
        for undef in self._pending_undefs:
            if undef.args[0].lower() in self._macro_names:
                self._error(f"cannot remove undefined macro '{undef.args[0]}'", undef.span)
        self._pending_uses, self._pending_undefs = [], []

    def _unresolved(self, directive: Directive, target: str, reason: str, kind: str) -> None:
        unresolved = Unresolved(directive.span, target, reason, kind)
        directive.extra["unresolved"] = unresolved
        self.unresolved.append(unresolved)

    def _error(self, message: str, span: Span) -> None:
        self.errors.append(ConfigError(message, span.path, span.line, span.column))

    # -- the pass -----------------------------------------------------------------------

    def expand(self, directives: list[Directive]) -> list[Directive]:
        out: list[Directive] = []
        for directive in directives:
            self._substitute_variables(directive)
            out.append(directive)
            key = directive.key
            if directive.block is not None:
                if key == "macro":
                    self._define_macro(directive)
                elif key == "ifdefine":
                    self._if_define(directive)
                else:
                    directive.block = self.expand(directive.block)
            elif key in ("include", "includeoptional"):
                out += self._include(directive)
            elif key == "use":
                out += self._use(directive)
            elif key == "define" and directive.args:
                name = directive.args[0]
                self.parameters.add(name)
                self.undefined.discard(name)
                if len(directive.args) > 1:
                    self.variables[name] = directive.args[1]
            elif key == "undefine" and directive.args:
                name = directive.args[0]
                self.parameters.discard(name)
                self.variables.pop(name, None)
                self.undefined.add(name)
            elif key == "serverroot" and directive.args:
                self.paths.set_server_root(directive.args[0], self.entry_path)
            elif key == "undefmacro" and directive.args:
                name = directive.args[0].lower()
                if self.macros.pop(name, None) is None:
                    # A macro from a file we were not given (the usual cleanup after its Uses):
                    # finish() makes it httpd's error if the files read define it only later.
                    self._pending_undefs.append(directive)
                self._removed_macros.add(name)
        return out

    def _substitute_variables(self, directive: Directive) -> None:
        if not any("${" in a for a in directive.args):
            return

        def value(match: re.Match) -> str:
            name, _, default = match.group(1).partition("?=")
            if name in self.variables:
                return self.variables[name]
            return default if "?=" in match.group(1) else match.group(0)

        new = [_VARIABLE.sub(value, a) for a in directive.args]
        if new != directive.args:
            directive.extra["raw_args"] = directive.args
            directive.args = new

    def _if_define(self, section: Directive) -> None:
        written = section.args[0] if section.args else ""
        negated = written.startswith("!")
        name = written[1:] if negated else written
        if name in self.parameters:
            defined: Optional[bool] = True
        elif name in self.undefined or self.all_defines_known:
            defined = False
        else:
            defined = None
        active = defined if defined is None or not negated else not defined
        section.extra["active"] = active
        if active is False:
            section.extra["inactive_block"] = section.block
            section.block = []
        else:
            section.block = self.expand(section.block)

    def _include(self, include: Directive) -> list[Directive]:
        include.extra["includes"] = []
        if not include.args:
            self._error(f"{include.name} needs a file name or a wildcard pattern", include.span)
            return []
        written = include.args[0]
        found = self.paths.locate(written, include.key == "includeoptional")
        if found is None:
            return self._not_found(include, written)
        if found.problem:
            self._error(f"{include.name} {written}: {found.problem}", include.span)
        out: list[Directive] = []
        for path in found.files:
            real = os.path.realpath(path)
            if real in self._reading:
                cycle = self._reading[self._reading.index(real):] + [real]
                self._error(f"{include.name} {written}: include cycle: " + " -> ".join(cycle),
                            include.span)
                continue
            include.extra["includes"].append(path)
            if found.where == "machine" and path not in self.outside:
                self.outside.append(path)
            directives = self._load_file(path, include)
            for directive in directives:
                directive.extra["included_from"] = include.span
            out += directives
        return out

    def _not_found(self, include: Directive, written: str) -> list[Directive]:
        """Shipped knowledge of the include, else an Unresolved."""
        known = _knowledge(written)
        if known:
            return self._known(include, known)
        variable = unexpanded_variable(written)
        if variable is not None:
            # e.g. ${APACHE_CONFDIR}, which Debian's envvars sets for apache2ctl
            reason = f"${{{variable}}} is not defined in the files read"
        else:
            reason = f"not found (looked in {self.paths.looked_in(written)})"
        self._unresolved(include, written, reason, "include")
        return []

    def _known(self, include: Directive, known: list) -> list[Directive]:
        """The directives of known includes, every position set to the Include's own."""
        include.extra["known"] = list(known)
        out: list[Directive] = []
        span = include.span
        for entry in known:
            origin = Origin(entry.file, entry.text)
            mapped = ensure_final_newline(join_continuations(Mapped.of(origin)), origin)
            directives = self.expand(self._parse(mapped, entry.file))
            for directive in _everything(directives):
                directive.span = span
                directive.arg_spans = [span] * len(directive.args)
                directive.extra["known"] = entry
                if "block_end" in directive.extra:
                    directive.extra["block_end"] = span
            for directive in directives:
                directive.extra["included_from"] = span
            out += directives
        return out

    # -- mod_macro ----------------------------------------------------------------------

    def _define_macro(self, section: Directive) -> None:
        name, params, problem = check_definition(section.args)
        if problem:
            self._error(problem, section.span)
            return
        body = self._bodies.get(id(section), Mapped("", []))
        self.macros[name.lower()] = Macro(name, params, body, section.span)

    def _use(self, use: Directive) -> list[Directive]:
        if not use.args or not use.args[0]:
            self._error("Use needs a macro name, as in Use VHost example.org", use.span)
            return []
        key = use.args[0].lower()
        macro = self.macros.get(key)
        if macro is None:
            if key in self._removed_macros:
                self._error(f"macro '{use.args[0]}' is not defined (a <Macro> must come before "
                            f"its Use)", use.span)
            else:  # defined in a file we were not given (finish() checks the files we were)
                self._unresolved(use, use.args[0], "a macro not defined in the files read", "macro")
                self._pending_uses.append((use, key))
            return []
        if key in self._using:
            self._error(f"recursive use of macro '{macro.name}'", use.span)
            return []
        values = use.args[1:]
        if len(values) != len(macro.params):
            self._error(f"macro '{macro.name}' (defined at {macro.span}) takes "
                        f"{_count(len(macro.params))}, but this Use gives {len(values)}",
                        use.span)
            return []
        text = substitute(macro.body, macro.params, values)
        before = len(self.errors)
        directives = self._parse(text, macro.span.path)
        for error in self.errors[before:]:
            error.message += f" (in macro '{macro.name}' used at {use.span})"
        self._using.append(key)
        try:
            directives = self.expand(directives)
        finally:
            self._using.pop()
        for directive in walk(directives):
            directive.extra.setdefault("use", use.span)
        return directives


def _knowledge(target: str) -> list:
    """Shipped knowledge of an include target (`linter.known`).

    A wildcard must name a known file by its directory too, written out: `lookup` lets
    `*.conf`, `sites-enabled/*.conf` or `conf/vhosts/*/*.conf` match entries known by a bare
    file name (`options-ssl-apache.conf`) or in another directory, which would invent content
    for directories we know nothing of.
    """
    from linter.known import lookup

    hits = lookup("apache", target)
    if not has_wildcard(target):
        return hits
    have = [p for p in target.split("/") if p]

    def names_it(known) -> bool:
        if target.startswith("/") and any(_components_match(p, have) for p in known.paths):
            return True
        return any(_components_match(n, have[-len(n.strip("/").split("/")):], 2) for n in known.names)

    return [k for k in hits if names_it(k)]


def _components_match(name: str, pattern: list, at_least: int = 1) -> bool:
    """Component by component, a wildcard only in the last one (`conf/*/x.conf` names no
    known directory)."""
    parts = [p for p in name.split("/") if p]
    return len(parts) >= at_least and len(parts) == len(pattern) and \
        not any(has_wildcard(p) for p in pattern[:-1]) and \
        all(fnmatchcase(n, p) for n, p in zip(parts, pattern))


def _everything(directives: list[Directive]):
    """Every directive, inactive <IfDefine> bodies included."""
    for d in directives:
        yield d
        if d.block:
            yield from _everything(d.block)
        if d.extra.get("inactive_block"):
            yield from _everything(d.extra["inactive_block"])


def _count(n: int) -> str:
    return f"{n} argument" + ("" if n == 1 else "s")
