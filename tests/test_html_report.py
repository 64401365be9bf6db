"""The HTML audit report: self-contained, escaped, never quoting files outside the checked tree,
and working in a real headless Chromium (no console errors; the findings shown; the filters hide
what they should).

The Chromium tests skip when no `chromium` binary is installed, and fail instead under
MPL_REQUIRE_CHROMIUM=1 (CI installs Debian's `chromium`). They drive the browser through the
DevTools protocol with a small WebSocket client from the standard library.
"""
from __future__ import annotations

import base64
import html.parser
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from linter.engine import Options, Report, lint, load_config
from linter.detect import detect
from linter.formats import clean, to_html
from linter.formats.html import sample_path

REPO = Path(__file__).resolve().parent.parent
BROKEN = sorted(str(p.relative_to(REPO)) for p in REPO.glob("examples/*/*") if "broken" in p.name)


def models(paths, tree_roots=()):
    """The Config of each entry file, built as the engine builds them."""
    out = []
    for path in paths:
        config = load_config(path, detect(path), Options(), Report(), tuple(tree_roots))
        assert config is not None, path
        out.append(config)
    return out


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


@pytest.fixture
def audit(in_repo):
    report = lint(BROKEN)
    return report, to_html(report, models(BROKEN))


class _Parsed(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list = []
        self.text: list = []
        self.scripts: list = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text).append(data)


def parse(page: str) -> _Parsed:
    p = _Parsed()
    p.feed(page)
    p.close()
    return p


# -- the document ---------------------------------------------------------------------------------------


def test_the_report_is_one_self_contained_file(audit):
    report, page = audit
    doc = parse(page)
    # Nothing is loaded at view time: no external script, style sheet, image or frame, and a CSP
    # that forbids any fetch.
    for tag, attrs in doc.tags:
        assert not (tag in ("script", "img", "iframe", "link", "object", "embed", "audio", "video", "source")
                    and (attrs.get("src") or attrs.get("href") or attrs.get("data"))), (tag, attrs)
    assert ("meta", {"http-equiv": "Content-Security-Policy",
                     "content": "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
                                "img-src data:"}) in doc.tags
    assert "@import" not in page and "url(" not in page
    assert len(doc.scripts) == 1


def test_every_finding_is_shown_once_with_its_frame_and_docs(audit):
    report, page = audit
    doc = parse(page)
    findings = [a for t, a in doc.tags if "finding" in a.get("class", "").split()]
    assert len(findings) == len(report.findings) == len(set(id(f) for f in report.findings))
    assert sorted(a["data-rule"] for a in findings) == sorted(f.rule.code for f in report.findings)
    assert sorted(a["data-severity"] for a in findings) == sorted(f.severity for f in report.findings)
    text = "".join(doc.text)
    for f in report.findings:
        assert clean(f.message) in text
    # Code frames: the flagged text is marked.
    assert page.count("<mark>") == len(report.findings)
    assert '<mark>http://127.0.0.1:8008/_matrix</mark>' in page     # nginx MPL201: the proxy_pass URI
    # Rule docs in place.
    assert page.count('<details class="docs">') == len(report.findings)
    assert "What it does" in text and "Why is this bad?" in text


def test_sites_routes_and_what_reaches_the_browser(audit):
    report, page = audit
    text = " ".join("".join(parse(page).text).split())
    # Every site of the four configurations, with its routes and what each does.
    for server in ("nginx", "Apache httpd", "Caddy", "HAProxy"):
        assert f"{server}: examples/" in text
    assert "Proxies to http://127.0.0.1:8008 with the URI decoded and normalised, the matched prefix replaced" in text
    assert "Answers 204 itself" in text and "Answers 200 itself" in text
    # The headers on success, on an upstream error and with the upstream down (nginx: the
    # server-level ACAO without `always` is gone on the error; HSTS with `always` stays).
    assert "upstream answers: 200" in text and "upstream error: 500" in text and "upstream down: 502" in text
    assert "Strict-Transport-Security: max-age=31536000 broken.conf:10" in text
    assert "Access-Control-Allow-Origin: * from the upstream" in text


def test_findings_sit_in_their_route(audit):
    report, page = audit
    # nginx's MPL201 (the proxy_pass of `location /_matrix`) is in that route's findings row, right
    # after the row of the route.
    route = page.index("<code>/_matrix</code><div class=\"where\">examples/nginx/broken.conf:13:5</div>")
    row = page.index('<tr class="route-findings">', route)
    assert page.index('data-rule="MPL201"', page.index("nginx: <code>examples/nginx/broken.conf")) > row
    assert page.index('data-rule="MPL201"', row) < page.index('<tr class="route">', row)


def test_configuration_text_is_escaped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("evil.conf").write_text(
        "server {\n    listen 443 ssl;\n    server_name <script>alert(1)</script>.example.org;\n"
        "    location /_matrix {\n        proxy_pass http://127.0.0.1:8008/_matrix;\n"
        "        add_header Access-Control-Allow-Origin \"<img src=x onerror=alert(2)>\u202e\x1b[31m\";\n"
        "    }\n}\n", encoding="utf-8")
    report = lint(["evil.conf"], server="nginx")
    page = to_html(report, models(["evil.conf"]))
    doc = parse(page)
    assert [t for t, _ in doc.tags].count("script") == 1 and not any(t == "img" for t, _ in doc.tags)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "\u202e" not in page and "\x1b" not in page and "\\u202e" in page


def test_lines_of_files_outside_the_checked_tree_are_never_quoted(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "cors.conf").write_text("# SECRET-COMMENT-LINE\nadd_header X-Frame-Options SECRETVALUE always;\n"
                                         "add_header Access-Control-Allow-Origin *;\n"
                                         "proxy_pass http://secret-upstream.internal:8008/_matrix;\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    conf = tree / "nginx.conf"
    conf.write_text(f"server {{\n    listen 443 ssl;\n    server_name m.example.org;\n"
                    f"    location /_matrix {{\n        include {elsewhere}/cors.conf;\n    }}\n}}\n")
    report = lint([str(tree)])
    assert report.outside and any(f.span.path.startswith(str(elsewhere)) for f in report.findings)
    page = to_html(report, models([str(conf)], tree_roots=(str(tree),)))
    for secret in ("SECRET-COMMENT-LINE", "SECRETVALUE", "secret-upstream.internal"):
        assert secret not in page
    # The route and its findings are there, without the quoted text.
    assert "Proxies to <code><em>(not shown)</em></code>" in page
    assert 'data-rule="MPL201"' in page


def test_findings_without_a_model_are_listed_under_their_file(audit, in_repo):
    report, _ = audit
    page = to_html(report, [])
    assert page.count('class="finding ') == len(report.findings)
    for path in {f.span.path for f in report.findings}:
        assert f"File <code>{path}</code>" in page


def test_sample_path_matches_the_route():
    from linter.model import Action, Match, Route

    def route(kind, pattern):
        return Route(Match(kind, pattern), Action("proxy"))
    assert sample_path(route("prefix", "/_matrix")) == "/_matrix/client/versions"
    assert sample_path(route("exact", "/.well-known/matrix/client")) == "/.well-known/matrix/client"
    assert sample_path(route("regex", r"^(/_matrix|/_synapse/client)")) == "/_matrix/client/versions"
    assert sample_path(route("regex", r"^/foo/(bar|baz)$")) == "/foo/"     # its literal start, at least
    assert sample_path(route("any", "")) == "/_matrix/client/versions"


# -- in a real Chromium ---------------------------------------------------------------------------------


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    reason = "no chromium binary on PATH (Debian: apt-get install chromium)"
    if os.environ.get("MPL_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"MPL_REQUIRE_CHROMIUM=1 but {reason}", pytrace=False)
    pytest.skip(reason)


# How long to wait for the browser to start or answer before the test fails (a guard against a
# hang, not an assertion about speed).
PATIENCE = 120


class DevTools:
    """A minimal client of the Chrome DevTools protocol over a WebSocket (RFC 6455), enough to
    call methods and collect events."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=PATIENCE)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.split(b"\r\n")[0].split()[1] == b"101", head
        self.next_id = 0
        self.events: list = []

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send(self, opcode: int, payload: bytes) -> None:
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _message(self) -> dict:
        data = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else b""
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 0x9:                       # ping
                self._send(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the connection")
            if opcode in (0x0, 0x1, 0x2):
                data += payload
                if b0 & 0x80:
                    return json.loads(data.decode("utf-8"))

    def call(self, method: str, **params):
        self.next_id += 1
        self._send(0x1, json.dumps({"id": self.next_id, "method": method, "params": params}).encode())
        while True:
            msg = self._message()
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, event: str) -> dict:
        for msg in self.events:
            if msg["method"] == event:
                return msg
        while True:
            msg = self._message()
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == event:
                    return msg

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def console_errors(self) -> list:
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                out.append(p["exceptionDetails"].get("exception", {}).get("description")
                           or p["exceptionDetails"].get("text"))
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"{p['entry'].get('source')}: {p['entry'].get('text')}")
        return out

    def close(self):
        try:
            self._send(0x8, b"")
        finally:
            self.sock.close()


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium of our own, with its DevTools endpoint on 127.0.0.1; stopped afterwards."""
    binary = chromium_binary()
    profile = tmp_path / "profile"
    profile.mkdir()
    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + PATIENCE
        while not (active.exists() and active.read_text().count("\n") >= 1):
            if proc.poll() is not None:
                pytest.fail(f"chromium exited ({proc.returncode}): {proc.stderr.read().decode(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(active.read_text().split("\n")[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=PATIENCE) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
        client = DevTools(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            client.call(f"{domain}.enable")
        yield client
        client.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)         # the group of the browser started here
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def load(browser: DevTools, path: Path) -> None:
    browser.call("Page.navigate", url=path.resolve().as_uri())
    browser.wait_for("Page.loadEventFired")


VISIBLE = ("Array.from(document.querySelectorAll('.finding'))"
           ".filter(function (e) { return e.getClientRects().length > 0; })")


def click(browser: DevTools, selector: str) -> None:
    """A real mouse click at the element's centre."""
    box = browser.evaluate(f"(function () {{ var e = document.querySelector({json.dumps(selector)});"
                           f" e.scrollIntoView({{block: 'center'}}); var r = e.getBoundingClientRect();"
                           f" return [r.left + r.width / 2, r.top + r.height / 2]; }})()")
    for kind in ("mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)


def test_chromium_renders_the_report_and_the_filters_work(browser, audit, tmp_path):
    report, page = audit
    assert {f.server for f in report.findings} == {"nginx", "apache", "caddy", "haproxy"}
    out = tmp_path / "audit.html"
    out.write_text(page, encoding="utf-8")
    load(browser, out)
    assert browser.evaluate("document.title") == "matrix-proxy-lint audit"
    # The DOM after the scripts ran holds every finding's code and message, all visible.
    text = browser.evaluate("document.body.textContent")
    for f in report.findings:
        assert f.rule.code in text and clean(f.message) in text, f.rule.code
    total = len(report.findings)
    assert browser.evaluate(f"{VISIBLE}.length") == total
    assert browser.evaluate("document.getElementById('shown-count').textContent") == f"{total} of {total} shown"
    # Unticking "info" hides exactly the info findings.
    info = report.count("info")
    assert info and info < total
    click(browser, "input.sev-filter[value=info]")
    assert browser.evaluate("document.querySelector('input.sev-filter[value=info]').checked") is False
    assert browser.evaluate(f"{VISIBLE}.length") == total - info
    assert set(browser.evaluate(f"{VISIBLE}.map(function (e) {{ return e.dataset.severity; }})")) <= {"error",
                                                                                                     "warning"}
    assert browser.evaluate("document.getElementById('shown-count').textContent") == \
        f"{total - info} of {total} shown"
    # One rule only: its findings (not info) and nothing else; groups left empty are hidden.
    code = "MPL201"
    browser.evaluate(f"(function () {{ var s = document.getElementById('rule-filter'); s.value = '{code}';"
                     f" s.dispatchEvent(new Event('change')); }})()")
    shown = browser.evaluate(f"{VISIBLE}.map(function (e) {{ return e.dataset.rule; }})")
    assert shown == [code] * sum(1 for f in report.findings if f.rule.code == code and f.severity != "info")
    assert browser.evaluate(
        "Array.from(document.querySelectorAll('.findings')).every(function (g) {"
        " return (g.getClientRects().length > 0) === Array.from(g.querySelectorAll('.finding'))"
        ".some(function (f) { return f.getClientRects().length > 0; }); })")
    assert browser.evaluate("Array.from(document.querySelectorAll('tr.route-findings'))"
                            ".filter(function (e) { return e.getClientRects().length > 0; }).length") >= 1
    # Ticking "info" again and every rule: all back.
    click(browser, "input.sev-filter[value=info]")
    browser.evaluate("(function () { var s = document.getElementById('rule-filter'); s.value = '';"
                     " s.dispatchEvent(new Event('change')); })()")
    assert browser.evaluate(f"{VISIBLE}.length") == total
    # The rule docs open in place.
    click(browser, "details.docs > summary")
    assert browser.evaluate("document.querySelector('details.docs').open") is True
    assert browser.console_errors() == []


def test_chromium_reports_a_script_error_this_test_would_catch(browser, tmp_path):
    # The harness itself: a page with a JS exception and a blocked network load is caught.
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                   "script-src 'unsafe-inline'\"><img src=\"https://example.org/x.png\">"
                   "<script>undefinedFunction();</script>")
    load(browser, bad)
    errors = browser.console_errors()
    assert any("undefinedFunction" in e for e in errors), errors
    assert any("Content Security Policy" in e or "x.png" in e for e in errors), errors
