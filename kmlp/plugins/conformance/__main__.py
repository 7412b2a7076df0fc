"""The processes ``kmlp plugins check`` starts: ``worker`` (runtime checks on one backend) and ``reload``.

python -m kmlp.plugins.conformance worker JOB_JSON RESULTS_FILE
python -m kmlp.plugins.conformance reload BACKEND DISTRIBUTION:NAME MODEL INPUTS_NPY OUTPUTS_NPY
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kmlp.plugins.conformance.runner import reload_and_predict, worker


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "worker":
        job, results_file = args
        worker(json.loads(job), Path(results_file))
    elif command == "reload":
        backend, architecture, model, inputs, outputs = args
        reload_and_predict(backend, architecture, Path(model), Path(inputs), Path(outputs))
    else:
        raise SystemExit(f"unknown command {command!r}: use worker or reload")


if __name__ == "__main__":
    main(sys.argv[1:])
