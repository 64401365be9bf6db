import sys
from pathlib import Path

# Let tests import their shared helpers (tests/corpus.py, tests/real/...) by plain name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Use both cores when pytest-xdist is installed (and the user did not choose `-n`); run in one
    process without it, so a plain `pip install .` + `pytest` works too."""
    if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "numprocesses", None) is None \
            and not hasattr(config, "workerinput"):
        config.option.numprocesses = "auto"
