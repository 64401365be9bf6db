"""The whole pipeline (parse, model, every rule) on every Apache file of the shared corpus.

No input may produce a traceback: a file either lints or yields configuration errors. What the
run found is printed (run with -s or -rP).
"""
from collections import Counter

from corpus import lint_every_file, rows
from linter.engine import lint


def test_every_apache_corpus_file_lints_without_a_traceback():
    run = lint_every_file("apache")
    print(f"\napache corpus: {len(run.files)} files, {run.clean} without configuration errors; "
          f"findings by rule: {dict(sorted(run.codes.items()))}")
    assert not run.crashes, run.crashes[:3]
    assert len(run.files) > 1400


def test_matrix_corpus_findings_are_plausible():
    """Matrix deployments in the wild trigger the Apache rules this tool exists for."""
    files = [r["abspath"] for r in rows(server="apache", kind="matrix") if "/_templates/" not in r["local_path"]]
    codes = Counter()
    for path in files:
        codes.update(f.rule.code for f in lint([path], server="apache").findings)
    print(f"\napache Matrix corpus: {len(files)} files; findings by rule: {dict(sorted(codes.items()))}")
    # mxisd's and old matrix-docker-ansible-deploy examples: ProxyPass without nocanon (also to the
    # identity server under /_matrix/identity), no X-Forwarded-Proto, no AllowEncodedSlashes.
    for code in ("MPL201", "MPL601", "MPL602", "MPL604"):
        assert codes[code], code
