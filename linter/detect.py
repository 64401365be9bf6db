"""Which server a configuration file is for, from its name and its content."""
from __future__ import annotations

import os
import re
from typing import Optional

SERVERS = ("nginx", "apache", "caddy", "haproxy")

# Entry files: linted first, so the files they include are linted in context, not as snippets.
ENTRY_NAMES = {"nginx.conf": "nginx", "apache2.conf": "apache", "httpd.conf": "apache",
               "haproxy.cfg": "haproxy", "Caddyfile": "caddy"}

_SKIP_EXT = {".md", ".rst", ".txt", ".json", ".yml", ".yaml", ".toml", ".py", ".sh", ".j2", ".tmpl",
             ".pem", ".crt", ".key", ".csr", ".png", ".jpg", ".gif", ".svg", ".html", ".js", ".css",
             ".gz", ".zip", ".tar", ".lock", ".orig", ".bak", ".swp", ".service", ".socket"}

_CONTENT = (
    ("apache", re.compile(r"^\s*</?(VirtualHost|Directory|Location|LocationMatch|IfModule|Proxy)\b|"
                          r"^\s*(ProxyPass|ProxyPassReverse|ServerName|DocumentRoot|LoadModule|RewriteEngine|"
                          r"AllowEncodedSlashes|ServerAlias|Header\s+(always\s+)?set)\b", re.M | re.I)),
    ("haproxy", re.compile(r"^\s*(frontend|backend|listen|defaults)(\s+\S+)?\s*$|"
                           r"^\s*(use_backend|default_backend|http-request|http-response|bind)\s", re.M)),
    ("nginx", re.compile(r"^\s*(server|http|location|upstream|events|if)\b[^\n{;]*\{|"
                         r"^\s*(proxy_pass|listen|server_name|add_header|root|include|return)\s[^\n]*;", re.M)),
    ("caddy", re.compile(r"^\s*(reverse_proxy|handle_path|handle|respond|redir|file_server|encode|"
                         r"tls|header|route|import)\b[^;\n]*$|^\S+\s*\{\s*$", re.M)),
)


def detect(path: str, text: Optional[str] = None) -> Optional[str]:
    """The server this file is for, or None when neither its name nor its content says."""
    name = os.path.basename(path)
    if name in ENTRY_NAMES:
        return ENTRY_NAMES[name]
    lower = name.lower()
    if lower.startswith("caddyfile") or lower.endswith((".caddyfile", ".caddy")):
        return "caddy"
    if lower.startswith("haproxy") and lower.endswith(".cfg"):
        return "haproxy"
    if lower == ".htaccess":
        return "apache"
    if text is None:
        text = read_text(path)
        if text is None:
            return None
    scores = {server: len(rx.findall(text)) for server, rx in _CONTENT}
    parts = set(path.replace("\\", "/").split("/"))
    if parts & {"nginx"}:
        scores["nginx"] += 3
    if parts & {"apache2", "httpd", "apache"}:
        scores["apache"] += 3
    if parts & {"haproxy"}:
        scores["haproxy"] += 3
    if parts & {"caddy"}:
        scores["caddy"] += 3
    # `;`-terminated lines are nginx's mark; Caddy and HAProxy never end lines with one.
    if re.search(r";\s*(#.*)?$", text, re.M):
        scores["caddy"] = scores["haproxy"] = 0
    best = max(scores, key=lambda s: scores[s])
    return best if scores[best] > 0 else None


def worth_walking(path: str) -> bool:
    """Whether a file found while walking a directory may be a config (cheap name checks)."""
    name = os.path.basename(path)
    if name.startswith(".") and name != ".htaccess":
        return False
    ext = os.path.splitext(name)[1].lower()
    return ext not in _SKIP_EXT


def read_text(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return None
    if b"\0" in data:
        return None
    return data.decode("utf-8", "replace")
