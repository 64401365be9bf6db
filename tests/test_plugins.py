"""Third-party rules arrive through the `matrix_proxy_lint.rules` entry point and run like built-ins."""
import sys
import types
from importlib import metadata

import pytest

from linter import rule as rule_api
from linter.engine import lint

PLUGIN_SOURCE = '''
from linter.rule import Finding, rule

@rule("ACME001", "acme-no-sites", "info")
def no_sites(config):
    """## What it does
    Notes every site (a demo plugin rule).
    """
    for site in config.sites:
        yield Finding("a site", site.span)
'''


@pytest.fixture
def plugin(monkeypatch):
    module = types.ModuleType("acme_rules")
    exec(PLUGIN_SOURCE, module.__dict__)
    monkeypatch.setitem(sys.modules, "acme_rules", module)
    ep = metadata.EntryPoint(name="acme", value="acme_rules", group=rule_api.ENTRY_POINT_GROUP)
    monkeypatch.setattr(metadata, "entry_points", lambda: metadata.EntryPoints([ep]))
    return module


def test_entry_point_rules_are_loaded_and_run(plugin, tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text("server {\n    listen 443 ssl;\n}\n")
    assert "ACME001" in [r.code for r in rule_api.load_rules()]
    report = lint([str(conf)], select=("ACME001",))
    assert [(f.rule.code, f.span.line, f.span.column) for f in report.findings] == [("ACME001", 1, 1)]


def test_a_plugin_cannot_reuse_a_builtin_code(monkeypatch):
    module = types.ModuleType("clash_rules")
    exec(PLUGIN_SOURCE.replace("ACME001", "MPL101"), module.__dict__)
    monkeypatch.setitem(sys.modules, "clash_rules", module)
    ep = metadata.EntryPoint(name="clash", value="clash_rules", group=rule_api.ENTRY_POINT_GROUP)
    monkeypatch.setattr(metadata, "entry_points", lambda: metadata.EntryPoints([ep]))
    with pytest.raises(ValueError, match="MPL101 is defined twice"):
        rule_api.load_rules()
