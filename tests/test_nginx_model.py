"""nginx semantics in the model, on the examples from the nginx documentation."""
import pytest

from linter.nginx.build import build
from linter.nginx.parse import parse_string
from linter.predict import outcomes
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
