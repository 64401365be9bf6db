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
    text = "# matrix-proxy-lint: ignore-file[MPL106]\n" + BASE % "  # matrix-proxy-lint: ignore[MPL999]"
    assert codes(tmp_path, text) == [("MPL101", 6), ("MPL201", 5)]
