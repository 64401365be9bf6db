"""Is this file a Caddyfile? (used to pick the front end for files without a telling name)

A name settles it (`Caddyfile`, `Caddyfile.*`, `*.Caddyfile`, `*.caddy`). Otherwise we look at
the first tokens of the lines: Caddy-only directives (`reverse_proxy`, `handle_path`,
`respond`, ...), named matchers (`@api path ...`), snippets, site blocks (`example.com {`),
against the marks of the other servers: nginx statements end with `;`, Apache has `<Tags>`,
HAProxy has `frontend`/`backend`/`listen`/`defaults` sections.
"""
from __future__ import annotations

import os
import re

# Words that start a line only in Caddyfiles (nginx has try_files/root/rewrite too, with `;`).
_CADDY_ONLY = frozenset("""
    reverse_proxy handle handle_path handle_errors respond file_server encode php_fastcgi
    header_up header_down basic_auth basicauth forward_auth invoke request_body
    request_header copy_response intercept acme_server lb_policy health_uri transparent
    header_upstream
""".split())
_PORT = r"(?:\d+|\{\$[\w:.-]+\})"
_HOST = r"(?:localhost|\{\$[\w:.-]+\}|[\w*-]*(?:\.[\w*-]+)+|\[[\da-fA-F:]+\])"
_ADDRESS = rf"(?:https?://)?(?:{_HOST}(?::{_PORT})?|:{_PORT})(?:/\S*)?"
_SITE_LINE = re.compile(rf"^{_ADDRESS}(?:,?\s+{_ADDRESS})*,?\s*\{{$")
_BARE_ADDRESS = re.compile(rf"^(?:https?://\S+|localhost(?::\d+)?|{_ADDRESS}:\d+|"
                           rf"[\w-]+(?:\.[\w-]+)+)$")
_MATCHER_LINE = re.compile(r"^@[\w-]+(\s|$)")
_SNIPPET_LINE = re.compile(r"^&?\([\w.-]+\)\s*\{$")
_APACHE_TAG = re.compile(r"^</?(virtualhost|directory|directorymatch|location|locationmatch|"
                         r"files|filesmatch|ifmodule|ifdefine|ifversion|iffile|ifdirective|"
                         r"ifsection|if|elseif|else|proxy|proxymatch|macro|limit|limitexcept|"
                         r"require(all|any|none))[\s>]", re.I)
_HAPROXY_SECTION = re.compile(r"^(frontend|backend|listen|defaults|global|userlist|resolvers)"
                              r"(\s|$)")
# Caddy 1 words; without a trailing `;` (nginx has a `gzip on;`)
_CADDY_V1 = frozenset(("proxy", "fastcgi", "gzip"))
_NGINX_BLOCK = re.compile(r"^(server|location|http|events|upstream|stream|map|if)\b[^{]*\{$")


def looks_like_caddy(text: str, path: str) -> bool:
    name = os.path.basename(path).lower()
    if name == "caddyfile" or name.startswith("caddyfile.") or name.endswith(
            (".caddyfile", ".caddy")):
        return True
    caddy = other = semicolons = lines = 0
    for raw in text.splitlines()[:400]:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        lines += 1
        first = line.split(None, 1)[0]
        if line.endswith(";"):
            semicolons += 1
            continue
        if lines == 1 and (line == "{" or _BARE_ADDRESS.match(line)):
            caddy += 1  # a global options block or the address line of a brace-less site
        elif _APACHE_TAG.match(line) or _HAPROXY_SECTION.match(line) \
                or _NGINX_BLOCK.match(line):
            other += 1
        elif first in _CADDY_ONLY or first in _CADDY_V1 or _MATCHER_LINE.match(line) \
                or _SNIPPET_LINE.match(line) or _SITE_LINE.match(line):
            caddy += 1
    if lines == 0:
        return False
    if semicolons * 4 >= lines or other > caddy:
        return False
    return caddy > 0
