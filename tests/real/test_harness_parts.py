"""The harness's own parts, mostly without any proxy: fake homeserver, raw client, renderers, fixtures."""
from __future__ import annotations

import os
import socket
import threading
import types

import pytest

from real import driver_apache, driver_caddy, driver_haproxy, driver_nginx
from real.client import http_request, send_raw
from real.fake_homeserver import FakeHomeserver
from real.harness import original_port, require_binary
from real.support import ClosedPort, Unrenderable, Upstreams

CORS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    ("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization, Date"),
]


# --- fake homeserver ---------------------------------------------------------------------------

def test_fake_records_the_request_line_byte_for_byte(fake_homeserver):
    http_request(fake_homeserver.port, "GET", b"/_matrix/client/v3/x%2F..//y?q=%40",
                 headers=[("X-One", "1"), ("x-one", "2")])
    got = fake_homeserver.last()
    assert got.request_line == b"GET /_matrix/client/v3/x%2F..//y?q=%40 HTTP/1.1"
    assert got.path == b"/_matrix/client/v3/x%2F..//y"
    assert got.headers == [("Host", "localhost"), ("X-One", "1"), ("x-one", "2"), ("Connection", "close")]
    assert got.header_values("X-ONE") == ["1", "2"]


@pytest.mark.parametrize("method, target, status", [
    ("GET", "/_matrix/client/versions", 200),
    ("GET", "/_matrix/client/v3/nope", 404),
    ("OPTIONS", "/anything/at/all", 204),
    ("GET", "/health", 200),
])
def test_fake_sends_synapse_cors_headers_on_every_answer(fake_homeserver, method, target, status):
    response = http_request(fake_homeserver.port, method, target)
    assert response.status == status
    for name, value in CORS:
        assert response.header_values(name) == [value]
    if status == 404:
        assert response.json() == {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"}
    if status == 204:
        assert response.body == b""


def test_fake_fails_everything_when_told(fake_homeserver):
    fake_homeserver.fail_with = 500
    for method in ("GET", "OPTIONS", "POST"):
        response = http_request(fake_homeserver.port, method, "/_matrix/client/versions", body=b"{}")
        assert response.status == 500
        assert response.header("access-control-allow-origin") == "*"


def test_fake_keeps_connections_alive_and_reads_chunked_bodies(fake_homeserver):
    with socket.create_connection(("127.0.0.1", fake_homeserver.port), timeout=5) as sock:
        sock.sendall(b"POST /_matrix/client/v3/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                     b"HEAD /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 ") == 2
    assert data.startswith(b"HTTP/1.1 404 ")
    assert data.endswith(b"\r\n\r\n")    # the HEAD answer has no body
    assert [r.body for r in fake_homeserver.requests] == [b"abcde", b""]


def test_closed_port_refuses_connections():
    with ClosedPort() as closed:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", closed.port), timeout=2)


# --- raw client ----------------------------------------------------------------------------------

def _one_shot_server(reply: bytes):
    """A socket that answers one connection with `reply`; returns (port, received-bytes holder)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received = []

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(2)
            data = b""
            try:
                while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
                    data += conn.recv(65536)
            except socket.timeout:
                pass
            received.append(data)
            conn.sendall(reply)
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], received


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_client_sends_exact_bytes_and_keeps_duplicate_headers():
    reply = (b"HTTP/1.1 100 Continue\r\n\r\n"
             b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-A: 1\r\nset-cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    port, received = _one_shot_server(reply)
    response = http_request(port, "PUT", "/a%2Fb//../c", headers=[("X-Test", "1")], body=b"xyz")
    assert received == [b"PUT /a%2Fb//../c HTTP/1.1\r\nHost: localhost\r\nX-Test: 1\r\n"
                        b"Content-Length: 3\r\nConnection: close\r\n\r\nxyz"]
    assert response.status == 200
    assert response.headers == [("Set-Cookie", "a=1"), ("X-A", "1"), ("set-cookie", "b=2"),
                                ("Transfer-Encoding", "chunked")]
    assert response.header_values("SET-COOKIE") == ["a=1", "b=2"]
    assert response.body == b"hello world"


def test_client_reads_body_until_close_without_length():
    port, _ = _one_shot_server(b"HTTP/1.0 502 Bad Gateway\r\nServer: x\r\n\r\n<html>down</html>")
    response = send_raw(port, b"GET / HTTP/1.0\r\n\r\n")
    assert (response.version, response.status, response.reason) == ("HTTP/1.0", 502, "Bad Gateway")
    assert response.body == b"<html>down</html>"


def test_original_port_reads_listen_specs():
    assert [original_port(s) for s in ("443 ssl", "[::]:8448", "*:80", "8448")] == [443, 8448, 80, 8448]


# --- renderers (no server needed) ----------------------------------------------------------------

def test_nginx_render_keeps_the_proxy_pass_uri_and_maps_upstreams(tmp_path):
    rendered = driver_nginx.render("""
        upstream workers { server 10.0.0.5:8083; server unix:/run/w.sock backup; }
        server {
            listen 80; listen [::]:80;
            listen 443 ssl http2; listen [::]:443 ssl http2 ipv6only=on;
            location /a { proxy_pass http://synapse:8008/_matrix/; }
            location /b { proxy_pass https://localhost:8008; }
            location /c { proxy_pass http://workers; }
            location /d { proxy_pass http://unix:/run/synapse.sock:/x/; }
            location /e { set $up synapse; proxy_pass http://$up:8008$request_uri; }
        }
        server { server_name other.example.org; }
        """, tmp_path, Upstreams({"synapse:8008": 1111, "workers": 2222, "*": 3333}))
    text = rendered.config_path.read_text()
    assert "proxy_pass http://127.0.0.1:1111/_matrix/;" in text
    assert "proxy_pass http://127.0.0.1:3333;" in text              # https → http, "*" target
    assert "proxy_pass http://workers;" in text
    assert "server 127.0.0.1:2222;" in text and "server 127.0.0.1:2222 backup;" in text
    assert "proxy_pass http://127.0.0.1:3333/x/;" in text
    assert "proxy_pass http://127.0.0.1:3333$request_uri;" in text
    assert sorted(rendered.listeners) == [80, 443]
    assert rendered.listeners[443].tls and not rendered.listeners[80].tls
    assert rendered.listeners[80].names == ["other.example.org"]   # the server with no listen is on *:80
    assert text.count(f"listen 127.0.0.1:{rendered.listeners[443].port} ssl http2;") == 1
    assert "ipv6only" not in text and "[::]" not in text


@pytest.mark.parametrize("text, level", [
    ("events {} http { server { listen 80; } }", "main"),
    ("server { listen 80; } map $a $b { default 1; }", "http"),
    ("listen 8448; location / { return 204; }", "server"),
])
def test_nginx_guesses_what_a_file_is(tmp_path, text, level):
    (tmp_path / "f.conf").write_text(text)
    assert driver_nginx.guess_level(driver_nginx.load(tmp_path / "f.conf", tmp_path)[0]) == level


def test_nginx_includes_resolve_inside_the_config_tree(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "snippets").mkdir()
    (tmp_path / "conf.d" / "matrix.conf").write_text("server { listen 8448; include /etc/nginx/snippets/p.conf; }")
    (tmp_path / "snippets" / "p.conf").write_text("location / { proxy_pass http://localhost:8008; }")
    main = tmp_path / "nginx.conf"
    main.write_text("events {} http { include conf.d/*.conf; include mime.types; }")
    work = tmp_path / "work"
    work.mkdir()
    rendered = driver_nginx.render(main, work, Upstreams(9))
    text = rendered.config_path.read_text()
    assert "proxy_pass http://127.0.0.1:9;" in text
    assert "application/json" in text          # Debian's stock mime.types
    assert list(rendered.listeners) == [8448]


def test_nginx_never_leaves_a_real_port_behind(tmp_path):
    rendered = driver_nginx.render("events {} mail { server { listen 25; protocol smtp; } }"
                                   " http { server { listen 80; } }", tmp_path, Upstreams(9))
    assert "listen 25" not in rendered.config_path.read_text()
    assert "dropped the mail {} block" in rendered.notes
    with pytest.raises(Unrenderable, match="listen 8080 outside a server block"):
        driver_nginx.render("events {} http { listen 8080; }", tmp_path, Upstreams(9))


def test_nginx_missing_include_is_unrenderable(tmp_path):
    with pytest.raises(Unrenderable, match="snippets/ssl.conf"):
        driver_nginx.render("server { include snippets/ssl.conf; }", tmp_path, Upstreams(9))


def test_apache_render_rewrites_proxy_targets_and_keeps_the_rest(tmp_path):
    rendered = driver_apache.render(
        'Listen 80\nListen [::]:80\n<VirtualHost *:80 [::]:80>\n'
        '    ProxyPassMatch "^/_matrix/(.*)\\.json$" "http://synapse:8008/_matrix/$1.json" nocanon\n'
        '    ProxyPass /x !\n'
        '    RewriteRule ^/media/(.*) https://media:8008/$1 [P,L]\n'
        '    RewriteRule ^/old$ /new [R=301]\n'
        '    <Proxy "http://synapse:8008/*">\n    </Proxy>\n</VirtualHost>\n',
        tmp_path, Upstreams(7))
    text = rendered.config_path.read_text()
    port = rendered.listeners[80].port
    assert text.count(f"Listen 127.0.0.1:{port}") == 1
    assert f"<VirtualHost 127.0.0.1:{port}>" in text
    assert '    ProxyPassMatch "^/_matrix/(.*)\\.json$" "http://127.0.0.1:7/_matrix/$1.json" nocanon' in text
    assert "    ProxyPass /x !" in text
    assert "RewriteRule ^/media/(.*) http://127.0.0.1:7/$1 [P,L]" in text
    assert "RewriteRule ^/old$ /new [R=301]" in text
    assert '<Proxy "http://127.0.0.1:7/*">' in text


def test_haproxy_render_maps_binds_and_drops_upstream_tls(tmp_path):
    rendered = driver_haproxy.render(
        "frontend fe\n    bind :80,:::8448 v4v6\n    bind *:443 ssl crt /etc/ssl/a.pem crt /etc/ssl/b.pem\n"
        "backend be\n    server s1 synapse:8008 ssl verify required ca-file /etc/ssl/ca.pem check # main\n",
        tmp_path, Upstreams({"be": 5, "*": 6}))
    text = rendered.config_path.read_text()
    ports = {p: listener.port for p, listener in rendered.listeners.items()}
    assert f"bind 127.0.0.1:{ports[80]},127.0.0.1:{ports[8448]}\n" in text
    assert text.count(" crt ") == 1 and rendered.listeners[443].tls
    assert "    server s1 127.0.0.1:5 check\n" in text
    assert text.startswith("global\n")


@pytest.mark.parametrize("server, tls", [
    ({"listen": [":443"], "routes": []}, True),                                      # HTTPS port alone
    ({"listen": [":80"], "routes": [{"match": [{"host": ["a.example"]}]}]}, False),  # HTTP port alone
    ({"listen": [":8448"], "routes": [{"match": [{"host": ["a.example"]}]}]}, True),  # a host qualifies
    ({"listen": [":8448"], "routes": [{"match": [{"host": ["a.example"]}]}],
      "automatic_https": {"skip": ["a.example"]}}, False),                           # http://a.example:8448
    ({"listen": [":8448"], "routes": []}, False),                                    # no host, no policy
    ({"listen": [":8448"], "tls_connection_policies": [{}]}, True),
])
def test_caddy_decides_tls_like_automatic_https(server, tls):
    assert driver_caddy._serves_tls(server, 80, 443) is tls


# --- fixtures ------------------------------------------------------------------------------------

def _absent_driver():
    return types.SimpleNamespace(NAME="nosuchserver", find_binary=lambda: None)


def test_missing_binary_skips(monkeypatch):
    monkeypatch.delenv("MPL_REQUIRE_SERVERS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nosuchserver is not installed"):
        require_binary(_absent_driver())


def test_missing_binary_fails_when_servers_are_required(monkeypatch):
    monkeypatch.setenv("MPL_REQUIRE_SERVERS", "1")
    with pytest.raises(pytest.fail.Exception, match="MPL_REQUIRE_SERVERS=1 but nosuchserver"):
        require_binary(_absent_driver())


def test_stopping_leaves_no_process_behind(nginx):
    with nginx("server { listen 80; return 204; }") as proxy:
        group = proxy.process.pid
        os.killpg(group, 0)                      # master and worker are running
        assert proxy.request("GET", "/").status == 204
    assert proxy.process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)                      # nothing left in its process group


def test_fake_homeserver_class_works_standalone():
    with FakeHomeserver(fail_with=503) as fake:
        assert http_request(fake.port, "GET", "/").status == 503
        assert [r.request_line for r in fake.requests] == [b"GET / HTTP/1.1"]
