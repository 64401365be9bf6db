"""Our header-inheritance rule (MPL501) against gixy's add_header_redefinition test cases.

gixy's convention: `name.conf` must be reported, `name_fp.conf` must not. The cases are read
from the shared corpus (test data from dvershinin/gixy, MPL-2.0), never copied.
"""
from pathlib import Path

import pytest

from corpus import require_corpus
from linter.engine import lint

CASES = "nginx/dvershinin__gixy/tests/plugins/simply/add_header_redefinition"

# Where we deliberately differ from gixy (which parses without nginx's context checks): nginx
# itself rejects these files, so we also report a configuration error. The rule's verdict still
# agrees with gixy's.
# (if_replaces.conf, a bare `if` with add_header, is read as the body of a location, where nginx
# allows it: the nginx front end picks the context in which every directive of a snippet is valid.)
INVALID_FOR_NGINX = {
    "non_block_fp.conf": '`server "some";` is not a valid directive: server needs a block',
    "if_replaces.conf": '`if (1)`: nginx -t says invalid condition "1"',
}


def cases():
    try:
        base = require_corpus() / CASES
    except BaseException:       # skip/fail is raised again inside the test
        return [None]
    return sorted(base.glob("*.conf"))


@pytest.mark.parametrize("path", cases(), ids=lambda p: p.name if p else "corpus")
def test_inheritance_rule_agrees_with_gixy(path):
    if path is None:
        require_corpus()
    report = lint([str(path)], server="nginx", select=("MPL501",))
    if path.name in INVALID_FOR_NGINX:
        assert report.errors, INVALID_FOR_NGINX[path.name]
    else:
        assert not report.errors, report.errors
    reported = bool(report.findings)
    expected = not path.stem.endswith("_fp")
    assert reported == expected, f"{path.name}: gixy says {'report' if expected else 'clean'}"


def test_there_are_gixy_cases():
    base = require_corpus() / CASES
    assert len(list(base.glob("*.conf"))) >= 8
