"""Where included files come from: the checked tree, this machine, --include-path, or a dump.

nginx resolves a relative `include` against its prefix/conf directory (`ngx_conf_full_name`),
never against the including file, and a glob matching nothing is fine. What the linter cannot
find is *unknown*, not an error: the Expander records it as `Unresolved` (after asking shipped
knowledge, `linter.known`).

Resolution order for `include PATTERN` (`FileSystem.resolve`; the contract is
`linter.syntax.LoadOptions`):

  (a) The checked tree. A relative pattern is joined to each root: the prefix, else the entry
      file's default roots (its directory, plus the parent of `sites-enabled/`, `conf.d/`, ...).
      An absolute pattern that lies inside a tree root is read where it is; otherwise it is
      mapped into the tree roots (prefix or default roots, then `LoadOptions.tree_roots`) by its
      longest suffix that exists there, keeping at least one literal component:
      `/etc/nginx/snippets/ssl.conf` -> `<root>/snippets/ssl.conf` (`/etc/nginx/conf.d/*.conf`
      never becomes `<root>/*.conf`).
  (b) This machine: an absolute pattern read where it is, outside the tree, and recorded in
      `outside` (the engine says once that it read outside the tree). Never when a prefix was
      given (the user audits a copy), and never for a path under a standard nginx conf
      directory (`/etc/nginx`, `/usr/local/nginx/conf`, ...) when the tree is itself an nginx
      conf directory (the entry is `nginx.conf`, or a tree root holds `nginx.conf`,
      `sites-enabled/`, `conf.d/`, ...): then the tree *is* that directory, and this machine's
      `/etc/nginx` is some other configuration (a CI runner's, the linter's host).
  (c) Each `LoadOptions.include_paths` directory, by the same suffix mapping (for relative
      patterns too: `snippets/ssl.conf` -> `<dir>/snippets/ssl.conf`, then `<dir>/ssl.conf`).
  (d) Shipped knowledge (`linter.known.lookup("nginx", pattern)`), asked by the Expander for a
      plain name only: a glob names a directory whose content is the admin's, not a standard.
  (e) Otherwise `Unresolved`; a glob that matches nothing anywhere is empty and silent.

Suffix-mapped candidates must be regular files; the pattern itself (joined to a root, or on this
machine) only has to exist, so `include snippets;` naming a directory is still a read error, and
so is a directory (or FIFO, device, ...) that a glob matches: nginx includes what `glob()`
returns and fails reading a directory (`pread() "conf.d/old" failed (21: Is a directory)`).

Files are read with `linter.inputs.read_config` against one `Budget` per load: only regular
files, outside /proc, /sys and /dev, within the size limits, not binary or UTF-16. What it
refuses is a `ConfigError`, which the Expander reports at the include that named the file.

Both sources below implement:

    resolve(pattern, avoid) -> list of names, or None when a plain (non-glob) file is found nowhere
                       (`avoid`: identities of the files being included; FileSystem skips a suffix
                       mapping onto one of them)
    missing(pattern) -> why `resolve` found nothing, in words (the Unresolved reason)
    read(name)       -> (text, first_line, span_path); raises ConfigError when it cannot be read
    identity(name)   -> a key that is equal for the same file (cycle detection)
"""
from __future__ import annotations

import glob
import os
import re
from typing import Iterable, Iterator, Optional

from ..inputs import Budget, read_config
from ..syntax import ConfigError
from .dump import Section

# When no prefix is given and the entry file sits in one of these directories, its parent is
# tried as well: `sites-enabled/matrix` including `snippets/ssl.conf` means /etc/nginx/snippets.
_CONF_SUBDIRS = frozenset({
    "sites-enabled", "sites-available", "conf.d", "snippets", "http.d", "vhosts.d", "vhost.d",
    "servers", "site-confs", "proxy-confs", "stream.d", "modules-enabled", "default.d",
})

# Where nginx packages put their conf directory. A tree that is a copy of one stands for it.
STANDARD_CONF_DIRS = ("/etc/nginx", "/usr/local/nginx/conf", "/usr/local/etc/nginx",
                      "/etc/openresty", "/usr/local/openresty/nginx/conf", "/opt/homebrew/etc/nginx")

# Placeholders a template engine would have replaced: `${VAR}` (envsubst, the official image's
# templates), `{{ var }}` / `{% ... %}` (Jinja, Go templates), `__DOMAIN__` (YunoHost apps),
# `%%port%%` (Home Assistant add-ons' sed templates). The bracketed forms are found with
# str.find (a regex such as `\{\{.*?\}\}` rescans the rest of the line from every `{{`: quadratic
# on an argument of many `{{`); the others cannot backtrack far.
_BRACKETED = (("${", "}", False), ("{{", "}}", True), ("{%", "%}", True))   # (open, close, one line)
_TEMPLATE = re.compile(r"__[A-Z][A-Z0-9_]*__|%%[A-Za-z_][\w.]*%%")


def normalise(text: str) -> str:
    """Drop a byte-order mark and the CR of CRLF line ends (a CR elsewhere is kept)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n") if "\r" in text else text


def read_text(path: str) -> str:
    """One file's text as the front end reads it (`linter.inputs.read_config`, on a budget of its
    own), for callers outside a load; OSError, with read_config's message, when it cannot be read."""
    try:
        return read_config(path, Budget())
    except ConfigError as error:
        raise OSError(str(error)) from None


def default_roots(entry: str) -> list[str]:
    directory = os.path.dirname(entry) or "."
    roots = [directory]
    if os.path.basename(os.path.abspath(directory)) in _CONF_SUBDIRS:
        roots.append(os.path.normpath(os.path.join(directory, os.pardir)))
    return roots


def template_placeholder(pattern: str) -> Optional[str]:
    """The first template placeholder in an include path or a value (`${HOST}`, `{{ dir }}`)."""
    found = []   # (start, end) of the first placeholder of each kind
    m = _TEMPLATE.search(pattern)
    if m:
        found.append((m.start(), m.end()))
    for opener, closer, one_line in _BRACKETED:
        start = pattern.find(opener)
        while start >= 0:
            close = pattern.find(closer, start + len(opener))
            if close < 0:
                break   # no later opener has a closer either
            newline = pattern.find("\n", start, close) if one_line else -1
            if newline < 0:
                found.append((start, close + len(closer)))
                break
            start = pattern.find(opener, newline)   # `{{` without `}}` on its line
    if not found:
        return None
    start, end = min(found)
    return pattern[start:end]


def looks_like_conf_dir(directory: str) -> bool:
    """Whether a directory is (a copy of) an nginx conf directory."""
    try:
        names = set(os.listdir(directory))
    except OSError:
        return False
    return "nginx.conf" in names or bool(names & (_CONF_SUBDIRS - {"servers", "default.d"}))


def under_standard_conf_dir(path: str) -> bool:
    return any(under_standard_conf_dir_of(path, d) for d in STANDARD_CONF_DIRS)


def under_standard_conf_dir_of(path: str, conf_dir: str) -> bool:
    path = os.path.normpath(path)
    return path == conf_dir or path.startswith(conf_dir + "/")


def _inside(path: str, root: str) -> bool:
    path, root = os.path.abspath(path), os.path.abspath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def _suffixes(pattern: str) -> Iterator[list[str]]:
    """The pattern's trailing components, longest first, each keeping a literal component."""
    parts = [p for p in pattern.split("/") if p and p != "."]
    if ".." in parts:   # `../x.conf` must not climb out of the directory it is mapped into
        parts = parts[len(parts) - parts[::-1].index(".."):]
    for start in range(len(parts)):
        suffix = parts[start:]
        if all(glob.has_magic(p) for p in suffix):
            return
        yield suffix


class FileSystem:
    """Included files on disk. `roots`: where relative includes resolve (the prefix, else the
    entry's default roots); `tree_roots`: more directories of the checked tree (absolute includes
    are mapped into them too); `include_paths`: the user's --include-path directories."""

    def __init__(self, roots: list[str], copied_tree: bool = False, *, tree_roots: Iterable[str] = (),
                 include_paths: Iterable[str] = (), entry: Optional[str] = None,
                 budget: Optional[Budget] = None):
        self.roots = list(roots)
        self.budget = budget if budget is not None else Budget()
        # With an explicit --prefix the user audits a copy: its files win over this machine's,
        # which may have an /etc/nginx of its own (a CI runner with nginx installed).
        self.copied_tree = copied_tree
        self.tree_roots = self.roots + [r for r in tree_roots if r not in self.roots]
        self.include_paths = list(include_paths)
        # The tree stands for this machine's conf directory: /etc/nginx/... is never read here.
        self.conf_tree = copied_tree or bool(entry and os.path.basename(entry) == "nginx.conf") \
            or any(looks_like_conf_dir(r) for r in self.tree_roots)
        self.outside: list[str] = []      # files read from this machine outside the tree

    def describe(self) -> str:
        return ", ".join(self.roots)

    def resolve(self, pattern: str, avoid: frozenset = frozenset()) -> Optional[list[str]]:
        """`avoid`: identities of the files being included (the chain): a suffix mapping that
        lands on one of them is a wrong guess (`/srv/x/matrix.conf` -> the entry `matrix.conf`
        itself), not a cycle, and is skipped."""
        magic = glob.has_magic(pattern)
        for candidate, direct, host in self._candidates(pattern):
            found = self._match(candidate, magic, direct)
            if found and not direct and avoid:
                found = [f for f in found if self.identity(f) not in avoid]
            if found:
                if host:
                    self.outside.extend(f for f in found if f not in self.outside)
                return found
        return [] if magic else None

    @staticmethod
    def _match(candidate: str, magic: bool, direct: bool) -> list[str]:
        if magic:
            # The pattern itself: everything glob() returns, as nginx includes it (a directory
            # is then a read error, as in nginx). A suffix mapping is a guess: regular files only.
            matches = glob.glob(candidate)
            if not direct:
                matches = [p for p in matches if os.path.isfile(p)]
            return sorted(os.path.normpath(p) for p in matches)
        if os.path.isfile(candidate) or (direct and os.path.exists(candidate)):
            return [os.path.normpath(candidate)]
        return []

    def _candidates(self, pattern: str) -> Iterator[tuple[str, bool, bool]]:
        """(path or glob, is the pattern itself rather than a suffix mapping, is outside the tree)."""
        if not os.path.isabs(pattern):
            # (a) relative: against the prefix / default roots, as nginx does.
            for root in self.roots:
                yield os.path.join(root, pattern), True, False
        else:
            # (a) absolute: where it is when that is inside the tree, else mapped into the tree.
            if any(_inside(pattern, root) for root in self.tree_roots):
                yield pattern, True, False
            for suffix in _suffixes(pattern):
                for root in self.tree_roots:
                    yield os.path.join(root, *suffix), False, False
            # (b) this machine, outside the tree.
            if self._may_read_host(pattern):
                yield pattern, True, True
        # (c) the user's --include-path directories.
        for suffix in _suffixes(pattern):
            for directory in self.include_paths:
                yield os.path.join(directory, *suffix), False, False

    def _may_read_host(self, pattern: str) -> bool:
        if self.copied_tree:
            return False
        return not (self.conf_tree and under_standard_conf_dir(pattern))

    def missing(self, pattern: str) -> str:
        placeholder = template_placeholder(pattern)
        if placeholder:
            return f"not found: the path contains the template placeholder `{placeholder}`"
        looked = list(self.roots if not os.path.isabs(pattern) else self.tree_roots)
        where = ", ".join(looked)
        if os.path.isabs(pattern):
            if self._may_read_host(pattern):
                where = f"{where} and on this machine"
            elif self.copied_tree:
                where += " (with --prefix, this machine's files are not read)"
            else:
                conf_dir = next(d for d in STANDARD_CONF_DIRS if under_standard_conf_dir_of(pattern, d))
                where += f" (this machine's {conf_dir} is not read: the checked tree stands for it)"
        if self.include_paths:
            where += "; --include-path " + ", ".join(self.include_paths)
        return f"not found (looked in {where})"

    def read(self, name: str) -> tuple[str, int, str]:
        return read_config(name, self.budget), 1, name

    def identity(self, name: str) -> str:
        return os.path.realpath(name)


class Dump:
    """The virtual files of an `nginx -T` dump; spans point at the dump file itself."""

    def __init__(self, dump_path: str, sections: list[Section], prefix: str):
        self.dump_path = dump_path
        self.sections = {}
        for section in sections:
            self.sections.setdefault(section.path, section)  # nginx prints each file once
        self.prefix = prefix

    def describe(self) -> str:
        return f"the nginx -T dump (prefix {self.prefix})"

    def resolve(self, pattern: str, avoid: frozenset = frozenset()) -> Optional[list[str]]:
        full = os.path.normpath(os.path.join(self.prefix, pattern))
        if not glob.has_magic(full):
            return [full] if full in self.sections else None
        # Component-wise, so `*` does not cross `/` (as with glob(3)).
        parts = full.split("/")
        matches = [name for name in self.sections
                   if _glob_parts_match(parts, name.split("/"))]
        return sorted(matches)

    def missing(self, pattern: str) -> str:
        placeholder = template_placeholder(pattern)
        if placeholder:
            return f"not found: the path contains the template placeholder `{placeholder}`"
        return "not in the nginx -T dump"

    def read(self, name: str) -> tuple[str, int, str]:
        section = self.sections[name]
        return section.text, section.first_line, self.dump_path

    def identity(self, name: str) -> str:
        return name


def _glob_parts_match(pattern_parts: list[str], name_parts: list[str]) -> bool:
    from fnmatch import fnmatchcase

    if len(pattern_parts) != len(name_parts):
        return False
    return all(fnmatchcase(n, p) and not (n.startswith(".") and not p.startswith("."))
               for p, n in zip(pattern_parts, name_parts))
