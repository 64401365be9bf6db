"""Access to the shared corpus (../shared/corpus), indexed by SOURCES.tsv.

The corpus is test data written by others: never edit it. On a user's fresh clone it is absent
and corpus tests skip; CI sets MPL_REQUIRE_CORPUS=1 so that a missing corpus fails instead.
"""
from __future__ import annotations

import csv
import os
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
