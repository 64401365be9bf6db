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

# Files that are never a proxy's configuration, whatever directory they sit in (a hook run
# sees everything under `nginx/` or `haproxy/`: the Dockerfile, the supervisord.conf, ...).
_NOT_CONFIG_NAMES = {"setup.cfg", "tox.ini", "supervisord.conf", "postgresql.conf", "pg_hba.conf",
                     "pg_ident.conf", "redis.conf", "sentinel.conf", "my.cnf", "turnserver.conf",
                     "makefile", "gnumakefile", "vagrantfile", "jenkinsfile", "procfile", "license",
                     "licence", "copying", "authors", "notice", "changelog", "codeowners"}
_NOT_CONFIG_PREFIXES = ("dockerfile", "containerfile", "license.", "licence.")

# Content that no nginx, Apache, Caddy or HAProxy configuration has. Each wins over any hint
# from the file's directory.
_INI_SECTION = re.compile(r"^[ \t]*\[[^\]\n]+\][ \t]*(?:[;#].*)?$")       # [section] (INI, systemd)
_KEY_VALUE = re.compile(r"^[ \t]*[A-Za-z_][\w.-]*[ \t]*=[^{};#\n]*(?:[#;].*)?$")   # key = value (postgres)
_LOGROTATE = re.compile(r"^\s*(endscript|missingok|notifempty|delaycompress|copytruncate)\s*$", re.M)
_BINARY_MAGIC = (b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b", b"PK\x03\x04", b"\x7fELF", b"%PDF",
                 b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"\x00asm", b"RIFF", b"OggS", b"wOF")

_HAPROXY_SECTION = re.compile(r"^\s*(global|defaults|frontend|backend|listen|userlist|peers|resolvers|mailers|"
                              r"program|cache|ring|http-errors|crt-store|log-forward|fcgi-app)(\s+\S+)*\s*$",
                              re.M)
_HAPROXY_BIND = re.compile(r"^\s*bind\s", re.M)

_DIRECTORY_HINTS = (("nginx", {"nginx"}), ("apache", {"apache2", "httpd", "apache"}),
                    ("haproxy", {"haproxy"}), ("caddy", {"caddy"}))
# What a file written in each server's syntax has, even when no directive gives it away.
_SHAPE = {
    "nginx": re.compile(r"^[ \t]*[A-Za-z_][\w.-]*(?:[ \t][^\n#]*)?;[ \t]*(?:#.*)?$|\{[ \t]*(?:#.*)?$", re.M),
    "apache": re.compile(r"^[ \t]*(?:</?[A-Za-z]\w*|[A-Z][A-Za-z_]+(?:[ \t]|$))", re.M),   # <Section>, Directive
    "haproxy": _HAPROXY_SECTION,
    "caddy": re.compile(r"\{[ \t]*$", re.M),
}

_MEANINGFUL = re.compile(r"^[ \t]*[^\s#]", re.M)

_CONTENT = (
    ("apache", re.compile(r"^\s*</?(VirtualHost|Directory|Location|LocationMatch|IfModule|Proxy)\b|"
                          r"^\s*(ProxyPass|ProxyPassReverse|ServerName|DocumentRoot|LoadModule|RewriteEngine|"
                          r"AllowEncodedSlashes|ServerAlias|Header\s+(always\s+)?set)\b", re.M | re.I)),
    # `bind` alone is also Redis's: it counts only in a file with HAProxy sections (below).
    ("haproxy", re.compile(r"^\s*(frontend|backend|listen|defaults)(\s+\S+)?\s*$|"
                           r"^\s*(use_backend|default_backend|http-request|http-response)\s", re.M)),
    ("nginx", re.compile(r"^\s*(server|http|location|upstream|events|if)\b[^\n{;]*\{|"
                         r"^\s*(proxy_pass|listen|server_name|add_header|root|include|return)\s[^\n]*;", re.M)),
    ("caddy", re.compile(r"^\s*(reverse_proxy|handle_path|handle|respond|redir|file_server|encode|"
                         r"tls|header|route|import)(?=[ \t]|$)[^;\n]*$|^\S+\s*\{\s*$", re.M)),
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
    if lower in _NOT_CONFIG_NAMES or lower.startswith(_NOT_CONFIG_PREFIXES):
        return None
    if text is None:
        text = read_text(path)
        if text is None:
            return None
    if not_a_proxy_config(text):
        return None
    scores = {server: len(rx.findall(text)) for server, rx in _CONTENT}
    if _HAPROXY_SECTION.search(text):
        scores["haproxy"] += len(_HAPROXY_BIND.findall(text))
    # A directory named after a server is a hint for files written in that server's syntax, not
    # for everything in it (a redis.conf under haproxy/, a Dockerfile under nginx/).
    parts = set(path.replace("\\", "/").split("/"))
    empty = not _MEANINGFUL.search(text)      # nothing but comments: the directory decides
    for server, names in _DIRECTORY_HINTS:
        if parts & names and (empty or scores[server] or _SHAPE[server].search(text)):
            scores[server] += 3
    # `;`-terminated lines are nginx's mark; Caddy and HAProxy never end lines with one.
    if re.search(r";\s*(#.*)?$", text, re.M):
        scores["caddy"] = scores["haproxy"] = 0
    # Nor does HAProxy open blocks with `{` (its braces close on the line: `if { path_beg /x }`).
    if re.search(r"\{[ \t]*(#.*)?$", text, re.M):
        scores["haproxy"] = 0
    best = max(scores, key=lambda s: scores[s])
    return best if scores[best] > 0 else None


def not_a_proxy_config(text: str) -> bool:
    """Content that marks another program's file: INI sections (setup.cfg, tox.ini, supervisord,
    systemd drop-ins), mostly `key = value` lines (postgresql.conf, coturn), a logrotate script."""
    if _LOGROTATE.search(text):
        return True
    lines, pairs, continued = 0, 0, False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", ";")) and not continued:
            if _INI_SECTION.match(line):
                return True
            lines += 1
            pairs += bool(_KEY_VALUE.match(line))
        continued = stripped.endswith("\\")   # Apache's `RewriteRule ... \` + `[E=X:1]` is no section
    return pairs >= 2 and pairs * 2 >= lines


def worth_walking(path: str) -> bool:
    """Whether a file found while walking a directory may be a config (cheap name checks)."""
    name = os.path.basename(path)
    if name.startswith(".") and name != ".htaccess":
        return False
    ext = os.path.splitext(name)[1].lower()
    return ext not in _SKIP_EXT


def read_text(path: str) -> Optional[str]:
    from linter.inputs import on_stdin

    data = on_stdin(path)
    if data is not None:
        data = data[:1 << 20]
    else:
        try:
            with open(path, "rb") as f:
                data = f.read(1 << 20)
        except OSError:
            return None
    if b"\0" in data or data.startswith(_BINARY_MAGIC):
        return None
    text = data.decode("utf-8", "replace")
    # Full of control characters: an image, an archive, a compiled file. (Not UTF-8 is no sign:
    # comments in a legacy encoding, GBK or Latin-1, are common and harmless.)
    sample = text[:4096]
    control = sum(1 for ch in sample if ch < " " and ch not in "\t\n\r\f\v\x1b")
    if control * 20 > len(sample):
        return None
    return text
