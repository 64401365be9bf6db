"""Access to the shared corpus (../shared/corpus), indexed by SOURCES.tsv.

The corpus is test data written by others: never edit it. On a user's fresh clone it is absent
and corpus tests skip; CI sets MPL_REQUIRE_CORPUS=1 so that a missing corpus fails instead.
"""
from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def require_corpus() -> Path:
    if not (CORPUS / "SOURCES.tsv").is_file():
        if os.environ.get("MPL_REQUIRE_CORPUS") == "1":
            pytest.fail(f"MPL_REQUIRE_CORPUS=1 but the corpus is missing at {CORPUS}")
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


def rows(server: str | None = None, kind: str | None = None) -> list[dict]:
    """SOURCES.tsv rows (as dicts, plus `abspath`), filtered by server and kind."""
    base = require_corpus()
    with open(base / "SOURCES.tsv", newline="", encoding="utf-8") as f:
        out = []
        for row in csv.DictReader(f, delimiter="\t"):
            if server and row["server"] != server:
                continue
            if kind and row["kind"] != kind:
                continue
            row["abspath"] = str(base / row["local_path"])
            out.append(row)
    return out


@dataclass
class CorpusRun:
    files: list
    crashes: list          # "path\ntraceback" for every input that raised
    clean: int             # files that lint without configuration errors
    codes: Counter         # findings per rule code
    only_missing_includes: int   # files whose only errors are includes not in the corpus


def lint_every_file(server: str, kind: str | None = None) -> CorpusRun:
    """Run the whole pipeline (parse, model, every rule) on each corpus file of a server."""
    import traceback

    from linter.engine import lint

    run = CorpusRun([r["abspath"] for r in rows(server=server, kind=kind) if "/_templates/" not in r["local_path"]],
                    [], 0, Counter(), 0)
    for path in run.files:
        try:
            report = lint([path], server=server)
        except Exception:
            run.crashes.append(f"{path}\n{traceback.format_exc()}")
            continue
        run.clean += not report.errors
        run.only_missing_includes += all("included file" in e.message and "not found" in e.message
                                         for e in report.errors)
        run.codes.update(f.rule.code for f in report.findings)
    return run
