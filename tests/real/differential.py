"""What the four differential tests (tests/real/test_model_<server>.py) share.

MATRIX_REQUESTS: GET and CORS preflight on the client API, federation paths whose bytes must
survive the proxy (`%2F`, `%40`, `//`), and both well-known documents. UNMATCHED_REQUESTS: paths
no Matrix route is meant to take (the server's default handling, `Site.fallback`).
UPSTREAM_STATUSES: the upstream's error answers every proxied request is also tried with. `header_map`: a response's
headers by lower-cased name, every value kept in order (HAProxy lower-cases names itself).
"""
PREFLIGHT = [("Origin", "https://app.element.io"), ("Access-Control-Request-Method", "PUT"),
             ("Access-Control-Request-Headers", "authorization, content-type")]

MATRIX_REQUESTS = [
    ("GET", "/_matrix/client/versions", []),
    ("OPTIONS", "/_matrix/client/versions", PREFLIGHT),
    ("GET", "/_matrix/federation/v1/event/%24abc%2Fdef", []),
    ("GET", "/_matrix/client/v3/profile/%40alice%3Aexample.org?x=%2F", []),
    ("GET", "/_matrix//client/v3/rooms/%21r%3Ax//state", []),
    ("GET", "/.well-known/matrix/server", []),
    ("GET", "/.well-known/matrix/client", [("Origin", "https://app.element.io")]),
]

UNMATCHED_REQUESTS = [
    ("GET", "/no-such-route/x", []),
    ("OPTIONS", "/no-such-route/x", PREFLIGHT),
    ("POST", "/no-such-route/x", []),
]

UPSTREAM_STATUSES = (404, 500)


def header_map(headers) -> dict:
    out: dict = {}
    for name, value in headers:
        out.setdefault(name.lower(), []).append(value)
    return out
