"""Does a file look like Apache httpd configuration? (server detection, no parsing)"""
from __future__ import annotations

import os
import re

_SECTION = re.compile(
    r"^[ \t]*</?(VirtualHost|Directory|DirectoryMatch|Location|LocationMatch|Files|FilesMatch|"
    r"Proxy|ProxyMatch|IfModule|IfDefine|IfVersion|IfFile|If|ElseIf|Else|Macro|Limit|"
    r"LimitExcept|Require(All|Any|None))\b[^\n]*>", re.I | re.M)
# Directive names that only Apache uses, at the start of a line not ending like nginx/Caddy.
_DIRECTIVE = re.compile(
    r"^[ \t]*(ProxyPass|ProxyPassReverse|ProxyPassMatch|ProxyPreserveHost|ProxyRequests|"
    r"RewriteEngine|RewriteRule|RewriteCond|ServerName|ServerAlias|DocumentRoot|LoadModule|"
    r"SSLEngine|SSLCertificateFile|SSLProxyEngine|AllowEncodedSlashes|RequestHeader|"
    r"Header[ \t]+(always[ \t]+)?(set|add|append|unset|merge|edit)|ErrorLog|CustomLog|"
    r"IncludeOptional|ServerRoot|AllowOverride|Options|Use|Define|SecRule|SecAction|"
    r"SecRuleEngine|SecMarker|MDomain|MDCertificateAgreement|Session|SessionCookieName)"
    r"[ \t]+[^\n;{}]*$", re.I | re.M)  # a blank after the name: not `use-server`, `options:`
_NGINX_OR_CADDY = re.compile(r"[;{][ \t]*(#[^\n]*)?$", re.M)
_PATH_HINTS = {"apache", "apache2", "httpd", "apache-conf", "httpd-conf"}
_FILE_NAMES = {"httpd.conf", "apache2.conf", "apache.conf", ".htaccess", "ports.conf"}


def looks_like_apache(text: str, path: str) -> bool:
    """True for `<VirtualHost>`-style sections, Apache-only directives, or an Apache path."""
    if _SECTION.search(text):
        return True
    braces_or_semicolons = len(_NGINX_OR_CADDY.findall(text))
    apache_lines = len(_DIRECTIVE.findall(text))
    parts = {p.lower() for p in re.split(r"[\\/]", path)}
    if os.path.basename(path).lower() in _FILE_NAMES or parts & _PATH_HINTS:
        return braces_or_semicolons <= apache_lines
    return apache_lines >= 1 and braces_or_semicolons == 0
