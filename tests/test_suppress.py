"""Inline suppression comments silence exactly the listed codes, on exactly the intended lines."""
from linter.engine import lint

BASE = """server {
    listen 443 ssl;
    location /_matrix {
        proxy_pass http://127.0.0.1:8008/;%s
        add_header Access-Control-Allow-Origin *;
    }
}
"""


def codes(tmp_path, text):
    path = tmp_path / "s.conf"
    path.write_text(text)
    return sorted((f.rule.code, f.span.line) for f in lint([str(path)], select=("MPL101", "MPL106", "MPL201")).findings)


def test_without_comments_all_findings_stay(tmp_path):
    assert codes(tmp_path, BASE % "") == [("MPL101", 5), ("MPL106", 5), ("MPL201", 4)]


def test_trailing_comment_silences_only_its_line_and_codes(tmp_path):
    text = BASE % "  # matrix-proxy-lint: ignore[MPL201] upstream strips the prefix on purpose"
    assert codes(tmp_path, text) == [("MPL101", 5), ("MPL106", 5)]


def test_comment_on_its_own_line_covers_the_next_line(tmp_path):
    text = BASE.replace("        add_header", "        # matrix-proxy-lint: ignore[MPL101, MPL106] not Synapse\n"
                        "        add_header") % ""
    assert codes(tmp_path, text) == [("MPL201", 4)]


def test_file_wide_and_unrelated_codes(tmp_path):
    text = "# matrix-proxy-lint: ignore-file[MPL106] the homeserver sends none\n" + BASE % "  # matrix-proxy-lint: ignore[MPL999] x"
    assert codes(tmp_path, text) == [("MPL101", 6), ("MPL201", 5)]


def findings(tmp_path, text, *select):
    path = tmp_path / "s.conf"
    path.write_text(text)
    return sorted((f.rule.code, f.span.line, f.message) for f in lint([str(path)], select=select).findings)


def test_several_comments_in_a_row_cover_the_line_after_them(tmp_path):
    text = BASE.replace("        add_header", "        # matrix-proxy-lint: ignore[MPL101] reviewed\n"
                        "        # matrix-proxy-lint: ignore[MPL106] the homeserver is Dendrite\n"
                        "        add_header") % ""
    assert codes(tmp_path, text) == [("MPL201", 4)]


def test_a_suppression_without_a_reason_or_with_an_unknown_code_silences_nothing(tmp_path):
    text = BASE % "  # matrix-proxy-lint: ignore[MPL201]"
    got = findings(tmp_path, text, "MPL201", "MPL003")
    assert [(c, l) for c, l, _ in got] == [("MPL003", 4), ("MPL201", 4)]
    assert "give the reason" in got[0][2]
    text = BASE % "  # matrix-proxy-lint: ignore[MPL21] typo"
    got = findings(tmp_path, text, "MPL201", "MPL003")
    assert [(c, l) for c, l, _ in got] == [("MPL003", 4), ("MPL201", 4)]
    assert "no rule MPL21" in got[0][2]
    text = BASE % "  # matrix-proxy-lint: ignore everything"
    assert [c for c, _, _ in findings(tmp_path, text, "MPL201", "MPL003")] == ["MPL003", "MPL201"]


def test_an_unused_suppression_is_reported_under_its_own_code(tmp_path):
    text = BASE.replace("proxy_pass http://127.0.0.1:8008/;", "proxy_pass http://127.0.0.1:8008;") % (
        "  # matrix-proxy-lint: ignore[MPL201] the upstream strips the prefix")
    got = findings(tmp_path, text, "MPL201", "MPL002")
    assert [(c, l) for c, l, _ in got] == [("MPL002", 4)]
    assert "no MPL201 finding on line 4" in got[0][2]
    # A rule that did not run says nothing about its suppressions.
    assert findings(tmp_path, text, "MPL101", "MPL002") == [("MPL101", 5, findings(tmp_path, text, "MPL101")[0][2])]


def test_suppress_all_writes_reasoned_comments_that_silence_every_finding(tmp_path):
    from click.testing import CliRunner

    from linter.cli import main

    path = tmp_path / "s.conf"
    path.write_text(BASE % "")
    before = lint([str(path)]).findings
    assert before
    result = CliRunner().invoke(main, ["check", "--isolated", "--suppress-all", "accepted in review 2026-12", str(path)])
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert "        # matrix-proxy-lint: ignore[MPL101,MPL106] accepted in review 2026-12\n        add_header" in text
    assert lint([str(path)]).findings == [], "re-linted: every finding silenced, no comment unused or invalid"
    again = CliRunner().invoke(main, ["check", "--isolated", "--suppress-all", "x", str(path)])
    assert again.exit_code == 0 and path.read_text() == text, "idempotent"


def test_a_baseline_survives_a_line_shifting_edit_and_lets_new_findings_through(tmp_path):
    import json

    from click.testing import CliRunner

    from linter.cli import main

    def check(*args):
        return CliRunner().invoke(main, ["check", "--isolated", "--format", "json", *args, str(path)])

    path = tmp_path / "s.conf"
    path.write_text(BASE % "")
    baseline = tmp_path / "baseline.json"
    written = CliRunner().invoke(main, ["check", "--isolated", "--write-baseline", str(baseline), str(path)])
    assert written.exit_code == 0, written.output
    assert len(json.loads(baseline.read_text())["findings"]) == len(lint([str(path)]).findings) > 0
    # Lines added above move every finding down: still known.
    path.write_text("# the Matrix site\n\n" + BASE % "")
    shifted = check("--baseline", str(baseline))
    assert shifted.exit_code == 0 and json.loads(shifted.stdout)["findings"] == [], shifted.output
    # A new problem is reported; the known ones stay hidden.
    path.write_text("# the Matrix site\n\n" + (BASE % "").replace(
        "    }\n}", "    }\n    location /_synapse/client {\n        proxy_pass http://127.0.0.1:8008/x;\n    }\n}"))
    new = json.loads(check("--baseline", str(baseline)).stdout)["findings"]
    assert new and {f["line"] for f in new} == {10}, new
    # Fixing a known finding says the baseline can be updated.
    path.write_text((BASE % "").replace("proxy_pass http://127.0.0.1:8008/;", "proxy_pass http://127.0.0.1:8008;"))
    fixed = check("--baseline", str(baseline))
    assert "gone (fixed)" in fixed.output


def test_a_broken_baseline_is_an_error(tmp_path):
    from click.testing import CliRunner

    from linter.cli import main

    path = tmp_path / "s.conf"
    path.write_text(BASE % "")
    bad = tmp_path / "baseline.json"
    bad.write_text('{"version": 1, "findings": [}')
    result = CliRunner().invoke(main, ["check", "--isolated", "--baseline", str(bad), str(path)])
    assert result.exit_code == 2 and "not a baseline" in result.output


def test_a_baseline_never_hides_a_rule_it_did_not_record(tmp_path):
    """Written when only MPL101 existed (--select stands for an older version's rule set): the
    other rules' findings on the same lines are new."""
    import json

    from click.testing import CliRunner

    from linter.cli import main

    path = tmp_path / "s.conf"
    path.write_text(BASE % "")
    baseline = tmp_path / "baseline.json"
    CliRunner().invoke(main, ["check", "--isolated", "--select", "MPL101", "--write-baseline", str(baseline), str(path)])
    result = CliRunner().invoke(main, ["check", "--isolated", "--format", "json", "--baseline", str(baseline), str(path)])
    rules = {f["rule"] for f in json.loads(result.stdout)["findings"]}
    assert "MPL101" not in rules and {"MPL106", "MPL201"} <= rules
