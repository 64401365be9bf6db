"""What `apache2 -t` refuses in a configuration the parser accepts, where the model depends on it.

A configuration httpd refuses must never be reported clean, and the model must not be built from
a reading httpd never makes (a `ProxyPass /a http://b/` inside `<Location>` is refused, not a
proxy to `/a`). The checks mirror httpd 2.4's own (server/core.c `ap_check_cmd_context` and the
section handlers, mod_proxy.c `add_pass`/`add_pass_reverse`, mod_alias.c
`add_redirect_internal`, mod_rewrite.c `cmd_rewriterule`/`cmd_rewritecond`, mod_headers.c
`header_cmd`, server/listen.c), measured on httpd 2.4.71, each at the position of what is wrong:

- a directive name no module could register (`root:x:0:0:...` from `Include /etc/shadow`,
  `4²3`): httpd's "Invalid command" (names are ASCII letters, digits, `_`, `-`, `.`; a name
  holding a `${VAR}` is left alone, and so are mod_perl's `<Perl>` bodies and POD blocks, and a
  file holding only a path: a symbolic link git checked out as text);
- where sections may be: `<VirtualHost>` only at the top level; `<Location>`, `<Directory>`,
  `<Proxy>` (and their Match forms) only at the top level or in a `<VirtualHost>`; `<Files>` not
  inside a `<Location>`; the `<If*>` conditionals that httpd executes while reading
  (`<IfModule>`, `<IfDefine>`, ...) are transparent;
- the arguments a section needs (`<Location>` alone: "directive requires additional
  arguments");
- server-level directives the model reads from the server only (`ServerName`, `ServerAlias`,
  `DocumentRoot`, `AllowEncodedSlashes`, `SSLEngine`, `AliasMatch`, `ProxyRequests`: not in a
  `<Location>`, `<Directory>`, `<Files>`, `<Proxy>`, `<If>` or `<Limit>`); `Listen` only at the
  top level;
- argument counts of the directives the model reads, and their values: `Listen` ports
  (ASCII digits, 1-65535), `<VirtualHost>` ports, On/Off flags, `AllowEncodedSlashes`;
- `ProxyPass`/`ProxyPassMatch`/`ProxyPassReverse`: their context (not in `<Directory>`,
  `<Files>`, `<If>`, `<Limit>`), a path inside `<Location>`, a missing URL, `key=value`
  parameters, a relative URL;
- `Redirect*`: the status/URL combinations httpd refuses;
- `RewriteRule`/`RewriteCond`: two arguments at least, a flags field in brackets with known
  flags, `R=` codes;
- `Header`/`RequestHeader`: the action, the argument count per action, the trailing clause
  (`early`, `env=`, `expr=`).

- regular expressions (section patterns, `RewriteRule`/`RewriteCond`, `ProxyPassMatch`,
  `AliasMatch`, `RedirectMatch`): unbalanced parentheses, and parentheses nested more than 250
  deep (PCRE2's limit; Python's `re` would exhaust the stack on a few hundred).

Regular expressions are otherwise not compiled (PCRE is not Python's `re`), nor are `expr=`
expressions (ap_expr), and nothing that needs the server's run time (DNS, certificates, files) is checked.
Directives answered from shipped knowledge (`extra["known"]`) are not checked.
"""
from __future__ import annotations

import re
from typing import Optional

from ..syntax import ConfigError, Directive, Span
from linter.model import small_int

# Sections httpd executes while reading: they do not change where their content is.
_TRANSPARENT = {"ifmodule", "ifdefine", "ifversion", "iffile", "ifdirective", "ifsection"}
_DIR_SECTIONS = {"directory", "directorymatch", "location", "locationmatch", "files", "filesmatch",
                 "proxy", "proxymatch", "if", "elseif", "else", "limit", "limitexcept"}
_REQUIRE_SECTIONS = {"requireall", "requireany", "requirenone"}
# Access control (OR_AUTHCFG / OR_LIMIT): refused at the server's and a virtual host's level,
# where the model would otherwise read them for every route.
_DIRECTORY_ONLY = {"require", "allow", "deny", "order", "satisfy", "authtype"}
_DIRECTORY_ONLY_SECTIONS = _REQUIRE_SECTIONS | {"limit", "limitexcept"}
_SERVER_SECTIONS = {"location", "locationmatch", "directory", "directorymatch", "proxy", "proxymatch"}
_NEEDS_ARGUMENTS = {"virtualhost", "location", "locationmatch", "directory", "directorymatch",
                    "files", "filesmatch", "ifmodule", "ifdefine", "if", "elseif", "limit",
                    "limitexcept"}     # not <Proxy>: httpd accepts it bare
# RSRC_CONF only: refused in every directory context (the model reads them from the server).
_SERVER_ONLY = {"servername", "serveralias", "documentroot", "allowencodedslashes", "sslengine",
                "aliasmatch", "scriptaliasmatch", "proxyrequests"}
# (least, most) arguments (most None: any number).
_ARITY = {"servername": (1, 1), "serveralias": (1, None), "documentroot": (1, 1),
          "allowencodedslashes": (1, 1), "listen": (1, 2), "include": (1, 1),
          "includeoptional": (1, 1), "serverroot": (1, 1), "define": (1, 2), "undefine": (1, 1),
          "alias": (1, 2), "aliasmatch": (2, 2), "scriptalias": (1, 2), "scriptaliasmatch": (2, 2),
          "redirect": (1, 3), "redirectmatch": (2, 3), "redirecttemp": (2, 2),
          "redirectpermanent": (2, 2), "proxypassreverse": (1, 3)}
_FLAGS = {"rewriteengine", "proxypreservehost", "proxyrequests", "sslproxyengine", "proxyaddheaders"}
_UNDEFINED = re.compile(r"\$\{[^}:]*\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_DIGITS = re.compile(r"[0-9]+")
_URL_SCHEME = re.compile(r"[A-Za-z0-9+.-]+:")       # ap_is_url
_HEADER_ACTIONS = {"set", "add", "append", "merge", "unset", "echo", "edit", "edit*", "setifempty",
                   "note"}
_REDIRECT_STATUS = {"permanent": 301, "temp": 302, "seeother": 303, "gone": 410}


# PCRE2's default PARENS_NEST_LIMIT: httpd refuses a regular expression nested deeper.
PCRE_NEST_LIMIT = 250


def check_refusals(directives: list[Directive], root: str = "") -> list[ConfigError]:
    """What httpd refuses in the expanded tree of the configuration whose entry file is `root`.

    An entry file that is neither apache2.conf/httpd.conf nor holds a <VirtualHost> is a snippet
    (as build.py models it): the including configuration may put its top level in a virtual
    host or a <Location>, so there only what httpd refuses in every context is an error.
    """
    errors: list[ConfigError] = []
    links = _symlink_stubs(directives)
    top = _UNKNOWN if _is_snippet(directives, root) else ()

    def error(message: str, span: Span) -> None:
        errors.append(ConfigError(message, span.path, span.line, span.column))

    # (directives left at this level, enclosing sections that are not transparent)
    stack: list = [(iter(directives), top)]
    pod = False           # inside a mod_perl POD block (`=pod` ... `=cut`): httpd skips the lines
    while stack:
        remaining, outer = stack[-1]
        d = next(remaining, None)
        if d is None:
            stack.pop()
            continue
        if "known" in d.extra:
            continue
        key = d.key
        if pod or key.startswith("="):
            pod = key != "=cut"
            continue
        if key == "__end__":     # mod_perl: httpd reads nothing after it at this level
            stack[-1] = (iter(()), outer)
            continue
        if not _command_name(d.name) and id(d) not in links:
            error(f"Invalid command '{d.name}': no httpd module has a directive of this name "
                  f"(httpd refuses it)", d.span)
            continue
        # A variable the files do not define (`${X}`; `${map:key}` is mod_rewrite's, not one)
        unknown = any(_UNDEFINED.search(a) for a in d.args)
        if d.block is not None and d.extra.get("section"):
            _section(d, outer, error, unknown)
            if key in ("perl", "macro"):
                continue         # a body httpd does not read as directives here
            inner = outer if key in _TRANSPARENT else (() if outer is _UNKNOWN else outer) + (d,)
            stack.append((iter(d.block), inner))
            continue
        _directive(d, outer, error, unknown)
    return errors


class _Unknown(tuple):
    """The top level of a snippet: a context that may be the server's or a directory's."""


_UNKNOWN = _Unknown()


def _is_snippet(directives: list[Directive], root: str) -> bool:
    import os

    if os.path.basename(root) in ("apache2.conf", "httpd.conf"):
        return False
    stack = [iter(directives)]
    while stack:
        d = next(stack[-1], None)
        if d is None:
            stack.pop()
        elif d.block is not None and d.key == "virtualhost":
            return False
        elif d.block is not None and d.key in _TRANSPARENT:
            stack.append(iter(d.block))
    return True


def _either(check, outer: tuple, error) -> None:
    """Run `check(in_location, report)` as httpd would read it at the server's level, and, at a
    snippet's top level, also as inside a <Location>: an error only if both refuse it."""
    if outer is not _UNKNOWN:
        check(_innermost(outer, ("location", "locationmatch", "proxy", "proxymatch")) is not None,
              error)
        return
    found: list = []
    check(False, lambda *a: found.append(a))
    if found:
        check(True, lambda *a: found.append(a) if len(found) < 2 else None)
        if len(found) > 1:
            error(*found[0])


def _regex(d: Directive, index: int, error, pattern: Optional[str] = None) -> None:
    if index >= len(d.args):
        return
    problem = regex_problem(d.args[index] if pattern is None else pattern)
    if problem:
        error(f"{d.name}: cannot compile the regular expression: {problem}", d.arg_span(index))


def regex_problem(pattern: str) -> Optional[str]:
    """Unbalanced or too deeply nested parentheses (what PCRE refuses before anything else)."""
    if "(?x" in pattern or "\\Q" in pattern:
        return None     # extended mode comments, \Q...\E quoting: not followed here
    depth = deepest = 0
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "^":
                i += 1
            if pattern[i + 1:i + 2] == "]":   # `[]a]`: a leading ']' is literal
                i += 1
        elif c == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif c == ")":
            if depth == 0:
                return "unmatched closing parenthesis"
            depth -= 1
        i += 1
    if deepest > PCRE_NEST_LIMIT:
        return f"parentheses are nested more than {PCRE_NEST_LIMIT} deep (PCRE's limit)"
    if depth:
        return "missing closing parenthesis"
    return None


def _symlink_stubs(directives: list[Directive]) -> set:
    """ids of directives that are a whole file holding only a path: git keeps a symbolic link
    as such a file, and a checkout without symlinks (or a copied tree) leaves it as text
    (`mods-enabled/dav.load` holding `../mods-available/dav.load`). On the server it is a link."""
    from .expand import every

    per_file: dict = {}
    for d in every(directives):
        per_file.setdefault(d.span.path, []).append(d)
    return {id(ds[0]) for ds in per_file.values()
            if len(ds) == 1 and not ds[0].args and "/" in ds[0].name and ":" not in ds[0].name
            and ds[0].block is None and "use" not in ds[0].extra}


def _command_name(name: str) -> bool:
    return "${" in name or bool(_NAME.fullmatch(name))


def _innermost(outer: tuple, keys) -> Optional[Directive]:
    return next((s for s in reversed(outer) if s.key in keys), None)


def _section(d: Directive, outer: tuple, error, unknown: bool) -> None:
    key = d.key
    if key == "virtualhost" and outer:
        error(f"<{d.name}> cannot occur within <{outer[-1].name}> section", d.span)
    elif key in _SERVER_SECTIONS and _innermost(outer, _DIR_SECTIONS) is not None:
        error(f"<{d.name}> cannot occur within <{_innermost(outer, _DIR_SECTIONS).name}> section "
              f"(only at the top level or in a <VirtualHost>)", d.span)
    elif key in _DIRECTORY_ONLY_SECTIONS and outer is not _UNKNOWN and \
            _innermost(outer, _DIR_SECTIONS | _REQUIRE_SECTIONS) is None:
        where = f"<{outer[-1].name}>" if outer else "the server's level"
        error(f"<{d.name}> not allowed here: it belongs in a <Directory>, <Location>, <Files>, "
              f"<Proxy> or <If> section, not at {where}", d.span)
    elif key in ("files", "filesmatch"):
        location = _innermost(outer, ("location", "locationmatch"))
        if location is not None:
            error(f"<{d.name}> cannot occur within <{location.name}> section", d.span)
    if key in _NEEDS_ARGUMENTS and not d.args and d.name:
        error(f"<{d.name}> directive requires additional arguments", d.span)
    elif key == "else" and d.args:
        error(f"<{d.name}> does not take an argument", d.span)
    if unknown:
        return
    if key in ("locationmatch", "directorymatch", "filesmatch", "proxymatch") and d.args:
        _regex(d, 0, error)
    elif key in ("location", "directory", "files", "proxy") and len(d.args) > 1 and d.args[0] == "~":
        _regex(d, 1, error)
    if key == "virtualhost":
        for arg, span in zip(d.args, d.arg_spans):
            port = _address_port(arg)
            if port is not None and not 1 <= port <= 65535:
                error(f"<{d.name}> {arg}: the address or port is invalid (a port is 1-65535)", span)


def _address_port(arg: str) -> Optional[int]:
    """The port of `host:port` / `[v6]:port` when written in ASCII digits, else None."""
    m = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*):([0-9]+)", arg)
    return small_int(m.group(2)) if m else None


def _directive(d: Directive, outer: tuple, error, unknown: bool) -> None:
    """`unknown`: an argument holds a variable no file defines (the environment may: httpd
    substitutes it before splitting the line), so only where the directive is is checked."""
    key, args = d.key, d.args
    section = _innermost(outer, _DIR_SECTIONS)
    if key in _SERVER_ONLY and section is not None:
        error(f"{d.name} not allowed here: it cannot occur within <{section.name}> section",
              d.span)
        return
    if key in _DIRECTORY_ONLY and outer is not _UNKNOWN and \
            _innermost(outer, _DIR_SECTIONS | _REQUIRE_SECTIONS) is None:
        where = f"<{outer[-1].name}>" if outer else "the server's level"
        error(f"{d.name} not allowed here: it belongs in a <Directory>, <Location>, <Files>, "
              f"<Proxy> or <If> section, not at {where}", d.span)
        return
    if key == "listen" and outer:
        error(f"{d.name} cannot occur within <{outer[-1].name}> section (only at the top level)",
              d.span)
        return
    if unknown:
        return
    arity = _ARITY.get(key)
    if arity is not None:
        least, most = arity
        # httpd's TAKE1, TAKE12, ...: the required words must not be empty ("" is no word)
        if len(args) < least or (most is not None and len(args) > most) or "" in args[:least]:
            error(f"{d.name} takes {_count(least, most)}, not {len(args)}", d.span)
            return
    if key in ("define", "undefine") and ":" in args[0]:
        error(f"{d.name} {args[0]}: a variable name must not contain ':'", d.arg_span(0))
    elif key in _FLAGS:   # httpd reads the first word only (a trailing `# comment` is ignored)
        if not args or args[0].lower() not in ("on", "off"):
            error(f"{d.name} must be On or Off", d.span)
    elif key == "allowencodedslashes":
        if args[0].lower() not in ("on", "off", "nodecode"):
            error(f"{d.name} must be On, Off, or NoDecode", d.arg_span(0))
    elif key == "listen":
        _listen(d, outer, error)
    elif key in ("proxypass", "proxypassmatch", "proxypassreverse"):
        _proxy_pass(d, outer, error)
        in_location = _innermost(outer, ("location", "locationmatch", "proxy", "proxymatch"))
        if key != "proxypassreverse" and in_location is None and outer is not _UNKNOWN:
            regex = [i for i, a in enumerate(args) if a != "~"][:1]
            if regex and (key == "proxypassmatch" or regex[0] > 0):
                _regex(d, regex[0], error)
    elif key in ("aliasmatch", "scriptaliasmatch"):
        _regex(d, 0, error)
    elif key in ("redirect", "redirectmatch", "redirecttemp", "redirectpermanent"):
        reported: list = []

        def redirect(in_directory: bool, report) -> None:
            problem = _redirect_problem(d, in_directory)
            if problem:
                report(f"{d.name}: {problem}", d.span)

        def note(*found) -> None:
            reported.append(found)
            error(*found)

        if outer is _UNKNOWN:
            _either(redirect, outer, note)
        else:
            redirect(_innermost(outer, _DIR_SECTIONS - {"limit", "limitexcept"}) is not None, note)
        if not reported and key == "redirectmatch":
            first = args[0].lower()
            status = first in _REDIRECT_STATUS or first[:1] in tuple("0123456789")
            _regex(d, 1 if status and len(args) > 2 else 0, error)
    elif key in ("rewriterule", "rewritecond"):
        problem = _rewrite_problem(d)
        if problem:
            error(f"{d.name}: {problem}", d.span)
        elif key == "rewriterule":
            _regex(d, 0, error, args[0][1:] if args[0].startswith("!") else args[0])
        elif args[0].lower() != "expr":
            pattern = args[1][1:] if args[1].startswith("!") else args[1]
            if pattern[:1] not in ("-", "<", ">", "=") or len(pattern) < 2:
                _regex(d, 1, error, pattern)
    elif key in ("header", "requestheader"):
        problem = _header_problem(d)
        if problem:
            error(f"{d.name}: {problem}", d.span)
        else:
            at = next(i for i, a in enumerate(args) if a.lower() in _HEADER_ACTIONS)
            if args[at].lower() in ("edit", "edit*"):
                _regex(d, at + 2, error)


def _count(least: int, most: Optional[int]) -> str:
    words = {1: "one", 2: "two", 3: "three"}
    if most is None:
        return f"{words.get(least, least)} or more arguments"
    if least == most:
        return f"{words.get(least, least)} argument{'s' if least != 1 else ''}"
    return f"{words.get(least, least)} to {words.get(most, most)} arguments"


def _listen(d: Directive, outer: tuple, error) -> None:
    spec = d.args[0]
    problem = _listen_problem(spec)
    if problem:
        error(f"{d.name} {spec}: {problem}", d.arg_span(0))


def _listen_problem(spec: str) -> Optional[str]:
    """What apr_parse_addr_port and httpd's Listen refuse (without resolving host names)."""
    if _DIGITS.fullmatch(spec):
        return None if 1 <= small_int(spec) <= 65535 else "invalid port (a port is 1-65535)"
    m = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*):([^:\]]*)", spec)
    if m is None:
        if re.fullmatch(r"\[[^\]]*\]|[^:\[\]]+", spec):
            return "a port must be specified (in ASCII digits)"
        if ":" in spec and not spec.startswith("["):   # a bare IPv6 address: no port
            return "a port must be specified (write [address]:port)"
        return "invalid address or port"
    host, port = m.groups()
    if not host or host == "[]":
        return "invalid address or port (no host before ':')"
    if not _DIGITS.fullmatch(port) or not 1 <= int(port) <= 65535:
        return "invalid port (a port is ASCII digits, 1-65535)"
    return None


def _proxy_pass(d: Directive, outer: tuple, error) -> None:
    key, args = d.key, d.args
    refused = _innermost(outer, ("directory", "directorymatch", "files", "filesmatch", "if",
                                 "elseif", "else"))
    if refused is not None:
        error(f"{d.name} cannot occur within <{refused.name}> section", d.span)
        return
    limit = _innermost(outer, ("limit", "limitexcept"))
    if limit is not None:
        error(f"{d.name} cannot occur within <Limit> or <LimitExcept> section", d.span)
        return
    _either(lambda in_location, report: _proxy_pass_arguments(d, in_location, report), outer, error)


def _proxy_pass_arguments(d: Directive, in_location: bool, error) -> None:
    key, args = d.key, d.args
    if key == "proxypassreverse":
        second = args[1] if len(args) > 1 else None
        if not in_location and (second is None or second.lower() == "interpolate"):
            error(f"{d.name} needs a path when not defined in a location", d.span)
        elif in_location and second is not None and second.lower() != "interpolate":
            error(f"{d.name} can not have a path when defined in a location", d.span)
        return
    words = list(args)
    target = None
    if not in_location:
        while words and words[0] == "~":
            if key == "proxypassmatch":
                error(f"{d.name}: invalid syntax ('~' usage)", d.span)
                return
            words.pop(0)
        words = words[1:]       # the path
    if words:
        target, words = words[0], words[1:]
    for word in words:
        if word.lower() in ("nocanon", "interpolate", "noquery"):
            continue
        if "=" not in word:
            if in_location and target.startswith("/"):
                error(f"{d.name} can not have a path when defined in a location (the "
                      f"<Location> is the path: write `{d.name} URL`)", d.span)
            else:
                error(f"{d.name}: invalid parameter '{word}': parameters are in the form "
                      f"'key=value'", d.span)
            return
    if target is None:
        error(f"{d.name} needs a path and a URL when not defined in a location", d.span)
        return
    url = target
    if url.lower().startswith("unix:"):
        if "|" not in url:
            error(f"{d.name} uses an invalid \"unix:\" URL (unix:/path|http://host/)", d.span)
            return
        url = url.split("|", 1)[1]
    if url != "!" and not re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url):
        error(f"{d.name} URL must be absolute: {target}", d.span)


def _redirect_problem(d: Directive, in_directory: bool) -> Optional[str]:
    """mod_alias's add_redirect_internal, for the argument combinations it refuses."""
    arg1, arg2, arg3 = (list(d.args) + [None, None])[:3]
    status = 301 if d.key == "redirectpermanent" else 302
    first = arg1.lower()
    if first in _REDIRECT_STATUS:
        status = _REDIRECT_STATUS[first]
        grok = -1 if first == "gone" else 1
    elif arg1[:1] and arg1[:1] in "0123456789":
        status = _atoi(arg1)
        grok = 1 if 300 <= status <= 399 else -1
    else:
        grok = 0
    if arg3 is not None and not grok:
        return "invalid first argument (of three): a status (permanent, temp, seeother, gone, 3xx)"
    if in_directory and ((grok > 0 and arg2 is not None and arg3 is None)
                         or (not grok and arg2 is None) or (grok < 0 and arg2 is None)):
        return None            # the URL is an expression (not checked), or a status alone
    url = arg2 if arg3 is None and not grok else arg3
    if 300 <= status <= 399:
        if url is None:
            return "the URL to redirect to is missing"
        if d.key != "redirectmatch" and not _URL_SCHEME.match(url) and not url.startswith("/"):
            return f"redirect to non-URL '{url}'"
    elif url is not None:
        return f"a URL is not valid for status {status}"
    return None


def _atoi(text: str) -> int:
    m = re.match(r"[0-9]+", text)
    return small_int(m.group(0)) if m else 0


def _rewrite_problem(d: Directive) -> Optional[str]:
    args = d.args
    if any(a.endswith("\\") for a in args):
        return None   # mod_rewrite splits `\ ` differently from other directives: not checked
    if len(args) < 2:
        return "bad argument line: at least two arguments required"
    if len(args) < 3:
        return None
    field = args[2]
    if len(field) < 2 or not (field.startswith("[") and field.endswith("]")):
        return "bad flag delimiters: flags are written in brackets, as in [L,R=301]"
    for item in field[1:-1].split(","):
        name, sep, value = item.strip(" \t\n\v\f\r").partition("=")
        problem = (_rule_flag if d.key == "rewriterule" else _cond_flag)(name, value if sep else "")
        if problem:
            return problem
    return None


def _cond_flag(name: str, value: str) -> Optional[str]:
    if name.lower() in ("nocase", "nc", "ornext", "or", "novary", "nv"):
        return None
    return f"unknown flag '{name}'"


# mod_rewrite's cmd_rewriterule_setflag: the first letter, then the rest of the name.
_RULE_FLAGS = {
    "b": ("", "ackrefescaping", "ne", "np", "ackrefernoplus", "ctls"),
    "c": ("", "hain", "o", "ookie"), "e": ("", "nv", "nd"), "f": ("", "orbidden"),
    "g": ("", "one"), "h": ("", "andler"), "l": ("", "ast"),
    "n": ("e", "oescape", "", "ext", "s", "osubreq", "c", "ocase"), "p": ("", "roxy", "t", "assthrough"),
    "q": ("sa", "sappend", "sd", "sdiscard", "sl", "slast"), "r": ("", "edirect"),
    "s": ("", "kip"), "t": ("", "ype"), "u": ("nsafeprefixstat", "nsafeallow3f", "nc"),
}


def _rule_flag(name: str, value: str) -> Optional[str]:
    first, rest = name[:1].lower(), name[1:].lower()
    if first == "d":
        return None             # httpd accepts any flag starting with D (as DPI)
    if first not in _RULE_FLAGS or rest not in _RULE_FLAGS[first]:
        return f"unknown flag '{name}'"
    if first == "b" and rest == "ne" and not value:
        return "flag 'BNE' wants a list of characters (i.e. [BNE=...])"
    if first == "r" and value[:1] in "0123456789" and value:
        status = _atoi(value)
        if status != 500 and not _known_status(status):
            return f"invalid HTTP response code '{value}' for flag 'R'"
    return None


def _known_status(status: int) -> bool:
    """Whether httpd has a status line for `status` (ap_index_of_response, 2.4)."""
    return (100 <= status <= 103 or 200 <= status <= 208 or status == 226 or 300 <= status <= 308
            or 400 <= status <= 418 or 421 <= status <= 424 or status in (426, 428, 429, 431, 451)
            or 500 <= status <= 508 or status in (510, 511))


def _header_problem(d: Directive) -> Optional[str]:
    """mod_headers's header_cmd / header_inout_cmd."""
    words = list(d.args)
    if d.key == "header" and words and words[0].lower() in ("always", "onsuccess"):
        words.pop(0)
    if len(words) > 5:
        return "too many arguments"
    action, header, value, subs, clause = (words + [None] * 5)[:5]
    action = (action or "").lower()
    if action not in _HEADER_ACTIONS:
        return ("first argument must be 'add', 'set', 'setifempty', 'append', 'merge', 'unset', "
                "'echo', 'note', 'edit', or 'edit*'")
    if action in ("edit", "edit*"):
        if subs is None:
            return f"{action} requires a header name, a match and a substitution"
    else:
        if clause is not None:
            return "too many arguments"
        clause = subs
    if action in ("unset", "echo"):
        if value is not None:
            if clause is not None:
                return f"{action} takes a header name and an optional condition"
            clause = value
        if action == "echo" and d.key != "header":
            return "echo is only valid with Header"
    elif value is None:
        return f"{action} requires a header name and a value"
    if clause is not None:
        lowered = clause.lower()
        if lowered == "early" or lowered.startswith("expr="):
            return None
        if lowered.startswith("env="):
            if clause[4:] in ("", "!"):
                return "missing environment variable name: env=NAME"
            return None
        return f"unknown parameter '{clause}' (a condition is early, env=NAME or expr=...)"
    return None
