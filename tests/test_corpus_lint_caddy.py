"""The whole pipeline (parse, model, every rule) on every Caddy file of the shared corpus.

No input may produce a traceback: a file either lints or yields configuration errors. The share
of files that parse without errors and the findings per rule are printed (run with -s).
"""

from corpus import lint_every_file, rows
from linter.engine import lint

# Measured 751/893 (84.1%) parse without errors: v1 files, adapter error fixtures, and files stock
# Caddy 2.11 refuses too (plugin directives such as caddy-l4's layer4, templates).
FLOOR = 0.83


def test_every_caddy_corpus_file_lints_without_a_traceback():
    run = lint_every_file("caddy")
    print(f"\ncaddy corpus: {run.clean}/{len(run.files)} files ({run.clean / len(run.files):.1%}) parse and lint "
          f"without configuration errors; findings: {dict(sorted(run.codes.items()))}")
    assert not run.crashes, run.crashes[:3]
    assert run.clean / len(run.files) >= FLOOR


def test_caddy_v1_corpus_files_lint_without_a_traceback_and_model_nothing():
    files = [r["abspath"] for r in rows(server="caddy-v1")]
    for path in files:
        report = lint([path], server="caddy")
        assert report.errors, path


def test_matrix_corpus_findings_are_plausible():
    """Sanity: Matrix Caddyfiles in the wild trigger the rules written for what they get wrong."""
    files = [r["abspath"] for r in rows(server="caddy", kind="matrix") if "/_templates/" not in r["local_path"]]
    codes = set()
    for path in files:
        codes |= {f.rule.code for f in lint([path], server="caddy").findings}
    for code in ("MPL106", "MPL201", "MPL305", "MPL403"):
        assert code in codes
