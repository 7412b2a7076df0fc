"""The CLI run inside the test process: the same ``main()`` as ``python -m kmlp``, without a new interpreter.

Keras is already imported on the backend under test, which every command accepts (``kmlp.runtime.backend.apply`` only
refuses a *different* backend), so tests of what a command prints and writes need not pay seconds of start-up
each. Tests of start-up itself (backend and device choice, imports) use ``conftest.kmlp`` in a fresh process.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from unittest import mock


def invoke(*args: str) -> subprocess.CompletedProcess:
    from kmlp.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with (
        mock.patch.object(sys, "argv", ["kmlp", *args]),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        try:
            main()
        except SystemExit as exit:
            code = exit.code or 0
    return subprocess.CompletedProcess(["kmlp", *args], code, stdout.getvalue(), stderr.getvalue())


def invoke_json(*args: str) -> dict:
    done = invoke(*args, "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)
