"""Open world: a rule that says something is missing must not say it as fact when an include the
linter could not read could supply it.

Each case is a configuration with one defect of absence, written three ways:
- as is: the rule reports it at its own severity (the linter saw everything);
- with an include of a file that does not exist, at a place whose directives would apply: the
  finding is still there, but as info, naming the include it depends on (`depends_on` in JSON);
- with the same include present and supplying the missing piece: no finding at all.
So the test shows both that the rule notices the unseen region and that the region really could
have changed the verdict.
"""
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from linter.cli import main

NGINX = """\
http {{
    server {{
        listen 443 ssl;
        server_name matrix.example.org;
        location /_matrix {{
            {inc}
            proxy_pass http://127.0.0.1:8008;
            {body}
        }}
    }}
}}
"""
ALL_FORWARDING = ("proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr; "
                  "proxy_set_header X-Forwarded-Proto $scheme; client_max_body_size 50m;")

NGINX_CASES = {
    "MPL401": (NGINX, ALL_FORWARDING.replace("proxy_set_header X-Forwarded-For $remote_addr; ", ""),
               "proxy_set_header X-Forwarded-For $remote_addr;"),
    "MPL402": (NGINX, ALL_FORWARDING.replace("proxy_set_header X-Forwarded-Proto $scheme; ", ""),
               "proxy_set_header X-Forwarded-Proto $scheme;"),
    "MPL403": (NGINX, ALL_FORWARDING.replace("proxy_set_header Host $host; ", ""),
               "proxy_set_header Host $host;"),
    "MPL404": (NGINX, ALL_FORWARDING.replace(" client_max_body_size 50m;", ""), "client_max_body_size 50m;"),
    "MPL106": (NGINX, ALL_FORWARDING + " add_header Access-Control-Allow-Origin * always;",
               "proxy_hide_header Access-Control-Allow-Origin;"),
    "MPL405": ("""\
http {{
    server {{
        listen 443 ssl;
        server_name matrix.example.org;
        location / {{
            {inc}
            proxy_pass http://127.0.0.1:8008;
            {body}
        }}
    }}
}}
""", ALL_FORWARDING, "deny all;"),
    "MPL102": ("""\
http {{
    server {{
        listen 443 ssl;
        server_name matrix.example.org;
        location /_matrix {{
            if ($request_method = OPTIONS) {{
                {inc}
                add_header Access-Control-Allow-Origin * always;
                return 204;
            }}
            proxy_pass http://127.0.0.1:8008;
            {body}
        }}
    }}
}}
""", ALL_FORWARDING, 'add_header Access-Control-Allow-Methods "GET, POST, PUT, DELETE, OPTIONS" always; '
                     'add_header Access-Control-Allow-Headers "Authorization, Content-Type" always;'),
    "MPL305": ("""\
http {{
    server {{
        listen 443 ssl;
        server_name example.org;
        location = /.well-known/matrix/client {{
            default_type application/json;
            {inc}
            return 200 '{{"m.homeserver": {{"base_url": "https://matrix.example.org"}}}}';
            {body}
        }}
    }}
}}
""", "", "add_header Access-Control-Allow-Origin * always;"),
    "MPL304": ("""\
http {{
    server {{
        listen 443 ssl;
        server_name example.org;
        location = /.well-known/matrix/server {{
            {inc}
            return 200 '{{"m.server": "matrix.example.org:443"}}';
            {body}
        }}
    }}
}}
""", "", "default_type application/json;"),
}

APACHE = """\
<VirtualHost *:443>
    ServerName matrix.example.org
    {inc}
    {body}
    ProxyPass /_matrix http://127.0.0.1:8008/_matrix nocanon
    ProxyPassReverse /_matrix http://127.0.0.1:8008/_matrix
</VirtualHost>
"""
APACHE_ALL = ["AllowEncodedSlashes NoDecode", "ProxyPreserveHost On", "RequestHeader set X-Forwarded-Proto https"]


def _apache_without(line):
    return "\n    ".join(l for l in APACHE_ALL if l != line)


APACHE_CASES = {
    "MPL602": (APACHE, _apache_without(APACHE_ALL[0]), APACHE_ALL[0]),
    "MPL603": (APACHE, _apache_without(APACHE_ALL[1]), APACHE_ALL[1]),
    "MPL604": (APACHE, _apache_without(APACHE_ALL[2]), APACHE_ALL[2]),
    "MPL605": (APACHE, "\n    ".join(APACHE_ALL + ["ProxyRequests On"]),
               "<Proxy *>\n    Require ip 192.0.2.0/24\n</Proxy>"),
    # mod_proxy appends to the client's X-Forwarded-For unless something drops it first.
    "MPL406": (APACHE, "\n    ".join(APACHE_ALL), "RequestHeader unset X-Forwarded-For"),
}

CADDY_CASES = {
    "MPL305": ("""\
example.org {{
    handle /.well-known/matrix/client {{
        {inc}
        header Content-Type application/json
        respond `{{"m.homeserver": {{"base_url": "https://matrix.example.org"}}}}` 200
        {body}
    }}
}}
""", "", "header Access-Control-Allow-Origin *"),
}

INCLUDE = {"nginx": "include extra/matrix-extra.conf;", "apache": "Include extra/matrix-extra.conf",
           "caddy": "import extra/matrix-extra.conf"}
ENTRY = {"nginx": "nginx.conf", "apache": "apache2.conf", "caddy": "Caddyfile"}


def lint_json(path, server):
    result = CliRunner().invoke(main, ["check", "--format", "json", "--server", server, str(path)])
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(result.output)
    assert doc["errors"] == [], doc["errors"]
    return doc, result.exit_code


def write(tmp_path: Path, server, template, body, inc, supply=None) -> Path:
    conf = tmp_path / ENTRY[server]
    conf.write_text(template.format(inc=inc, body=body))
    if supply is not None:
        (tmp_path / "extra").mkdir()
        (tmp_path / "extra" / "matrix-extra.conf").write_text(textwrap.dedent(supply) + "\n")
    return conf


CASES = [("nginx", c, *v) for c, v in NGINX_CASES.items()] + \
        [("apache", c, *v) for c, v in APACHE_CASES.items()] + \
        [("caddy", c, *v) for c, v in CADDY_CASES.items()]


@pytest.mark.parametrize("server,code,template,body,supply", CASES, ids=[f"{s}-{c}" for s, c, *_ in CASES])
def test_absence_depends_on_an_unseen_include(tmp_path, server, code, template, body, supply):
    seen = tmp_path / "seen"
    seen.mkdir()
    doc, _ = lint_json(write(seen, server, template, body, ""), server)
    facts = [f for f in doc["findings"] if f["rule"] == code]
    assert facts, f"{code} should fire when the whole configuration is visible: {doc['findings']}"
    assert all(f["depends_on"] == [] for f in facts)

    unseen = tmp_path / "unseen"
    unseen.mkdir()
    doc, exit_code = lint_json(write(unseen, server, template, body, INCLUDE[server]), server)
    uncertain = [f for f in doc["findings"] if f["rule"] == code]
    assert len(uncertain) == len(facts)
    for f in uncertain:
        assert f["severity"] == "info"
        assert [d["what"] for d in f["depends_on"]] and "matrix-extra.conf" in f["depends_on"][0]["what"]
        assert "unless" in f["message"] and "matrix-extra.conf" in f["message"]
    notes = [f for f in doc["findings"] if f["rule"] == "MPL001"]
    assert len(notes) == 1 and notes[0]["severity"] == "info"
    if all(f["rule"] in ("MPL001",) or f["severity"] == "info" for f in doc["findings"]):
        assert exit_code == 0, "an unresolved include and what depends on it never fail the run"

    supplied = tmp_path / "supplied"
    supplied.mkdir()
    doc, _ = lint_json(write(supplied, server, template, body, INCLUDE[server], supply), server)
    assert [f for f in doc["findings"] if f["rule"] in (code, "MPL001")] == []


def test_strict_includes_makes_an_unresolved_include_an_error(tmp_path):
    template, body, _ = NGINX_CASES["MPL401"]
    conf = write(tmp_path, "nginx", template, body, INCLUDE["nginx"])
    result = CliRunner().invoke(main, ["check", "--format", "json", "--strict-includes", str(conf)])
    assert result.exit_code == 2
    doc = json.loads(result.output)
    (error,) = doc["errors"]
    assert (error["line"], error["column"]) == (6, 13) and "extra/matrix-extra.conf" in error["message"]


def test_visible_defects_stay_facts_beside_an_unseen_include(tmp_path):
    """An include that could add things does not excuse what is written: a proxy_pass with a URI
    part canonicalises whatever the include contains."""
    template, body, _ = NGINX_CASES["MPL401"]
    conf = tmp_path / "nginx.conf"
    conf.write_text(template.format(inc=INCLUDE["nginx"], body=ALL_FORWARDING)
                    .replace("http://127.0.0.1:8008;", "http://127.0.0.1:8008/_matrix/;"))
    doc, exit_code = lint_json(conf, "nginx")
    (f,) = [f for f in doc["findings"] if f["rule"] == "MPL201"]
    assert f["severity"] == "error" and f["depends_on"] == []
    assert exit_code == 1


HAPROXY_FRONTEND = """\
frontend https
    bind :443
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    use_backend synapse if { path_beg /_matrix }

backend synapse
    server synapse 127.0.0.1:8008
"""
HAPROXY_HEAD = """\
global
    log stdout format raw local0

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 120s

"""


def test_haproxy_fragment_leaves_its_unseen_context_open(tmp_path):
    """HAProxy has no include: a file without `global`/`defaults` is a fragment of a larger
    configuration, and whatever that holds (a `defaults` with `http-request del-header
    X-Forwarded-For`, since 2.5) is unknown. MPL803 then depends on it; in a whole file it is fact."""
    whole = tmp_path / "haproxy.cfg"
    whole.write_text(HAPROXY_HEAD + HAPROXY_FRONTEND)
    doc, exit_code = lint_json(whole, "haproxy")
    (fact,) = [f for f in doc["findings"] if f["rule"] == "MPL803"]
    assert (fact["severity"], fact["line"], fact["depends_on"]) == ("warning", 12, [])
    assert exit_code == 1

    fragment = tmp_path / "20-matrix.cfg"
    fragment.write_text(HAPROXY_FRONTEND)
    doc, exit_code = lint_json(fragment, "haproxy")
    (uncertain,) = [f for f in doc["findings"] if f["rule"] == "MPL803"]
    assert (uncertain["severity"], uncertain["line"]) == ("info", 3)
    (context,) = uncertain["depends_on"]
    assert context["what"].startswith("the configuration that includes") and "20-matrix.cfg" in context["what"]
    assert exit_code == 0, "a finding that depends on the unseen never fails the run"


def test_a_level_that_sets_proxy_set_header_shuts_out_what_is_unseen_above_it(tmp_path):
    """proxy_set_header is an array directive: a location that sets any replaces every one from
    the server and http levels, seen or not. So in a sites-enabled file (its http block unseen)
    a location that sets Host and X-Forwarded-Proto but not X-Forwarded-For lacks it as a fact;
    a location that sets none could inherit all three from nginx.conf."""
    conf = tmp_path / "matrix.conf"
    conf.write_text("server {\n    listen 443 ssl;\n    server_name matrix.example.org;\n"
                    "    client_max_body_size 50m;\n"
                    "    location /_matrix {\n        proxy_pass http://127.0.0.1:8008;\n"
                    "        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-Proto $scheme;\n"
                    "    }\n"
                    "    location /_synapse/client {\n        proxy_pass http://127.0.0.1:8008;\n    }\n}\n")
    doc, exit_code = lint_json(conf, "nginx")
    by_line = {(f["rule"], f["line"]): f for f in doc["findings"]}
    fact = by_line[("MPL401", 6)]
    assert (fact["severity"], fact["depends_on"]) == ("warning", [])
    assert ("MPL402", 6) not in by_line and ("MPL403", 6) not in by_line
    for code in ("MPL401", "MPL402", "MPL403"):
        uncertain = by_line[(code, 11)]
        assert uncertain["severity"] == "info"
        assert [d["line"] for d in uncertain["depends_on"]] == [1]
        assert "the configuration that includes" in uncertain["depends_on"][0]["what"]
    assert exit_code == 1


BODY_LIMIT = """\
    server {
        listen 443 ssl;
        server_name matrix.example.org;
        location /_matrix {
            proxy_pass http://127.0.0.1:8008;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
    }
"""


def test_body_limit_is_a_warning_when_seen_and_says_why_it_is_info_when_not(tmp_path):
    """MPL404 is documented as a warning and printed as one when the http block is in view; a bare
    server block (its http block unseen) gets info, and the message says why."""
    whole = tmp_path / "nginx.conf"
    whole.write_text("http {\n" + BODY_LIMIT + "}\n")
    doc, _ = lint_json(whole, "nginx")
    (seen,) = [f for f in doc["findings"] if f["rule"] == "MPL404"]
    assert seen["severity"] == "warning" and seen["depends_on"] == []

    bare = tmp_path / "matrix.conf"
    bare.write_text(textwrap.dedent(BODY_LIMIT))
    doc, _ = lint_json(bare, "nginx")
    (unseen,) = [f for f in doc["findings"] if f["rule"] == "MPL404"]
    assert unseen["severity"] == "info" and unseen["depends_on"]
    assert "info, not warning, because the block around it is not seen" in unseen["message"]
    from linter.rule import load_rules

    (rule,) = [r for r in load_rules() if r.code == "MPL404"]
    assert rule.severity == "warning" and "the finding is info" in rule.docs


def _homeserver_of(tmp_path, server, text, name, path="/_synapse/admin/v1/users/@a:example.org"):
    from linter.engine import Options, Report, load_config
    from linter.matrix import homeserver
    from linter.select import Request, select

    conf = tmp_path / name
    conf.write_text(text)
    config = load_config(str(conf), server, Options(server=server), Report())
    route = select(config, Request.from_url("GET", f"https://matrix.example.org{path}")).route
    return homeserver(route)


WEB_BESIDE_MATRIX = """\
server {
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


def test_an_upstream_is_a_homeserver_only_on_evidence(tmp_path):
    verdict = _homeserver_of(tmp_path, "nginx", WEB_BESIDE_MATRIX, "web.conf")
    assert verdict.answer == "no"
    assert "127.0.0.1:8008" in " ".join(verdict.evidence) and "web:3000" in " ".join(verdict.evidence)
    # The same catch-all to the homeserver's port: yes, and the evidence names the port.
    verdict = _homeserver_of(tmp_path, "nginx", WEB_BESIDE_MATRIX.replace("web:3000", "127.0.0.1:8008"), "hs.conf")
    assert verdict.answer == "yes"
    # A name that says Synapse but a Matrix API that goes elsewhere: unsure, and nothing asserted.
    text = WEB_BESIDE_MATRIX.replace("web:3000", "old-synapse")
    verdict = _homeserver_of(tmp_path, "nginx", text, "both.conf")
    assert verdict.answer == "unsure" and len(verdict.evidence) == 2
    conf = tmp_path / "both.conf"
    doc, _ = lint_json(conf, "nginx")
    assert not [f for f in doc["findings"] if f["rule"] in ("MPL401", "MPL402", "MPL403", "MPL405", "MPL406")
                and f["line"] >= 7]


def test_nothing_is_asserted_about_an_upstream_nothing_describes(tmp_path):
    text = """\
server {
    listen 443 ssl;
    server_name matrix.example.org;
    location /_matrix/identity {
        proxy_pass http://ma1sd:8090;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
    location / {
        proxy_pass http://backend;
    }
}
"""
    verdict = _homeserver_of(tmp_path, "nginx", text, "unsure.conf", "/_matrix/client/versions")
    assert verdict.answer == "unsure"
    doc, _ = lint_json(tmp_path / "unsure.conf", "nginx")
    # What the homeserver needs is not asserted; the body limit (MPL404) is the proxy's own 413.
    assert not [f for f in doc["findings"] if f["rule"] in ("MPL401", "MPL402", "MPL403", "MPL405", "MPL406")
                and f["line"] >= 10]


HAPROXY_WEB_DEFAULT = """\
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 180s

frontend https
    bind :443
    use_backend synapse if { path_beg /_matrix /_synapse/client }
    default_backend nginx

backend synapse
    server synapse 127.0.0.1:8008

backend nginx
    server web [::1]:8080
"""


def test_haproxy_default_backend_to_a_web_server_is_not_the_homeserver(tmp_path):
    verdict = _homeserver_of(tmp_path, "haproxy", HAPROXY_WEB_DEFAULT, "haproxy.cfg")
    assert verdict.answer == "no" and "`nginx`" in verdict.evidence[0]
    # Port 8080 counts only when the Matrix API reaches it.
    verdict = _homeserver_of(tmp_path, "haproxy", HAPROXY_WEB_DEFAULT.replace(
        "    use_backend synapse if { path_beg /_matrix /_synapse/client }\n", ""), "only.cfg",
        "/_matrix/client/versions")
    assert verdict.answer == "yes" and "8080" in verdict.evidence[0]


def test_haproxys_own_rule_replaces_the_cross_server_one_on_its_line():
    """`option forwardfor` is both MPL406 (cross-server, on the model) and MPL803 (HAProxy's own,
    more precise): the engine keeps MPL803 only."""
    from linter.engine import Options, Report, _run, load_config, run_rules
    from linter.rule import load_rules

    path = Path(__file__).parent / "fixtures" / "haproxy" / "forwarded-for-spoofable.bad.cfg"
    config = load_config(str(path), "haproxy", Options(server="haproxy"), Report())
    raised = {(r.rule.code, r.span.line) for r in _run(config, load_rules())}
    assert {("MPL406", 10), ("MPL803", 10)} <= raised
    kept = {(r.rule.code, r.span.line) for r in run_rules(config, load_rules())}
    assert ("MPL803", 10) in kept and ("MPL406", 10) not in kept


def test_a_site_the_well_known_delegates_to_proxies_to_the_homeserver(tmp_path):
    """A well-known the proxy answers names `hs.example.org:443`; that site sends everything to one
    upstream nothing else describes: its Matrix requests reach the homeserver there."""
    text = """\
server {
    listen 443 ssl;
    server_name example.org;
    location = /.well-known/matrix/server {
        default_type application/json;
        return 200 '{"m.server": "hs.example.org:443"}';
    }
    location /_matrix/identity {
        proxy_pass http://sydent:8090;
    }
}
server {
    listen 443 ssl;
    server_name hs.example.org;
    location /_synapse/admin {
        deny all;
    }
    location / {
        proxy_pass http://10.1.2.3;
    }
}
"""
    conf = tmp_path / "delegated.conf"
    conf.write_text(text)
    from linter.engine import Options, Report, load_config
    from linter.matrix import homeserver
    from linter.select import Request, select

    config = load_config(str(conf), "nginx", Options(server="nginx"), Report())
    request = Request.from_url("GET", "https://hs.example.org/_matrix/client/versions")
    verdict = homeserver(select(config, request).route)
    assert verdict.answer == "yes" and "delegates to `hs.example.org`" in verdict.evidence[0]
    # Without the delegation nothing says what 10.1.2.3 is.
    conf.write_text(text.replace("hs.example.org:443", "elsewhere.example.org:443"))
    config = load_config(str(conf), "nginx", Options(server="nginx"), Report())
    assert homeserver(select(config, request).route).answer == "unsure"
