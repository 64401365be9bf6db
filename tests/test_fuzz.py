"""A bounded, fixed-seed run of the fuzzer (bench/fuzz.py) on each front end.

Bad input must give a clear error, never a traceback, a hang or unbounded memory, and what the
report prints must not carry raw control characters. The seeds are the project's own fixtures
(tests/fixtures/<server>, examples/<server>) and the fuzzer's regression inputs, which run
verbatim first: the run does not need the shared corpus. Longer runs, with the corpus:

    python bench/fuzz.py --cases 20000 --out /tmp/fuzz-out

A failure lists each signature with its (shrunk) reproducer; `python bench/fuzz.py --server S
--seed SEED --show INDEX --no-corpus` prints the whole case again.
"""
import importlib.util
import sys
from pathlib import Path

import pytest

SEED = 20240611          # fixed: the same cases on every run
CASES = 300              # per front end
JOBS = 2                 # worker processes (the machine has two cores)

ROOT = Path(__file__).resolve().parent.parent
ASSERTED = ("crash", "hang", "memory", "output-control-char", "output-unencodable")


def _load_fuzzer():
    spec = importlib.util.spec_from_file_location("mpl_bench_fuzz", ROOT / "bench" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module      # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzzer()


def _describe(outcome, server) -> str:
    lines = [f"{server}: {len(outcome.by_kind(*ASSERTED))} signature(s) in {CASES} cases (seed {SEED}):"]
    for hit in sorted(outcome.by_kind(*ASSERTED), key=lambda h: (h.kind, h.signature)):
        data = fuzz.reproducer(hit)
        lines.append(f"- [{hit.kind}] {hit.signature} x{hit.count}: {hit.detail[:160]}")
        lines.append(f"    {hit.case.ident}, {len(data)} bytes: {data[:200]!r}{'...' if len(data) > 200 else ''}")
    return "\n".join(lines)


@pytest.mark.parametrize("server", fuzz.SERVERS)
def test_fuzzing_finds_no_crash_hang_memory_or_control_characters(server):
    outcome = fuzz.fuzz((server,), cases=CASES, seed=SEED, jobs=JOBS, corpus=None, out=None,
                        shrink_seconds=3.0, shrink_total=10.0, log=None)
    assert outcome.stats[server].cases == CASES
    if outcome.by_kind(*ASSERTED):
        pytest.fail(_describe(outcome, server), pytrace=False)
