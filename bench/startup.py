"""Startup and throughput of the CLI, measured as whole processes (what a pre-commit hook pays).

    python bench/startup.py                              # the source tree, as `python -m linter.cli`
    python bench/startup.py /path/to/venv/bin/matrix-proxy-lint   # an installed wheel

Measure the installed wheel for numbers to compare: this machine sets PYTHONDONTWRITEBYTECODE,
so the source tree is recompiled on every run (~30 ms), while pip byte-compiles an install.
Measured on the 2-core box with the wheel installed: `--version` 50 ms, one small file 100 ms.

Compare with gixy-ng (0.10-0.16 s per small file, 1.12 s for 500 server blocks, measured on
the same 2-core machine: ../shared/research/anchors.md).
"""
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = sys.argv[1:2] or [sys.executable, "-m", "linter.cli"]


def median_ms(cmd, runs=15):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.conf"
        block = (ROOT / "examples" / "nginx" / "clean.conf").read_text()
        big.write_text("http {\n" + "\n".join(block.replace("matrix.example.com", f"m{i}.example.com")
                                             for i in range(250)) + "\n}\n")
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "--version": CLI + ["--version"],
            "check clean.conf": CLI + ["check", str(ROOT / "examples" / "nginx" / "clean.conf")],
            "check 500 server blocks": CLI + ["check", str(big)],
        }
        for name, cmd in cases.items():
            print(f"{name:28s} {median_ms(cmd, 5 if 'blocks' in name else 15):8.1f} ms")


if __name__ == "__main__":
    main()
