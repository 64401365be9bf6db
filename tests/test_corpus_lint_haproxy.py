"""The whole pipeline (parse, model, every rule) on every HAProxy file of the shared corpus.

No input may produce a traceback: a file either lints or yields configuration errors. What the
run found is printed (run with -s or -rP).
"""
from collections import Counter

from corpus import lint_every_file, rows
from linter.engine import lint


def test_every_haproxy_corpus_file_lints_without_a_traceback():
    run = lint_every_file("haproxy")
    print(f"\nhaproxy corpus: {len(run.files)} files, {run.clean} without configuration errors; "
          f"findings by rule: {dict(sorted(run.codes.items()))}")
    assert not run.crashes, run.crashes[:3]
    assert len(run.files) > 500


def test_matrix_corpus_findings_are_plausible():
    """Matrix deployments in the wild trigger the HAProxy rules this tool exists for."""
    files = [r["abspath"] for r in rows(server="haproxy", kind="matrix") if "/_templates/" not in r["local_path"]]
    codes = Counter()
    for path in files:
        codes.update(f.rule.code for f in lint([path], server="haproxy").findings)
    print(f"\nhaproxy Matrix corpus: {len(files)} files; findings by rule: {dict(sorted(codes.items()))}")
    # The old matrix-docker-ansible-deploy examples: reqadd/rspadd (refused since 2.1), option
    # forwardfor in defaults (spoofable X-Forwarded-For), http-response add-header of CORS.
    for code in ("MPL805", "MPL803", "MPL405"):
        assert codes[code], code


def _synapse_docs(name: str) -> str:
    (row,) = [r for r in rows(server="haproxy") if r["local_path"] == f"haproxy/element-hq__synapse/{name}"]
    return row["abspath"]


def test_the_synapse_documentation_examples():
    """The current HAProxy examples of Synapse's reverse_proxy.md.

    The main example forwards X-Forwarded-For/-Proto and the Host and routes only /_matrix and
    /_synapse/client on 443, so nothing is said about that frontend. Its federation frontend sends
    every path on 8448 to Synapse with `default_backend`, the admin API included
    (matrix-org/synapse#16027 is this exposure): MPL405 says so, and it is the only finding. The
    well-known example uses http-after-response and set-header as it should; its method list
    lacks PATCH/HEAD (an info note).
    """
    main = lint([_synapse_docs("docs__reverse_proxy.md__block06.cfg")], server="haproxy")
    assert [(f.rule.code, f.span.line, f.span.column) for f in main.findings] == [("MPL405", 20, 3)]
    sni = lint([_synapse_docs("docs__reverse_proxy.md__block08.cfg")], server="haproxy")
    assert sni.findings == []
    wellknown = lint([_synapse_docs("docs__reverse_proxy.md__block09.cfg")], server="haproxy")
    assert [(f.rule.code, f.severity, f.span.line) for f in wellknown.findings] == [("MPL104", "info", 9)]
