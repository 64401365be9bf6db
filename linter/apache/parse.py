"""The Apache httpd front end: configuration files -> `linter.syntax.Tree`.

    load(path, *, prefix=None, defines=None, load_options=None) -> Tree     a vhost file, or apache2.conf/httpd.conf
    parse_string(text, path="<string>", *, prefix=None, defines=None, load_options=None) -> Tree
    looks_like_apache(text, path) -> bool                 server detection

Pipeline: source.py (continuations joined, positions kept) -> macros.py (`<Macro>` bodies cut
out) -> structure.py (grammars/apache.lark; sections, quoting, closing tags checked) ->
expand.py (Define/${VAR}, IfDefine, Include, ServerRoot, Macro/Use, in file order as httpd
executes them) -> refusals.py (what `apache2 -t` refuses in the expanded tree: misplaced
sections and directives, argument counts and values). The Directive conventions are documented
in structure.py and expand.py. Every pass is iterative or bounded: sections nest at most
`structure.MAX_NESTING` (100) deep in the expanded tree, deeper is an error.

Where includes are looked for (includes.py, then expand.py), in this order:
1. the checked tree: relative paths against the last `ServerRoot` seen (else the prefix, else
   the entry file's directory), then against each tree root; an absolute path mapped into the
   tree roots (the prefix, the entry's directory and its parent when that is a conf
   subdirectory, `load_options.tree_roots`) by its longest existing suffix that keeps a literal
   component;
2. this machine's own path, for an absolute path outside the tree, never with a prefix
   (`Tree.outside` lists what was read there);
3. the `load_options.include_paths` directories, by suffix;
4. shipped knowledge, `linter.known.lookup("apache", target)` (certbot's
   options-ssl-apache.conf, Debian's stock conf-enabled/ and default mods-enabled/ files);
5. otherwise the include is `Unresolved` (`Tree.unresolved`, `extra["unresolved"]`): unknown,
   not absent, and not an error. So is a `Use` of a macro defined in no file read.
`load_options.prefix` wins over `prefix` when given. `defines` plays the role of httpd's
`-D NAME` / `Define NAME value` given before the file: a dict of name -> value (None for a bare
parameter); when given, it is taken as the complete list, which makes every `<IfDefine>`
decidable.

`parse_string` treats `text` as the content of the file `path` (includes are followed, relative
to `path`'s directory, or the current directory for "<string>"). Problems in the input
(unreadable files, include cycles, syntax errors, what httpd refuses: refusals.py) become
`Tree.errors` (ConfigError with file:line:column), never exceptions.

Files are read with `linter.inputs.read_config` against one `Budget` per load (from
`LoadOptions.budget()`): the entry file and every included file, each inclusion counting, so
FIFOs, devices, /proc, /sys, /dev, oversize, binary and UTF-16 files are errors (at the Include
that names them), and a configuration stays within its size limits however it includes itself.
"""
from __future__ import annotations

import os
from typing import Optional

from ..inputs import Budget, read_config
from ..syntax import ConfigError, LoadOptions, Tree
from .sniff import looks_like_apache

__all__ = ["load", "parse_string", "looks_like_apache"]

_ENTRY_NAMES = ("apache2.conf", "httpd.conf", os.path.join("conf", "httpd.conf"))


def load(path: str, *, prefix: Optional[str] = None, defines: Optional[dict] = None,
         load_options=None) -> Tree:
    if os.path.isdir(path):
        entry = next((os.path.join(path, n) for n in _ENTRY_NAMES
                      if os.path.isfile(os.path.join(path, n))), None)
        if entry is None:
            return Tree("apache", path, [], [], [ConfigError(
                "is a directory without apache2.conf or httpd.conf; pass the file to read", path)])
        path = entry
    options = load_options or LoadOptions()
    budget = options.budget()
    try:
        text = read_config(path, budget)
    except ConfigError as error:
        return Tree("apache", path, [], [], [error])
    return _parse(text, path, prefix, defines, options, budget)


def parse_string(text: str, path: str = "<string>", *, prefix: Optional[str] = None,
                 defines: Optional[dict] = None, load_options: Optional[LoadOptions] = None) -> Tree:
    options = load_options or LoadOptions()
    budget = options.budget()
    budget.used += len(text)   # the entry's text counts towards the configuration's size
    return _parse(text, path, prefix, defines, options, budget)


def _parse(text: str, path: str, prefix: Optional[str], defines: Optional[dict],
           options: LoadOptions, budget: Budget) -> Tree:
    from .expand import Loader
    from .refusals import check_refusals

    if options.prefix is not None:
        prefix = options.prefix
    loader = Loader(path, prefix, defines, options, budget)
    directives = loader.load_text(path, text)
    loader.finish()
    loader.errors += check_refusals(directives, path)
    errors = loader.hide_outside_text(loader.errors)
    order = {name: i for i, name in enumerate(loader.files)}
    errors.sort(key=lambda e: (order.get(e.path, len(order)), e.line, e.column))
    return Tree("apache", path, directives, loader.files, errors, loader.unresolved, loader.outside)
