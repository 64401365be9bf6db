"""Guess whether a file is nginx configuration (used by the CLI to pick a front end per file).

The strongest sign is the `;` terminator: no other supported server ends directives with it.
So the content score counts lines ending in `;` plus nginx block headers
(`server {`, `location ... {`, `upstream x {`, `http {`, `if (...) {`), and compares it with
signs of the other servers (Apache `<Tags>` and Capitalised directives, HAProxy sections, Caddy's `reverse_proxy`/
site-address blocks). The file name only breaks ties (`nginx.conf`, `sites-enabled/`, ...).

Every pattern is linear in the length of a line (no two adjacent quantifiers that can trade the
same characters): `location[ \\t]+[^\\n{]+[ \\t]*\\{` took 37 s on `location` and 4,000
spaces.
"""
from __future__ import annotations

import re

# A statement ending with `;` at the end of a line (a multi-line value ends that way too).
_STATEMENT_END = re.compile(r"""^[^#\n]*;[ \t]*(?:#[^\n]*)?$""", re.MULTILINE)
_BLOCK_HEADER = re.compile(
    r"^[ \t]*(?:(?:server|http|stream)[ \t]*\{|location[ \t]+[^\s{][^\n{]*\{|"
    r"upstream[ \t]+[\w.-]+[ \t]*\{|if[ \t]*\([^\n]*\)[ \t]*\{)", re.MULTILINE)
_APACHE = re.compile(r"^[ \t]*</?(?:VirtualHost|Directory|Location|LocationMatch|IfModule|"
                     r"Proxy|Files|FilesMatch|If|Macro)\b", re.MULTILINE | re.IGNORECASE)
# nginx directive names are lower case; Apache's (and header names in a Caddy `header` block)
# start with a capital.
_CAPITALISED = re.compile(r"^[ \t]*[A-Z](?=[A-Za-z0-9-]*[a-z])[A-Za-z0-9-]*[ \t]", re.MULTILINE)
_HAPROXY = re.compile(r"^(?:frontend|backend|defaults|global|listen)\b[^;{\n]*$", re.MULTILINE)
_CADDY = re.compile(r"^[ \t]*(?:reverse_proxy|file_server|encode|respond|handle_path|"
                    r"php_fastcgi|redir|tls)\b[^;\n]*$", re.MULTILINE)
_NAME_HINTS = frozenset({"nginx", "sites-enabled", "sites-available", "nginx.conf"})


def looks_like_nginx(text: str, path: str) -> bool:
    score = len(_STATEMENT_END.findall(text)) + 2 * len(_BLOCK_HEADER.findall(text))
    foreign = (len(_APACHE.findall(text)) + len(_CAPITALISED.findall(text))
               + len(_HAPROXY.findall(text))
               + len(_CADDY.findall(text)))
    if _named_like_nginx(path):
        return foreign == 0 or score > foreign
    return score >= 1 and score > foreign


def _named_like_nginx(path: str) -> bool:
    parts = path.replace("\\", "/").lower().split("/")
    name = parts[-1]
    return (any(part in _NAME_HINTS for part in parts) or name.startswith("nginx")
            or name.endswith((".nginx", ".nginx.conf")))
