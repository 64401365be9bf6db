"""The Apache front end on the shared corpus (skipped when ../shared/corpus is absent).

bench/apache_corpus.py measures the same files against `apache2 -t` and its DUMP_CONFIG; here
the checks need no Apache installation: no tracebacks, real distro trees read completely,
and httpd's own mod_macro regression suite (`ref/*.out` holds what httpd printed).
"""
from __future__ import annotations

import os
import re

from corpus import rows

from linter.apache.parse import load
from linter.syntax import walk


def test_every_apache_file_loads_without_a_traceback():
    failures = []
    count = 0
    for row in rows(server="apache"):
        count += 1
        for defines in (None, {}):
            try:
                tree = load(row["abspath"], defines=defines)
            except Exception as error:  # the point of the test: report them all at once
                failures.append(f"{row['local_path']}: {type(error).__name__}: {error}")
                continue
            assert tree.files and tree.files[0] == row["abspath"]
            for error in tree.errors:
                assert error.line >= 1 and error.column >= 1, (row["local_path"], error)
    assert count > 1000
    assert failures == []


def test_matrix_configs_have_no_errors():
    """Matrix deployments' Apache files parse; files not in the corpus are unresolved (or known,
    like certbot's options-ssl-apache.conf), never errors."""
    seen = 0
    for row in rows(server="apache", kind="matrix"):
        seen += 1
        expected = REFUSED_MATRIX.get(row["local_path"][len("apache/"):])
        messages = [e.message for e in load(row["abspath"]).errors]
        if expected is None:
            assert messages == [], row["local_path"]
        else:
            assert messages and all(expected in m for m in messages), (row["local_path"], messages)
    assert seen >= 50


# Matrix examples that `apache2 -t` refuses too: a placeholder line (`...`), a trailing
# `# EDIT THIS` after ServerName (httpd has no trailing comments), ProxyRequests in a <Location>.
REFUSED_MATRIX = {
    "continuwuity__continuwuity/DEPLOY.md__at_08f0f17ff7__block11.conf": "ServerName takes one argument",
    "continuwuity__continuwuity/DEPLOY.md__at_0b9182455c__block07.conf": "ServerName takes one argument",
    "continuwuity__continuwuity/DEPLOY.md__at_2f45ba8eac__block10.conf": "ServerName takes one argument",
    "continuwuity__continuwuity/DEPLOY.md__at_4e2bbf9d6a__block11.conf": "ServerName takes one argument",
    "continuwuity__continuwuity/DEPLOY.md__at_683eefbd0b__block10.conf": "ServerName takes one argument",
    "continuwuity__continuwuity/DEPLOY.md__at_875b345a5f__block08.conf": "ServerName takes one argument",
    "continuwuity__continuwuity/DEPLOY.md__at_c267c0f09e__block07.conf": "ServerName takes one argument",
    "continuwuity__continuwuity/DEPLOY.md__at_d7e56dbfa0__block03.conf": "ServerName takes one argument",
    "continuwuity__continuwuity/DEPLOY.md__at_dc50197a13__block11.conf": "ServerName takes one argument",
    "element-hq__ess-helm/README.md__block18.conf": "ServerName takes one argument",
    "kamax-matrix__mxisd/README.md__at_62711ee12e__block02.conf": "Invalid command '...'",
    "kamax-matrix__mxisd/docs__features__authentication.md__at_3fc86465f8__block03.conf": "Invalid command '...'",
    "kamax-matrix__mxisd/docs__features__authentication.md__block03.conf": "Invalid command '...'",
    "kamax-matrix__mxisd/docs__features__directory-users.md__at_3fc86465f8__block02.conf": "Invalid command '...'",
    "kamax-matrix__mxisd/docs__features__directory.md__block02.conf": "Invalid command '...'",
    "kamax-matrix__mxisd/docs__getting-started.md__at_3fc86465f8__block02.conf": "Invalid command '...'",
    "kamax-matrix__mxisd/docs__getting-started.md__at_67bc18af7d__block02.conf": "Invalid command '...'",
    "kamax-matrix__mxisd/docs__getting-started.md__at_aab0b86646__block02.conf": "Invalid command '...'",
    "spantaleev__matrix-docker-ansible-deploy/examples__apache__matrix-riot-web__at_5e8a7fd05b.conf": "ProxyRequests not allowed here",
    "spantaleev__matrix-docker-ansible-deploy/examples__apache__matrix-riot-web__at_9a251e4e46.conf": "ProxyRequests not allowed here",
    "spantaleev__matrix-docker-ansible-deploy/examples__apache__matrix-synapse__at_5e8a7fd05b.conf": "ProxyRequests not allowed here",
    "spantaleev__matrix-docker-ansible-deploy/examples__apache__matrix-synapse__at_9a251e4e46.conf": "ProxyRequests not allowed here",
}


CERTBOT = "apache/certbot__certbot/apache-testdata"


def _tree_root(relative):
    (row,) = [r for r in rows(server="apache") if r["local_path"] == f"{CERTBOT}/{relative}"]
    return row["abspath"]


def test_distribution_layouts_load_completely():
    # (entry, prefix, files read): counted with `find` on the corpus trees, following the
    # Include/IncludeOptional lines of each entry file by hand.
    debian = _tree_root("debian_apache_2_4/multiple_vhosts/apache2/apache2.conf")
    tree = load(debian)
    assert tree.errors == []
    enabled = sorted(f for f in tree.files if "/sites-enabled/" in f)
    assert [os.path.basename(f) for f in enabled] == sorted(
        os.listdir(os.path.join(os.path.dirname(debian), "sites-enabled")))

    gentoo = _tree_root("gentoo_apache/apache/apache2/httpd.conf")
    # Its vhosts Include /etc/apache2/vhosts.d/default_vhost.include: found through the prefix.
    tree = load(gentoo, prefix=os.path.dirname(gentoo))
    assert tree.errors == []
    assert any(f.endswith("vhosts.d/default_vhost.include") for f in tree.files)

    centos = _tree_root("centos7_apache/apache/httpd/conf/httpd.conf")
    # ServerRoot "/etc/httpd" does not exist here: the ancestor named httpd is used instead.
    tree = load(centos)
    assert tree.errors == []
    assert any("/conf.modules.d/" in f for f in tree.files)
    assert any("/conf.d/" in f for f in tree.files)


def test_certbot_complex_parsing_variables_and_ifdefine():
    entry = _tree_root("complex_parsing/apache2.conf")
    tree = load(entry, defines={})
    assert tree.errors == []
    by_name = {}
    for d in walk(tree.directives):
        by_name.setdefault(d.key, []).append(d)
    assert by_name["testvariableport"][0].args == ["1234"]
    assert by_name["testvariableportstr"][0].args == ["1234"]
    # `IncludeOptional conf-enabled/` reads the directory: conf-enabled/dummy.conf, lines 4-9.
    assert [len(d.args) for d in by_name["testargsdirective"]] == [1, 2, 1, 2, 3, 1]
    assert [d.span.line for d in by_name["testargsdirective"]] == [4, 5, 6, 7, 8, 9]
    ifdefines = [(d.args[0], d.extra["active"]) for d in by_name["ifdefine"]]
    assert ifdefines[:4] == [("COMPLEX", True), ("!COMPLEX", False), ("NOT_COMPLEX", False),
                             ("!NOT_COMPLEX", True)]
    # Without defines, NOT_COMPLEX could still come from the command line: undecided.
    undecided = load(entry)
    states = [d.extra["active"] for d in walk(undecided.directives) if d.key == "ifdefine"]
    assert states[:4] == [True, False, None, None]


# -- httpd's mod_macro regression suite --------------------------------------------------

MACRO_TESTS = "apache/apache__httpd/mod_macro_tests"
# Tests whose outcome depends on what this front end deliberately does not do:
# <IfModule> evaluation (38, 39), macro bodies that leave sections open for later lines
# (15-18, 43, 56; see linter/apache/macros.py), httpd context checks (20, 24), its line
# buffer size (29), and recursion hidden in an <IfDefine> that only -D decides (44 passes
# with defines={} and is checked below).
_NOT_COMPARED = {15, 16, 17, 18, 20, 24, 29, 38, 39, 43, 56}
_WARN = re.compile(r"^\[core:warn\] (.*?) on line (\d+) of (.*)$")
_ERROR = re.compile(r"^\[core:error\] (.*?) on line (\d+) of ")
_SYNTAX = re.compile(r"^httpd: Syntax error on line (\d+) of (\./conf/\S+|macro .*?): (.*)$")


def _macro_cases():
    cases = {}
    for row in rows(server="apache"):
        m = re.search(r"mod_macro_tests/conf/test(\d+)\.conf$", row["local_path"])
        if m:
            cases[int(m.group(1))] = row["abspath"]
    return cases


def _words(text):
    return " ".join(text.replace('"', "").split())


def _executed(directives):
    """Warning/Error directives in the order httpd executes them, up to the first Error."""
    out = []
    for d in walk(directives):
        if d.key in ("warning", "error"):
            out.append(d)
            if d.key == "error":
                break
    return out


def test_mod_macro_expansions_match_httpds_output():
    """Warnings printed by httpd = our expanded Warning directives, with the same Use lines."""
    compared = 0
    for number, path in sorted(_macro_cases().items()):
        if number in _NOT_COMPARED:
            continue
        with open(os.path.join(os.path.dirname(os.path.dirname(path)), "ref",
                               f"test{number:02d}.out"), encoding="utf-8") as f:
            ref = f.read().splitlines()
        if any(_SYNTAX.match(line) for line in ref):
            continue  # an error case, checked below
        tree = load(path, defines={"PWD": os.path.dirname(path)})
        executed = _executed(tree.directives)
        warnings = [_WARN.match(line) for line in ref if _WARN.match(line)]
        ours = [d for d in executed if d.key == "warning"]
        assert [_words(" ".join(d.args)) for d in ours] == [_words(w.group(1)) for w in warnings], number
        for directive, warning in zip(ours, warnings):
            where = warning.group(3)
            used = re.search(r'used on line (\d+) of "\./conf/[^"]+"\)?$', where)
            if where.startswith("./conf/"):
                assert "use" not in directive.extra and directive.span.end_line == int(warning.group(2))
            elif used and where.count("macro '") == 1:
                assert directive.extra["use"].end_line == int(used.group(1)), number
        errors = [_ERROR.match(line) for line in ref if _ERROR.match(line)]
        if errors:
            assert executed[-1].key == "error", number
            assert _words(" ".join(executed[-1].args)) == _words(errors[0].group(1)), number
            if errors[0].string.endswith(f"of ./conf/test{number:02d}.conf"):
                assert executed[-1].span.end_line == int(errors[0].group(2)), number
        compared += 1
    assert compared >= 35


# test number -> (line of our first error, words it contains); translated by hand from
# ref/testNN.out ("Syntax error on line N of ./conf/testNN.conf: ...", or for errors inside
# a macro the file line of that macro line).
_EXPECTED_ERRORS = {
    1: (2, "needs a macro name"), 2: (2, "needs a macro name"),
    4: (5, "takes 0 arguments, but this Use gives 1"), 5: (5, "takes 1 argument, but this Use gives 0"),
    6: (5, "takes 1 argument, but this Use gives 2"), 7: (2, "<Macro> is not closed"),
    8: (3, "</Macro> without matching <Macro> section"), 9: (3, "recursive use of macro 'foo'"),
    10: (7, "recursive use of macro 'foo'"), 32: (3, "parameter '$arg2' is declared twice"),
    33: (3, "Use needs a macro name"), 37: (3, "parameter #1 has an empty name"),
    51: (9, "'foo' is not defined"),
    57: (2, "parameter #2 has an empty name"), 58: (2, "missing the closing '>'"),
    59: (2, "needs a macro name"),
}


# httpd's "macro 'bla' is not defined" for a macro defined in no file: httpd read its whole
# configuration, we may have been given one file of it, so the macro is unresolved (unknown,
# an MPL001 note; an error with --strict-includes), on httpd's line.
_EXPECTED_UNRESOLVED = {3: (5, "bla"), 53: (2, "bla")}
# httpd's "cannot remove undefined macro" for a macro defined in no file (tests 49, 50): for one
# file of a configuration, removing a macro defined elsewhere is the usual cleanup, and it adds
# nothing unknown: accepted silently. (A removal before a later definition is still an error.)
_ACCEPTED_UNDEFMACRO = (49, 50)


def test_mod_macro_errors_are_found_on_httpds_lines():
    cases = _macro_cases()
    for number, (line, words) in _EXPECTED_ERRORS.items():
        tree = load(cases[number], defines={})
        assert tree.errors, number
        first = tree.errors[0]
        assert (first.line, words in first.message) == (line, True), (number, str(first))
    for number, (line, name) in _EXPECTED_UNRESOLVED.items():
        tree = load(cases[number], defines={})
        assert tree.errors == [], number
        (unresolved,) = tree.unresolved
        assert (unresolved.span.line, unresolved.target, unresolved.kind) == (line, name, "macro"), number
    for number in _ACCEPTED_UNDEFMACRO:
        tree = load(cases[number], defines={})
        assert tree.errors == [] and tree.unresolved == [], number
        assert [d.key for d in tree.directives][-1] == "undefmacro", number


def test_recursion_guarded_by_ifdefine_needs_the_defines():
    path = _macro_cases()[44]
    assert load(path, defines={}).errors == []
    assert "recursive use" in load(path).errors[0].message  # NoFoo undecided: both branches read


def test_server_detection_on_the_whole_corpus():
    from linter.apache.parse import looks_like_apache

    missed, wrong = [], []
    for row in rows():
        with open(row["abspath"], encoding="utf-8", errors="replace") as f:
            found = looks_like_apache(f.read(), row["local_path"])
        if row["server"] == "apache" and not found:
            missed.append(row["local_path"])
        elif row["server"] != "apache" and found:
            wrong.append(row["local_path"])
    assert wrong == []
    # Three httpd manual "config" blocks are really JSON/curl output (mod_md status pages).
    assert len(missed) <= 3, missed
