"""nginx semantics in the model, on the examples from the nginx documentation."""
import pytest

from linter.nginx.build import build
from linter.nginx.parse import parse_string
from linter.predict import outcomes
from linter.nginx.routing import select_request
from linter.select import Request, normalize_path, select, select_route


def model(text, **options):
    tree = parse_string(text, "test.conf")
    assert not tree.errors, tree.errors
    return build(tree, options)


# ngx_http_core_module "location" docs: the A..E example and its stated answers.
DOCS_LOCATIONS = """
server {
    listen 80;
    location = / { return 200 A; }
    location / { return 200 B; }
    location /documents/ { return 200 C; }
    location ^~ /images/ { return 200 D; }
    location ~* \\.(gif|jpg|jpeg)$ { return 200 E; }
}
"""


@pytest.mark.parametrize("path,config", [
    ("/", "A"), ("/index.html", "B"), ("/documents/document.html", "C"),
    ("/images/1.gif", "D"), ("/documents/1.jpg", "E"),
])
def test_location_selection_follows_the_nginx_docs(path, config):
    site = model(DOCS_LOCATIONS).sites[0]
    route, unknowns = select_route(site, "GET", path)
    assert route.action.body == config
    assert unknowns == []


def test_nested_regex_inside_prefix_beats_outer_regex_and_caret_tilde_stops_regexes():
    site = model("""
    server {
        location /_matrix/ {
            location ~ ^/_matrix/media/ { return 200 inner; }
            return 200 prefix;
        }
        location ~ \\.png$ { return 200 outer; }
        location ^~ /static/ { return 200 static; }
    }""").sites[0]
    assert select_route(site, "GET", "/_matrix/media/x.png")[0].action.body == "inner"
    assert select_route(site, "GET", "/_matrix/client/x.png")[0].action.body == "outer"
    assert select_route(site, "GET", "/_matrix/client/versions")[0].action.body == "prefix"
    assert select_route(site, "GET", "/static/a.png")[0].action.body == "static"


def test_if_on_request_method_is_a_variant_of_its_location():
    site = model("""
    server {
        location /_matrix {
            if ($request_method = OPTIONS) { return 204; }
            proxy_pass http://127.0.0.1:8008;
        }
    }""").sites[0]
    assert select_route(site, "OPTIONS", "/_matrix/client/versions")[0].action.status == 204
    assert select_route(site, "GET", "/_matrix/client/versions")[0].action.kind == "proxy"


def test_undecidable_if_is_reported_not_guessed():
    site = model("""
    server {
        location /_matrix {
            if ($http_origin ~ example) { return 403; }
            proxy_pass http://127.0.0.1:8008;
        }
    }""").sites[0]
    route, unknowns = select_route(site, "GET", "/_matrix/x")
    assert route.action.kind == "proxy"
    assert unknowns == ["if ($http_origin ~ example)"]


def test_server_level_return_runs_before_locations():
    site = model("""
    server {
        listen 80;
        return 301 https://$host$request_uri;
        location /_matrix { proxy_pass http://127.0.0.1:8008; }
    }""").sites[0]
    route, _ = select_route(site, "GET", "/_matrix/client/versions")
    assert route.action.kind == "redirect" and route.action.status == 301


# ngx_http_headers_module: add_header is inherited only if the level has none; `always` for errors.
INHERITANCE = """
http {
    add_header X-Http http;
    server {
        listen 80;
        add_header X-Server server always;
        location /inherits { return 200 ok; }
        location /own {
            add_header X-Own own;
            return 200 ok;
        }
        location /merge {
            add_header_inherit merge;
            add_header X-Own own;
            return 200 ok;
        }
    }
}
"""


def _names(route, status=200):
    out = outcomes(route, Request("GET", "http", "x", 80, "/"))[0]
    return [h.name for h in out.headers if h.name.startswith("X-")]


def test_add_header_inheritance_replaces_the_parent_list():
    site = model(INHERITANCE).sites[0]
    assert _names(select_route(site, "GET", "/inherits")[0]) == ["X-Server"]
    own = select_route(site, "GET", "/own")[0]
    assert _names(own) == ["X-Own"]
    assert [op.name for op in own.dropped_headers] == ["X-Server"]


def test_add_header_inherit_merge_needs_nginx_1_29_3():
    merged = select_route(model(INHERITANCE).sites[0], "GET", "/merge")[0]
    assert _names(merged) == ["X-Own", "X-Server"]
    old = select_route(model(INHERITANCE, nginx_version=(1, 26, 0)).sites[0], "GET", "/merge")[0]
    assert _names(old) == ["X-Own"]


def test_add_header_without_always_skips_error_statuses():
    site = model("""
    server {
        location /_matrix {
            add_header A-Success yes;
            add_header A-Always yes always;
            proxy_pass http://127.0.0.1:8008;
        }
    }""").sites[0]
    route = select_route(site, "GET", "/_matrix/x")[0]
    ok, error, down = outcomes(route, Request("GET", "https", "x", 443, "/_matrix/x"))
    assert (ok.status, error.status, down.status) == (200, 500, 502)
    assert ok.values("A-Success") == ["yes"] and ok.values("A-Always") == ["yes"]
    assert error.values("A-Success") == [] and error.values("A-Always") == ["yes"]
    assert down.values("A-Success") == [] and down.values("A-Always") == ["yes"]


def test_proxy_hide_header_replaces_the_homeserver_value():
    site = model("""
    server {
        location /_matrix {
            proxy_hide_header Access-Control-Allow-Origin;
            add_header Access-Control-Allow-Origin * always;
            proxy_pass http://127.0.0.1:8008;
        }
    }""").sites[0]
    ok = outcomes(select_route(site, "GET", "/_matrix/x")[0], Request("GET", "https", "x", 443, "/_matrix/x"))[0]
    assert ok.values("Access-Control-Allow-Origin") == ["*"]


def test_site_selection_by_name_then_default_server():
    config = model("""
    server { listen 443 ssl; server_name a.example.org; return 200 a; }
    server { listen 443 ssl default_server; server_name b.example.org; return 200 b; }
    server { listen 443 ssl; server_name *.example.org; return 200 wild; }
    """)
    def body(host):
        return select(config, Request.from_url("GET", f"https://{host}/")).route.action.body
    assert body("a.example.org") == "a"
    assert body("c.example.org") == "wild"
    assert body("other.net") == "b"


@pytest.mark.parametrize("raw,path", [
    ("/_matrix/a%2Fb", "/_matrix/a/b"), ("//_matrix//x", "/_matrix/x"), ("/a/./b/../c", "/a/c"),
    ("/_matrix/%40u", "/_matrix/@u"),
])
def test_path_normalisation_matches_nginx(raw, path):
    assert normalize_path(raw) == path


def test_prefix_audit_reads_the_copy_not_this_machines_etc_nginx(tmp_path):
    """With --prefix, /etc/nginx/... includes come from the copied tree even where this machine
    has its own file at that path (a CI runner with nginx installed)."""
    import os

    from linter.nginx.parse import load

    (tmp_path / "snippets").mkdir()
    (tmp_path / "nginx.conf").write_text("http { include /etc/nginx/mime.types; }\n")
    (tmp_path / "mime.types").write_text("types { application/x-copied copied; }\n")
    tree = load(str(tmp_path / "nginx.conf"), prefix=str(tmp_path))
    assert not tree.errors
    assert str(tmp_path / "mime.types") in tree.files
    if os.path.exists("/etc/nginx/mime.types"):
        assert "/etc/nginx/mime.types" not in tree.files


# Action.forwarded_for: what the upstream's X-Forwarded-For holds (ngx_http_proxy_module:
# proxy_set_header is inherited only when the level sets none; nginx adds no X-Forwarded-For itself).
def _xff(text, path="/_matrix/x"):
    config = model(text)
    route = select(config, Request.from_url("GET", f"http://localhost{path}")).route
    assert route.action.kind == "proxy"
    return route.action


@pytest.mark.parametrize("value,expected", [
    ("$proxy_add_x_forwarded_for", "append"),
    ("\"$http_x_forwarded_for, $remote_addr\"", "append"),
    ("$remote_addr", "replace"),
    ("${remote_addr}", "replace"),
    ("$realip_remote_addr", "replace"),
    ("$http_cf_connecting_ip", "replace"),
    ("\"\"", "absent"),
    ("$mapped_client", None),
])
def test_forwarded_for_from_the_proxy_set_header_value(value, expected):
    action = _xff(f"""
    http {{ server {{ listen 80;
        location /_matrix {{
            proxy_set_header X-Forwarded-For {value};
            proxy_pass http://127.0.0.1:8008;
        }}
    }} }}""")
    assert action.forwarded_for == expected
    assert action.forwarded_for_span.line == 4


def test_forwarded_for_absent_without_proxy_set_header_points_at_proxy_pass():
    action = _xff("""
    http { server { listen 80;
        location /_matrix { proxy_pass http://127.0.0.1:8008; }
    } }""")
    assert action.forwarded_for == "absent"
    assert action.forwarded_for_span == action.span


def test_forwarded_for_inherited_from_the_server_level():
    action = _xff("""
    http { server { listen 80;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        location /_matrix { proxy_pass http://127.0.0.1:8008; }
    } }""")
    assert (action.forwarded_for, action.forwarded_for_span.line) == ("append", 3)


def test_a_location_setting_any_proxy_set_header_drops_the_inherited_forwarded_for():
    text = """
    http {
        proxy_set_header X-Forwarded-For $remote_addr;
        server { listen 80;
            location /_matrix {
                proxy_set_header Host $host;
                proxy_pass http://127.0.0.1:8008;
            }
            location /other { proxy_pass http://127.0.0.1:8008; }
        }
    }"""
    assert _xff(text).forwarded_for == "absent"
    assert _xff(text, "/other/x").forwarded_for == "replace"


def test_forwarded_for_unknown_when_an_unseen_region_could_set_it():
    # A snippet: the http block (which could set proxy_set_header) is elsewhere.
    snippet = """
    server { listen 80;
        location /_matrix { proxy_pass http://127.0.0.1:8008; }
    }"""
    assert _xff(snippet).forwarded_for is None
    # An unresolved include in the location could set it.
    tree = parse_string("""
    http { server { listen 80;
        location /_matrix { include /nonexistent/proxy.conf; proxy_pass http://127.0.0.1:8008; }
    } }""", "test.conf")
    route = select(build(tree, {}), Request.from_url("GET", "http://localhost/_matrix/x")).route
    assert route.action.forwarded_for is None


def test_forwarded_for_known_when_the_level_with_unseen_parts_is_replaced():
    # The location's own proxy_set_header replaces everything from above, unseen parts included.
    snippet = """
    server { listen 80;
        location /_matrix {
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_pass http://127.0.0.1:8008;
        }
        location /other {
            proxy_set_header Host $host;
            proxy_pass http://127.0.0.1:8008;
        }
    }"""
    assert _xff(snippet).forwarded_for == "replace"
    assert _xff(snippet, "/other/x").forwarded_for == "absent"


def test_two_forwarded_for_lines_send_two_headers_and_the_first_decides_the_left_most():
    # nginx sends one header per line (measured: ['127.0.0.1', '203.0.113.9, 127.0.0.1']).
    def lines(*values):
        body = "".join(f"proxy_set_header X-Forwarded-For {v};\n" for v in values)
        return _xff(f"http {{ server {{ listen 80; location /_matrix {{ {body} proxy_pass http://h:8008; }} }} }}")
    assert lines("$remote_addr", "$proxy_add_x_forwarded_for").forwarded_for is None
    assert lines("$proxy_add_x_forwarded_for", "$remote_addr").forwarded_for == "append"


# Site.fallback: nginx's static handler for a request no location takes (measured with the real
# nginx in tests/real/test_model_nginx.py: GET/HEAD/POST of a missing file 404, other methods 405,
# text/html, the server level's `always` headers only).
FALLBACK = """
http {
    server {
        listen 80;
        root /srv/www;
        add_header X-Always a always;
        add_header X-Plain p;
        location /_matrix { proxy_pass http://127.0.0.1:8008; }
    }
}
"""


@pytest.mark.parametrize("method,kind,status", [
    ("GET", "static", 404), ("HEAD", "static", 404), ("POST", "static", 404),
    ("OPTIONS", "respond", 405), ("PUT", "respond", 405), ("DELETE", "respond", 405), ("PATCH", "respond", 405),
])
def test_a_request_no_location_takes_gets_the_static_handler(method, kind, status):
    config = model(FALLBACK)
    sel = select(config, Request.from_url(method, "http://localhost/no-such-route/x"))
    assert sel.unknowns == []
    route = sel.route
    assert route.fallback and route not in config.sites[0].routes
    assert (route.action.kind, route.action.status, route.action.content_type) == (kind, status, "text/html")
    assert route.span == config.sites[0].span
    if kind == "static":
        assert route.action.root == "/srv/www"
    # nginx's own error page: only the `always` header applies to 404 and 405.
    names = [op.name for op in route.headers if op.applies(status, generated=True)]
    assert names == ["X-Always"]


def test_the_405_fallback_predicts_the_status_content_type_and_always_headers():
    route = select(model(FALLBACK), Request.from_url("OPTIONS", "http://localhost/x")).route
    (out,) = outcomes(route, Request.from_url("OPTIONS", "http://localhost/x"))
    assert out.status == 405
    assert out.values("Content-Type") == ["text/html"]
    assert out.values("X-Always") == ["a"] and out.values("X-Plain") == []


def test_fallback_without_root_looks_under_the_default_html_dir():
    config = model("http { server { listen 80; location /_matrix { proxy_pass http://h:8008; } } }")
    assert [r.action.root for r in config.sites[0].fallback][:1] == ["html"]


def test_an_error_page_in_scope_makes_the_fallback_content_type_unknown():
    config = model("""
    http { server { listen 80;
        error_page 404 /404.html;
        error_page 405 =200 /ok.html;
        location /_matrix { proxy_pass http://h:8008; }
    } }""")
    lookup, other = config.sites[0].fallback
    assert (lookup.action.status, lookup.action.content_type) == (404, None)
    assert lookup.facts["error_page"].span.line == 3
    assert (other.action.status, other.action.content_type) == (200, None)


def test_a_location_the_static_handler_answers_gets_405_for_other_methods():
    text = """
    http { server { listen 80;
        add_header X-Always a always;
        location /element { root /var/www; }
        location /bare { add_header X-Bare b always; }
        location /spa { root /var/www; try_files $uri /index.html; }
    } }"""
    site = model(text).sites[0]

    def pick(method, path):
        route, unknowns = select_request(site, Request.from_url(method, f"http://localhost{path}"))
        assert unknowns == []
        return route
    element = pick("GET", "/element/x")
    assert (element.action.kind, element.action.status, element.action.root) == ("static", None, "/var/www")
    refused = pick("OPTIONS", "/element/x")
    assert (refused.action.kind, refused.action.status) == ("respond", 405)
    assert refused.match.pattern == "/element" and not refused.fallback
    # No root, no handler: the default root, and nginx's answer for a file that is not there.
    bare = pick("GET", "/bare/x")
    assert (bare.action.kind, bare.action.status, bare.action.root) == ("static", 404, "html")
    assert [op.name for op in bare.headers] == ["X-Bare"]
    assert pick("PUT", "/bare/x").action.status == 405
    # try_files decides before the static handler: left as the location says.
    assert pick("OPTIONS", "/spa/x").action.kind == "static"
    # The rules' selection (method and path only) is unchanged.
    assert select_route(site, "OPTIONS", "/element/x")[0].action.kind == "static"


# Whole-request selection: `if` on request headers is decided by the request, as nginx does.
ORIGIN_IFS = """
server {
    listen 80;
    location /_matrix {
        if ($http_origin) { return 200 origin; }
        proxy_pass http://127.0.0.1:8008;
    }
    location /cors {
        if ($http_origin ~* "^https://(app\\.element\\.io|chat\\.example\\.org)$") { return 200 allowed; }
        if ($http_x_debug = "1") { return 200 debug; }
        if (!-f $request_filename) { return 404; }
        return 200 plain;
    }
}
"""


def test_select_request_decides_header_conditions():
    site = model(ORIGIN_IFS).sites[0]

    def pick(path, headers=()):
        return select_request(site, Request.from_url("GET", f"http://localhost{path}", headers))
    route, unknowns = pick("/_matrix/x", [("Origin", "https://app.element.io")])
    assert (route.action.body, unknowns) == ("origin", [])
    route, unknowns = pick("/_matrix/x")
    assert (route.action.kind, unknowns) == ("proxy", [])
    route, unknowns = pick("/_matrix/x", [("Origin", "0")])     # nginx: "0" is false
    assert route.action.kind == "proxy"
    # An `if` that returns ends the rewrite phase: the file test after it is never reached.
    route, unknowns = pick("/cors/x", [("Origin", "https://APP.element.io")])
    assert (route.action.body, unknowns) == ("allowed", [])
    # A file test cannot be decided: reported, as select_route does for every header condition.
    assert pick("/cors/x", [("X-Debug", "1")]) == (pick("/cors/x", [("X-Debug", "1")])[0], [])
    assert pick("/cors/x", [("X-Debug", "1")])[0].action.body == "debug"
    route, unknowns = pick("/cors/x")
    assert route.action.body == "plain"
    assert unknowns == ["if (!-f $request_filename)"]
    assert select_route(site, "GET", "/_matrix/x")[1] == ["if ($http_origin)"]


@pytest.mark.parametrize("args,headers,expected", [
    (["$http_origin"], [], False),
    (["$http_origin"], [("Origin", "x")], True),
    (["$http_origin", "=", ""], [], True),
    (["$http_origin", "!=", "https://a"], [("Origin", "https://a")], False),
    (["$request_method", "!~*", "^(get|head)$"], [], False),
    (["$http_x_forwarded_proto", "=", "$scheme"], [("X-Forwarded-Proto", "https")], False),
    (["$arg_access_token"], [], True),
    (["$mapped"], [], None),
    (["-f", "$request_filename"], [], None),
])
def test_if_conditions_evaluated_like_the_rewrite_module(args, headers, expected):
    from linter.nginx.routing import evaluate

    request = Request.from_url("GET", "http://localhost/x?access_token=t", headers)
    assert evaluate(args, request) is expected


# The proxy's own answer is a `respond` action (what MPL101 needs to see a success answer).
def test_own_return_answers_are_respond_actions_also_inside_a_method_if():
    site = model("""
    server {
        location = /.well-known/matrix/client {
            add_header Access-Control-Allow-Origin *;
            return 200 '{"m.homeserver": {"base_url": "https://matrix.example.org"}}';
        }
        location /_matrix {
            if ($request_method = 'OPTIONS') {
                add_header 'Access-Control-Max-Age' 1728000;
                add_header 'Content-Type' 'text/plain; charset=utf-8';
                add_header 'Content-Length' 0;
                return 204;
            }
            proxy_pass http://127.0.0.1:8008;
        }
    }""").sites[0]
    well_known = select_route(site, "GET", "/.well-known/matrix/client")[0]
    assert (well_known.action.kind, well_known.action.status) == ("respond", 200)
    preflight = select_route(site, "OPTIONS", "/_matrix/client/versions")[0]
    assert (preflight.action.kind, preflight.action.status) == ("respond", 204)
    assert preflight.condition.methods == frozenset({"OPTIONS"})
    assert [op.name for op in preflight.headers][:1] == ["Access-Control-Max-Age"]
