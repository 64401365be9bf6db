"""The Caddy model: Caddy's own adapter output as ground truth, and hand-written semantics.

Part 1 holds the handler chain the builder makes for each site against the JSON that `caddy
adapt` produced for the same Caddyfile (Caddy's adapter test fixtures in the shared corpus):
route order (directive order, path-length sorting of one directive, `route` keeping written
order), groups (`handle`, `rewrite`, `root`), subroutes, terminal flags, matchers (path and
method values, other matcher names) and handler kinds, for the site routes and the
handle_errors routes. Part 2 tests the model the rules read, with expectations worked out by
hand from Caddy's documentation and source (and checked against real Caddy in tests/real).
"""
from __future__ import annotations

import json
import os
import textwrap

import pytest

from linter.caddy.build import build
from linter.caddy.parse import parse_string
from linter.caddy.upstream import upstream_request_line
from linter.matrix import annotate
from linter.predict import outcomes
from linter.select import Request, select, select_route

ADAPT = "caddy/caddyserver__caddy/caddyfile_adapt/"


# ---- part 1: Caddy's adapter as ground truth ---------------------------------------------

def _adapt_pairs():
    from corpus import rows

    out = []
    for row in rows(server="caddy"):
        path = row["abspath"]
        if row["local_path"].startswith(ADAPT) and path.endswith(".Caddyfile") and "/testdata/" not in path:
            json_path = path[:-len(".Caddyfile")] + ".json"
            if os.path.exists(json_path):
                out.append((path, json_path))
    return sorted(out)


def _sets(sets):
    out = []
    for s in sets or []:
        items = []
        for m in s.matchers:
            if m.kind == "not":
                items.append(("not", tuple(_sets(m.sets))))
            elif m.kind in ("path", "method"):
                items.append((m.kind, tuple(m.args)))
            else:
                items.append((m.kind, None))
        out.append(tuple(sorted(items, key=str)))
    return out


def _shape(routes):
    return [{"match": _sets(r.matchers), "group": r.group, "terminal": r.terminal,
             "handle": [{"handler": h.kind, "routes": _shape(h.routes)} if h.kind == "subroute"
                        else {"handler": h.kind} for h in r.handlers]} for r in routes]


def _json_sets(sets):
    out = []
    for s in sets or []:
        items = []
        for k, v in s.items():
            if k == "not":
                items.append(("not", tuple(_json_sets(v))))
            elif k in ("path", "method"):
                items.append((k, tuple(v)))
            else:
                items.append((k, None))
        out.append(tuple(sorted(items, key=str)))
    return out


def _json_shape(routes):
    return [{"match": _json_sets(r.get("match")), "group": r.get("group"), "terminal": r.get("terminal", False),
             "handle": [{"handler": h["handler"], "routes": _json_shape(h.get("routes", []))}
                        if h["handler"] == "subroute" else {"handler": h["handler"]} for h in r.get("handle", [])]}
            for r in routes]


def _same_groups(shape):
    """Group names as numbers in order of first appearance (Caddy counts them across the file)."""
    names: dict = {}

    def visit(routes):
        for r in routes:
            if r["group"] is not None:
                r["group"] = names.setdefault(r["group"], len(names))
            for h in r["handle"]:
                if "routes" in h:
                    visit(h["routes"])
    visit(shape)
    return shape


def _site_routes(route_lists, hosts, paths):
    """The routes of one site block in a server's route list (wrapped in a host route, or inline)."""
    for routes in route_lists:
        for r in routes:
            sets = r.get("match") or []
            got_hosts = sorted({h for s in sets for h in s.get("host", [])})
            got_paths = sorted({p for s in sets for p in s.get("path", [])})
            if hosts and got_hosts == sorted(hosts) and got_paths == sorted(paths):
                return r["handle"][0]["routes"] if r.get("handle") else []
        if not hosts:
            for r in routes:
                sets = r.get("match") or []
                if r.get("terminal") and not any("host" in s for s in sets) and \
                        sorted({p for s in sets for p in s.get("path", [])}) == sorted(paths):
                    return r["handle"][0]["routes"] if r.get("handle") else []
            if routes and not any(r.get("terminal") for r in routes):
                return routes
            return []
    return None


def _servers_on(servers, port):
    return [s for s in servers if str(port) in {a.rsplit(":", 1)[-1] for a in s.get("listen") or []}]


def _disagreements(path, json_path):
    config = build(parse_string(open(path).read(), path, env={}), {})
    servers = list(json.load(open(json_path)).get("apps", {}).get("http", {}).get("servers", {}).values())
    problems = []
    for site in config.sites:
        if site.facts.get("no_site"):
            continue
        block = site.facts["block"]
        hosts = [] if block.catch_all else block.hosts
        chain = site.facts["chain"] if not block.paths else site.facts["chain"][0].handlers[0].routes
        candidates = _servers_on(servers, block.port) or servers   # fd/ binds have no port
        want = _site_routes([s.get("routes", []) for s in candidates], hosts, block.paths)
        mine = _same_groups(_shape(chain))
        if want is None:
            if mine:
                problems.append(f"{hosts}:{block.port}: site not in Caddy's JSON")
            continue
        if mine != _same_groups(_json_shape(want)):
            problems.append(f"{hosts}:{block.port}: routes differ")
        errors = site.facts["chain_errors"]
        want_errors = _site_routes([s.get("errors", {}).get("routes", []) for s in candidates], hosts, block.paths)
        mine_errors = [{"match": [(("expression", None),)] if codes else [], "group": None, "terminal": False,
                        "handle": [{"handler": "subroute", "routes": _shape(routes)}]}
                       for codes, routes, _ in errors]
        if _same_groups(mine_errors) != _same_groups(_json_shape(want_errors or [])):
            problems.append(f"{hosts}:{block.port}: handle_errors routes differ")
    return problems


def test_site_chains_agree_with_caddys_adapter_on_all_its_fixtures():
    pairs = _adapt_pairs()
    assert len(pairs) == 211
    failures = {}
    for path, json_path in pairs:
        problems = _disagreements(path, json_path)
        if problems:
            failures[os.path.basename(path)] = problems
    print(f"\ncaddy adapt fixtures: {len(pairs) - len(failures)}/{len(pairs)} agree on every site's routes")
    assert failures == {}


def test_site_addresses_become_sites_on_caddys_listeners():
    """Each site's port is among the listen addresses of Caddy's servers for that fixture."""
    compared = 0
    for path, json_path in _adapt_pairs():
        config = build(parse_string(open(path).read(), path, env={}), {})
        servers = json.load(open(json_path)).get("apps", {}).get("http", {}).get("servers", {})
        ports = {a.rsplit(":", 1)[-1] for s in servers.values() for a in s.get("listen") or []}
        for site in config.sites:
            if site.facts["chain"] and not any(a.startswith("fd") for a in ports) and not site.facts.get("no_site"):
                assert str(site.facts["block"].port) in ports, (path, site.names)
                compared += 1
    assert compared > 150


# ---- part 2: the model, by hand ------------------------------------------------------------

def model(text: str):
    text = textwrap.dedent(text)
    tree = parse_string(text, "Caddyfile", env={})
    assert not tree.errors, tree.errors
    config = build(tree, {})
    annotate(config)
    return config


def route_for(config, method, path, site=0):
    route, unknowns = select_route(config.sites[site], method, path)
    return route


def test_sites_listeners_and_tls_follow_caddys_address_defaults():
    config = model("""
        matrix.example.org, example.org:8448 {
        	respond "a"
        }
        http://plain.example.org {
        	respond "b"
        }
        :8080 {
        	respond "c"
        }
        """)
    seen = [(s.names, [(l.port, l.tls, l.default) for l in s.listens]) for s in config.sites
            if not s.facts.get("no_site")]
    assert seen == [
        (["matrix.example.org"], [(443, True, False)]),
        (["example.org"], [(8448, True, False)]),
        (["plain.example.org"], [(80, False, False)]),
        ([], [(8080, False, True)]),
    ]
    # Caddy has no default server: other hosts on 443, 8448 and 80 match no site's routes.
    empty = sorted((s.listens[0].port, s.listens[0].tls) for s in config.sites if s.facts.get("no_site"))
    assert empty == [(80, False), (443, True), (8448, True)]
    sel = select(config, Request.from_url("GET", "https://other.example.org/_matrix/client/versions"))
    assert sel.site.names == [] and sel.route.fallback
    assert (sel.route.action.status, sel.route.action.body, sel.route.headers) == (200, "", [])


def test_directive_order_not_written_order_decides():
    config = model("""
        matrix.example.org {
        	reverse_proxy localhost:8008
        	respond /_matrix/health 200
        	redir /old /new 308
        }
        """)
    assert route_for(config, "GET", "/_matrix/health").action.kind == "respond"
    assert route_for(config, "GET", "/old").action.kind == "redirect"
    assert route_for(config, "GET", "/_matrix/client/versions").action.kind == "proxy"


def test_handle_blocks_are_exclusive_and_sorted_by_path_length():
    config = model("""
        matrix.example.org {
        	handle {
        		respond "fallback"
        	}
        	handle /_matrix/* {
        		respond "matrix"
        	}
        	handle /_matrix/client/* {
        		respond "client"
        	}
        }
        """)
    assert route_for(config, "GET", "/_matrix/client/versions").action.body == "client"
    assert route_for(config, "GET", "/_matrix/federation/v1/version").action.body == "matrix"
    assert route_for(config, "GET", "/").action.body == "fallback"


def test_route_block_keeps_written_order():
    config = model("""
        matrix.example.org {
        	route {
        		reverse_proxy /_matrix/* localhost:8008
        		respond /_matrix/* "never"
        	}
        }
        """)
    assert route_for(config, "GET", "/_matrix/client/versions").action.kind == "proxy"


@pytest.mark.parametrize("pattern,path,expected", [
    ("/_matrix/*", "/_matrix/client/versions", True),
    ("/_matrix/*", "/_matrix", False),
    ("/_matrix/*", "/_matrixfoo", False),
    ("/_matrix*", "/_matrixfoo", True),
    ("/_matrix*", "/_matrix", True),
    ("/_matrix", "/_matrix", True),
    ("/_matrix", "/_matrix/client/versions", False),
    ("/_matrix/*", "/_MATRIX/client/versions", True),          # Caddy matches paths case-insensitively
    ("/_matrix/client/*", "/_matrix//client/versions", True),   # ... and with slashes merged
    ("*.json", "/.well-known/x.json", True),
    ("/a/*/c", "/a/b/c", True),
    ("/a/*/c", "/a/b/x/c", False),
])
def test_path_matcher_semantics(pattern, path, expected):
    config = model(f"""
        matrix.example.org {{
        	respond {pattern} "hit"
        }}
        """)
    route = route_for(config, "GET", path)
    assert route.action.kind == "respond"
    assert (not route.fallback) == expected     # else nothing answers: Caddy's empty 200


def test_header_without_defer_is_added_beside_the_upstream_value_and_kept_on_errors():
    config = model("""
        matrix.example.org {
        	reverse_proxy /_matrix/* localhost:8008
        	header Access-Control-Allow-Origin *
        }
        """)
    route = route_for(config, "GET", "/_matrix/client/versions")
    (op,) = route.headers
    assert (op.name, op.value, op.mode, op.on_proxied, op.on_generated) == (
        "Access-Control-Allow-Origin", "*", "add", True, True)
    assert (op.span.line, op.span.column) == (4, 2)   # line 1 is the blank after """
    request = Request.from_url("GET", "https://matrix.example.org/_matrix/client/versions")
    ok, error, down = outcomes(route, request)
    assert ok.values("Access-Control-Allow-Origin") == ["*", "*"]
    assert down.status == 502 and down.values("Access-Control-Allow-Origin") == ["*"]


def test_deferred_header_replaces_the_upstream_value_but_misses_caddys_own_errors():
    config = model("""
        matrix.example.org {
        	header >Access-Control-Allow-Methods "GET, POST"
        	header {
        		-Server
        		X-Frame-Options DENY
        	}
        	reverse_proxy localhost:8008
        }
        """)
    route = route_for(config, "GET", "/_matrix/client/versions")
    modes = [(op.name, op.mode, op.on_generated) for op in route.headers]
    # Deferred handlers wrap the response writer one in another: the later one applies first.
    assert modes == [("X-Frame-Options", "set", False), ("Server", "remove", False),
                     ("Access-Control-Allow-Methods", "set", False)]


def test_deferred_header_reaches_a_respond():
    config = model("""
        example.org {
        	header >Access-Control-Allow-Origin *
        	respond /.well-known/matrix/server `{"m.server": "matrix.example.org:443"}`
        }
        """)
    route = route_for(config, "GET", "/.well-known/matrix/server")
    assert route.action.content_type == "application/json"
    assert [(op.mode, op.on_generated) for op in route.headers] == [("set", True)]


def test_header_down_edits_only_proxied_responses():
    config = model("""
        matrix.example.org {
        	reverse_proxy localhost:8008 {
        		header_down Access-Control-Allow-Origin https://app.example.org
        		header_down -Server
        	}
        }
        """)
    route = route_for(config, "GET", "/_matrix/client/versions")
    assert [(op.name, op.mode, op.on_proxied, op.on_generated) for op in route.headers] == [
        ("Access-Control-Allow-Origin", "set", True, False), ("Server", "remove", True, False)]


def test_immediate_content_type_stops_respond_adding_its_own():
    config = model("""
        example.org {
        	header /.well-known/matrix/* Content-Type application/json
        	respond /.well-known/matrix/server `{"m.server": "matrix.example.org:443"}`
        	respond /.well-known/matrix/client "not json"
        }
        """)
    server = route_for(config, "GET", "/.well-known/matrix/server")
    out = outcomes(server, Request.from_url("GET", "https://example.org/.well-known/matrix/server"))[0]
    assert out.values("Content-Type") == ["application/json"]
    assert route_for(config, "GET", "/.well-known/matrix/client").action.content_type == ""


def test_respond_content_type_from_its_body():
    config = model("""
        example.org {
        	respond /a `{"x": 1}`
        	respond /b "hello"
        	respond /c 204
        }
        """)
    assert route_for(config, "GET", "/a").action.content_type == "application/json"
    assert route_for(config, "GET", "/b").action.content_type == "text/plain; charset=utf-8"
    c = route_for(config, "GET", "/c").action
    assert (c.status, c.content_type) == (204, "")


def test_request_headers_caddy_sends_upstream():
    config = model("""
        matrix.example.org {
        	reverse_proxy /_matrix/* localhost:8008
        	reverse_proxy /_synapse/client/* https://synapse.internal
        	reverse_proxy /_synapse/admin/* localhost:8008 {
        		header_up Host {upstream_hostport}
        		header_up -X-Forwarded-For
        	}
        }
        """)
    plain = route_for(config, "GET", "/_matrix/client/versions").action.request_headers
    assert set(plain) == {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "host"}
    https = route_for(config, "GET", "/_synapse/client/x").action.request_headers
    assert "host" not in https          # Caddy 2.11 sends an https upstream its own name
    admin = route_for(config, "GET", "/_synapse/admin/v1/users").action.request_headers
    assert set(admin) == {"x-forwarded-proto", "x-forwarded-host"}


def test_handle_path_strips_the_prefix_and_keeps_the_rest_encoded():
    config = model("""
        matrix.example.org {
        	handle_path /prefix/* {
        		reverse_proxy localhost:8008
        	}
        	reverse_proxy /_matrix/* localhost:8008
        }
        """)
    route = route_for(config, "GET", "/prefix/_matrix/client/versions")
    assert (route.action.uri, route.action.uri_span.line, route.action.uri_span.column) == ("replaced", 3, 2)
    request = Request.from_url("GET", "https://matrix.example.org/prefix/_matrix/federation/v1/event/%24a%2Fb?x=1")
    assert upstream_request_line(route, request) == "GET /_matrix/federation/v1/event/%24a%2Fb?x=1 HTTP/1.1"
    direct = route_for(config, "GET", "/_matrix//client/versions")
    request = Request.from_url("GET", "https://matrix.example.org/_matrix//client/%40a")
    assert direct.action.uri == "original"
    assert upstream_request_line(direct, request) == "GET /_matrix//client/%40a HTTP/1.1"


def test_request_body_limit_uses_caddys_decimal_units():
    config = model("""
        matrix.example.org {
        	request_body {
        		max_size 10MB
        	}
        	reverse_proxy localhost:8008
        }
        """)
    route = route_for(config, "POST", "/_matrix/media/v3/upload")
    assert route.max_body_size == 10_000_000
    setting = route.facts["body_size_directive"]
    assert (setting.name, setting.span.line) == ("max_size", 4)


def test_handle_errors_answers_for_the_proxy():
    config = model("""
        matrix.example.org {
        	reverse_proxy localhost:8008
        	handle_errors 5xx {
        		header Access-Control-Allow-Origin *
        		respond `{"errcode": "M_UNKNOWN"}` 503
        	}
        }
        """)
    route = route_for(config, "GET", "/_matrix/client/versions")
    down = outcomes(route, Request.from_url("GET", "https://matrix.example.org/_matrix/client/versions"),
                    upstream_down=True)[0]
    assert down.status == 503
    assert down.values("Content-Type") == ["application/json"]
    assert down.values("Access-Control-Allow-Origin") == ["*"]


def test_method_matchers_become_conditions_and_other_matchers_unknowns():
    config = model("""
        matrix.example.org {
        	@preflight method OPTIONS
        	respond @preflight 204
        	@office remote_ip 10.0.0.0/8
        	respond @office "inside"
        	reverse_proxy localhost:8008
        }
        """)
    preflight = route_for(config, "OPTIONS", "/_matrix/client/versions")
    assert preflight.action.status == 204 and preflight.condition.methods == frozenset({"OPTIONS"})
    route, unknowns = select_route(config.sites[0], "GET", "/_matrix/client/versions")
    assert route.action.kind == "proxy" and unknowns == ["remote_ip 10.0.0.0/8"]
    inside = [r for r in config.sites[0].routes if r.action.body == "inside"]
    assert inside and inside[0].condition.text == "remote_ip 10.0.0.0/8"


def test_invoke_runs_a_named_route():
    config = model("""
        &(synapse) {
        	reverse_proxy localhost:8008
        }
        matrix.example.org {
        	invoke /_matrix/* synapse
        }
        """)
    route = route_for(config, "GET", "/_matrix/client/versions")
    assert route.action.kind == "proxy" and route.span.line == 3


def test_error_directive_and_abort():
    config = model("""
        matrix.example.org {
        	error /_synapse/admin/* "Forbidden" 403
        	abort /secret
        	reverse_proxy localhost:8008
        }
        """)
    denied = route_for(config, "GET", "/_synapse/admin/v1/users")
    assert (denied.action.kind, denied.action.status) == ("respond", 403)
    assert route_for(config, "GET", "/secret").action.status is None


def test_caddy_v1_file_is_not_modelled():
    tree = parse_string("matrix.example.org {\n  proxy /_matrix localhost:8008 {\n    transparent\n  }\n}\n",
                        "Caddyfile", env={})
    assert tree.errors and tree.errors[0].message.startswith("Caddy v1 syntax")
    assert build(tree, {}).sites == []


def test_selection_through_the_shared_select():
    config = model("""
        matrix.example.org {
        	reverse_proxy /_matrix/* localhost:8008
        }
        example.org {
        	respond /.well-known/matrix/server `{"m.server": "matrix.example.org:443"}`
        }
        """)
    sel = select(config, Request.from_url("GET", "https://example.org/.well-known/matrix/server"))
    assert sel.site.names == ["example.org"] and sel.route.action.kind == "respond"
    sel = select(config, Request.from_url("GET", "https://matrix.example.org/_matrix/client/versions"))
    assert sel.route.serves_matrix() and sel.route.facts["selected_for_matrix"]


def test_model_routes_are_listed_in_the_order_caddy_tries_them():
    config = model("""
        matrix.example.org {
        	file_server
        	reverse_proxy /_matrix/* localhost:8008
        	handle /.well-known/matrix/* {
        		respond /.well-known/matrix/server `{"m.server": "matrix.example.org:443"}`
        	}
        	redir /old /new
        }
        """)
    kinds = []
    for route in config.sites[0].routes:
        if route.action.kind not in kinds:
            kinds.append(route.action.kind)
    # redir, then handle, then reverse_proxy, then file_server (Caddy's directive order)
    assert kinds == ["redirect", "respond", "proxy", "static"]


# ---- X-Forwarded-For (Action.forwarded_for) ---------------------------------------------------

def _xff(text: str) -> list:
    config = model(text)
    return [(s.listens[0].port, r.action.forwarded_for, r.action.forwarded_for_span.line)
            for s in config.sites for r in s.routes if r.action.kind == "proxy"]


def test_forwarded_for_is_replaced_by_default():
    assert _xff("example.org {\n\treverse_proxy localhost:8008\n}\n") == [(443, "replace", 2)]


def test_private_ranges_on_a_public_listener_trust_the_lan_only():
    # A client from the internet is not in private_ranges: Caddy replaces what it sent.
    text = "{\n\tservers {\n\t\ttrusted_proxies static private_ranges\n\t}\n}\nexample.org {\n\treverse_proxy localhost:8008\n}\n"
    assert _xff(text) == [(443, "replace", 7)]


def test_private_ranges_on_a_loopback_listener_keep_the_front_proxys_header():
    text = ("{\n\tservers {\n\t\ttrusted_proxies static private_ranges\n\t}\n}\n"
            "http://:8080 {\n\tbind 127.0.0.1\n\treverse_proxy localhost:8008\n}\n")
    assert _xff(text) == [(8080, "append", 3)]


def test_servers_block_for_another_listener_does_not_apply():
    text = ("{\n\tservers :8448 {\n\t\ttrusted_proxies static 0.0.0.0/0\n\t}\n}\n"
            "example.org {\n\treverse_proxy localhost:8008\n}\n"
            "example.org:8448 {\n\treverse_proxy localhost:8008\n}\n")
    assert sorted(_xff(text)) == [(443, "replace", 7), (8448, "append", 3)]


def test_a_plugin_ip_source_is_unknown():
    text = "{\n\tservers {\n\t\ttrusted_proxies cloudflare\n\t}\n}\nexample.org {\n\treverse_proxy localhost:8008\n}\n"
    assert _xff(text) == [(443, None, 3)]


def test_untrusted_unix_socket_clients_get_no_forwarding_headers():
    config = model("http://:8080 {\n\tbind unix//run/caddy.sock\n\treverse_proxy localhost:8008\n}\n")
    (route,) = [r for s in config.sites for r in s.routes]
    assert route.action.forwarded_for == "absent"
    assert not {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"} & set(route.action.request_headers)


def test_header_up_deletes_after_it_sets():
    # One HeaderOps applies sets before deletes, whatever the written order.
    text = ("example.org {\n\treverse_proxy localhost:8008 {\n\t\theader_up -X-Forwarded-For\n"
            "\t\theader_up X-Forwarded-For {remote_host}\n\t}\n}\n")
    assert _xff(text) == [(443, "absent", 3)]


def test_header_up_with_the_clients_header_appends():
    text = ("example.org {\n\treverse_proxy localhost:8008 {\n\t\theader_up X-Forwarded-For "
            "\"{header.X-Forwarded-For}, {remote_host}\"\n\t}\n}\n")
    assert _xff(text) == [(443, "append", 3)]


def test_request_header_removal_keeps_caddys_own_forwarding_header():
    text = "example.org {\n\trequest_header -X-Forwarded-For\n\treverse_proxy localhost:8008\n}\n"
    config = model(text)
    (route,) = [r for s in config.sites for r in s.routes]
    assert route.action.forwarded_for == "replace"
    assert "x-forwarded-for" in route.action.request_headers
