"""What one HAProxy rule line does, in the model's terms.

- `final_action(d, ...)`: an `http-request return|deny|tarpit|auth|redirect|reject` or a `redirect`
  line -> the `Action` of the response HAProxy makes itself (None for other rules). Verified with
  HAProxy 2.6: `return` sends only the content type it is given; a redirect has no body and no
  content type; deny, tarpit and auth send HAProxy's error page (text/html, or the errorfile's).
- `header_op(d, ...)`: an `http-response` / `http-after-response` `set-header|add-header|del-header`
  -> a `HeaderOp`. `http-response` rules never run on responses HAProxy generates (return,
  redirects, deny, its 503/504): only `http-after-response` rules (HAProxy 2.2+) do.
- `request_op(d)`: what an `http-request` rule does to the request on its way upstream (a header
  or the URI), or None.

Values keep HAProxy's log-format text, except that `%[req.hdr(name)]` (and `hdr()`, `req.fhdr()`)
becomes `$http_name`, the model's spelling of "the request header", so predictions and the
cross-server rules can read it.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from linter.haproxy.numbers import small_int
from linter.inputs import Budget, read_config
from linter.model import Action, HeaderOp
from linter.syntax import ConfigError, Span

FINAL_REQUEST_ACTIONS = {"return", "deny", "tarpit", "auth", "redirect", "reject", "silent-drop"}
RESTRICTING = {"deny", "tarpit", "auth", "reject", "silent-drop"}
URI_REWRITES = {"set-path", "set-pathq", "set-uri", "set-query", "replace-path", "replace-pathq",
                "replace-uri", "normalize-uri"}
_REQUEST_HEADER_SAMPLE = re.compile(r"%\[(?:req\.)?f?hdr\(\s*([A-Za-z0-9_-]+)\s*\)\]")


def words(d) -> list:
    """The rule's words before its `if`/`unless` condition."""
    cond = d.extra.get("condition")
    return list(d.args[:cond.index]) if cond is not None else list(d.args)


def source(d) -> str:
    return " ".join([d.name] + [_quote(a) for a in words(d)])


def _quote(arg: str) -> str:
    return f'"{arg}"' if (not arg or re.search(r"\s", arg)) else arg


def model_value(value: str, aliases: Optional[dict] = None) -> str:
    """`%[req.hdr(origin)]` -> `$http_origin`; `aliases` maps other samples that hold a request
    header (`capture.req.hdr(0)`, `var(txn.origin)`) to the header's name."""
    value = _REQUEST_HEADER_SAMPLE.sub(lambda m: "$http_" + m.group(1).lower().replace("-", "_"), value)
    for sample, header in (aliases or {}).items():
        value = value.replace(f"%[{sample}]", "$http_" + header.lower().replace("-", "_"))
    return value


def final_action(d, error_type, base_dir: str) -> Optional[tuple]:
    """(Action, extra HeaderOps) for a rule that answers the request itself; None otherwise.

    `error_type(status)` gives the content type of HAProxy's own page for that status."""
    w = words(d)
    if d.key == "redirect":
        return _redirect(d, w), []
    if d.key != "http-request" or not w or w[0].lower() not in FINAL_REQUEST_ACTIONS:
        return None
    verb = w[0].lower()
    if verb == "redirect":
        return _redirect(d, w[1:]), []
    if verb in ("reject", "silent-drop"):
        return Action("respond", d.span, status=None), []
    options = _options(w[1:])
    default = {"return": 200, "deny": 403, "tarpit": 500, "auth": 401}[verb]
    status = _int(options.get("status") or options.get("deny_status"), default)
    # Each `hdr <name> <value>` gets its own span, so rules can point at (and tell apart) each one.
    extra = [HeaderOp(name, model_value(value), "add", _hdr_span(d, index), source=f"hdr {name} {_quote(value)}")
             for name, value, index in options.get("hdr", [])]
    body = options.get("string")
    if body is None and "lf-string" in options and "%[" not in options["lf-string"]:
        body = options["lf-string"].replace("%%", "%")
    for key in ("file", "lf-file"):
        if key in options and body is None:
            body = _read(options[key], base_dir)
    content_type = options.get("content-type")
    has_payload = any(k in options for k in ("string", "lf-string", "file", "lf-file"))
    if verb == "return":
        if "errorfile" in options or "errorfiles" in options:
            content_type = None       # the file's own headers: not read here
    elif not has_payload:
        content_type = error_type(status)
    return Action("respond", d.span, status=status, body=body, content_type=content_type), extra


def _redirect(d, w: list) -> Action:
    """`redirect location|prefix|scheme <to> [code <n>] [options]`, in any order."""
    kind, target, code = "location", "", 302
    i = 0
    while i < len(w):
        word = w[i].lower()
        if word in ("location", "prefix", "scheme") and i + 1 < len(w):
            kind, target = word, w[i + 1]
        elif word == "code" and i + 1 < len(w):
            code = _int(w[i + 1], 302)
        elif word not in ("set-cookie", "clear-cookie"):
            i += 1
            continue
        i += 2
    location = {"location": target, "prefix": target + "<path>", "scheme": target + "://<host><path>"}.get(kind, target)
    return Action("redirect", d.span, status=code, location=location)


VALUE_OPTIONS = ("status", "deny_status", "content-type", "string", "lf-string", "file", "lf-file",
                 "errorfile", "errorfiles", "realm")


def _options(w: list) -> dict:
    """The options of a return/deny/tarpit/auth rule: `hdr` -> [(name, value, index)], the
    VALUE_OPTIONS -> their value, any other word -> True. An option without its value(s) ends
    the reading (haproxy refuses the rule; refusals.py says so): it never takes the place of
    the value."""
    out: dict = {}
    i = 0
    while i < len(w):
        key = w[i]
        if key == "hdr":
            if i + 2 >= len(w):
                break
            out.setdefault("hdr", []).append((w[i + 1], w[i + 2], i + 1))
            i += 3
            continue
        if key in VALUE_OPTIONS:
            if i + 1 >= len(w):
                break
            out[key] = w[i + 1]
            i += 2
            continue
        out[key] = True
        i += 1
    return out


def _hdr_span(d, index: int):
    """From `hdr` to the end of its value (`index` is the position of `hdr` in d.args)."""
    first, last = d.arg_span(index), d.arg_span(index + 2)
    return Span(first.path, first.line, first.column, last.end_line, last.end_column)


def _int(text, default: int) -> int:
    """The ASCII digits `text` starts with (haproxy reads numbers with atol: `200x` is 200),
    `default` when there are none."""
    m = re.match(r"\+?([0-9]+)", text) if isinstance(text, str) else None
    value = small_int(m.group(1)) if m else None       # more digits: haproxy's atol overflows
    return default if value is None else value


def _read(path: str, base_dir: str) -> Optional[str]:
    """The text of a `file`/`lf-file` payload, or None when it cannot be read here (it is on the
    server; or not a regular file, too big, binary: see linter.inputs.read_config)."""
    return read_payload(path, base_dir)


# haproxy loads a payload file into one buffer (tune.bufsize, 16 kB by default).
MAX_PAYLOAD = 1024 * 1024


def read_payload(path: str, base_dir: str) -> Optional[str]:
    """A file a rule sends or reads headers from, read safely (never a FIFO, a device, /proc,
    nor more than MAX_PAYLOAD bytes); None when it cannot be read here."""
    if not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    try:
        return read_config(path, Budget(MAX_PAYLOAD, MAX_PAYLOAD))
    except ConfigError:
        return None


def header_op(d, *, on_generated: bool, aliases: Optional[dict] = None) -> Optional[HeaderOp]:
    """A response header rule -> HeaderOp (no statuses or condition yet: the caller decides)."""
    w = words(d)
    if len(w) < 2:
        return None
    verb, name = w[0].lower(), w[1]
    if verb in ("set-header", "add-header") and len(w) >= 3:
        return HeaderOp(name, model_value(w[2], aliases), "set" if verb == "set-header" else "add", d.span,
                        on_proxied=True, on_generated=on_generated, source=source(d),
                        keep_empty=True)   # HAProxy sends a header whose value came out empty
    if verb == "del-header":
        return HeaderOp(name, None, "remove", d.span, on_proxied=True, on_generated=on_generated,
                        source=source(d))
    return None


def request_op(d) -> Optional[tuple]:
    """(verb, header name lower-cased or None, value) for a request-changing rule."""
    w = words(d)
    if not w:
        return None
    verb = w[0].lower()
    if verb in ("set-header", "add-header") and len(w) >= 3:
        return verb, w[1].lower(), w[2]
    if verb == "del-header" and len(w) >= 2:
        return verb, w[1].lower(), None
    if verb in URI_REWRITES:
        return verb, None, " ".join(w[1:])
    return None


def uri_reason(d, verb: str) -> str:
    effect = "normalises the request URI" if verb == "normalize-uri" else "rewrites the request URI"
    return f"`{source(d)}` {effect} before HAProxy forwards it, so the homeserver does not get the client's bytes"
