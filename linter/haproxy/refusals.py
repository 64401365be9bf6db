"""What haproxy refuses in the rules the model reads: options without their values.

HAProxy checks every keyword's arguments when it parses the line (`haproxy -c`: "error detected
in frontend 'fe' while parsing 'http-request return' rule : 'hdr' expects <name> and <value> as
arguments"). The front end does not know every keyword, but the model reads these rules, so a
malformed one must be an error rather than a guess (verified with haproxy 2.6):

- `http-request|http-response return|deny|tarpit` (and `http-after-response` where it has them):
  `hdr` needs a name and a value; `status`, `deny_status`, `content-type`, `string`,
  `lf-string`, `file`, `lf-file`, `errorfile`, `errorfiles` need a value;
- `http-request auth realm` needs the realm;
- `set-header` / `add-header` take exactly a name and a value, `del-header` at least a name;
- `redirect` (and `http-request|http-response redirect`) needs `location`, `prefix` or `scheme`
  with its value, and a `code` among 301, 302, 303, 307 and 308.

Only the words before the rule's `if`/`unless` count. Lines inside `.if` blocks the linter
could not decide are not checked (haproxy may never read them).
"""
from __future__ import annotations

from linter.syntax import ConfigError, Directive

_RULES = frozenset({"http-request", "http-response", "http-after-response"})
_ANSWERS = frozenset({"return", "deny", "tarpit"})
_VALUES = {"status": "a status code", "deny_status": "a status code", "content-type": "a content type",
           "string": "a string", "lf-string": "a log-format string", "file": "a file name",
           "lf-file": "a file name", "errorfile": "a file name", "errorfiles": "the name of an http-errors section"}
_REDIRECT_CODES = frozenset({"301", "302", "303", "307", "308"})
_PROXY_SECTIONS = frozenset({"defaults", "frontend", "backend", "listen"})


def check(directives: list[Directive]) -> list[ConfigError]:
    errors: list[ConfigError] = []
    for section in directives:
        if section.name not in _PROXY_SECTIONS:
            continue
        for d in section.block or ():
            if d.extra.get("if"):
                continue
            errors += _check_rule(d)
    return errors


def _words(d: Directive) -> list[str]:
    condition = d.extra.get("condition")
    return list(d.args[:condition.index]) if condition is not None else list(d.args)


def _check_rule(d: Directive) -> list[ConfigError]:
    w = _words(d)
    if d.name == "redirect":
        return _redirect(d, w, 0, "redirect")
    if d.name not in _RULES or not w:
        return []
    action = w[0]
    if action in _ANSWERS:
        return _answer(d, w)
    if action == "auth":
        if "realm" in w and w.index("realm") == len(w) - 1:
            return [_error(d, len(w) - 1, f"{d.name} auth: 'realm' needs a value (the realm)")]
        return []
    if action in ("set-header", "add-header") and len(w) != 3:
        return [_error(d, 0, f"{d.name} {action} takes exactly 2 arguments, a header name and a "
                              f"value (found {len(w) - 1})")]
    if action == "del-header" and len(w) < 2:
        return [_error(d, 0, f"{d.name} del-header needs at least the name of the header")]
    if action == "redirect":
        return _redirect(d, w[1:], 1, f"{d.name} redirect")
    return []


def _answer(d: Directive, w: list[str]) -> list[ConfigError]:
    i = 1
    while i < len(w):
        key = w[i]
        if key == "hdr":
            if i + 2 >= len(w):
                return [_error(d, i, f"{d.name} {w[0]}: 'hdr' expects <name> and <value> as "
                                     f"arguments")]
            i += 3
            continue
        if key in _VALUES:
            if i + 1 >= len(w):
                return [_error(d, i, f"{d.name} {w[0]}: '{key}' expects {_VALUES[key]} after it")]
            i += 2
            continue
        i += 1
    return []


def _redirect(d: Directive, w: list[str], offset: int, what: str) -> list[ConfigError]:
    """`redirect` options come in any order: `code 301 location /x` is fine."""
    kind = None
    i = 0
    while i < len(w):
        word = w[i]
        if word in ("location", "prefix", "scheme", "code", "set-cookie", "clear-cookie"):
            if i + 1 >= len(w):
                return [_error(d, offset + i, f"{what}: '{word}' needs a value")]
            if word == "code" and w[i + 1] not in _REDIRECT_CODES:
                return [_error(d, offset + i + 1, f"{what}: unsupported HTTP code '{w[i + 1]}' "
                                                  f"(must be one of 301, 302, 303, 307 or 308)")]
            if word in ("location", "prefix", "scheme"):
                kind = word
            i += 2
            continue
        i += 1
    if kind is None:
        return [_error(d, max(0, offset - 1), f"{what}: expects 'location', 'prefix' or 'scheme' "
                                              f"and where to redirect to")]
    return []


def _error(d: Directive, index: int, message: str) -> ConfigError:
    span = d.arg_span(index)
    return ConfigError(message, span.path, span.line, span.column)
