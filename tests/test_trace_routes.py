"""`trace` and `routes` from the command line, on the bundled examples."""
import json
from pathlib import Path

from click.testing import CliRunner

from linter.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "nginx"


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_trace_json_names_site_route_action_and_upstream_request_line():
    r = run("trace", "--format", "json", str(EXAMPLES / "broken.conf"),
            "GET https://matrix.example.com/_matrix/federation/v1/event/%24a%2Fb?x=1")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["site"]["names"] == ["matrix.example.com"] and doc["site"]["line"] == 2
    assert doc["route"]["match"] == "/_matrix" and doc["route"]["line"] == 13
    # proxy_pass http://127.0.0.1:8008/_matrix: nginx decodes %24 and %2F before replacing the prefix.
    assert doc["action"]["upstream_request_line"] == "GET /_matrix/federation/v1/event/$a/b?x=1 HTTP/1.0"
    assert [o["when"] for o in doc["outcomes"]] == ["upstream-ok", "upstream-error", "upstream-down"]
    down = doc["outcomes"][2]
    assert down["status"] == 502
    # add_header without `always` (line 11) is missing from the 502; the HSTS one (line 10) is there.
    assert [(h["name"], h["line"]) for h in down["headers"] if h["path"]] == [("Strict-Transport-Security", 10)]


def test_trace_preflight_answered_by_the_proxy():
    r = run("trace", "--format", "json", str(EXAMPLES / "broken.conf"),
            "OPTIONS https://matrix.example.com/_matrix/client/versions", "-H", "Origin: https://app.element.io")
    doc = json.loads(r.output)
    assert doc["route"]["condition"] == "if ($request_method = OPTIONS)"
    (out,) = doc["outcomes"]
    assert out["when"] == "proxy" and out["status"] == 204
    assert [(h["name"], h["value"]) for h in out["headers"]] == [("Access-Control-Allow-Origin", "*")]


def test_trace_text_and_bad_request():
    r = run("trace", str(EXAMPLES / "clean.conf"), "GET https://matrix.example.com/_matrix/client/versions")
    assert r.exit_code == 0
    assert "the upstream receives: GET /_matrix/client/versions HTTP/1.1" in r.output
    assert run("trace", str(EXAMPLES / "clean.conf"), "GET not-a-url").exit_code == 2


def test_routes_lists_every_route_in_order():
    doc = json.loads(run("routes", "--format", "json", str(EXAMPLES / "broken.conf")).output)
    (site,) = doc["sites"]
    assert [(l["port"], l["tls"]) for l in site["listens"]] == [(443, True), (8448, True)]
    assert [(r["match"], r["action"], r["line"]) for r in site["routes"]] == [
        ("/_matrix", "proxy", 13), ("/_matrix", "respond", 20), ("/", "proxy", 26),
        ("/.well-known/matrix/", "respond", 33)]
    text = run("routes", str(EXAMPLES / "broken.conf")).output
    assert "-> proxy http://127.0.0.1:8008 (uri: replaced)" in text


APACHE = """<VirtualHost *:443>
    ServerName matrix.example.org
    SSLEngine on
    ProxyPreserveHost On
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    ProxyPass /_synapse/client http://127.0.0.1:8008/_synapse/client
</VirtualHost>
"""


def test_trace_on_apache_uses_its_own_uri_rules(tmp_path):
    conf = tmp_path / "matrix.conf"
    conf.write_text(APACHE)
    # AllowEncodedSlashes is Off: httpd answers 404 for %2F before any ProxyPass.
    doc = json.loads(run("trace", "--format", "json", str(conf),
                         "GET https://matrix.example.org/_matrix/federation/v1/event/%24a%2Fb").output)
    assert [o["status"] for o in doc["outcomes"]] == [404]
    # Without %2F, nocanon passes the client's bytes: %24 stays encoded.
    doc = json.loads(run("trace", "--format", "json", str(conf),
                         "GET https://matrix.example.org/_matrix/federation/v1/event/%24a").output)
    assert doc["action"]["upstream_request_line"] == "GET /_matrix/federation/v1/event/%24a HTTP/1.1"


def test_trace_shows_what_it_could_not_see(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n    server {\n        listen 443 ssl;\n        location /_matrix {\n"
                    "            include /config/nginx/missing-proxy.conf;\n"
                    "            proxy_pass http://127.0.0.1:8008;\n        }\n"
                    "        location /other {\n            return 404;\n        }\n    }\n}\n")
    doc = json.loads(run("trace", "--format", "json", str(conf),
                         "GET https://matrix.example.org/_matrix/client/versions").output)
    (unseen,) = doc["unseen"]
    assert (unseen["line"], unseen["column"]) == (5, 13)
    assert "/config/nginx/missing-proxy.conf" in unseen["what"]
    assert any(u.startswith("not seen: `/config/nginx/missing-proxy.conf`") for u in doc["unknowns"])
    other = json.loads(run("trace", "--format", "json", str(conf), "GET https://matrix.example.org/other").output)
    assert other["unseen"] == [], "an include in another location cannot change this answer"
    text = run("trace", str(conf), "GET https://matrix.example.org/_matrix/client/versions").output
    assert "not seen: `/config/nginx/missing-proxy.conf`" in text


WEB_BESIDE_MATRIX = """server {
    listen 443 ssl;
    server_name matrix.example.org;
    location /_matrix {
        proxy_pass http://127.0.0.1:8008;
    }
    location / {
        proxy_pass http://web:3000;
    }
}
"""


def test_trace_says_why_a_route_counts_as_matrix_and_whether_its_upstream_is_a_homeserver(tmp_path):
    conf = tmp_path / "matrix.conf"
    conf.write_text(WEB_BESIDE_MATRIX)
    doc = json.loads(run("trace", "--format", "json", str(conf),
                         "GET https://matrix.example.org/_matrix/client/versions").output)
    matrix = doc["matrix"]
    assert matrix["serves_matrix"] and "`/_matrix`" in matrix["why"]
    assert matrix["homeserver"]["answer"] == "yes"
    assert matrix["text"].startswith("Matrix route: ")
    # `location /` takes /_synapse/client/... in a Matrix site, but its upstream is not the homeserver.
    doc = json.loads(run("trace", "--format", "json", str(conf),
                         "GET https://matrix.example.org/_synapse/client/oidc/callback").output)
    matrix = doc["matrix"]
    assert matrix["serves_matrix"] and "GET /_synapse/client/oidc/callback" in matrix["why"]
    assert matrix["homeserver"]["answer"] == "no"
    (evidence,) = matrix["homeserver"]["evidence"]
    assert "http://127.0.0.1:8008" in evidence and "http://web:3000" in evidence
    assert "the upstream is not a homeserver" in matrix["text"]
    # The model then does not invent the homeserver's CORS headers for web:3000's answers.
    ok = doc["outcomes"][0]
    assert ok["when"] == "upstream-ok" and not [h for h in ok["headers"] if h["from_upstream"]]
