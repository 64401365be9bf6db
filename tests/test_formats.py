"""The CI formats: SARIF 2.1.0 (validated against the official OASIS schema), GitLab Code Quality,
JUnit XML and Checkstyle XML, and the fingerprint they share (it survives line moves)."""
from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

import linter
from linter.engine import lint
from linter.formats import (CONFIG_ERROR_ID, FORMATS, fingerprint, fingerprints, relative_path, rule_url,
                            to_checkstyle, to_gitlab, to_junit, to_sarif)
from linter.rule import load_rules

REPO = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).resolve().parent / "data" / "formats" / "sarif-schema-2.1.0.json"
BROKEN = sorted(str(p.relative_to(REPO)) for p in REPO.glob("examples/*/*") if "broken" in p.name)

# Raw C0/C1 controls (tab and newline aside, which XML and JSON escape themselves), DEL, the
# bidirectional overrides: none may reach a document from a configuration.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")

NGINX_SITE = """\
server {{
    listen 443 ssl;
    server_name matrix.example.org;
{above}
    location /_matrix {{
        proxy_pass http://127.0.0.1:8008/_matrix;
        add_header Access-Control-Allow-Origin *;
    }}
    location /_synapse/client {{
        proxy_pass http://127.0.0.1:8008/_matrix;
    }}
}}
"""


@pytest.fixture(scope="module")
def examples():
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        yield lint(BROKEN)
    finally:
        os.chdir(cwd)


@pytest.fixture
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def validator():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def assert_valid_sarif(text: str) -> dict:
    doc = json.loads(text)
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    return doc


# -- SARIF ---------------------------------------------------------------------------------------------


def test_the_vendored_schema_is_the_official_sarif_2_1_0_schema():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]
    # The schema does catch a broken log: a result without a message.
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "X"}]}]}
    assert list(validator().iter_errors(bad))


def test_sarif_of_the_broken_examples_is_valid_and_complete(examples, in_repo):
    assert examples.findings and len({f.server for f in examples.findings}) == 4
    doc = assert_valid_sarif(to_sarif(examples))
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "matrix-proxy-lint" and driver["version"] == linter.__version__
    assert driver["informationUri"].startswith("https://")
    rules = {r["id"]: r for r in driver["rules"]}
    # Every rule that ran (here: every loaded rule) is described, with its docs and page.
    for rule in load_rules():
        d = rules[rule.code]
        assert d["name"] == rule.slug
        assert d["shortDescription"]["text"] == rule.summary
        assert d["help"]["markdown"] == rule.docs and d["fullDescription"]["text"]
        assert d["helpUri"] == rule_url(rule) == \
            f"https://github.com/matrix-proxy-lint/matrix-proxy-lint/blob/main/docs/rules/{rule.code}.md"
        assert d["defaultConfiguration"]["level"] == {"error": "error", "warning": "warning", "info": "note"}[
            rule.severity]
    results = run["results"]
    assert len(results) == len(examples.findings)
    for f, r in zip(examples.findings, results):
        assert r["ruleId"] == f.rule.code and driver["rules"][r["ruleIndex"]]["id"] == f.rule.code
        assert r["level"] == {"error": "error", "warning": "warning", "info": "note"}[f.severity]
        assert r["message"]["text"] == f.message
        (loc,) = r["locations"]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == f.span.path      # relative, as given
        assert loc["physicalLocation"]["region"] == {"startLine": f.span.line, "startColumn": f.span.column,
                                                     "endLine": f.span.end_line, "endColumn": f.span.end_column}
        assert re.fullmatch(r"[0-9a-f]{32}", r["partialFingerprints"]["matrixProxyLint/v1"])
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["columnKind"] == "unicodeCodePoints"


def test_sarif_describes_only_the_rules_that_ran_when_told(examples, in_repo):
    ran = [r for r in load_rules() if r.code.startswith("MPL2")]
    doc = assert_valid_sarif(to_sarif(examples, rules=ran))
    ids = [r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]]
    # The rules given, and those of the findings (the report holds findings of other rules here).
    assert set(ids) == {r.code for r in ran} | {f.rule.code for f in examples.findings}
    assert ids == sorted(ids)


def test_configuration_errors_are_error_results(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.conf").write_text("server {\n    listen 443 ssl;\n    location / {\n        proxy_pass http://x;\n")
    Path("ok.conf").write_text(NGINX_SITE.format(above=""))
    report = lint(["bad.conf", "ok.conf"], server="nginx")
    assert report.errors and report.findings
    doc = assert_valid_sarif(to_sarif(report))
    results = doc["runs"][0]["results"]
    errors = [r for r in results if r["ruleId"] == CONFIG_ERROR_ID]
    assert len(errors) == len(report.errors)
    for e, r in zip(report.errors, errors):
        assert r["level"] == "error" and r["message"]["text"] == e.message
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bad.conf"
    assert CONFIG_ERROR_ID in [d["id"] for d in doc["runs"][0]["tool"]["driver"]["rules"]]
    # The other formats report it too.
    gl = json.loads(to_gitlab(report))
    assert [e["severity"] for e in gl if e["check_name"] == CONFIG_ERROR_ID] == ["critical"] * len(report.errors)
    junit = ET.fromstring(to_junit(report))
    case = junit.find("testsuite/testcase[@name='bad.conf']")
    assert case is not None and case.findall("error")
    cs = ET.fromstring(to_checkstyle(report))
    assert cs.find(f"file[@name='bad.conf']/error[@source='matrix-proxy-lint.{CONFIG_ERROR_ID}']") is not None


def test_sarif_uris_outside_the_working_directory_are_file_uris(tmp_path, monkeypatch):
    conf = tmp_path / "site dir" / "matrix.conf"
    conf.parent.mkdir()
    conf.write_text(NGINX_SITE.format(above=""))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    report = lint([str(conf)], server="nginx")
    doc = assert_valid_sarif(to_sarif(report))
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for r in doc["runs"][0]["results"] for loc in r["locations"]}
    assert uris == {"file://" + str(conf).replace(" ", "%20")}
    monkeypatch.chdir(tmp_path)
    doc = assert_valid_sarif(to_sarif(report))
    assert {loc["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]
            for loc in r["locations"]} == {"site%20dir/matrix.conf"}


def test_internal_errors_and_notes_are_notifications(examples, in_repo):
    from dataclasses import replace

    from linter.engine import InternalError

    report = replace(examples, notes=["read 1 file from this machine outside the checked tree"],
                     internal=[InternalError("examples/nginx/broken.conf", "rule MPL999", "IndexError: x", "tb")])
    doc = assert_valid_sarif(to_sarif(report))
    (invocation,) = doc["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    levels = [(n["level"], n["message"]["text"]) for n in invocation["toolExecutionNotifications"]]
    assert levels == [("error", "internal error: examples/nginx/broken.conf: while rule MPL999: IndexError: x"),
                      ("note", "read 1 file from this machine outside the checked tree")]


# -- GitLab Code Quality, JUnit, Checkstyle -----------------------------------------------------------------


def test_gitlab_code_quality(examples, in_repo):
    entries = json.loads(to_gitlab(examples))
    assert isinstance(entries, list) and len(entries) == len(examples.findings)
    for f, e in zip(examples.findings, entries):
        assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(e)
        assert e["severity"] == {"error": "major", "warning": "minor", "info": "info"}[f.severity]
        assert e["check_name"] == f"{f.rule.code} {f.rule.slug}" and f.message in e["description"]
        assert e["location"]["path"] == f.span.path and e["location"]["lines"]["begin"] == f.span.line
    assert len({e["fingerprint"] for e in entries}) == len(entries)
    assert [e["fingerprint"] for e in entries] == fingerprints(examples)


def test_junit_has_one_suite_and_a_testcase_per_file(examples, in_repo):
    root = ET.fromstring(to_junit(examples))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == examples.files
    assert suite.get("tests") == str(len(examples.files))
    for case in cases:
        mine = [f for f in examples.findings if f.span.path == case.get("name")]
        failures = case.findall("failure")
        assert len(failures) == len(mine)
        for f, failure in zip(mine, failures):
            assert f.rule.code in failure.get("message") and f.message in failure.text
            assert failure.get("type") == f"{f.rule.code} {f.severity}"
    failing = sum(1 for c in cases if c.findall("failure"))
    assert suite.get("failures") == str(failing) and suite.get("errors") == "0"


def test_checkstyle(examples, in_repo):
    root = ET.fromstring(to_checkstyle(examples))
    assert root.tag == "checkstyle" and root.get("version")
    files = root.findall("file")
    assert [f.get("name") for f in files] == examples.files
    errors = [(f.get("name"), e) for f in files for e in f.findall("error")]
    assert len(errors) == len(examples.findings)
    for f, (name, e) in zip(examples.findings, errors):
        assert name == f.span.path and e.get("line") == str(f.span.line) and e.get("column") == str(f.span.column)
        assert e.get("severity") == f.severity and e.get("source") == f"matrix-proxy-lint.{f.rule.code}"
        assert e.get("message").startswith(f.message)


def test_formats_table_names_every_writer():
    assert set(FORMATS) == {"sarif", "gitlab", "junit", "checkstyle"}


# -- what never reaches a document ----------------------------------------------------------------------------


def test_no_control_character_or_bidi_override_reaches_any_format(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hostile = "\x1b[31m\u202e\x07"
    name = f"evil{hostile}.conf"
    Path(name).write_text(NGINX_SITE.format(above="").replace(
        "add_header Access-Control-Allow-Origin *;",
        f'add_header Access-Control-Allow-Origin "{hostile}*";\n        add_header "X{hostile}" 1;\n'
        f'        proxy_set_header {hostile};'), encoding="utf-8")
    report = lint([name], server="nginx")
    assert report.findings or report.errors
    said = " ".join([f.message for f in report.findings] + [e.message for e in report.errors] + [name])
    assert UNSAFE.search(said)       # the input does carry them
    for fmt, write in FORMATS.items():
        text = write(report)
        assert not UNSAFE.search(text), fmt
        assert not UNSAFE.search(json.dumps(json.loads(text), ensure_ascii=False)) if fmt in ("sarif", "gitlab") \
            else ET.fromstring(text) is not None
    assert_valid_sarif(to_sarif(report))


def test_an_undecodable_file_name_gives_well_formed_documents(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = os.fsdecode(b"caf\xe9.conf")          # a lone surrogate in Python's view of it
    Path(name).write_text(NGINX_SITE.format(above=""))
    report = lint([name], server="nginx")
    assert report.findings
    for fmt, write in FORMATS.items():
        text = write(report)
        assert not UNSAFE.search(text)
        text.encode("utf-8")                      # no lone surrogate
        if fmt in ("junit", "checkstyle"):
            ET.fromstring(text.encode("utf-8"))
        else:
            json.loads(text)


def test_lines_of_files_outside_the_checked_tree_are_never_quoted(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "cors.conf").write_text("# SECRET-COMMENT-LINE\nadd_header Access-Control-Allow-Origin "
                                         "SECRETVALUE;\nproxy_pass http://127.0.0.1:8008/_matrix;\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "nginx.conf").write_text(f"server {{\n    listen 443 ssl;\n    server_name m.example.org;\n"
                                     f"    location /_matrix {{\n        include {elsewhere}/cors.conf;\n    }}\n}}\n")
    report = lint([str(tree)])
    assert report.outside and any(f.span.path.startswith(str(elsewhere)) for f in report.findings)
    for fmt, write in FORMATS.items():
        text = write(report)
        assert "SECRET-COMMENT-LINE" not in text and "proxy_pass http://127.0.0.1:8008/_matrix;" not in text, fmt


# -- fingerprints -------------------------------------------------------------------------------------------------


def _by_rule(report) -> dict:
    out: dict = {}
    for f, fp in zip(report.findings, fingerprints(report)):
        out.setdefault(f.rule.code, []).append(fp)
    return {k: sorted(v) for k, v in out.items()}


def test_fingerprints_survive_line_moves_and_change_with_the_directive(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    conf = Path("matrix.conf")
    conf.write_text(NGINX_SITE.format(above=""))
    report = lint([str(conf)], server="nginx")
    # Fingerprints read the file: take them while it is as linted.
    before, lines_before = _by_rule(report), [f.span.line for f in report.findings]
    assert {"MPL101", "MPL201"} <= set(before)
    # Lines added above and the block indented differently: same findings, same fingerprints.
    conf.write_text(NGINX_SITE.format(above="    # a comment\n\n    client_max_body_size 50m;\n\n\n").replace(
        "        add_header", "\tadd_header"))
    report = lint([str(conf)], server="nginx")
    moved = _by_rule(report)
    assert {f.span.line for f in report.findings}.isdisjoint(lines_before)
    for code in ("MPL101", "MPL106", "MPL201", "MPL401"):
        assert before[code] == moved[code], code
    # Editing the flagged directive makes its finding new; the others keep theirs.
    conf.write_text(NGINX_SITE.format(above="").replace("add_header Access-Control-Allow-Origin *;",
                                                        "add_header Access-Control-Allow-Origin $http_origin;"))
    edited = _by_rule(lint([str(conf)], server="nginx"))
    assert edited["MPL101"] != before["MPL101"]
    assert edited["MPL201"] == before["MPL201"]


def test_the_same_directive_in_two_blocks_has_two_fingerprints(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("m.conf").write_text(NGINX_SITE.format(above=""))
    report = lint(["m.conf"], server="nginx")
    # Both locations proxy with the same URI part: same text, told apart by their block's header.
    mpl201 = [(f, fp) for f, fp in zip(report.findings, fingerprints(report)) if f.rule.code == "MPL201"]
    assert len(mpl201) == 2 and mpl201[0][1] != mpl201[1][1]
    assert fingerprint(mpl201[1][0], report) == mpl201[1][1]
    # Swapping the two blocks keeps both fingerprints.
    text = Path("m.conf").read_text()
    a = text.index("    location /_matrix")
    b = text.index("    location /_synapse")
    end = text.rindex("}")
    Path("m.conf").write_text(text[:a] + text[b:end] + text[a:b] + "}\n")
    swapped = lint(["m.conf"], server="nginx")
    assert sorted(fp for f, fp in zip(swapped.findings, fingerprints(swapped)) if f.rule.code == "MPL201") == \
        sorted(fp for _, fp in mpl201)


def test_fingerprint_context_per_server(in_repo):
    from linter.formats import _lines, _text_and_context

    report = lint(BROKEN)
    contexts = {(f.server, f.rule.code): _text_and_context(_lines(f.span.path), f.span, f.server)[1]
                for f in report.findings}
    assert contexts[("nginx", "MPL201")] == "location /_matrix"
    assert contexts[("apache", "MPL601")] == "<VirtualHost *:443>"
    assert contexts[("caddy", "MPL902")] == "handle_path /_matrix/*"
    assert contexts[("haproxy", "MPL803")] == "frontend https"
    assert contexts[("haproxy", "MPL402")] == ""      # on a section header: sections do not nest


def test_relative_path():
    cwd = os.getcwd()
    assert relative_path(os.path.join(cwd, "a", "b.conf")) == "a/b.conf"
    assert relative_path("a/../b.conf") == "b.conf"
    assert relative_path("/etc/nginx/nginx.conf", "/srv") == "/etc/nginx/nginx.conf"
