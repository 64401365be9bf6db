"""--homeserver-config: the homeserver's own configuration, read with real YAML/TOML parsers, and
the checks of the proxy against it that fixtures cannot mark (findings in the homeserver file)."""
import json

import pytest
from click.testing import CliRunner

from linter.cli import main
from linter.engine import lint
from linter.homeserver import CONDUWUIT_MAX_REQUEST, SYNAPSE_MAX_UPLOAD, load
from linter.syntax import ConfigError

SITE = ("server {\n    listen 443 ssl;\n    server_name matrix.example.org;\n    client_max_body_size 100M;\n"
        "    location /_matrix {\n        proxy_pass http://127.0.0.1:8008;\n"
        "        proxy_set_header X-Forwarded-For $remote_addr;\n        proxy_set_header X-Forwarded-Proto https;\n"
        "        proxy_set_header Host $host;\n    }\n}\n")


def test_synapse_values_with_their_positions(tmp_path):
    path = tmp_path / "homeserver.yaml"
    path.write_text("server_name: example.org\npublic_baseurl: https://matrix.example.org/\n"
                    "max_upload_size: 200M\nserve_server_wellknown: true\nlisteners:\n"
                    "  - port: 8008\n    x_forwarded: true\n    resources:\n      - names: [client, federation]\n")
    hs = load(str(path))
    assert (hs.kind, hs.server_name, hs.upload_limit) == ("synapse", "example.org", 200 * 1024 * 1024)
    assert (hs.upload_limit_span.line, hs.upload_limit_span.column) == (3, 1)
    assert hs.public_baseurl == "https://matrix.example.org/" and hs.serve_server_wellknown
    (listener,) = hs.listeners
    assert (listener.port, listener.x_forwarded, listener.resources, listener.span.line) == (
        8008, True, ("client", "federation"), 6)


def test_defaults_of_each_implementation(tmp_path):
    synapse = tmp_path / "homeserver.yaml"
    synapse.write_text("server_name: example.org\n")
    assert load(str(synapse)).upload_limit == SYNAPSE_MAX_UPLOAD
    conduwuit = tmp_path / "conduwuit.toml"
    conduwuit.write_text('[global]\nserver_name = "example.org"\nport = 6167\n')
    hs = load(str(conduwuit))
    assert (hs.kind, hs.upload_limit, [l.port for l in hs.listeners]) == ("conduwuit", CONDUWUIT_MAX_REQUEST, [6167])
    dendrite = tmp_path / "dendrite.yaml"
    dendrite.write_text("version: 2\nglobal:\n  server_name: example.org\nmedia_api:\n  max_file_size_bytes: 1048576\n")
    assert (load(str(dendrite)).kind, load(str(dendrite)).upload_limit) == ("dendrite", 1048576)


@pytest.mark.parametrize("name,text,position", [
    ("homeserver.yaml", "server_name: example.org\nlisteners:\n  - port: 8008\n   bad: indent\n", (4, 4)),
    ("homeserver.yaml", "- just\n- a list\n", (1, 1)),
    ("conduwuit.toml", '[global]\nserver_name = "x\n', (2, 17)),
], ids=["yaml-syntax", "not-a-mapping", "toml-syntax"])
def test_a_broken_homeserver_configuration_is_an_error_at_its_position(tmp_path, name, text, position):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(str(path))
    assert (caught.value.line, caught.value.column) == position
    site = tmp_path / "site.conf"
    site.write_text(SITE)
    result = CliRunner().invoke(main, ["check", "--isolated", "--homeserver-config", str(path), str(site)])
    assert result.exit_code == 2 and f"{path}:{position[0]}:{position[1]}: error:" in result.output


def test_public_baseurl_no_site_serves_is_reported_in_the_homeserver_file(tmp_path):
    hs = tmp_path / "homeserver.yaml"
    hs.write_text("server_name: example.org\npublic_baseurl: https://matrix.example.org:8443/\n")
    site = tmp_path / "site.conf"
    site.write_text(SITE)
    findings = lint([str(site)], server="nginx", homeserver_config=str(hs), select=("MPL952",)).findings
    assert [(f.rule.code, f.span.path, f.span.line) for f in findings] == [("MPL952", str(hs), 2)]
    assert "no site listens on port 8443" in findings[0].message
    hs.write_text("server_name: example.org\npublic_baseurl: https://matrix.example.org/\n")
    assert lint([str(site)], server="nginx", homeserver_config=str(hs), select=("MPL952",)).findings == []


def test_without_a_homeserver_configuration_the_rules_are_silent(tmp_path):
    site = tmp_path / "site.conf"
    site.write_text(SITE.replace("100M", "1M"))
    codes = {f.rule.code for f in lint([str(site)], server="nginx").findings}
    assert not codes & {"MPL951", "MPL952", "MPL953", "MPL954"} and "MPL404" in codes


def test_the_project_configuration_names_the_homeserver_configuration(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "synapse").mkdir()
    (tmp_path / "synapse" / "homeserver.yaml").write_text("server_name: example.org\nmax_upload_size: 500M\n")
    (tmp_path / ".matrix-proxy-lint.toml").write_text('homeserver-config = "synapse/homeserver.yaml"\n')
    site = tmp_path / "site.conf"
    site.write_text(SITE)
    result = CliRunner().invoke(main, ["check", "--format", "json", str(site)])
    assert [f["rule"] for f in json.loads(result.output)["findings"]] == ["MPL951"]
