"""The HAProxy front end over the shared corpus (../shared/corpus, `server=haproxy` rows).

The full comparison with `haproxy -c` over all 567 files takes ~30 s and lives in
bench/haproxy_corpus.py; here a sample of it runs.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from corpus import rows

from linter.haproxy.parse import load

ROOT = Path(__file__).resolve().parent.parent
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

# The 19 reg-test configs haproxy must refuse (`-conf-BAD`). Every one is refused for a
# semantic reason, after the lines were read; a parser cannot and should not flag them.
BAD_REASONS = {
    "converter__has_ctl__h2__L129": "has_ctl(bogus): invalid converter argument",
    "converter__has_ctl__h3__L147": "has_ctl(0x400000000): converter argument out of range",
    "spoe__wrong_init__h1__L14": "`filter spoe` without its configuration file",
    "ssl__crt_store__h2__L32": "a certificate used by `bind` before the crt-store loading it",
    **{f"startup__default_rules__h{n}__L{line}":
       "TCP/HTTP rules in an anonymous defaults section"
       for n, line in ((1, 9), (2, 19), (3, 29), (4, 39), (5, 49), (6, 59), (7, 70))},
    "startup__default_rules__h8__L85": "defaults with rules used to init another defaults",
    "startup__default_rules__h9__L103": "defaults with rules used to init a listen section",
    "startup__default_rules__h10__L124": "defaults with rules used by a frontend and a backend",
    "startup__default_rules__h11__L148": "tcp-request connection rules inherited by a backend",
    "startup__default_rules__h12__L162": "tcp-request session rules inherited by a backend",
    "startup__default_rules__h13__L180": "tcp-response content rules inherited by a frontend",
    "startup__default_rules__h15__L218": "srv_conn(www) without a proxy name in a defaults rule",
    "startup__default_rules__h16__L232": "sc_http_req_rate(0) without a table in defaults",
}


def _bad_name(path: str) -> str:
    return os.path.basename(path)[len("reg-tests__"):-len(".BAD.cfg")]


def test_every_file_parses_without_a_traceback():
    crashed = []
    for row in rows(server="haproxy"):
        try:
            tree = load(row["abspath"], env={})
        except Exception as error:                      # noqa: BLE001 (that is the test)
            crashed.append(f"{row['local_path']}: {error!r}")
            continue
        assert tree.server == "haproxy"
        for error in tree.errors:
            assert error.line >= 1 and error.column >= 1, (row["local_path"], error)
            assert "_NL" not in error.message and "RBRACE" not in error.message
    assert crashed == []


def test_haproxy_projects_own_configs_have_no_errors():
    """haproxy's examples and reg-tests (VTest macros included) are valid line syntax."""
    haproxy_rows = [r for r in rows(server="haproxy") if r["repo"] == "haproxy/haproxy"
                    and not r["local_path"].endswith(".BAD.cfg")]
    assert len(haproxy_rows) > 300
    failing = {r["local_path"]: [str(e) for e in load(r["abspath"], env={}).errors]
               for r in haproxy_rows}
    assert {path: problems for path, problems in failing.items() if problems} == {}


def test_bad_reg_test_configs_are_all_semantic():
    bad = {_bad_name(r["abspath"]): r["abspath"] for r in rows(server="haproxy")
           if r["local_path"].endswith(".BAD.cfg")}
    assert sorted(bad) == sorted(BAD_REASONS)
    assert {name: [str(e) for e in load(path, env={}).errors] for name, path in bad.items()
            if load(path, env={}).errors} == {}


@pytest.mark.parametrize("local_path, expected", [
    # one line, 70 characters, no line feed
    ("haproxy/haproxytech__dataplaneapi/e2e/tests/raw/data/haproxy_no_newline.cfg",
     [(1, 71, "the last line has no line feed at its end (haproxy refuses such a file as "
              "possibly truncated)")]),
    # client-native's generated fixture writes `!{ var(txn.pod),nbsrv -m found }:1]`: the
    # word "}:1]" does not close the anonymous ACL opened by "!{" at column 82
    ("haproxy/haproxytech__client-native/config-parser-tests/"
     "haproxy_generated__generatedConfig.cfg",
     [(650, 82, "missing closing '}' in the condition")]),
])
def test_known_problems_in_corpus_files(local_path, expected):
    path = [r["abspath"] for r in rows(server="haproxy") if r["local_path"] == local_path][0]
    found = [(e.line, e.column, e.message) for e in load(path, env={}).errors]
    assert found[:len(expected)] == expected


@pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason="haproxy is not installed")
def test_files_haproxy_accepts_parse_without_errors(tmp_path):
    """The `general` files and every 12th test fixture (about 85 runs of `haproxy -c`).

    No Matrix file passes `haproxy -c` as it is (certificate and error files that do not exist
    here, Helm templates), so they cannot be part of this check; bench/haproxy_corpus.py runs
    it over the whole corpus."""
    spec = importlib.util.spec_from_file_location("haproxy_corpus",
                                                  ROOT / "bench" / "haproxy_corpus.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    accepted, problems = 0, {}
    for index, row in enumerate(rows(server="haproxy")):
        if row["kind"] == "matrix" or row["local_path"].endswith(".BAD.cfg") or (
                row["kind"] == "test-fixture" and index % 12):
            continue
        text = Path(row["abspath"]).read_text(encoding="utf-8", errors="replace")
        ok, _ = bench.haproxy_accepts(HAPROXY, bench.substitute_vtest_macros(
            text, str(tmp_path), str(tmp_path)), str(tmp_path))
        if ok:
            accepted += 1
            errors = load(row["abspath"], env={}).errors
            if errors:
                problems[row["local_path"]] = [str(e) for e in errors]
    assert accepted >= 30           # haproxy really ran and accepted files
    assert problems == {}
