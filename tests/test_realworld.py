"""Real-world precision: every config in tests/realworld/ is linted and each finding must have a
hand-written verdict in tests/realworld/VERDICTS.tsv (see tests/realworld/README.md).

Fails when a finding has no verdict row, when a verdict row has no finding any more, when a file
cannot be linted, or when precision drops below the ratchet in judge.py (the target is 95%). `python tests/realworld/judge.py` prints the
same report, with the rows to paste for new findings."""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "realworld_judge", Path(__file__).resolve().parent / "realworld" / "judge.py")
judge = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(judge)


def test_every_source_file_exists_and_is_listed():
    listed = {p for fs in judge.config_files().values() for p in fs}
    for p in listed:
        assert p.is_file(), f"SOURCES.tsv names {p}, which is missing"
    on_disk = {p for s in judge.SERVERS for p in (judge.HERE / s).glob("*") if p.is_file()}
    assert on_disk <= listed, f"files without a SOURCES.tsv row (source and license): {sorted(on_disk - listed)}"


def test_verdict_rows_are_well_formed():
    for v in judge.load_verdicts():
        assert v["verdict"] in judge.COUNTED | judge.GONE, v
        assert v["reason"].strip(), f"a verdict needs a reason: {v}"


def test_realworld_precision():
    findings, problems = judge.lint()
    text, ok = judge.report(findings, problems, judge.load_verdicts(), judge.load_misses())
    assert ok, "\n" + text
