"""Reading configuration files safely: only regular files, bounded in size, decoded the way the
servers read them.

Every front end reads the entry file and each file it includes through `read_config()`, so the
same rules hold everywhere:
- only regular files are read: a FIFO would block forever, `/dev/zero` never ends, and `/proc`,
  `/sys` and `/dev` hold no configuration (and `/proc/self/environ` holds secrets);
- one file may be at most `Budget.max_file` bytes and one configuration (an entry with all it
  includes) at most `Budget.max_total`; both are options (`--max-file-size`, `--max-total-size`);
- the text must be text: a NUL byte or a UTF-16 byte-order mark is refused with a clear error
  (none of the four servers reads UTF-16), a UTF-8 byte-order mark is dropped, and bytes that
  are not UTF-8 are read as Latin-1 line by line (the servers compare bytes, so nothing is lost).
Errors are `ConfigError`s; the caller adds the position of the include that named the file.
"""
from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

from linter.syntax import ConfigError

# Real deployments are kilobytes (Debian's mime.types, the largest standard include, is 5 KB);
# the model costs about 100 bytes of memory per byte of configuration, so these keep a hostile
# input well under a gigabyte.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 8 * 1024 * 1024
_SYSTEM_TREES = ("/proc/", "/sys/", "/dev/")
# A tmpfs where people do keep files (CI scratch space): its regular files are read like any.
_SHARED_MEMORY = "/dev/shm/"


@dataclass
class Budget:
    """What one configuration may still read; create one per `load()`."""

    max_file: int = MAX_FILE_BYTES
    max_total: int = MAX_TOTAL_BYTES
    used: int = 0


# Configurations given on standard input (`check -`), by the absolute path they stand for
# (--stdin-filename). Set only inside `given_on_stdin()`, by the CLI, for one run.
_ON_STDIN: dict = {}


@contextmanager
def given_on_stdin(path: str, data: bytes):
    """While inside, `path` reads as `data` (whether or not a file is there)."""
    key = os.path.abspath(path)
    _ON_STDIN[key] = data
    try:
        yield
    finally:
        _ON_STDIN.pop(key, None)


def on_stdin(path: str) -> Optional[bytes]:
    return _ON_STDIN.get(os.path.abspath(path)) if _ON_STDIN else None


def read_config(path: str, budget: Budget) -> str:
    """The text of one configuration file, or a ConfigError saying why it cannot be read."""
    given = on_stdin(path)
    if given is not None:
        _check_size(path, len(given), budget)
        budget.used += len(given)
        return decode(given, path)
    real = os.path.realpath(path)
    if (real.startswith(_SYSTEM_TREES) and not real.startswith(_SHARED_MEMORY)) or real in ("/proc", "/sys", "/dev"):
        raise ConfigError(f"refusing to read {path}: it is a system file ({real}), not a configuration", path)
    try:
        info = os.stat(path)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}", path) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"cannot read {path}: it is a directory", path)
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"refusing to read {path}: not a regular file ({_kind(info.st_mode)})", path)
    _check_size(path, info.st_size, budget)
    try:
        with open(path, "rb") as f:
            data = f.read(budget.max_file + 1)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}", path) from None
    _check_size(path, len(data), budget)
    budget.used += len(data)
    return decode(data, path)


def at_include(error: ConfigError) -> str:
    """A reading error's words for the include that named the file: they must name the file,
    and the line inside it when there is one (a NUL byte)."""
    message = error.message
    if error.line:
        return f"{error.path}:{error.line}: {message}"
    return message if error.path in message else f"{error.path}: {message}"


def _check_size(path: str, size: int, budget: Budget) -> None:
    if size > budget.max_file:
        raise ConfigError(f"{path} is {_mib(size)}, over the {_mib(budget.max_file)} limit for one file "
                          f"(--max-file-size)", path)
    if budget.used + size > budget.max_total:
        raise ConfigError(f"reading {path} would take this configuration over {_mib(budget.max_total)} "
                          f"(--max-total-size)", path)


def decode(data: bytes, path: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{path} is UTF-16 text; the server reads configuration as UTF-8 or ASCII: "
                          f"save it as UTF-8", path)
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise ConfigError("binary data (a NUL byte): this is not a configuration file", path, line, 1)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pieces = []
        for line in data.splitlines(keepends=True):
            try:
                pieces.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                pieces.append(line.decode("latin-1"))
        text = "".join(pieces)
    return text.replace("\r\n", "\n") if "\r" in text else text


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"
