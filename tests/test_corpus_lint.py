"""The whole pipeline (parse, model, every rule) on every nginx file of the shared corpus.

No input may produce a traceback: a file either lints or yields configuration errors. The share
that lints without errors is printed (run with -s or -rP) and must not regress below a floor.
"""
import traceback

from corpus import rows
from linter.engine import lint

FLOOR = 0.90   # measured share minus a margin; raise it as the front end improves


def test_every_nginx_corpus_file_lints_without_a_traceback():
    files = [r["abspath"] for r in rows(server="nginx") if "/_templates/" not in r["local_path"]]
    crashes, clean, parses = [], 0, 0
    for path in files:
        try:
            report = lint([path], server="nginx")
        except Exception:
            crashes.append(f"{path}\n{traceback.format_exc()}")
            continue
        clean += not report.errors
        # Most corpus files include files that were not collected (/config/nginx/proxy.conf,
        # snippets of other repos): nginx would refuse them too, but they still parse.
        parses += all("included file" in e.message and "not found" in e.message for e in report.errors)
    print(f"\nnginx corpus: {clean}/{len(files)} files ({clean / len(files):.1%}) lint without configuration "
          f"errors; {parses}/{len(files)} ({parses / len(files):.1%}) parse (only missing includes)")
    assert not crashes, crashes[:3]
    assert parses / len(files) >= FLOOR


def test_matrix_corpus_findings_are_plausible():
    """Sanity: Matrix deployments in the wild trigger the rules this tool exists for."""
    files = [r["abspath"] for r in rows(server="nginx", kind="matrix") if "/_templates/" not in r["local_path"]]
    codes = set()
    for path in files:
        codes |= {f.rule.code for f in lint([path], server="nginx").findings}
    for code in ("MPL101", "MPL201", "MPL304", "MPL401", "MPL501"):
        assert code in codes
