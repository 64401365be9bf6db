"""Rule metadata and documentation: stable codes, complete docs, and examples that do what they say."""
import re

import pytest

from linter.engine import front_end, run_rules
from linter.matrix import annotate
from linter.rule import SEVERITIES, examples, load_rules, section

RULES = load_rules()
LANG_TO_SERVER = {"nginx": "nginx", "apache": "apache", "caddyfile": "caddy", "caddy": "caddy", "haproxy": "haproxy"}


def lint_text(server, text, tmp_path):
    options = {}
    m = re.search(r"--nginx-version (\S+)", text)
    if m:
        options["nginx_version"] = tuple(int(x) for x in m.group(1).split("."))
    path = tmp_path / "example.conf"
    path.write_text(text)
    parse, build = front_end(server)
    tree = parse.load(str(path))
    assert not tree.errors, tree.errors
    config = build.build(tree, options)
    annotate(config)
    # `# homeserver.yaml: KEY: VALUE` lines stand for the --homeserver-config the example assumes.
    homeserver = [m.group(1) for m in re.finditer(r"^\s*# homeserver\.yaml: (.+)$", text, re.M)]
    if homeserver:
        from linter.homeserver import load

        (tmp_path / "homeserver.yaml").write_text("\n".join(homeserver) + "\n")
        config.homeserver = load(str(tmp_path / "homeserver.yaml"))
    return config


# Found by the engine after every rule ran (the suppression comments), not by a rule on a model.
ENGINE_RULES = {"MPL002", "MPL003"}


def engine_codes(rule, lang, text, tmp_path):
    from linter.engine import lint

    path = tmp_path / "example.conf"
    path.write_text(text)
    return [f.rule.code for f in lint([str(path)], server=LANG_TO_SERVER[lang]).findings if f.rule.code == rule.code]


def test_codes_and_slugs_are_unique_and_well_formed():
    codes = [r.code for r in RULES]
    slugs = [r.slug for r in RULES]
    assert len(set(codes)) == len(codes)
    assert len(set(slugs)) == len(slugs)
    for r in RULES:
        assert re.fullmatch(r"MPL\d{3}", r.code)
        assert r.severity in SEVERITIES


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_docs_have_every_section(rule):
    for title in ("What it does", "Why is this bad?", "Example", "Use instead"):
        assert section(rule.docs, title), f"{rule.code} has no '{title}' section"
    assert rule.summary.endswith(".")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_example_triggers_the_rule_and_fix_does_not(rule, tmp_path):
    bad = examples(rule.docs, "Example")
    good = examples(rule.docs, "Use instead")
    assert bad and good
    def codes(lang, text):
        if rule.code in ENGINE_RULES:
            return engine_codes(rule, lang, text, tmp_path)
        return [r.rule.code for r in run_rules(lint_text(LANG_TO_SERVER[lang], text, tmp_path), [rule])]

    for lang, text in bad:
        assert codes(lang, text), f"{rule.code}: its Example does not trigger it"
    for lang, text in good:
        assert not codes(lang, text), f"{rule.code}: its 'Use instead' still triggers it"
