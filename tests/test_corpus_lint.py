"""The whole pipeline (parse, model, every rule) on every nginx file of the shared corpus.

No input may produce a traceback: a file either lints or yields configuration errors. The share
that lints without errors is printed (run with -s or -rP) and must not regress below a floor.
"""

from corpus import lint_every_file, rows
from linter.engine import lint

FLOOR = 0.90   # measured share minus a margin; raise it as the front end improves


def test_every_nginx_corpus_file_lints_without_a_traceback():
    run = lint_every_file("nginx")
    n = len(run.files)
    # Most corpus files include files that were not collected (/config/nginx/proxy.conf, snippets
    # of other repos): nginx would refuse them too, but they still parse.
    print(f"\nnginx corpus: {run.clean}/{n} files ({run.clean / n:.1%}) lint without configuration errors; "
          f"{run.only_missing_includes}/{n} ({run.only_missing_includes / n:.1%}) parse (only missing includes)")
    assert not run.crashes, run.crashes[:3]
    assert run.only_missing_includes / n >= FLOOR


def test_matrix_corpus_findings_are_plausible():
    """Sanity: Matrix deployments in the wild trigger the rules this tool exists for."""
    files = [r["abspath"] for r in rows(server="nginx", kind="matrix") if "/_templates/" not in r["local_path"]]
    codes = set()
    for path in files:
        codes |= {f.rule.code for f in lint([path], server="nginx").findings}
    for code in ("MPL101", "MPL201", "MPL304", "MPL401", "MPL501"):
        assert code in codes
