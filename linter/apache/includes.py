"""Where `Include`/`IncludeOptional` and `ServerRoot` point on this machine.

httpd (server/config.c, util.c `ap_dir_fnmatch`):
- a relative path is relative to ServerRoot;
- a directory is read whole: every entry but `.`/`..` (dotfiles too), sorted, recursively;
- wildcards (`*`, `?`, `[...]`) may appear in any path component; a leading '.' in a name
  must be matched explicitly; components before the last must match directories;
- `Include` fails on a missing file, an unreadable directory, or a wildcard matching nothing;
  `IncludeOptional` accepts all three.

Offline audits: with a `prefix` (a copy of, say, /etc/apache2 or of a whole root file system),
an absolute path outside the prefix is looked for under it by its longest suffix that exists
there (`/etc/apache2/sites-enabled/*.conf` -> `<prefix>/sites-enabled/*.conf`), and the
directory pair found (`/etc/apache2` <-> `<prefix>`) is remembered for later paths. The prefix
is tried *before* this machine's file system, so a copied config never reads the auditing
machine's own /etc/apache2.
"""
from __future__ import annotations

import fnmatch
import os
from typing import Optional

_WILDCARD = ("*", "?", "[")


def has_wildcard(path: str) -> bool:
    return any(c in path for c in _WILDCARD)


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def _name_matches(pattern: str, name: str) -> bool:
    if name.startswith(".") and not pattern.startswith("."):  # APR_FNM_PERIOD
        return False
    return fnmatch.fnmatchcase(name, pattern)


class Paths:
    def __init__(self, entry_dir: str, prefix: Optional[str]):
        self.prefix = os.path.abspath(prefix) if prefix else None
        self.entry_dir = entry_dir
        self.server_root = self.prefix or entry_dir
        self._pairs: list[tuple[str, str]] = []  # (directory as written, its copy under prefix)

    def set_server_root(self, value: str, entry_path: str) -> None:
        """Follow a `ServerRoot` directive if it names a directory we can find.

        A ServerRoot that does not exist here (and cannot be mapped into the prefix) is
        ignored, except that without a prefix the entry file's nearest ancestor with the same
        name is used (`ServerRoot /etc/httpd` for `<copy>/httpd/conf/httpd.conf`).
        """
        path = os.path.normpath(os.path.join(self.entry_dir, value))
        mapped = self.map_into_prefix(path, directory=True)
        if os.path.isdir(mapped):
            self.server_root = mapped
        elif self.prefix is None:
            wanted = os.path.basename(path)
            here = os.path.dirname(os.path.abspath(entry_path))
            while wanted and here != os.path.dirname(here):
                if os.path.basename(here) == wanted:
                    self.server_root = here
                    return
                here = os.path.dirname(here)

    def resolve(self, name: str) -> str:
        """Absolute path of an Include argument (ServerRoot-relative, mapped into the prefix)."""
        path = os.path.normpath(os.path.join(self.server_root, name))
        return self.map_into_prefix(path)

    def map_into_prefix(self, path: str, directory: bool = False) -> str:
        if self.prefix is None or _under(path, self.prefix):
            return path
        for written, copy in self._pairs:
            if _under(path, written):
                return copy + path[len(written.rstrip(os.sep)):]
        parts = [p for p in path.split(os.sep) if p]
        # Only the components before the first wildcard can be checked for existence.
        fixed = next((i for i, p in enumerate(parts) if has_wildcard(p)), len(parts))
        is_file = not directory and fixed == len(parts)
        for dropped in range(fixed + 1):  # longest suffix first
            kept = parts[dropped:fixed]
            if not kept and not directory:
                break  # only a ServerRoot may map onto the prefix itself
            candidate = os.path.join(self.prefix, *kept)
            if not (os.path.exists(candidate) if is_file else os.path.isdir(candidate)):
                continue
            if not is_file or len(kept) >= 2:  # a bare file name is too weak a clue to learn
                self._pairs.append((os.sep + os.sep.join(parts[:dropped]), self.prefix))
                self._pairs.sort(key=lambda pair: -len(pair[0]))
            return os.path.join(self.prefix, *parts[dropped:])
        return path

    def expand(self, path: str, optional: bool) -> tuple[list[str], Optional[str]]:
        """The files an Include of `path` reads, in httpd's order, and why it fails (or None)."""
        if not has_wildcard(path):
            if os.path.isdir(path):
                return _directory_files(path), None
            if os.path.exists(path):
                return [path], None
            return [], None if optional else self._missing(path)
        current = [os.sep]
        parts = [p for p in path.split(os.sep) if p]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if not has_wildcard(part):
                current = [os.path.join(c, part) for c in current]
                continue
            matched = []
            for base in current:
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
            current = matched
        files = []
        for candidate in current:
            if os.path.isdir(candidate):
                files += _directory_files(candidate)
            elif os.path.exists(candidate):
                files.append(candidate)
            elif not optional:
                return files, self._missing(candidate)
        return files, None

    def _missing(self, path: str) -> str:
        where = f" (nor under the prefix {self.prefix})" if self.prefix and not _under(path, self.prefix) else ""
        return f"file not found: {path}{where}"


def _directory_files(directory: str, seen: Optional[set] = None) -> list[str]:
    """Every file below `directory`, sorted per directory as httpd does (symlink loops cut)."""
    seen = set() if seen is None else seen
    real = os.path.realpath(directory)
    if real in seen:
        return []
    seen.add(real)
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    files = []
    for name in names:
        full = os.path.join(directory, name)
        if os.path.isdir(full):
            files += _directory_files(full, seen)
        else:
            files.append(full)
    return files
