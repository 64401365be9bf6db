#!/usr/bin/env python3
"""The real-world precision table: lint every config under tests/realworld/<server>/ and compare
the findings with the hand-written verdicts in VERDICTS.tsv.

    python tests/realworld/judge.py            # unjudged findings, stale rows, figures
    python tests/realworld/judge.py --readme   # also rewrite the figures table in README.md

Unjudged findings are printed as VERDICTS.tsv rows with verdict `?`: paste them, judge each one
(tp / fp / sev) and write the reason. A stale row is a verdict whose finding went away (maybe a
fixed false positive): delete it, or keep it as a record by changing its verdict to `gone-tp` /
`gone-fp` (rows marked gone are not matched and not counted).

Verdicts: `tp` true positive; `fp` false positive; `sev` the tool is right but the severity is
wrong (counted as a true finding for precision, listed separately). Precision = (tp+sev) / judged.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SERVERS = ("nginx", "caddy", "apache", "haproxy")
VERDICTS = HERE / "VERDICTS.tsv"
MISSES = HERE / "MISSES.tsv"
SOURCES = HERE / "SOURCES.tsv"
README = HERE / "README.md"
COLUMNS = ["file", "line", "rule", "verdict", "reason"]
COUNTED = {"tp", "fp", "sev"}
GONE = {"gone-tp", "gone-fp"}
# A ratchet, not the goal: the precision measured when the table was made (85.4%, 2026-12-04).
# Issue 11 asks for 95%; raise this as false positives are fixed, never lower it.
THRESHOLD = 0.85
TARGET = 0.95


def config_files() -> dict[str, list[Path]]:
    """The configs per server: every file named in SOURCES.tsv (the only ones copied here)."""
    out: dict[str, list[Path]] = {s: [] for s in SERVERS}
    with SOURCES.open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            server = row["file"].split("/", 1)[0]
            out[server].append(HERE / row["file"])
    return out


def lint() -> tuple[dict[tuple[str, int, str], dict], list[str]]:
    """Run the CLI once per server on its files (each file on its own: --root is its server
    directory, where no file includes another). Returns findings keyed by (file, line, rule)
    (parse errors appear as rule `ERROR`) and the problems (internal errors, no JSON) that make
    the findings unreliable."""
    findings: dict[tuple[str, int, str], dict] = {}
    problems: list[str] = []
    for server, files in config_files().items():
        if not files:
            continue
        cmd = [sys.executable, "-m", "linter.cli", "check", "--format", "json", "--server", server,
               "--root", str(HERE / server), *map(str, files)]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            problems.append(f"{server}: no JSON from the linter (exit {proc.returncode}): "
                            f"{proc.stderr.strip()[:500]}")
            continue
        for f in doc.get("findings", []):
            rel = Path(f["path"])
            rel = (REPO / rel).resolve() if not rel.is_absolute() else rel.resolve()
            key = (rel.relative_to(HERE).as_posix(), int(f["line"]), f["rule"])
            findings.setdefault(key, f)
        for e in doc.get("errors", []):
            # A config the linter refuses (exit 2) is judged like a finding, as rule ERROR: tp when
            # the real server refuses it too, fp when the real server accepts it.
            try:
                rel = (REPO / e["path"]).resolve().relative_to(HERE).as_posix()
            except (KeyError, ValueError):
                problems.append(f"error outside tests/realworld: {e}")
                continue
            findings.setdefault((rel, int(e.get("line") or 0), "ERROR"),
                                {"severity": "error", "message": e.get("message", "")})
        for e in doc.get("internal_errors", []):
            problems.append(f"internal error: {e.get('path')}: {e.get('stage')}: {e.get('message')}")
    return findings, problems


def load_verdicts() -> list[dict]:
    with VERDICTS.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t")]
    for r in rows:
        r["line"] = int(r["line"])
    return rows


def load_misses() -> list[dict]:
    if not MISSES.exists():
        return []
    with MISSES.open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def compare(findings, verdicts):
    live = [v for v in verdicts if v["verdict"] not in GONE]
    judged = {(v["file"], v["line"], v["rule"]): v for v in live}
    unjudged = [(k, f) for k, f in sorted(findings.items()) if k not in judged]
    stale = [v for k, v in sorted(judged.items()) if k not in findings]
    matched = [v for k, v in judged.items() if k in findings]
    return unjudged, stale, matched


def figures(matched, misses) -> tuple[str, float]:
    files = {s: len(fs) for s, fs in config_files().items()}
    rows = []
    total = Counter()
    for server in SERVERS:
        c = Counter(v["verdict"] for v in matched if v["file"].startswith(server + "/"))
        m = sum(1 for x in misses if x["file"].startswith(server + "/"))
        n = c["tp"] + c["fp"] + c["sev"]
        prec = f"{(c['tp'] + c['sev']) / n:.1%}" if n else "-"
        rows.append(f"| {server} | {files[server]} | {n} | {c['tp']} | {c['sev']} | {c['fp']} | {prec} | {m} |")
        total.update(c)
        total["files"] += files[server]
        total["misses"] += m
    n = total["tp"] + total["fp"] + total["sev"]
    precision = (total["tp"] + total["sev"]) / n if n else 1.0
    rows.append(f"| **all** | {total['files']} | {n} | {total['tp']} | {total['sev']} | {total['fp']} | "
                f"{precision:.1%} | {total['misses']} |")
    head = ("| server | files | findings | tp | tp, severity wrong | fp | precision | misses |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|\n")
    return head + "\n".join(rows) + "\n", precision


def misses_table(misses) -> str:
    lines = ["| file | line | what no rule reports | where it should come from |", "|---|---:|---|---|"]
    for m in misses:
        lines.append(f"| {m['file']} | {m['line']} | {m['what']} | {m['expected']} |")
    return "\n".join(lines) + "\n"


def report(findings, problems, verdicts, misses) -> tuple[str, bool]:
    unjudged, stale, matched = compare(findings, verdicts)
    table, precision = figures(matched, misses)
    out = [table]
    ok = True
    if problems:
        ok = False
        out.append("Files the linter could not lint (their findings are missing):")
        out += [f"  {p}" for p in problems]
    if unjudged:
        ok = False
        out.append(f"{len(unjudged)} finding(s) without a verdict row: judge them and add to VERDICTS.tsv:")
        for (file, line, rule), f in unjudged:
            msg = " ".join(f["message"].split())[:160]
            out.append(f"{file}\t{line}\t{rule}\t?\t[{f['severity']}] {msg}")
    if stale:
        ok = False
        out.append(f"{len(stale)} verdict row(s) whose finding went away (a fixed false positive? a lost "
                   "true finding?): delete the row or mark it gone-tp / gone-fp:")
        for v in stale:
            out.append(f"{v['file']}\t{v['line']}\t{v['rule']}\t{v['verdict']}\t{v['reason']}")
    if precision < THRESHOLD:
        ok = False
        out.append(f"precision {precision:.1%} is below {THRESHOLD:.0%}; the false positives:")
        for v in sorted(matched, key=lambda v: (v["rule"], v["file"], v["line"])):
            if v["verdict"] == "fp":
                out.append(f"  {v['rule']} {v['file']}:{v['line']}: {v['reason']}")
    if misses:
        out.append("Misses (real problems no rule reports):")
        out.append(misses_table(misses))
    return "\n".join(out), ok


def rewrite_readme(table: str, misses) -> None:
    text = README.read_text()
    for tag, body in (("figures", table), ("misses", misses_table(misses))):
        begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
        a, b = text.index(begin) + len(begin), text.index(end)
        text = text[:a] + "\n" + body + text[b:]
    README.write_text(text)


def main(argv: list[str]) -> int:
    findings, problems = lint()
    verdicts, misses = load_verdicts(), load_misses()
    text, ok = report(findings, problems, verdicts, misses)
    print(text)
    if "--readme" in argv:
        _, _, matched = compare(findings, verdicts)
        rewrite_readme(figures(matched, misses)[0], misses)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
