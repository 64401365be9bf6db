"""Real-server test harness: run a proxy config under the real nginx / Apache / HAProxy / Caddy on
loopback, in front of a fake Synapse, and look at what actually happens.

Writing a test
--------------
Use the fixtures from tests/real/conftest.py::

    def test_versions_reach_synapse(nginx, fake_homeserver):
        proxy = nginx('''
            server {
                listen 443 ssl;
                server_name matrix.example.org;
                location /_matrix { proxy_pass http://localhost:8008; }
            }''')
        response = proxy.request("GET", "/_matrix/client/versions", listen=443)
        assert response.status == 200
        assert fake_homeserver.last().request_line == b"GET /_matrix/client/versions HTTP/1.0"

`nginx`, `apache`, `haproxy`, `caddy` are factories: `proxy = nginx(config, upstream=None, **options)`.

- `config`: the config as text (`str`) or a file (`pathlib.Path`; its includes are looked up beside
  it, as if its directory were /etc/nginx, /etc/apache2…). nginx takes `level="main"|"http"|"server"`
  when the guess (full nginx.conf / file of `server {}` blocks / bare server body) is wrong.
- `upstream`: where every upstream in the config goes; default the `fake_homeserver`. Also a
  `ClosedPort` (the `down_upstream` fixture: connections refused), a port, "host:port", or a dict
  from upstream names *as written in the config* ("localhost:8008", an nginx upstream{} name, a
  HAProxy backend name) to targets, with "*" for the rest.
- The server's own check runs first (`nginx -t`, `apache2 -t`, `haproxy -c`, `caddy adapt`);
  a rejection raises `ConfigRejected` whose message has the server's output and the numbered
  rendered config. A config that cannot run here (an include that is not here, a unix-socket-only
  listener) skips the test with the reason. A missing binary skips, or fails when
  MPL_REQUIRE_SERVERS=1.
- The proxy stops when the test ends; `with nginx(...) as proxy:` stops it earlier.

`RunningProxy` (harness.py):
    proxy.request(method, target, *, listen=None, host=None, headers=(), body=None, chunked=False)
        -> Response. `listen` is the port the config listened on (443, 8448, "443 ssl",
        "[::]:8448"); None when there is only one. TLS is used when that listener was TLS.
        `host` defaults to the first host name served there (server_name / ServerName / Caddy site
        / HAProxy host ACL), else "localhost"; SNI follows it.
    proxy.send_raw(data: bytes, *, listen=None) -> Response     (anything, byte for byte)
    proxy.listeners: {original_port: Listener(original, port, tls, spec, names)}
    proxy.port(listen) / proxy.listener(listen)
    proxy.config_text, proxy.rendered.notes (what was changed beyond ports/certs/paths), proxy.logs()

`Response` (client.py): `status`, `reason`, `headers` (list of (name, value) in received order,
duplicates kept, names as spelled — HAProxy lower-cases them), `body` (bytes, de-chunked),
`header(name)` first value / `header_values(name)` all values, both case-insensitive; `json()`.
`client.http_request(port, ...)` is the same client without a proxy object. The request target is
sent as given, so `%2F`, `%40`, `//` and `..` reach the proxy untouched; nothing is added except
Host, Content-Length (or chunked framing) and `Connection: close`, never `Expect`.

`FakeHomeserver` (fake_homeserver.py; the `fake_homeserver` fixture is shared by the session and
reset before every test): answers like Synapse (CORS headers on every response, 204 for OPTIONS,
versions JSON, 404 M_UNRECOGNIZED otherwise — see its docstring); `fake.fail_with = 500` makes
everything a 500. `fake.requests` holds every `RecordedRequest` (`request_line` bytes exactly as
received, `target`, `path`, `method`, `version`, `headers`, `header()`, `body`, `raw_head`);
`fake.last()`, `fake.requests_to(b"/_matrix")`, `fake.clear()`, `fake.authority`.

What rendering changes (each driver's docstring has the detail): every listener → 127.0.0.1 and
a free port, grouped by the original port; certificates → one self-signed certificate; pid, logs,
temp and runtime paths → the work dir; upstream addresses → the targets, with the *path* part of
proxy URLs kept exactly. Known consequences: the upstream sees `Host: 127.0.0.1:<port>` where the
config relies on nginx's default `Host $proxy_host` or Apache without ProxyPreserveHost; TLS to the
upstream becomes plain HTTP; Caddy's automatic HTTPS (redirects, ACME) is off.

Adding a server: write `driver_<name>.py` with `NAME`, `find_binary()` and
`render(config, workdir, upstreams, **options) -> Rendered` (argv to check and run, env, listeners,
logs), and a three-line fixture in conftest.py. Nothing else knows about servers.
"""
