"""Hostile and broken input: every case exits 0, 1 or 2 with a clear message, never a traceback.

Each case here is a crash signature that was found by fuzzing or by hand, kept as a regression
test at the place it was fixed.
"""
import json

from click.testing import CliRunner

from linter.cli import main


def check(path, *args):
    return CliRunner().invoke(main, ["check", "--format", "json", *args, str(path)])


def test_wellknown_base_url_that_urlsplit_refuses_is_a_finding_not_a_crash(tmp_path):
    doc = '{"m.homeserver": {"base_url": "https://x]"}}'
    conf = tmp_path / "wk.conf"
    conf.write_text("server { listen 443 ssl; location = /.well-known/matrix/client { default_type application/json; "
                    f"add_header Access-Control-Allow-Origin * always; return 200 '{doc}'; }} }}\n")
    result = check(conf)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1
    (finding,) = json.loads(result.output)["findings"]
    assert finding["rule"] == "MPL303" and "not a valid URL" in finding["message"]
