"""What the upstream's X-Forwarded-For holds (`Action.forwarded_for`), as Caddy 2 makes it.

From modules/caddyhttp/reverseproxy/reverseproxy.go: `prepareRequest` calls `addForwardedHeaders`,
and the `header_up` operations run after it (`proxyLoopIteration`, "user's config wins"):

- reverse_proxy sets X-Forwarded-For itself, to the client address. It keeps what the client
  sent (`prior, client`) only when the client is trusted: its address is in the server's
  `trusted_proxies` (global option `servers { trusted_proxies static ... }`, server.go
  determineTrustedProxy) or in the reverse_proxy's own `trusted_proxies`. By default nobody is
  trusted: "replace".
- A connection over a unix socket (RemoteAddr "@") that is not trusted (`trusted_proxies_unix`):
  Caddy deletes the client's X-Forwarded-* and sends none: "absent".
- `request_header` runs before reverse_proxy and edits the client's header: removing it, or
  setting it to a value of the configuration's, leaves nothing the client wrote to keep.
- `header_up` runs after (adds, sets, deletes, replacements, in that order, as one `HeaderOps`
  applies them): `-X-Forwarded-For` sends none ("absent"); a value holding the
  client's header (`{http.request.header.X-Forwarded-For}`: placeholders read the client's
  request, not the copy sent upstream) is "append"; the client address (`{remote_host}`) is
  "replace"; any other value is the configuration's own (None: not a forwarding chain).

Who is trusted is decided per listener: "append" when the trusted ranges hold every address a
client of the site can connect from: all of IPv4 (`0.0.0.0/0`) or IPv6 for a listener open to
everyone, loopback (`private_ranges` has 127.0.0.1/8 and ::1) for one bound to loopback only (a
proxy in front sends what it was given, with the client after it). `private_ranges` on a public
listener trusts the LAN only: a client from the internet gets "replace". An IP source other than
`static` (a plugin's, such as Cloudflare's ranges) or a range that is a placeholder: None.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Optional

PRIVATE_RANGES = ("192.168.0.0/16", "172.16.0.0/12", "10.0.0.0/8", "127.0.0.1/8", "fd00::/8", "::1")
CLIENT_XFF = re.compile(r"\{(?:http\.request\.header|header)\.x-forwarded-for\}", re.I)
CLIENT_ADDRESS = {"{remote_host}", "{remote}", "{http.request.remote.host}", "{http.request.remote}",
                  "{client_ip}", "{http.vars.client_ip}"}
XFF = "x-forwarded-for"
_OP_ORDER = {"add": 0, "set": 1, "default": 1, "delete": 2, "replace": 3}


def forwarded_for(site, state, handler) -> tuple:
    """(forwarded_for, span, stripped) for the reverse_proxy `handler` reached by the walk
    `state`; `stripped`: Caddy deletes every X-Forwarded-* header (untrusted unix socket)."""
    d = handler.directive
    trusted, span = _trusted(site, handler)
    client_kept, request_span = True, None
    for _, op in state.request_ops:          # request_header, before reverse_proxy
        if op["name"].lower() != XFF:
            continue
        if op["op"] == "delete" or op["op"] == "set" and not CLIENT_XFF.search(op["value"] or ""):
            client_kept, request_span = False, op["directive"].span
        elif op["op"] == "replace":
            client_kept, request_span = None, op["directive"].span
    if trusted == "absent":
        value = "absent"
    elif trusted is None:
        value = None
    elif trusted and client_kept:
        value = "append"
    elif trusted and client_kept is None:
        value, span = None, request_span
    else:
        value = "replace"
        if trusted and request_span is not None:
            span = request_span               # trusted, but the client's header is gone
    # After: the configuration's word is last. One HeaderOps applies its adds, then its sets, then
    # its deletes, then its replacements (headers.go ApplyTo), whatever the written order.
    ups = sorted(handler.data.get("header_up", ()), key=lambda op: _OP_ORDER.get(op["op"], 9))
    for op in ups:
        if op["name"].lower() != XFF:
            continue
        text = (op["value"] or "").strip()
        where = op["directive"].span
        if op["op"] == "delete":
            value, span = "absent", where
        elif op["op"] == "replace":
            value, span = None, where
        elif op["op"] == "set":
            if CLIENT_XFF.search(text):
                value = "append"
            elif text in CLIENT_ADDRESS:
                value = "replace"
            else:
                value = None
            span = where
        elif op["op"] == "add" and CLIENT_XFF.search(text) and value != "absent":
            value, span = "append", where       # a second header line: the client's own
    return value, span or d.span, trusted == "absent"


def _trusted(site, handler) -> tuple:
    """(True | False | "absent" | None, span of the setting) for the site's clients."""
    block = site.facts.get("block")
    opts = site.facts.get("global_options")
    port = block.port if block is not None else None
    listens = list(site.listens)
    unix = [l for l in listens if (l.address or "").startswith("unix:")]
    network = [l for l in listens if l not in unix]
    setting = opts.server_option(opts.trusted_proxies, port) if opts is not None else None
    ranges, span = [], None
    if setting is not None:
        span = setting.span
        args = list(setting.args)
        if not args or args[0] != "static":
            return None, span                 # a plugin's IP source: its ranges are not known here
        ranges += args[1:]
    for c in handler.directive.block or ():
        if c.key == "trusted_proxies":
            ranges += list(c.args)
            span = c.span
    networks = _networks(ranges)
    if networks is None:
        return None, span
    if unix and not network:
        unix_trusted = opts is not None and opts.server_option(opts.trusted_proxies_unix, port) is not None
        if not unix_trusted:
            return "absent", handler.directive.span
        return True, opts.server_option(opts.trusted_proxies_unix, port).span
    if not networks:
        return False, None
    everyone = all(_covers_clients(l, networks) for l in network)
    return everyone, span if everyone else None


def _networks(ranges: list) -> Optional[list]:
    out = []
    for r in ranges:
        if r == "private_ranges":
            out += [ipaddress.ip_network(p, strict=False) for p in PRIVATE_RANGES]
            continue
        if "{" in r:
            return None
        try:
            out.append(ipaddress.ip_network(r, strict=False))
        except ValueError:
            return None                       # Caddy refuses it at provisioning
    return out


def _covers_clients(listen, networks: list) -> bool:
    """Whether every client address that can reach this listener is in `networks`."""
    if listen.public:
        # Open to everyone: the clients are IPv4 and IPv6 addresses alike; a range covering all
        # of IPv4 (most clients) is counted as covering everyone.
        return any(n.prefixlen == 0 for n in networks)
    address = (listen.address or "").strip("[]").lower()
    probe = "::1" if address == "::1" else "127.0.0.1"
    return any(ipaddress.ip_address(probe) in n for n in networks)
