"""A self-contained HTML audit report: one file, inline CSS and JS, nothing fetched at view time
(a Content-Security-Policy forbids it).

For each configuration and each of its sites: the routes, what each does (proxies to what and
with which URI, answers itself, redirects, serves files), and which CORS and security headers
reach the browser when the upstream answers, when it answers with an error, when it is down
(the model's predictions, `linter.predict.outcomes`, for a GET with an Origin and for the CORS
preflight). Findings sit where they are: under the route or site whose block holds them, with a
code frame and the rule's documentation; the rest under their file. Filters by severity and by
rule hide the others.

Everything taken from a configuration is escaped (`linter.formats.clean`, then HTML escaping);
no line of a file read from outside the checked tree is quoted: no code frame, and the header
values and targets written there are not shown.
"""
from __future__ import annotations

import html
import os
import re
from typing import Optional

import linter
from linter.formats import CONFIG_ERROR_ID, TOOL_NAME, clean, rule_url
from linter.output import FRAME_WIDTH, framed_files

SEVERITIES = ("error", "warning", "info")
# Lines of context around a finding in its code frame, and the most lines of the span shown.
FRAME_CONTEXT = 2
FRAME_MAX_LINES = 8
# What the report shows of each outcome: the headers a browser acts on for CORS and security.
SECURITY_HEADERS = ("strict-transport-security", "content-security-policy", "content-security-policy-report-only",
                    "x-frame-options", "x-content-type-options", "referrer-policy", "permissions-policy",
                    "x-xss-protection", "cross-origin-opener-policy", "cross-origin-embedder-policy",
                    "cross-origin-resource-policy", "x-robots-tag")
ORIGIN = "https://app.element.io"
_WHEN = {"upstream-ok": "upstream answers", "upstream-error": "upstream error",
         "upstream-down": "upstream down", "proxy": "the proxy answers"}
_URI = {"original": "the URI as the client sent it (undecoded)",
        "replaced": "the URI decoded and normalised, the matched prefix replaced",
        "normalized": "the URI decoded and normalised",
        "variable": "a URI built at run time"}
# Paths to try as a route's sample request, after those made from its own match.
_SAMPLES = ("/_matrix/client/versions", "/_matrix/federation/v1/version", "/_matrix/key/v2/server",
            "/_synapse/client/oidc/callback", "/_synapse/admin/v1/users/x", "/.well-known/matrix/server",
            "/.well-known/matrix/client", "/")


def _e(text) -> str:
    """Configuration text for HTML: controls escaped, then HTML-escaped (quotes too)."""
    return html.escape(clean(str(text)), quote=True)


# -- placing findings ----------------------------------------------------------------------------


class _Places:
    """Where each finding goes: the innermost route or site whose block holds it."""

    def __init__(self):
        self.extent: dict = {}     # (real path, line, column) of a directive -> (real path, first, last line)
        self._reals: dict = {}

    def real(self, path: Optional[str]) -> str:
        if path is None:
            return ""
        if path not in self._reals:
            self._reals[path] = os.path.realpath(path) if path not in ("-", "") else path
        return self._reals[path]

    def index(self, tree) -> None:
        def walk(directives) -> dict:
            ends: dict = {}      # real path -> last line seen in these directives (and below)
            for d in directives:
                path = self.real(d.span.path)
                last = {path: max(d.span.end_line, d.span.line)}
                if d.block:
                    for p, line in walk(d.block).items():
                        last[p] = max(last.get(p, 0), line)
                self.extent[(path, d.span.line, d.span.column)] = (path, d.span.line, last[path])
                for p, line in last.items():
                    ends[p] = max(ends.get(p, 0), line)
            return ends
        walk(getattr(tree, "directives", None) or [])

    def of(self, span) -> Optional[tuple]:
        if span is None:
            return None
        path = self.real(span.path)
        return self.extent.get((path, span.line, span.column)) or (path, span.line, max(span.end_line, span.line))


def _inside(extent: Optional[tuple], finding) -> bool:
    if extent is None:
        return False
    path, first, last = extent
    return path == finding[0] and first <= finding[1] <= last


# -- the page ----------------------------------------------------------------------------------------


class _Page:
    def __init__(self, report, configs: list):
        self.report = report
        self.configs = [c for c in configs if c is not None]
        self.framed = framed_files(report)
        self.places = _Places()
        self.outside = {self.places.real(p) for p in getattr(report, "outside", ())}
        for c in self.configs:
            self.outside |= {self.places.real(p) for p in getattr(c.tree, "outside", ())}
        self.framed_real = {self.places.real(p) for p in self.framed} - self.outside
        self._lines: dict = {}
        self._docs: dict = {}
        self.placed: set = set()       # indexes of findings already shown
        self.where = [(self.places.real(f.span.path), f.span.line) for f in report.findings]
        self.counter = 0

    # -- text helpers --

    def quotable(self, span) -> bool:
        return span is None or self.places.real(span.path) not in self.outside

    def source(self, path: str) -> list:
        real = self.places.real(path)
        if real not in self._lines:
            self._lines[real] = []
            if real in self.framed_real:
                from linter.formats import _lines

                self._lines[real] = _lines(path)
        return self._lines[real]

    def frame(self, path: str, line: Optional[int], column: Optional[int] = None,
              end_line: Optional[int] = None, end_column: Optional[int] = None) -> str:
        """A code frame of a few lines around [line:column, end_line:end_column); '' for a file
        outside the checked tree or one that cannot be read."""
        lines = self.source(path)
        if not line or not lines or not (1 <= line <= len(lines)):
            return ""
        end_line = min(max(end_line or line, line), len(lines), line + FRAME_MAX_LINES - 1)
        first, last = max(1, line - FRAME_CONTEXT), min(len(lines), end_line + FRAME_CONTEXT)
        width = len(str(last))
        rows = []
        for n in range(first, last + 1):
            text = lines[n - 1].rstrip("\r").expandtabs(1)
            hl = line <= n <= end_line
            if n == line and column:
                start = max(column, 1)
                stop = end_column if end_line == line and end_column and end_column > start else len(text) + 1
                shown = self._marked(text, start, stop)
            else:
                shown = _e(text[:FRAME_WIDTH]) + ("…" if len(text) > FRAME_WIDTH else "")
            rows.append(f'<span class="ln{" hl" if hl else ""}"><span class="no">{n:>{width}}</span> {shown}</span>')
        return '<pre class="frame">' + "".join(rows) + "</pre>"

    @staticmethod
    def _marked(text: str, start: int, stop: int) -> str:
        from linter.output import _window

        start = min(start, len(text) + 1)
        stop = max(min(stop, len(text) + 1), start)
        cut, start, stop = _window(text, start, stop)
        before, span, after = cut[:start - 1], cut[start - 1:stop - 1], cut[stop - 1:]
        return f"{_e(before)}<mark>{_e(span)}</mark>{_e(after)}"

    def docs(self, rule) -> str:
        if rule.code not in self._docs:
            self._docs[rule.code] = markdown(rule.docs or rule.summary or rule.slug)
        return self._docs[rule.code]

    # -- findings --

    def finding(self, index: int) -> str:
        f = self.report.findings[index]
        self.placed.add(index)
        s = f.span
        url = rule_url(f.rule)
        depends = ""
        if f.unless:
            items = "".join(f"<li>{_e(u.what)} at <code>{_e(u.span)}</code></li>" for u in f.unless)
            depends = f'<div class="depends">Depends on what the linter could not see:<ul>{items}</ul></div>'
        link = f' · <a href="{_e(url)}" rel="noreferrer">online</a>' if url else ""
        return (f'<div class="finding sev-{f.severity}" data-severity="{f.severity}" data-rule="{_e(f.rule.code)}">'
                f'<div class="head"><span class="badge {f.severity}">{f.severity}</span> '
                f'<span class="code">{_e(f.rule.code)}</span> <span class="slug">{_e(f.rule.slug)}</span> '
                f'<span class="where">{_e(s)}</span></div>'
                f'<p class="message">{_e(f.message)}</p>'
                f'{self.frame(s.path, s.line, s.column, s.end_line, s.end_column)}{depends}'
                f'<details class="docs"><summary>About {_e(f.rule.code)} <code>{_e(f.rule.slug)}</code>{link}'
                f'</summary>{self.docs(f.rule)}</details></div>')

    def error(self, e) -> str:
        where = _e(e.path) + (f":{e.line}:{e.column or 1}" if e.line else "")
        return (f'<div class="finding sev-error config-error" data-severity="error" data-rule="{CONFIG_ERROR_ID}">'
                f'<div class="head"><span class="badge error">error</span> <span class="code">configuration error'
                f'</span> <span class="where">{where}</span></div><p class="message">{_e(e.message)}</p>'
                f'{self.frame(e.path, e.line, e.column or 1, e.line, (e.column or 1) + 1)}</div>')

    def findings_block(self, indexes: list, title: str = "") -> str:
        if not indexes:
            return ""
        head = f'<h4 class="group">{title}</h4>' if title else ""
        return f'<div class="findings">{head}' + "".join(self.finding(i) for i in indexes) + "</div>"

    def unplaced_in(self, extent_test) -> list:
        return [i for i, where in enumerate(self.where) if i not in self.placed and extent_test(where)]

    # -- model --

    def site(self, config, site, number: int) -> str:
        names = ", ".join(_e(n) for n in site.names) or "<em>(no name: every host)</em>"
        if not self.quotable(site.span):
            names = "<em>(written in a file outside the checked tree)</em>"
        listens = ", ".join(f"{_e(l.address or '*')}:{_e(l.port)}{' TLS' if l.tls else ''}"
                            f"{' default' if l.default else ''}" for l in site.listens) or "not stated"
        routes = list(site.routes)
        extents = [self.places.of(r.span) for r in routes]
        site_extent = self.places.of(site.span)
        # Findings of each route: the innermost route block that holds them.
        owned: dict = {}
        for i, where in enumerate(self.where):
            if i in self.placed:
                continue
            holders = [k for k, ext in enumerate(extents) if _inside(ext, where)]
            if holders:
                best = min(holders, key=lambda k: (extents[k][2] - extents[k][1], -extents[k][1]))
                owned.setdefault(best, []).append(i)
        rows = []
        for k, route in enumerate(routes):
            rows.append(self.route(site, route, owned.get(k, [])))
        site_findings = self.unplaced_in(lambda where: _inside(site_extent, where))
        where = f' <span class="where">{_e(site.span)}</span>' if site.span else ""
        body = (f'<table class="routes"><thead><tr><th>Route</th><th>What it does</th>'
                f'<th>Headers the browser gets (GET with Origin)</th><th>CORS preflight (OPTIONS)</th></tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table>' if rows else '<p class="none">No routes configured.</p>')
        return (f'<article class="site" id="site-{number}"><h3>Site {names}{where}</h3>'
                f'<p class="listens">Listens on {listens}</p>'
                f'{self.findings_block(site_findings, "Findings in this site")}{body}</article>')

    def route(self, site, route, indexes: list) -> str:
        quotable = self.quotable(route.span)
        match = _e(route.match) if quotable else "<em>(not shown)</em>"
        cond = (f'<div class="cond">if {_e(route.condition.text)}</div>'
                if route.condition is not None and quotable else "")
        where = f'<div class="where">{_e(route.span)}</div>' if route.span else ""
        try:
            does = self.what_it_does(route)
        except Exception as error:          # one odd route must not cost the report
            does = f'<em>the model cannot describe this route ({_e(type(error).__name__)})</em>'
        try:
            get, preflight = self.outcomes(route)
        except Exception as error:
            get = preflight = f'<em>the model cannot predict this route ({_e(type(error).__name__)})</em>'
        row = (f'<tr class="route"><td><code>{match}</code>{cond}{where}</td><td>{does}</td>'
               f'<td>{get}</td><td>{preflight}</td></tr>')
        if indexes:
            row += f'<tr class="route-findings"><td colspan="4">{self.findings_block(indexes)}</td></tr>'
        return row

    def what_it_does(self, route) -> str:
        a = route.action
        q = self.quotable(a.span or route.span)
        hidden = "<em>(not shown)</em>"
        if a.kind == "proxy":
            text = f'Proxies to <code>{_e(a.upstream) if q else hidden}</code> with {_e(_URI.get(a.uri, a.uri))}'
            if a.uri in ("replaced", "variable") and a.uri_part is not None and q:
                text += f' (<code>{_e(a.uri_part)}</code>)'
            if a.uri_reason and q:
                text += f'<div class="why">{_e(a.uri_reason)}</div>'
        elif a.kind == "respond":
            text = f"Answers <b>{_e(a.status)}</b> itself"
            if a.content_type and q:
                text += f" as <code>{_e(a.content_type)}</code>"
            if a.body and q:
                body = a.body if len(a.body) <= 200 else a.body[:200] + "…"
                text += f'<div class="body"><code>{_e(body)}</code></div>'
        elif a.kind == "redirect":
            text = f"Redirects (<b>{_e(a.status)}</b>) to <code>{_e(a.location) if q else hidden}</code>"
        elif a.kind == "static":
            text = f"Serves files from <code>{_e(a.root) if q else hidden}</code>"
        else:
            text = "Nothing configured here: the server's default handling (static files or 404)"
        from linter.trace import matrix_reason

        reason = matrix_reason(route).get("text")
        if reason:
            text += f'<div class="matrix">{_e(reason)}</div>'
        return text

    def outcomes(self, route) -> tuple:
        from linter.predict import outcomes
        from linter.select import Request

        path = sample_path(route)
        methods = ["GET", "POST", "PUT", "DELETE"]
        if route.condition is not None and route.condition.methods:
            held = [m for m in methods + ["OPTIONS", "HEAD"] if route.condition.holds(m)]
            methods = held or methods
        method = methods[0]
        get = Request(method, "https", "matrix.example.org", 443, path, [("Origin", ORIGIN)])
        preflight = Request("OPTIONS", "https", "matrix.example.org", 443, path,
                            [("Origin", ORIGIN), ("Access-Control-Request-Method", "POST"),
                             ("Access-Control-Request-Headers", "authorization, content-type")])
        shown = f'<div class="sample">{_e(method)} <code>{_e(path)}</code></div>'
        get_cells = shown + "".join(self.outcome(o) for o in outcomes(route, get))
        if route.condition is not None and route.condition.holds("OPTIONS") is False:
            pre = '<em>a preflight takes another route</em>'
        else:
            pre = "".join(self.outcome(o) for o in outcomes(route, preflight)[:1])
        return get_cells, pre

    def outcome(self, out) -> str:
        status = _e(out.status) if out.status is not None else "?"
        heads = []
        for h in out.headers:
            name = h.name.lower()
            if not (name.startswith("access-control-") or name in SECURITY_HEADERS):
                continue
            value = _e(h.value) if self.quotable(h.span) else "<em>(not shown)</em>"
            source = ("from the upstream" if h.from_upstream or h.span is None
                      else f"{_e(os.path.basename(h.span.path))}:{h.span.line}")
            kind = "cors" if name.startswith("access-control-") else "sec"
            heads.append(f'<li class="{kind}"><code>{_e(h.name)}: {value}</code> <span class="src">{source}</span></li>')
        listed = f"<ul>{''.join(heads)}</ul>" if heads else '<div class="none">no CORS or security headers</div>'
        notes = "".join(f'<div class="note">{_e(n)}</div>' for n in out.notes[:3])
        return (f'<div class="outcome {_e(out.when)}"><div class="when">{_e(_WHEN.get(out.when, out.when))}: '
                f'<b>{status}</b></div>{listed}{notes}</div>')

    def config(self, config, number: int) -> str:
        from linter.engine import SERVER_TITLES

        self.places.index(config.tree)
        files = {self.places.real(p) for p in config.tree.files} | {self.places.real(config.tree.root)}
        sites = "".join(self.site(config, s, number * 1000 + k) for k, s in enumerate(config.sites))
        rest = self.unplaced_in(lambda where: where[0] in files)
        title = f"{_e(SERVER_TITLES.get(config.server, config.server))}: <code>{_e(config.tree.root)}</code>"
        included = [p for p in config.tree.files if p != config.tree.root]
        inc = (f'<p class="files">With {len(included)} included file{"s" if len(included) != 1 else ""}: '
               + ", ".join(f"<code>{_e(p)}</code>" for p in included[:20])
               + (" …" if len(included) > 20 else "") + "</p>") if included else ""
        return (f'<section class="config" id="config-{number}"><h2>{title}</h2>{inc}'
                f'{sites or "<p class=none>No sites in the model.</p>"}'
                f'{self.findings_block(rest, "Findings elsewhere in this configuration")}</section>')

    def render(self) -> str:
        report = self.report
        configs = "".join(self.config(c, k) for k, c in enumerate(self.configs))
        others: dict = {}
        for i, f in enumerate(report.findings):
            if i not in self.placed:
                others.setdefault(f.span.path, []).append(i)
        other = "".join(f'<section class="file"><h2>File <code>{_e(p)}</code></h2>{self.findings_block(ix)}</section>'
                        for p, ix in others.items())
        errors = ""
        if report.errors:
            errors = ('<section id="errors"><h2>Configuration errors</h2><div class="findings">'
                      + "".join(self.error(e) for e in report.errors) + "</div></section>")
        notes = ""
        internal = getattr(report, "internal", ())
        if getattr(report, "notes", ()) or internal:
            items = "".join(f"<li>{_e(n)}</li>" for n in report.notes)
            items += "".join(f'<li class="internal">internal error: {_e(e.path)}: while {_e(e.stage)}: '
                             f'{_e(e.summary)}</li>' for e in internal)
            notes = f'<section id="notes"><h2>Notes</h2><ul>{items}</ul></section>'
        return _PAGE.format(title=_e(f"{TOOL_NAME} audit"), style=_STYLE, script=_SCRIPT,
                            summary=self.summary(), filters=self.filters(),
                            body=errors + configs + other + notes, version=_e(linter.__version__))

    def summary(self) -> str:
        r = self.report
        n = len(r.findings)
        parts = [f'<span class="badge {s}">{r.count(s)} {s}</span>' for s in SEVERITIES if r.count(s)]
        text = (f"{n} finding{'s' if n != 1 else ''} {' '.join(parts)}" if n else "No findings")
        if r.errors:
            text += f", {len(r.errors)} configuration error{'s' if len(r.errors) != 1 else ''}"
        sites = sum(len(c.sites) for c in self.configs)
        return (f"{text} in {len(r.files)} file{'s' if len(r.files) != 1 else ''}; "
                f"{len(self.configs)} configuration{'s' if len(self.configs) != 1 else ''} with {sites} "
                f"site{'s' if sites != 1 else ''}.")

    def filters(self) -> str:
        r = self.report
        boxes = "".join(f'<label><input type="checkbox" class="sev-filter" value="{s}" checked> {s} '
                        f'({r.count(s) + (len(r.errors) if s == "error" else 0)})</label> ' for s in SEVERITIES)
        counts: dict = {}
        for f in r.findings:
            counts.setdefault(f.rule.code, [f.rule, 0])[1] += 1
        options = "".join(f'<option value="{_e(code)}">{_e(code)} {_e(rule.slug)} ({k})</option>'
                          for code, (rule, k) in sorted(counts.items()))
        if r.errors:
            options += f'<option value="{CONFIG_ERROR_ID}">configuration errors ({len(r.errors)})</option>'
        total = len(r.findings) + len(r.errors)
        return (f'<div id="filters">Severity: {boxes} Rule: <select id="rule-filter"><option value="">every rule'
                f'</option>{options}</select> <span id="shown-count">{total} of {total} shown</span></div>')


def sample_path(route) -> str:
    """A request path the route matches: its own prefix or exact path, the literal start of its
    regex, else a Matrix path it takes."""
    m = route.match
    own = []
    if m.kind == "exact":
        own.append(m.pattern)
    elif m.kind == "prefix":
        if m.pattern.rstrip("/") == "/_matrix":
            own.append("/_matrix/client/versions")
        own.append(m.pattern)
    elif m.kind == "regex":
        lit = re.match(r"\^?((?:[\w/.\-@!:]|\\[./-])+)", m.pattern or "")
        if lit:
            own.append(lit.group(1).replace("\\", ""))
    for path in own + list(_SAMPLES):
        try:
            if path.startswith("/") and m.matches(path):
                return path
        except Exception:       # a pattern Python cannot read
            break
    return next((p for p in own if p.startswith("/")), "/")


# -- a small Markdown renderer for the rules' docs (headings, fenced code, lists, paragraphs) -----

def _inline(text: str) -> str:
    out = []
    for k, part in enumerate(re.split(r"(`[^`]*`)", text)):
        if k % 2:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        part = html.escape(part)
        part = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", part)
        part = re.sub(r"\[([^\]]+)\]\((https?://[^)\s\"'<>]+)\)", r'<a href="\2" rel="noreferrer">\1</a>', part)
        out.append(part)
    return "".join(out)


def markdown(text: str) -> str:
    """The rule docs' Markdown as HTML: everything escaped, only links to http(s) kept."""
    text = clean(text, newlines=True)
    out, para, items = [], [], []

    def flush():
        if para:
            out.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^\s*```(\w*)\s*$", line)
        if fence:
            flush()
            code = []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                code.append(lines[i])
                i += 1
            lang = f' class="lang-{html.escape(fence.group(1))}"' if fence.group(1) else ""
            out.append(f"<pre><code{lang}>{html.escape(chr(10).join(code))}</code></pre>")
        elif re.match(r"^#{1,6} ", line):
            flush()
            level = min(len(line) - len(line.lstrip("#")) + 3, 6)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif re.match(r"^\s*[-*] ", line):
            if para:
                flush()
            items.append(re.sub(r"^\s*[-*] ", "", line))
        elif not line.strip():
            flush()
        elif items and line.startswith("  "):
            items[-1] += " " + line.strip()
        else:
            if items:
                flush()
            para.append(line.strip())
        i += 1
    flush()
    return '<div class="md">' + "".join(out) + "</div>"


def to_html(report, configs=None) -> str:
    """The audit report: `report` from `linter.engine.lint`, `configs` the models (linter.model
    Config) of the configurations it linted, in any order (default: the report's own `configs`,
    when the engine kept them); findings no model holds are listed under their file."""
    if configs is None:
        configs = getattr(report, "configs", None) or ()
    return _Page(report, list(configs)).render()


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="matrix-proxy-lint {version}">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="summary">{summary}</p>
{filters}
</header>
<main>
{body}
</main>
<footer>Written by matrix-proxy-lint {version}. Headers are the model's predictions, for a request to each route
from a web client at {origin}; they are tested against the real servers.</footer>
<script>{script}</script>
</body>
</html>
""".replace("{origin}", ORIGIN)

_STYLE = """
:root{--err:#b3261e;--warn:#8a5a00;--info:#0b5cad;--bg:#fff;--fg:#1b1b1b;--muted:#666;--line:#ddd;--code:#f5f5f5}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:var(--fg);background:var(--bg)}
header{position:sticky;top:0;background:#fafafa;border-bottom:1px solid var(--line);padding:.6em 1.2em;z-index:2}
h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.15em;margin:1.2em 0 .4em}h3{font-size:1.05em;margin:.8em 0 .3em}
main{padding:0 1.2em 2em}footer{color:var(--muted);padding:1em 1.2em;border-top:1px solid var(--line)}
[hidden]{display:none!important}
code,pre{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12.5px}
pre{background:var(--code);padding:.5em;overflow-x:auto;margin:.3em 0}
.badge{display:inline-block;padding:0 .45em;border-radius:3px;color:#fff;font-size:12px;font-weight:600}
.badge.error{background:var(--err)}.badge.warning{background:var(--warn)}.badge.info{background:var(--info)}
#filters label{margin-right:.6em;cursor:pointer}#shown-count{color:var(--muted);margin-left:.8em}
.config{border-top:2px solid #444;margin-top:1.5em}
.site{border:1px solid var(--line);border-radius:4px;padding:.2em .8em .8em;margin:.8em 0}
.where{color:var(--muted);font-size:12px;font-weight:normal}
table.routes{border-collapse:collapse;width:100%}
table.routes th,table.routes td{border:1px solid var(--line);padding:.35em .5em;vertical-align:top;text-align:left}
table.routes th{background:#f0f0f0}
tr.route-findings td{background:#fffdf5}
.outcome{margin-bottom:.4em}.outcome ul{margin:.1em 0;padding-left:1.1em}.when{font-size:12px;color:#333}
li.cors code{color:#0a4f2a}li.sec code{color:#4b2a7a}.src{color:var(--muted);font-size:11px}
.none,.note,.sample{color:var(--muted);font-size:12px}.matrix,.why,.cond{font-size:12px;color:#444}
.finding{border-left:4px solid var(--info);background:#fcfcfc;padding:.3em .7em;margin:.5em 0}
.finding.sev-error{border-color:var(--err)}.finding.sev-warning{border-color:var(--warn)}
.finding .code{font-weight:700}.finding .slug{font-family:ui-monospace,monospace;color:#444}
.message{margin:.3em 0}
pre.frame .ln{display:block}pre.frame .hl{background:#fff3c4}pre.frame .no{color:#999;user-select:none}
mark{background:#ffd54f;color:inherit}
details.docs summary{cursor:pointer;color:#333}.md{border-left:2px solid var(--line);padding-left:.8em}
.depends{font-size:12px;color:#444}
"""

_SCRIPT = """
(function () {
  'use strict';
  var boxes = Array.prototype.slice.call(document.querySelectorAll('input.sev-filter'));
  var rule = document.getElementById('rule-filter');
  var count = document.getElementById('shown-count');
  function apply() {
    var on = {};
    boxes.forEach(function (b) { on[b.value] = b.checked; });
    var wanted = rule ? rule.value : '';
    var all = document.querySelectorAll('.finding');
    var shown = 0;
    Array.prototype.forEach.call(all, function (f) {
      var visible = !!on[f.getAttribute('data-severity')] && (!wanted || f.getAttribute('data-rule') === wanted);
      f.hidden = !visible;
      if (visible) { shown += 1; }
    });
    Array.prototype.forEach.call(document.querySelectorAll('.findings'), function (g) {
      g.hidden = !g.querySelector('.finding:not([hidden])');
      var row = g.closest('tr.route-findings');
      if (row) { row.hidden = g.hidden; }
    });
    if (count) { count.textContent = shown + ' of ' + all.length + ' shown'; }
  }
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
  if (rule) { rule.addEventListener('change', apply); }
  apply();
})();
"""
