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

Bounds (hostile input must give an error, never a hang, a RecursionError or unbounded memory):
- the pass is iterative (`Loader._run`), so long include and macro chains cost no stack;
- every included file is read with `linter.inputs.read_config` against the load's `Budget`,
  each inclusion counting (refusals are errors at the Include; httpd stops at the first file
  an Include cannot read, and so does this pass for that Include), and at most
  `MAX_INCLUSIONS` inclusions, adding at most `MAX_REREAD_BYTES` by files read again, and
  `MAX_EXPANSIONS` macro expansions producing at most `MAX_EXPANDED_BYTES` of text are done,
  the expanded text counting towards the budget too; after an include cycle no more files are
  read (httpd stops there); what is not read once a limit is reached is Unresolved (reported
  once);
- Includes nest at most `MAX_INCLUDE_DEPTH` (128, httpd's AP_MAX_INCLUDE_DEPTH) deep;
- sections nest at most `structure.MAX_NESTING` deep in the expanded tree, counting the
  sections around the Includes and Uses that lead to them: a deeper section keeps an empty
  block (reported once).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Optional

from ..inputs import Budget, at_include, read_config
from ..syntax import ConfigError, Directive, LoadOptions, Span, Unresolved
from . import structure
from .includes import Paths, has_wildcard, unexpanded_variable
from .macros import check_definition, cut_bodies, substitute
from .source import Mapped, Origin, ensure_final_newline, join_continuations
from .structure import MAX_NESTING

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# httpd's AP_MAX_INCLUDE_DEPTH (server/core.c): Includes nested deeper are its error too.
MAX_INCLUDE_DEPTH = 128
# Bounds on the work one configuration may ask for, each inclusion or expansion counted (files
# including each other twice, 40 deep, would be read 2^40 times): errors when reached.
MAX_INCLUSIONS = 10_000
# Text that files included again may add (a 2 KiB snippet in 2,000 virtual hosts fits): parsing
# costs about a second and 40 MiB of memory per MiB, so repetition gets a bound of its own.
MAX_REREAD_BYTES = 4 * 1024 * 1024
MAX_EXPANSIONS = 10_000
# Text all macro expansions may produce together (a few seconds of parsing): a configuration with
# 1,000 sites from one 1 KiB macro fits; macros doubling macros 40 deep do not.
MAX_EXPANDED_BYTES = 1024 * 1024
_PARSE_COST = 256    # what parsing even a one-line expansion costs, counted as that many bytes


@dataclass
class Macro:
    name: str
    params: list[str]
    body: Mapped
    span: Span


class Loader:
    """One configuration being read. The pass is iterative: `_run` drives generators that yield
    the sub-tasks they need done (a section's body, an included file, a macro expansion) before
    they go on, so neither deep sections nor long include or macro chains grow Python's stack."""

    def __init__(self, entry_path: str, prefix: Optional[str], defines: Optional[dict],
                 options: Optional[LoadOptions] = None, budget: Optional[Budget] = None):
        options = options or LoadOptions()
        self.entry_path = entry_path
        self.paths = Paths(os.path.dirname(os.path.abspath(entry_path)), prefix,
                           options.tree_roots, options.include_paths)
        self.budget = budget if budget is not None else options.budget()
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
        self._use_spans: list[Span] = []   # and the Use lines that expand them
        self._inclusions = 0           # files read for Includes, each time counted
        self._read_once: set[str] = set()   # real paths of the included files read
        self._reread_bytes = 0         # what reading some of them again added
        self._expansions = 0           # Uses expanded
        self._expanded_bytes = 0       # text they produced
        self._stopped: Optional[str] = None   # why no more files are read (a limit was reached)
        self._too_deep = False         # the expanded-tree nesting error is reported once
        self._macros_stopped = False

    # -- driving the pass ---------------------------------------------------------------

    @staticmethod
    def _run(task) -> None:
        """Run a generator task and every sub-task it yields, depth first, without recursion."""
        stack = [task]
        while stack:
            try:
                sub = next(stack[-1])
            except StopIteration:
                stack.pop()
            else:
                stack.append(sub)

    def expand(self, directives: list[Directive], level: int = 0) -> list[Directive]:
        """`directives` expanded; `level` = how many sections enclose them."""
        out: list[Directive] = []
        self._run(self._expand(directives, out, level))
        return out

    # -- files --------------------------------------------------------------------------

    def load_text(self, path: str, text: str) -> list[Directive]:
        out: list[Directive] = []
        self._run(self._file(path, text, out, 0))
        return out

    def _file(self, path: str, text: str, out: list, level: int):
        origin = Origin(path, text)
        if path not in self.files:
            self.files.append(path)
        mapped = ensure_final_newline(join_continuations(Mapped.of(origin)), origin)
        self._reading.append(os.path.realpath(path))
        try:
            yield self._expand(self._parse(mapped, path), out, level)
        finally:
            self._reading.pop()

    def _read(self, path: str, include: Directive) -> Optional[str]:
        """The text of an included file, or None after reporting at the Include why not."""
        try:
            return read_config(path, self.budget)
        except ConfigError as error:
            message = at_include(error)
            if "--max-total-size" in message:   # every later file would be refused too
                self._stopped = "the configuration's size limit (--max-total-size) was reached"
            self._error(f"{include.name}: {message}", include.span)
            return None

    def _parse(self, mapped: Mapped, path: str) -> list[Directive]:
        text, bodies, problems = cut_bodies(mapped, path)
        for message, span in problems:
            self._error(message, span)
        parsed = structure.parse(text, path, bodies)
        self.errors += parsed.errors
        self._bodies.update(parsed.macro_bodies)
        self._macro_names.update(d.args[0].lower() for d in every(parsed.directives)
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

    def hide_outside_text(self, errors: list[ConfigError]) -> list[ConfigError]:
        """Errors with nothing of a file outside the checked tree in their message.

        A file read from this machine (`Include /etc/shadow`) is not the user's to show: an
        error in it keeps its position, and its message says only that it is there.
        """
        outside = set(self.outside)
        out = []
        for e in errors:
            if e.path in outside:
                e = ConfigError("httpd refuses this file here or it cannot be read as configuration "
                                "(it is outside the checked tree, read from this machine: its "
                                "content is not shown)", e.path, e.line, e.column)
            out.append(e)
        return out

    def _unresolved(self, directive: Directive, target: str, reason: str, kind: str) -> None:
        unresolved = Unresolved(directive.span, target, reason, kind)
        directive.extra["unresolved"] = unresolved
        self.unresolved.append(unresolved)

    def _error(self, message: str, span: Span) -> None:
        self.errors.append(ConfigError(message, span.path, span.line, span.column))

    # -- the pass -----------------------------------------------------------------------

    def _expand(self, directives: list[Directive], out: list, level: int):
        """Append `directives` to `out`, executing them; `level` sections enclose them."""
        use = self._use_spans[-1] if self._use_spans else None
        for directive in directives:
            self._substitute_variables(directive)
            out.append(directive)
            if use is not None:   # from a macro expansion (the innermost Use, at any depth)
                directive.extra.setdefault("use", use)
            key = directive.key
            if directive.block is not None:
                if key == "macro":
                    self._define_macro(directive)
                elif level >= MAX_NESTING:
                    self._nested_too_deep(directive)
                elif key == "ifdefine":
                    if self._if_define(directive):
                        block, directive.block = directive.block, []
                        yield self._expand(block, directive.block, level + 1)
                else:
                    block, directive.block = directive.block, []
                    yield self._expand(block, directive.block, level + 1)
            elif key in ("include", "includeoptional"):
                yield self._include(directive, out, level)
            elif key == "use":
                yield self._use(directive, out, level)
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

    def _nested_too_deep(self, section: Directive) -> None:
        """A section that the includes and macros around it put more than MAX_NESTING deep."""
        if section.block and not self._too_deep:
            self._too_deep = True
            self._error(structure.nesting_message(
                section.name, " (counting the sections around the Include or Use that leads here)"),
                section.span)
        section.block = []

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

    def _if_define(self, section: Directive) -> bool:
        """Decide an `<IfDefine>`; True when its body is to be read."""
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
            return False
        return True

    def _include(self, include: Directive, out: list, level: int):
        include.extra["includes"] = []
        if not include.args:
            self._error(f"{include.name} needs a file name or a wildcard pattern", include.span)
            return
        written = include.args[0]
        found = self.paths.locate(written, include.key == "includeoptional")
        if found is None:
            yield self._not_found(include, written, out, level)
            return
        if found.problem:
            self._error(f"{include.name} {written}: {found.problem}", include.span)
        for index, path in enumerate(found.files):
            if self._stopped is not None:
                # Reported once, where the limit was reached; what is not read is unknown here.
                self._unresolved(include, written, f"not read: {self._stopped}", "include")
                return
            real = os.path.realpath(path)
            if real in self._reading:
                cycle = self._reading[self._reading.index(real):] + [real]
                self._error(f"{include.name} {written}: include cycle: " + " -> ".join(cycle),
                            include.span)
                # httpd stops reading the configuration here (it recurses until its include
                # depth limit); going on would read the files around the cycle again and again,
                # as many times as there are orders to read them in.
                self._stopped = "httpd stops at the include cycle reported above"
                return
            if len(self._reading) > MAX_INCLUDE_DEPTH:
                # httpd's own limit and words (server/core.c, include_config)
                self._error(f"{include.name} {written}: Exceeded the maximum include depth of "
                            f"{MAX_INCLUDE_DEPTH}", include.span)
                return
            self._inclusions += 1
            if self._inclusions > MAX_INCLUSIONS:
                self._stopped = (f"this configuration already included {MAX_INCLUSIONS} files "
                                 f"(counting a file each time it is included)")
                self._error(f"{include.name} {written}: not read: {self._stopped}", include.span)
                return
            if real in self._read_once:
                size = _size(path)
                self._reread_bytes += size
                if self._reread_bytes > MAX_REREAD_BYTES:
                    self._stopped = (f"files included again already add "
                                     f"{MAX_REREAD_BYTES // (1024 * 1024)} MiB to this configuration")
                    self._error(f"{include.name} {written}: not read: {self._stopped}", include.span)
                    return
            text = self._read(path, include)
            if text is None:
                left = len(found.files) - index - 1
                if left:   # httpd stops at the first file it cannot read
                    self._error(f"{include.name} {written}: the {left} other file"
                                f"{'s' if left != 1 else ''} it names after {path} are not read",
                                include.span)
                return
            self._read_once.add(real)
            include.extra["includes"].append(path)
            if found.where == "machine" and path not in self.outside:
                self.outside.append(path)
            directives: list[Directive] = []
            yield self._file(path, text, directives, level)
            for directive in directives:
                directive.extra["included_from"] = include.span
            out += directives

    def _not_found(self, include: Directive, written: str, out: list, level: int):
        """Shipped knowledge of the include, else an Unresolved."""
        known = _knowledge(written)
        if known:
            yield self._known(include, known, out, level)
            return
        variable = unexpanded_variable(written)
        if variable is not None:
            # e.g. ${APACHE_CONFDIR}, which Debian's envvars sets for apache2ctl
            reason = f"${{{variable}}} is not defined in the files read"
        else:
            reason = f"not found (looked in {self.paths.looked_in(written)})"
        self._unresolved(include, written, reason, "include")

    def _known(self, include: Directive, known: list, out: list, level: int):
        """The directives of known includes, every position set to the Include's own."""
        include.extra["known"] = list(known)
        span = include.span
        for entry in known:
            origin = Origin(entry.file, entry.text)
            mapped = ensure_final_newline(join_continuations(Mapped.of(origin)), origin)
            directives: list[Directive] = []
            yield self._expand(self._parse(mapped, entry.file), directives, level)
            for directive in every(directives, inactive=True):
                directive.span = span
                directive.arg_spans = [span] * len(directive.args)
                directive.extra["known"] = entry
                if "block_end" in directive.extra:
                    directive.extra["block_end"] = span
            for directive in directives:
                directive.extra["included_from"] = span
            out += directives

    # -- mod_macro ----------------------------------------------------------------------

    def _define_macro(self, section: Directive) -> None:
        name, params, problem = check_definition(section.args)
        if problem:
            self._error(problem, section.span)
            return
        body = self._bodies.get(id(section), Mapped("", []))
        self.macros[name.lower()] = Macro(name, params, body, section.span)

    def _use(self, use: Directive, out: list, level: int):
        if not use.args or not use.args[0]:
            self._error("Use needs a macro name, as in Use VHost example.org", use.span)
            return
        key = use.args[0].lower()
        macro = self.macros.get(key)
        if macro is None:
            if key in self._removed_macros:
                self._error(f"macro '{use.args[0]}' is not defined (a <Macro> must come before "
                            f"its Use)", use.span)
            else:  # defined in a file we were not given (finish() checks the files we were)
                self._unresolved(use, use.args[0], "a macro not defined in the files read", "macro")
                self._pending_uses.append((use, key))
            return
        if key in self._using:
            self._error(f"recursive use of macro '{macro.name}'", use.span)
            return
        values = use.args[1:]
        if len(values) != len(macro.params):
            self._error(f"macro '{macro.name}' (defined at {macro.span}) takes "
                        f"{_count(len(macro.params))}, but this Use gives {len(values)}",
                        use.span)
            return
        if self._macros_stopped:
            self._unresolved(use, use.args[0], "not expanded: the macro expansion limit was reached",
                             "macro")
            return
        text = substitute(macro.body, macro.params, values)
        self._expansions += 1
        self._expanded_bytes += max(len(text.text), _PARSE_COST)
        limit = (f"{MAX_EXPANSIONS} Uses" if self._expansions > MAX_EXPANSIONS else
                 f"{MAX_EXPANDED_BYTES // (1024 * 1024)} MiB of text"
                 if self._expanded_bytes > MAX_EXPANDED_BYTES else
                 "the configuration's size limit (--max-total-size)"
                 if self.budget.used + len(text.text) > self.budget.max_total else None)
        if limit is not None:
            # Macros using macros twice each, 40 deep, would expand 2^40 times (httpd never
            # finishes reading such a configuration either).
            self._macros_stopped = True
            self._error(f"macro '{macro.name}' is not expanded: this configuration's macro "
                        f"expansions already reach {limit}; no more Use lines are expanded",
                        use.span)
            return
        self.budget.used += len(text.text)
        before = len(self.errors)
        directives = self._parse(text, macro.span.path)
        for error in self.errors[before:]:
            error.message += f" (in macro '{macro.name}' used at {use.span})"
        self._using.append(key)
        self._use_spans.append(use.span)
        try:
            yield self._expand(directives, out, level)
        finally:
            self._using.pop()
            self._use_spans.pop()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def every(directives: list[Directive], inactive: bool = False):
    """Every directive, depth first in source order, without recursion (and with `inactive`,
    the bodies of inactive <IfDefine>s too)."""
    stack = [iter(directives)]
    while stack:
        d = next(stack[-1], None)
        if d is None:
            stack.pop()
            continue
        yield d
        if inactive and d.extra.get("inactive_block"):
            stack.append(iter(d.extra["inactive_block"]))
        if d.block:
            stack.append(iter(d.block))


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


def _count(n: int) -> str:
    return f"{n} argument" + ("" if n == 1 else "s")
