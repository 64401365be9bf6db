"""Where `Include`/`IncludeOptional` and `ServerRoot` point: the checked tree, this machine, more.

httpd (server/config.c, util.c `ap_dir_fnmatch`):
- a relative path is relative to ServerRoot;
- a directory is read whole: every entry but `.`/`..` (dotfiles too), sorted, recursively;
- wildcards (`*`, `?`, `[...]`) may appear in any path component; a leading '.' in a name
  must be matched explicitly; components before the last must match directories;
- `Include` fails on a missing file, an unreadable directory, or a wildcard matching nothing;
  `IncludeOptional` accepts all three.

Bounds: one Include names at most `MAX_FILES` files (more is an error, none read); directories
are walked iteratively, and a directory inside itself (a symbolic link loop) is an error, as in
httpd; /proc, /sys and /dev are
never listed (what is named there is handed to `linter.inputs.read_config`, which refuses it).

The linter rarely sees everything httpd would: a repository holds one vhost file, or a copy of
/etc/apache2 without what only the server has. `Paths.locate` looks for an include in this order
and says where it found it (what none of these places has, expand.py asks shipped knowledge,
`linter.known`, and otherwise records as `Unresolved`):

1. The checked tree. Its roots are the prefix (when given), the entry file's directory (and its
   parent when that directory is a conf subdirectory such as `sites-available/`), and the
   `tree_roots` the caller names. A relative path is relative to ServerRoot (by default the
   prefix, else the entry's directory), then to each root. An absolute path under a root is
   itself; any other is mapped into the roots by its longest suffix that exists there, keeping
   at least one literal component (`/etc/apache2/sites-enabled/*.conf` ->
   `<root>/sites-enabled/*.conf`, never `<root>/*.conf`). The directory pair found
   (`/etc/apache2` <-> `<root>`) is remembered: later paths under it belong to the tree even
   when the tree lacks them, so a copied config never half-reads the auditing machine's own
   /etc/apache2.
2. This machine, for an absolute path outside the tree (`/etc/letsencrypt/...`), never when a
   prefix is given (an audit of a copy). Such files are `where == "machine"`: the Tree lists
   them in `outside`.
3. Each `include_paths` directory (`--include-path`), by the longest suffix of the path that
   exists there.

A path that still holds a `${VAR}` nobody defined has no place of its own: it is looked for in
the tree and the include paths by the components after the variable only.
"""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from typing import Optional

_WILDCARD = ("*", "?", "[")
# One Include reads at most this many files (httpd has no such limit; `Include /usr/` is not a
# configuration); /proc, /sys and /dev are never listed.
MAX_FILES = 10_000
# Linux's PATH_MAX: no longer path names a file (httpd: "File name too long"). Looking for a
# longer one by its suffixes would cost time quadratic in its length.
PATH_MAX = 4096
SYSTEM_TREES = ("/proc", "/sys", "/dev")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# Directories that hold pieces of a configuration whose parent is the server's conf dir: the
# entry file's parent is a root of the checked tree too (sites-available/x.conf includes
# conf-available/y.conf relative to the ServerRoot above it).
CONF_SUBDIRS = frozenset({
    "sites-enabled", "sites-available", "conf-enabled", "conf-available", "mods-enabled",
    "mods-available", "conf.d", "conf.modules.d", "modules.d", "vhosts.d", "vhost.d", "conf",
    "extra", "other", "sites", "vhosts", "snippets", "includes",
})


def has_wildcard(path: str) -> bool:
    return any(c in path for c in _WILDCARD)


def unexpanded_variable(path: str) -> Optional[str]:
    """The name of the first `${VAR}` left in a path (nobody defined it), else None."""
    m = _VARIABLE.search(path)
    return m.group(1) if m else None


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _parts(path: str) -> list[str]:
    return [p for p in path.split(os.sep) if p]


def _fixed(parts: list[str]) -> int:
    """Index of the first component with a wildcard (len(parts) when none)."""
    return next((i for i, p in enumerate(parts) if has_wildcard(p)), len(parts))


def _present(path: str) -> bool:
    """Whether a place exists to read `path` from: the file or directory, or for a wildcard
    the directory its literal components name."""
    parts = _parts(path)
    fixed = _fixed(parts)
    if fixed == len(parts):
        return os.path.exists(path)
    return os.path.isdir(os.sep + os.sep.join(parts[:fixed]))


def _by_suffix(parts: list[str], bases: list[str], directory: bool = False) -> Optional[tuple]:
    """(components dropped, base) of the longest suffix of `parts` present under a base.

    Only the components before the first wildcard can be checked for existence, and at least
    one of them must be kept: `/etc/nginx/conf.d/*.conf` never maps onto `<base>/*.conf`.
    """
    fixed = _fixed(parts)
    is_file = not directory and fixed == len(parts)
    entries = {base: _entries(base) for base in bases}
    for dropped in range(fixed):  # longest suffix first
        kept = parts[dropped:fixed]
        for base in bases:
            if kept[0] not in entries[base]:
                continue   # cheap: a path of thousands of components costs no system call each
            candidate = os.path.join(base, *kept)
            if os.path.exists(candidate) if is_file else os.path.isdir(candidate):
                return dropped, base
    return None


def _entries(directory: str) -> frozenset:
    try:
        return frozenset(os.listdir(directory))
    except OSError:
        return frozenset()


def _name_matches(pattern: str, name: str) -> bool:
    if name.startswith(".") and not pattern.startswith("."):  # APR_FNM_PERIOD
        return False
    return fnmatch.fnmatchcase(name, pattern)


def _distinct(paths) -> list[str]:
    out: list[str] = []
    for p in paths:
        if p and p not in out:
            out.append(p)
    return out


def entry_roots(entry_dir: str) -> list[str]:
    roots = [entry_dir]
    if os.path.basename(entry_dir) in CONF_SUBDIRS:
        roots.append(os.path.dirname(entry_dir))
    return roots


@dataclass
class Found:
    """Where an include was found and the files it reads there (in httpd's order)."""

    files: list
    where: str                      # "tree" | "machine" | "include-path"
    problem: Optional[str] = None   # httpd fails here all the same (a wildcard matching nothing)


class Paths:
    def __init__(self, entry_dir: str, prefix: Optional[str] = None, tree_roots=(),
                 include_paths=()):
        self.prefix = os.path.abspath(prefix) if prefix else None
        self.entry_dir = entry_dir
        self.roots = _distinct([self.prefix] + entry_roots(entry_dir)
                               + [os.path.abspath(r) for r in tree_roots])
        self.include_paths = _distinct(os.path.abspath(p) for p in include_paths)
        self.server_root = self.prefix or entry_dir
        self._pairs: list[tuple[str, str]] = []  # (directory as written, its copy in the tree)

    # -- ServerRoot ---------------------------------------------------------------------

    def set_server_root(self, value: str, entry_path: str) -> None:
        """Follow a `ServerRoot` directive if it names a directory we can find.

        In the tree first (with a prefix, a ServerRoot found nowhere in it is the prefix
        itself); without a prefix, the entry file's nearest ancestor with the same name
        (`ServerRoot /etc/httpd` for `<copy>/httpd/conf/httpd.conf`), then this machine's
        directory. A ServerRoot found nowhere is ignored.
        """
        if len(value) > PATH_MAX:
            return
        path = os.path.normpath(os.path.join(self.entry_dir, value))
        mapped = self.to_tree(path, directory=True)
        if mapped is not None and os.path.isdir(mapped):
            self.server_root = mapped
            return
        if self.prefix is not None:
            if mapped is None:  # the prefix is a copy of this ServerRoot
                self._learn(path, self.prefix)
                self.server_root = self.prefix
            return
        wanted = os.path.basename(path)
        here = os.path.dirname(os.path.abspath(entry_path))
        while wanted and here != os.path.dirname(here):
            if os.path.basename(here) == wanted:
                self.server_root = here
                return
            here = os.path.dirname(here)
        if os.path.isdir(path):
            self.server_root = path

    # -- the checked tree ---------------------------------------------------------------

    def in_tree(self, path: str) -> bool:
        return any(_under(path, r) for r in self.roots) or any(_under(path, w) for w, _ in self._pairs)

    def to_tree(self, path: str, directory: bool = False) -> Optional[str]:
        """Where an absolute path is in the checked tree (it may not exist there when a root or a
        learned pair covers it); None when the tree has no place for it."""
        if any(_under(path, r) for r in self.roots):
            return path
        for written, copy in self._pairs:
            if _under(path, written):
                return copy + path[len(written.rstrip(os.sep)):]
        parts = _parts(path)
        hit = _by_suffix(parts, self.roots, directory)
        if hit is None:
            return None
        dropped, base = hit
        is_file = not directory and _fixed(parts) == len(parts)
        if dropped and (not is_file or len(parts) - dropped >= 2):  # a bare file name is too weak a clue
            self._learn(os.sep + os.sep.join(parts[:dropped]), base)
        return os.path.join(base, *parts[dropped:])

    def _learn(self, written: str, copy: str) -> None:
        if (written, copy) not in self._pairs:
            self._pairs.append((written, copy))
            self._pairs.sort(key=lambda pair: -len(pair[0]))

    # -- one include --------------------------------------------------------------------

    def locate(self, written: str, optional: bool) -> Optional[Found]:
        """Where the include of `written` (variables already substituted) is found, or None."""
        if len(written) > PATH_MAX:
            return Found([], "tree", f"the path is {len(written)} characters long: no file system "
                                     f"has one longer than {PATH_MAX}")
        if unexpanded_variable(written):
            parts = _parts(written)
            last = max(i for i, p in enumerate(parts) if "${" in p)
            tail = parts[last + 1:]
            for bases, where in ((self.roots, "tree"), (self.include_paths, "include-path")):
                hit = _by_suffix(tail, bases)
                if hit is not None:
                    return self._found(os.path.join(hit[1], *tail[hit[0]:]), optional, where)
            return None
        path = os.path.normpath(os.path.join(self.server_root, written))
        mapped = self.to_tree(path)
        candidates = [mapped] if mapped is not None else []
        if not os.path.isabs(written):
            candidates += [os.path.normpath(os.path.join(r, written)) for r in self.roots]
        for candidate in _distinct(candidates):
            if _present(candidate):
                return self._found(candidate, optional, "tree")
        if mapped is None and self.prefix is None and _present(path):
            return self._found(path, optional, "machine")
        parts = _parts(path if os.path.isabs(written) else os.path.normpath(written))
        hit = _by_suffix(parts, self.include_paths)
        if hit is not None:
            return self._found(os.path.join(hit[1], *parts[hit[0]:]), optional, "include-path")
        return None

    def _found(self, path: str, optional: bool, where: str) -> Found:
        files, problem = self.expand(path, optional)
        return Found(files, where, problem)

    def looked_in(self, written: str) -> str:
        """Where `locate` looked, in words (the Unresolved reason says "not found (looked in ...)")."""
        where = ", ".join(self.roots)
        path = os.path.normpath(os.path.join(self.server_root, written))
        if unexpanded_variable(written):
            pass
        elif self.prefix is not None:
            if os.path.isabs(written):
                where += " (with --prefix, this machine's files are not read)"
        elif not self.in_tree(path):
            where += " and on this machine"
        elif os.path.isabs(written) and not any(_under(path, r) for r in self.roots):
            copied = next(w for w, _ in self._pairs if _under(path, w))
            where += f" (this machine's {copied} is not read: the checked tree stands for it)"
        if self.include_paths:
            where += "; --include-path " + ", ".join(self.include_paths)
        return where

    # -- httpd's reading of one place ---------------------------------------------------

    def expand(self, path: str, optional: bool) -> tuple[list[str], Optional[str]]:
        """The files an Include of `path` reads, in httpd's order, and why it fails (or None).

        At most MAX_FILES files: an Include naming more (`Include /usr/`) is a problem, and
        reads none of them."""
        if not has_wildcard(path):
            if os.path.isdir(path):
                return _directory_files(path, MAX_FILES)
            if os.path.exists(path):
                return [path], None
            return [], None if optional else f"file not found: {path}"
        current = [os.sep]
        parts = _parts(path)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if not has_wildcard(part):
                current = [os.path.join(c, part) for c in current]
                continue
            matched = []
            for base in current:
                if _system(os.path.realpath(base)):   # never list /proc, /sys, /dev
                    return [], f"refusing to read {base}: it is a system directory, not configuration"
                try:
                    names = sorted(os.listdir(base))
                except OSError as error:
                    if optional:
                        continue
                    return [], f"cannot open directory {base}: {error.strerror or error}"
                found = [os.path.join(base, n) for n in names if _name_matches(part, n)]
                if not last:
                    found = [f for f in found if os.path.isdir(f)]
                if not found and not optional:
                    return [], f"no file matches the wildcard '{part}' in {base}"
                matched += found
                if len(matched) > MAX_FILES:
                    return [], f"the wildcard '{part}' matches more than {MAX_FILES} names: not read"
            current = matched
        files: list[str] = []
        for candidate in current:
            if os.path.isdir(candidate):
                more, problem = _directory_files(candidate, MAX_FILES - len(files))
                if problem:
                    return [], problem
                files += more
            elif os.path.exists(candidate):
                files.append(candidate)
            elif not optional:
                return files, f"file not found: {candidate}"
        return files, None


def _directory_files(directory: str, limit: int) -> tuple[list[str], Optional[str]]:
    """Every file below `directory`, sorted per directory as httpd does, and a problem or None.

    Iterative. A directory inside itself (a symbolic link loop) is a problem, as in httpd
    ("Could not open configuration file .../self/self/self/..."); at most `limit` files (more is
    a problem); with a problem no file is returned. /proc, /sys and /dev are not walked: they
    are returned as they are, for `read_config` to refuse.
    """
    files: list[str] = []
    # (entries left to read in one directory, that directory's real path)
    stack: list = [(iter([directory]), None)]
    while stack:
        path = next(stack[-1][0], None)
        if path is None:
            stack.pop()
            continue
        real = os.path.realpath(path)
        if not os.path.isdir(path) or _system(real):
            files.append(path)
            if len(files) > limit:
                return [], (f"it names more than {limit} files (a directory Include reads every "
                            f"file below it): not read")
            continue
        if any(real == r for _, r in stack):
            return [], f"{path} is a symbolic link loop (it leads back to {real}): not read"
        try:
            names = sorted(os.listdir(path))
        except OSError:
            continue
        stack.append((iter([os.path.join(path, name) for name in names]), real))
    return files, None


def _system(real: str) -> bool:
    return any(_under(real, tree) for tree in SYSTEM_TREES)
