"""rules/routing.py (MPL901-MPL903) on small configurations: what each rule claims, and the cases
where it must stay silent (undecided conditions, nginx's server-level return, unseen includes)."""
from __future__ import annotations

from linter.engine import lint

NAMES = {"nginx": "nginx.conf", "apache": "apache2.conf", "caddy": "Caddyfile", "haproxy": "haproxy.cfg"}
HAPROXY_HEAD = """defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 180s
"""


def findings(tmp_path, server: str, text: str, code: str) -> list:
    path = tmp_path / NAMES[server]
    path.write_text(text)
    report = lint([str(path)], server=server)
    assert not report.errors, report.errors
    return [f for f in report.findings if f.rule.code == code]


# -- MPL901 route-unreachable ------------------------------------------------------------------

def test_caddy_respond_without_matcher_names_itself_as_the_route_taking_the_requests(tmp_path):
    found = findings(tmp_path, "caddy", "m.example.org {\n\trespond 403\n\treverse_proxy /_matrix/* localhost:8008\n}\n",
                     "MPL901")
    assert [(f.span.line, f.span.column) for f in found] == [(3, 2)]
    assert f"{tmp_path / 'Caddyfile'}:2" in found[0].message
    assert "403" in found[0].message


def test_caddy_respond_with_an_undecidable_matcher_is_not_sure(tmp_path):
    text = ("m.example.org {\n\t@bots header User-Agent *bot*\n\trespond @bots 403\n"
            "\treverse_proxy /_matrix/* localhost:8008\n}\n")
    assert findings(tmp_path, "caddy", text, "MPL901") == []


def test_caddy_catch_all_in_a_handle_after_the_matrix_handle_is_reachable(tmp_path):
    text = ("m.example.org {\n\thandle /_matrix/* {\n\t\treverse_proxy localhost:8008\n\t}\n"
            "\thandle {\n\t\trespond 404\n\t}\n}\n")
    assert findings(tmp_path, "caddy", text, "MPL901") == []


def test_haproxy_unconditional_deny_kills_every_later_routing_line(tmp_path):
    text = HAPROXY_HEAD + """frontend fe
    bind :443
    http-request deny
    http-request return status 200 if { path /health }
    use_backend synapse if { path_beg /_matrix }
    default_backend synapse
backend synapse
    server s 127.0.0.1:8008
"""
    found = findings(tmp_path, "haproxy", text, "MPL901")
    assert sorted(f.span.line for f in found) == [9, 10, 11]
    assert all(f"{tmp_path / 'haproxy.cfg'}:8" in f.message for f in found)


def test_haproxy_deny_with_an_undecidable_condition_is_not_flagged(tmp_path):
    text = HAPROXY_HEAD + """frontend fe
    bind :443
    http-request deny if { src 10.0.0.0/8 }
    use_backend synapse if { path_beg /_matrix }
backend synapse
    server s 127.0.0.1:8008
"""
    assert findings(tmp_path, "haproxy", text, "MPL901") == []


def test_nginx_server_level_return_is_not_a_dead_location(tmp_path):
    text = "server {\n    listen 80;\n    return 301 https://$host$request_uri;\n" \
           "    location /_matrix { proxy_pass http://127.0.0.1:8008; }\n}\n"
    assert findings(tmp_path, "nginx", text, "MPL901") == []


def test_nginx_prefix_location_under_a_covering_regex_is_dead_unless_caret_tilde(tmp_path):
    shadowed = """server {
    listen 443 ssl;
    location ~ ^/_matrix { proxy_pass http://127.0.0.1:8008; }
    location /_matrix/media { client_max_body_size 100m; proxy_pass http://127.0.0.1:8008; }
}
"""
    found = findings(tmp_path, "nginx", shadowed, "MPL901")
    assert [(f.span.line, f.span.column) for f in found] == [(4, 5)]
    assert "regex" in found[0].message
    assert findings(tmp_path, "nginx", shadowed.replace("location /_matrix/media", "location ^~ /_matrix/media"),
                    "MPL901") == []


def test_nginx_regex_that_does_not_cover_the_prefix_leaves_it_reachable(tmp_path):
    text = """server {
    listen 443 ssl;
    location ~ ^/_matrix/client/(r0|v3)/sync { proxy_pass http://127.0.0.1:8083; }
    location /_matrix/client { proxy_pass http://127.0.0.1:8008; }
}
"""
    assert findings(tmp_path, "nginx", text, "MPL901") == []


def test_apache_proxypass_after_a_covering_one_is_dead(tmp_path):
    text = """<VirtualHost *:443>
    ServerName m.example.org
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    ProxyPass /_matrix/client http://127.0.0.1:8009/_matrix/client nocanon
    ProxyPass /_synapse/client http://127.0.0.1:8008/_synapse/client nocanon
</VirtualHost>
"""
    found = findings(tmp_path, "apache", text, "MPL901")
    assert [f.span.line for f in found] == [4]
    assert f"{tmp_path / 'apache2.conf'}:3" in found[0].message


# -- MPL902 synapse-client-not-proxied --------------------------------------------------------

SYNAPSE_MATRIX_ONLY = """http {
server {
    listen 443 ssl;
    server_name m.example.org;
    %s
    location /_matrix { proxy_pass http://synapse:8008; }
}
%s}
"""


def test_synapse_without_synapse_client_is_flagged_at_the_client_api_route(tmp_path):
    found = findings(tmp_path, "nginx", SYNAPSE_MATRIX_ONLY % ("", ""), "MPL902")
    assert [(f.span.line, f.severity, f.unless) for f in found] == [(6, "warning", ())]
    assert "synapse:8008" in found[0].message


def test_an_unseen_include_could_proxy_it(tmp_path):
    found = findings(tmp_path, "nginx", SYNAPSE_MATRIX_ONLY % ("include /nonexistent/synapse-client.conf;", ""),
                     "MPL902")
    assert len(found) == 1 and found[0].unless


def test_a_homeserver_not_shown_to_be_synapse_is_not_flagged(tmp_path):
    text = (SYNAPSE_MATRIX_ONLY % ("", "")).replace("synapse:8008", "127.0.0.1:8008")
    assert findings(tmp_path, "nginx", text, "MPL902") == []


def test_synapse_client_proxied_on_any_client_site_is_enough(tmp_path):
    text = SYNAPSE_MATRIX_ONLY % ("", """server {
    listen 443 ssl;
    server_name other.example.org;
    location ~ ^(/_matrix|/_synapse/client) { proxy_pass http://synapse:8008; }
}
""")
    assert findings(tmp_path, "nginx", text, "MPL902") == []


def test_undecided_selection_of_synapse_client_gives_no_finding(tmp_path):
    text = ("m.example.org {\n\treverse_proxy /_matrix/* synapse:8008\n"
            "\t@internal remote_ip 10.0.0.0/8\n\treverse_proxy @internal synapse:8008\n}\n")
    assert findings(tmp_path, "caddy", text, "MPL902") == []


# -- MPL903 matrix-path-blocked ---------------------------------------------------------------

def test_allow_list_on_media_is_not_a_block(tmp_path):
    text = """server {
    listen 443 ssl;
    location /_matrix/client { proxy_pass http://127.0.0.1:8008; }
    location /_matrix/media { allow 10.0.0.0/8; deny all; proxy_pass http://127.0.0.1:8008; }
}
"""
    assert findings(tmp_path, "nginx", text, "MPL903") == []


def test_federation_refused_on_a_client_only_site_is_fine_but_not_on_8448(tmp_path):
    client_only = ("chat.example.org {\n\trespond /_matrix/federation/* 404\n"
                   "\treverse_proxy /_matrix/client/* localhost:8008\n}\n")
    assert findings(tmp_path, "caddy", client_only, "MPL903") == []
    federation = client_only.replace("chat.example.org", "chat.example.org:8448")
    found = findings(tmp_path, "caddy", federation, "MPL903")
    assert [f.span.line for f in found] == [2] and "/_matrix/federation/" in found[0].message


def test_haproxy_deny_of_the_client_api_while_media_is_proxied(tmp_path):
    text = HAPROXY_HEAD + """frontend fe
    bind :443
    http-request deny if { path_beg /_matrix/client }
    use_backend synapse if { path_beg /_matrix }
backend synapse
    server s 127.0.0.1:8008
"""
    found = findings(tmp_path, "haproxy", text, "MPL903")
    assert [f.span.line for f in found] == [8]
    assert "`/_matrix/client/` is answered 403" in found[0].message


def test_caddy_unseen_global_import_could_reorder_the_directives(tmp_path):
    text = "{\n\timport /nonexistent/global-order.caddy\n}\nm.example.org {\n\trespond 403\n" \
           "\treverse_proxy /_matrix/* localhost:8008\n}\n"
    found = findings(tmp_path, "caddy", text, "MPL901")
    assert [f.span.line for f in found] == [6] and found[0].unless
