"""How the linter fares on the shared corpus's Matrix configs as users hand them to it: one file at
a time, its includes mostly missing (they live on the author's server).

    python bench/partial_configs.py [--server nginx|apache|caddy|haproxy] [--kind matrix|all] [-v]

For every SOURCES.tsv row of the server (templates under `_templates/` left out), it runs the
whole pipeline as `matrix-proxy-lint check --server S FILE` would and counts:
- files that exit 2 (configuration errors), with their errors grouped by message shape;
- files with MPL001 notes (includes not read), and how many includes shipped knowledge answered;
- findings reported as facts vs. as depending on something unseen.
The README quotes these figures; the goal is that a file exits 2 only for a real syntax error.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT))


def rows(server: str, kind: str):
    with open(CORPUS / "SOURCES.tsv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["server"] == server and (kind == "all" or row["kind"] == kind) \
                    and "/_templates/" not in row["local_path"]:
                yield CORPUS / row["local_path"]


def shape(message: str) -> str:
    """An error message with its particulars (names, paths, numbers) blanked, for grouping."""
    message = re.sub(r'"[^"]*"|\'[^\']*\'|`[^`]*`', "…", message)
    return re.sub(r"\d+", "N", message)[:90]


def measure(server: str, kind: str, verbose: bool) -> dict:
    from linter.engine import lint

    files = list(rows(server, kind))
    exit2, shapes, with_notes, known, facts, depending, crashes = 0, Counter(), 0, 0, 0, 0, []
    start = time.perf_counter()
    for path in files:
        try:
            report = lint([str(path)], server=server)
        except Exception as error:  # counted, not hidden: the robustness issue tracks these
            crashes.append(f"{path}: {type(error).__name__}: {error}")
            continue
        if report.errors:
            exit2 += 1
            for e in report.errors:
                shapes[shape(e.message)] += 1
                if verbose:
                    print(f"  {e}", file=sys.stderr)
        notes = [f for f in report.findings if f.rule.code == "MPL001"]
        with_notes += bool(notes)
        for f in report.findings:
            if f.rule.code == "MPL001":
                continue
            if f.unless:
                depending += 1
            else:
                facts += 1
        known += _known_includes(path, server)
    return {"server": server, "kind": kind, "files": len(files), "exit2": exit2, "crashes": crashes,
            "with_unresolved": with_notes, "known_answered": known, "facts": facts, "depending": depending,
            "shapes": shapes, "seconds": time.perf_counter() - start}


def _known_includes(path: Path, server: str) -> int:
    from linter.engine import Options, Report, load_config
    from linter.syntax import walk

    config = load_config(str(path), server, Options(server=server), Report())
    if config is None:
        return 0
    return sum(1 for d in walk(config.tree.directives) if d.extra.get("known"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", action="append", choices=["nginx", "apache", "caddy", "haproxy"])
    parser.add_argument("--kind", default="matrix", choices=["matrix", "general", "test-fixture", "all"])
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if not (CORPUS / "SOURCES.tsv").is_file():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 2
    print("| server | files | exit 2 | share | with unresolved includes | includes answered by shipped "
          "knowledge | findings as fact | findings depending on unseen | crashes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = [measure(s, args.kind, args.verbose) for s in args.server or ["nginx", "apache", "caddy", "haproxy"]]
    for r in results:
        share = 100 * r["exit2"] / r["files"] if r["files"] else 0
        print(f"| {r['server']} | {r['files']} | {r['exit2']} | {share:.1f}% | {r['with_unresolved']} | "
              f"{r['known_answered']} | {r['facts']} | {r['depending']} | {len(r['crashes'])} |")
    for r in results:
        if r["shapes"]:
            print(f"\n{r['server']}: errors by shape ({r['seconds']:.1f} s)")
            for text, n in r["shapes"].most_common(25):
                print(f"  {n:4d}  {text}")
        for c in r["crashes"]:
            print(f"  CRASH {c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
