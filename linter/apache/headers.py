"""mod_headers: `Header` and `RequestHeader`, turned into the model's HeaderOps.

Apache keeps two response header tables (measured on httpd 2.4.71, see mod_headers.c):

- *onsuccess* (`Header set …`, `r->headers_out`): holds what the upstream sent. Its operations act
  on the upstream's headers (set replaces them, unset removes them) on every relayed response,
  whatever the status, and on files Apache serves; they never reach responses Apache makes itself
  (redirects, `[R=204]`, 403, 404, the 503 when the upstream is down): those start from the other
  table only.
- *always* (`Header always set …`, `r->err_headers_out`): starts empty, is sent on every response
  and is written *beside* the onsuccess table. So `Header always set X` on a proxied response whose
  upstream also sent X gives two X headers; `Header always unset X` cannot remove the upstream's.

The always table starts empty for every request, so its unconditional operations are folded here
into the entries it ends with, each an "add" HeaderOp pointing at the directive that wrote it.
Onsuccess operations stay operations (they act on headers only the upstream knows). `Content-Type`
is special: `Header [always] set Content-Type` sets the response's one content type.

Values: `expr=%{req:Origin}` (a value computed from the request header) becomes the model's
`$http_origin`, and so does `%{VAR}e` when `SetEnvIf Origin "(.*)" VAR=$1` copies the whole
header into VAR; the shared predictions and rules read those. Everything else stays as written:
mod_headers has no `%{Name}i` (it is mod_log_config's syntax; measured, it prints `i=…`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from linter.model import HeaderOp, compile_regex
from linter.syntax import Directive

# Statuses of files Apache serves itself (the only responses it makes that keep onsuccess headers).
SERVED_STATUSES = frozenset({200, 206, 304})
_ACTIONS = {"set", "add", "append", "merge", "unset", "echo", "edit", "edit*", "setifempty", "note"}


@dataclass
class HeaderLine:
    """One `Header`/`RequestHeader` directive, read the way mod_headers reads it."""

    directive: Directive
    always: bool
    action: str                  # set | add | append | merge | unset | edit | edit* | setifempty | echo | note
    name: str
    value: Optional[str]
    condition: Optional[str]     # env=… / expr=… as written (undecidable statically)
    early: bool = False
    extra_condition: Optional[str] = None   # an enclosing <If> section, as written

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def when(self) -> Optional[str]:
        parts = [c for c in (self.extra_condition, self.condition) if c]
        return " and ".join(parts) if parts else None


def read(d: Directive, extra_condition: Optional[str] = None) -> Optional[HeaderLine]:
    """The directive as mod_headers parses it; None when httpd would reject it."""
    args = list(d.args)
    always = False
    if d.key == "header" and args and args[0].lower() in ("always", "onsuccess"):
        always = args.pop(0).lower() == "always"
    if len(args) < 2 or args[0].lower() not in _ACTIONS:
        return None
    action, name = args[0].lower(), args[1].split(":", 1)[0]
    rest = args[2:]
    value = None
    if action in ("edit", "edit*"):
        if len(rest) < 2:
            return None
        value, rest = rest[0] + " -> " + rest[1], rest[2:]
    elif action not in ("unset", "echo") and rest:
        value, rest = rest[0], rest[1:]
    elif action not in ("unset", "echo"):
        return None
    condition, early = None, False
    if rest:
        clause = rest[0]
        if clause.lower() == "early":
            early = True
        elif clause.lower().startswith(("env=", "expr=")):
            condition = clause
        else:
            return None
    return HeaderLine(d, always, action, name, value, condition, early, extra_condition)


def model_value(value: Optional[str], reflected: Optional[dict] = None) -> Optional[str]:
    """The value in the model's vocabulary: request headers as `$http_name` where Apache reads one."""
    if value is None:
        return None
    if value[:5].lower() == "expr=":
        m = re.fullmatch(r"\s*%\{(?:req|http|req_novary):([A-Za-z0-9_-]+)\}\s*", value[5:], re.I)
        return "$http_" + m.group(1).lower().replace("-", "_") if m else value
    for var, header in (reflected or {}).items():
        value = value.replace("%{" + var + "}e", "$http_" + header.lower().replace("-", "_"))
    return value


def reflected_headers(directives: list) -> dict:
    """{env var: request header} for `SetEnvIf[NoCase] Header "(.*)" VAR=$1`, which copy the whole
    header (any value) into VAR. Allow-list regexes are not copies: they stay unknown."""
    out: dict = {}
    for d in directives:
        if d.key not in ("setenvif", "setenvifnocase") or len(d.args) < 3:
            continue
        header, regex = d.args[0], d.args[1]
        if regex not in ("(.*)", "^(.*)$", "(.+)", "^(.+)$", "^(.*)", "(.*)$", ".*", "^.*$", ".+"):
            continue
        for assignment in d.args[2:]:
            var, sep, val = assignment.partition("=")
            if sep and val in ("$0", "$1") and not header.lower().startswith(("remote_", "request_", "server_")):
                out[var] = header
    return out


def source(d: Directive) -> str:
    return " ".join([d.name] + [f'"{a}"' if (not a or re.search(r"\s", a)) else a for a in d.args])


def response_ops(lines: list, kind: str, reflected: Optional[dict] = None) -> list:
    """HeaderOps for one route, in the order the model applies them.

    `kind` is how the route answers: "proxy" (relayed from the upstream), "static" (a file Apache
    serves) or "generated" (a redirect, `[R=204]`, 403… that Apache makes itself). Onsuccess
    operations come first (they act on what the upstream sent), then the always table.
    """
    ops = [op for line in lines if not line.always for op in _onsuccess_ops(line, kind, reflected)]
    ops += _always_entries([line for line in lines if line.always], reflected)
    return ops


def _onsuccess_ops(line: HeaderLine, kind: str, reflected: Optional[dict] = None) -> list:
    if line.early or line.action in ("echo", "note"):
        return []
    # Relayed responses get them whatever their status; of the responses Apache makes itself,
    # only the files it serves successfully do.
    common = dict(span=line.directive.span, source=source(line.directive), condition=line.when,
                  on_proxied=True, on_generated=kind == "static",
                  statuses=SERVED_STATUSES if kind == "static" else None)
    value = model_value(line.value, reflected)
    action = line.action
    if action == "set":
        return [HeaderOp(line.name, value, "set", **common)]
    if action == "unset":
        return [HeaderOp(line.name, None, "remove", **common)]
    if action in ("add", "append"):
        # `append` joins into the existing header ("*, x"); the model has no join, so it is one
        # more value, which is what a browser sees either way.
        return [HeaderOp(line.name, value, "add", **common)]
    if action in ("merge", "setifempty"):
        cond = (f"unless {line.name} already contains `{line.value}` (Header merge)" if action == "merge"
                else f"when the response has no {line.name} (Header setifempty)")
        common["condition"] = " and ".join(c for c in (line.when, cond) if c)
        return [HeaderOp(line.name, value, "add", **common)]
    # edit / edit*: a regex replacement of a value only the response knows.
    common["condition"] = f"rewritten by `{source(line.directive)}` when it matches"
    return [HeaderOp(line.name, None, "edit", **common)]


def _always_entries(lines: list, reflected: Optional[dict] = None) -> list:
    """Fold the always table (empty at the start of every request) into what it ends with."""
    table: list = []        # [HeaderOp], each an "add" of one entry of err_headers_out
    for line in lines:
        if line.early or line.action in ("echo", "note"):
            continue
        key = line.key
        value = model_value(line.value, reflected)
        span, src = line.directive.span, source(line.directive)
        if line.when is not None:
            # Undecidable here: keep the operation itself, marked conditional.
            mode = {"set": "add", "add": "add", "append": "add", "merge": "add", "setifempty": "add",
                    "unset": "remove"}.get(line.action, "edit")
            if key == "content-type" and line.action == "set":
                mode = "set"
            table.append(HeaderOp(line.name, value if mode != "remove" else None, mode, span,
                                  condition=line.when, source=src))
            continue
        current = [op for op in table if op.key == key and op.condition is None]
        if line.action == "unset":
            table = [op for op in table if op.key != key or op.condition is not None]
        elif line.action == "set":
            table = [op for op in table if op.key != key or op.condition is not None]
            mode = "set" if key == "content-type" else "add"
            table.append(HeaderOp(line.name, value, mode, span, source=src))
        elif line.action == "add":
            table.append(HeaderOp(line.name, value, "add", span, source=src))
        elif line.action == "append":
            if current:
                joined = current[0]
                joined.value = f"{joined.value}, {value}"
                joined.source += f"; {src}"
            else:
                table.append(HeaderOp(line.name, value, "add", span, source=src))
        elif line.action == "merge":
            if current and value in [v.strip() for v in (current[0].value or "").split(",")]:
                continue
            if current:
                current[0].value = f"{current[0].value}, {value}"
            else:
                table.append(HeaderOp(line.name, value, "add", span, source=src))
        elif line.action == "setifempty":
            if not current:
                table.append(HeaderOp(line.name, value, "add", span, source=src))
        else:   # edit on entries we know: apply the regex
            _edit(current, line)
    return table


def _edit(entries: list, line: HeaderLine) -> None:
    args = line.directive.args
    at = next(i for i, a in enumerate(args) if a.lower() == line.action) + 2  # after the header name
    if at + 1 >= len(args):
        return
    pattern, replacement = args[at], args[at + 1]     # a condition may follow them
    rx = compile_regex(pattern)
    if rx is None:
        return   # PCRE may accept what Python's re does not: the edit stays unknown
    for op in entries:
        if op.value is not None:
            # None (the value unknown) when a backtracking-prone pattern runs out of time
            op.value = rx.sub(lambda m: _substitution(replacement, m), op.value,
                              count=0 if line.action == "edit*" else 1)


def _substitution(template: str, m: re.Match) -> str:
    """httpd's ap_pregsub: `&` and `$0` are the match, `$1`-`$9` its groups (ASCII digits; a
    group that did not take part is empty), a backslash makes the `$` or `&` after it literal."""
    out, i = [], 0
    while i < len(template):
        c = template[i]
        group = None
        if c == "&":
            group = 0
        elif c == "$" and i + 1 < len(template) and template[i + 1] in "0123456789":
            group = int(template[i + 1])
            i += 1
        elif c == "\\" and i + 1 < len(template) and template[i + 1] in "$&":
            i += 1
            c = template[i]
        if group is None:
            out.append(c)
        elif group <= (m.re.groups or 0):
            out.append(m.group(group) or "")
        i += 1
    return "".join(out)


def request_headers(lines: list) -> dict:
    """RequestHeader operations → {lower-cased name: value as written} sent upstream.

    Unconditional `unset` removes; conditional operations still count as sent (the forwarding
    rules ask whether the header can reach the upstream at all)."""
    out: dict = {}
    for line in lines:
        if line.action == "unset":
            if line.when is None:
                out.pop(line.key, None)
        elif line.action in ("set", "add", "append", "merge", "setifempty"):
            out[line.key] = line.value
    return out
