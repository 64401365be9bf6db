"""Measure the HAProxy front end on the shared corpus against haproxy itself.

    python bench/haproxy_corpus.py [--haproxy /usr/sbin/haproxy] [--regtests DIR] [-v]

For every `server=haproxy` row of ../shared/corpus/SOURCES.tsv:
1. parse it with linter.haproxy.parse.load (empty environment, so results do not depend on the
   machine) and note tracebacks and errors;
2. run `haproxy -c -f` on it. The reg-test configs keep VTest macros (`${h1_fe_addr}`,
   `fd@${fe1}`, `${testdir}`), which VTest expands before haproxy sees them; for this check
   only they are replaced by dummy values (an address, a port, the reg-test directory when
   `--regtests` points at a haproxy `reg-tests/` tree, else an empty temporary directory);
3. report: files, tracebacks, files accepted by haproxy, accepted files we report errors for
   (should be none), and how the `*.BAD.cfg` reg-test configs fare.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

_FD = re.compile(r"fd@\$\{\w+\}")
_MACRO = re.compile(r"\$\{(\w+?)(_addr|_port|_sock)\}")


def substitute_vtest_macros(text: str, testdir: str, tmpdir: str) -> str:
    """What VTest would do to a reg-test config, with dummy values."""
    text = _FD.sub("ipv4@127.0.0.1:10081", text)
    text = _MACRO.sub(lambda m: {"_addr": "127.0.0.1", "_port": "10080",
                                 "_sock": "127.0.0.1:10080"}[m.group(2)], text)
    return (text.replace("${testdir}", testdir).replace("${tmpdir}", tmpdir)
            .replace("${VTC_SOCK_TYPE}", "stream"))


def haproxy_accepts(haproxy: str, text: str, workdir: str) -> tuple[bool, str]:
    path = os.path.join(workdir, "check.cfg")
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
    try:
        run = subprocess.run([haproxy, "-c", "-f", path], cwd=workdir, capture_output=True,
                             text=True, errors="replace", timeout=20, env={"PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired:
        return False, "timeout"
    output = run.stderr + run.stdout
    # exit 2 with "has no error but will not start (no listener)": valid, just no `bind`
    return run.returncode == 0 or "Configuration file has no error" in output, output


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options.add_argument("--haproxy", default="/usr/sbin/haproxy")
    options.add_argument("--regtests", help="a haproxy reg-tests/ directory (for ${testdir})")
    options.add_argument("-v", "--verbose", action="store_true")
    args = options.parse_args()

    os.environ["MPL_REQUIRE_CORPUS"] = "1"
    from corpus import rows
    from linter.haproxy.parse import load

    corpus_rows = rows(server="haproxy")
    tracebacks, with_errors, accepted, accepted_with_errors = [], [], [], []
    bad_flagged, bad_missed = [], []
    started = time.perf_counter()
    parse_seconds = 0.0
    with tempfile.TemporaryDirectory() as workdir:
        tmpdir = os.path.join(workdir, "tmp")
        os.mkdir(tmpdir)
        for row in corpus_rows:
            path = row["abspath"]
            t0 = time.perf_counter()
            try:
                tree = load(path, env={})
            except Exception:
                tracebacks.append((path, traceback.format_exc()))
                continue
            finally:
                parse_seconds += time.perf_counter() - t0
            if tree.errors:
                with_errors.append((path, tree.errors))
            if path.endswith(".BAD.cfg"):
                (bad_flagged if tree.errors else bad_missed).append((path, tree.errors))
                continue
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", errors="surrogateescape")
            testdir = workdir
            name = os.path.basename(path)
            if args.regtests and name.startswith("reg-tests__"):
                testdir = os.path.join(args.regtests, name.split("__")[1])
            ok, output = haproxy_accepts(args.haproxy, substitute_vtest_macros(
                text, testdir, tmpdir), workdir)
            if ok:
                accepted.append(path)
                if tree.errors:
                    accepted_with_errors.append((path, tree.errors))
            elif args.verbose:
                print(f"haproxy rejects {path}:\n  " + "\n  ".join(output.splitlines()[-3:]))

    print(f"files: {len(corpus_rows)}  ({time.perf_counter() - started:.1f} s in all, "
          f"{parse_seconds:.2f} s parsing)")
    print(f"tracebacks: {len(tracebacks)}")
    for path, text in tracebacks:
        print(f"  {path}\n{text}")
    print(f"files with parse errors: {len(with_errors)}")
    if args.verbose:
        for path, errors in with_errors:
            print(f"  {errors[0]}" + (f"  (+{len(errors) - 1} more)" if len(errors) > 1 else ""))
    print(f"accepted by `haproxy -c` (non-BAD files): {len(accepted)}")
    print(f"accepted by haproxy but with parse errors here: {len(accepted_with_errors)}")
    for path, errors in accepted_with_errors:
        for error in errors:
            print(f"  {error}")
    print(f"*.BAD.cfg: {len(bad_flagged) + len(bad_missed)}, reported as errors: "
          f"{len(bad_flagged)}, parsed without error (semantic problems): {len(bad_missed)}")
    for path, errors in bad_flagged:
        print(f"  flagged: {errors[0]}")
    if args.verbose:
        for path, _ in bad_missed:
            print(f"  not flagged: {os.path.basename(path)}")
    return 1 if tracebacks or accepted_with_errors else 0


if __name__ == "__main__":
    sys.exit(main())
