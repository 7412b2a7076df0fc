"""The bad-input corpus: every way a user can get the input wrong, through the real command line.

Each case must give exit code 2, one message on stderr that says what is wrong and where (the file, and the dotted
key for a recipe problem) with a fix or a "did you mean", no traceback, and no run folder. Cases run in this process
(``inprocess.invoke``: the same ``main()`` as ``python -m kmlp``); the few about start-up run in a fresh one.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKEND, kmlp
from idx_files import idx_bytes, write_idx_dataset
from inprocess import invoke

#: Tiny and valid; each case breaks one thing in it.
BASE = """\
[recipe]
name = "bad"
seed = 1

[dataset]
name = "synthetic"
train_samples = 64
test_samples = 32
input_shape = [4]
num_classes = 2

[architecture]
name = "mlp"
hidden_units = [4]

[optimizer]
name = "adam"
learning_rate = 0.01

[training]
epochs = 1
batch_size = 16
"""


def replace(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new)


def without(section: str) -> str:
    lines, skipping = [], False
    for line in BASE.splitlines(keepends=True):
        if line.startswith("["):
            skipping = line.strip() == f"[{section}]"
        if not skipping:
            lines.append(line)
    return "".join(lines)


def add(section: str, line: str) -> str:
    return (
        replace(f"[{section}]\n", f"[{section}]\n{line}\n")
        if f"[{section}]\n" in BASE
        else BASE + f"\n[{section}]\n{line}\n"
    )


@dataclass
class Case:
    id: str
    #: Recipe text written to ``<tmp>/recipe.toml`` (``None``: no file).
    recipe: str | None = BASE
    #: Command-line arguments; ``{recipe}`` and ``{tmp}`` are filled in. Default: run the recipe.
    argv: list[str] = field(default_factory=lambda: ["run", "{recipe}"])
    #: Substrings the message must contain (formatted like ``argv``).
    expect: list[str] = field(default_factory=list)
    #: Prepares files in the temporary folder before the command runs.
    setup: Callable[[Path], None] | None = None
    #: Like ``setup``, for cases that must also patch the test process (see ``_locked``).
    patch: Callable[[Path, pytest.MonkeyPatch], None] | None = None
    #: Run in a fresh interpreter (start-up cases); ``env`` is added to its environment.
    fresh: bool = False
    env: dict[str, str] = field(default_factory=dict)


def _write_model_zip(content: str | None) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        with zipfile.ZipFile(tmp / "model.keras", "w") as archive:
            archive.writestr("metadata.json", "{}")
            if content is not None:
                archive.writestr("config.json", content)
        np.save(tmp / "x.npy", np.zeros((2, 4), np.float32))

    return setup


def _garbage_model(tmp: Path) -> None:
    (tmp / "model.keras").write_bytes(b"this is not a zip file")
    np.save(tmp / "x.npy", np.zeros((2, 4), np.float32))


def _idx(tmp: Path, *, damage: str) -> None:
    folder = tmp / "fm"
    write_idx_dataset(folder)
    images = folder / "train-images-idx3-ubyte.gz"
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:-50])
    elif damage == "not-gzip":
        images.write_bytes(b"<html>404 not found</html>")
    elif damage == "counts":
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(29))))


FASHION = replace(
    '[dataset]\nname = "synthetic"\ntrain_samples = 64\ntest_samples = 32\ninput_shape = [4]\nnum_classes = 2\n',
    '[dataset]\nname = "fashion_mnist"\npath = "{tmp}/fm"\ndownload = false\n',
)


def _locked(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recipe the user may not read. Root reads any file, so then the read fails as it would for a user."""
    locked = tmp / "locked.toml"
    locked.write_text(BASE + f'\n[output]\ndir = "{(tmp / "runs").as_posix()}"\n')
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        read_bytes = Path.read_bytes

        def denied(self: Path) -> bytes:
            if self == locked:
                raise PermissionError(13, "Permission denied", str(self))
            return read_bytes(self)

        monkeypatch.setattr(Path, "read_bytes", denied)


CASES = [
    # --- the recipe file itself
    Case(
        "toml-syntax",
        BASE.replace("epochs = 1", "epochs = "),
        expect=["{recipe}", "TOML syntax error", "line 21, column 10", "toml.io"],
    ),
    Case("toml-duplicate-key", BASE + "\n[training]\nepochs = 2\n", expect=["{recipe}", "TOML syntax error", "line"]),
    Case("toml-unclosed-string", replace('name = "bad"', 'name = "bad'), expect=["{recipe}", "line 2"]),
    Case("recipe-missing", None, expect=["{recipe}", "does not exist", "kmlp recipes"]),
    Case(
        "recipe-is-a-directory",
        None,
        argv=["run", "{tmp}"],
        expect=["{tmp} is a directory", "pass the path of a .toml"],
    ),
    Case(
        "recipe-not-utf8",
        None,
        argv=["run", "{tmp}/latin1.toml"],
        setup=lambda t: (t / "latin1.toml").write_bytes(b"# caf\xe9\n"),
        expect=["latin1.toml is not UTF-8", "TOML text"],
    ),
    Case(
        "recipe-unreadable",
        None,
        argv=["run", "{tmp}/locked.toml"],
        patch=_locked,
        expect=["cannot read {tmp}/locked.toml: permission denied"],
    ),
    Case(
        "recipe-empty",
        "",
        expect=["{recipe}", "dataset: missing required section [dataset]", "add [dataset] with a name"],
    ),
    # --- sections
    Case("missing-dataset", without("dataset"), expect=["{recipe}: dataset: missing required section [dataset]"]),
    Case("missing-architecture", without("architecture"), expect=["{recipe}: architecture: missing required section"]),
    Case(
        "unknown-section",
        BASE + "\n[trainig]\nepochs = 2\n",
        expect=["{recipe}: trainig: unknown section", "did you mean 'training'"],
    ),
    Case(
        "section-is-a-value",
        "training = 3\n" + without("training"),
        expect=["{recipe}: training: expected a [training] table"],
    ),
    Case(
        "missing-dataset-name",
        replace('name = "synthetic"', 'nme = "synthetic"'),
        expect=["{recipe}: dataset.name: missing required key"],
    ),
    # --- unknown keys at every level
    Case(
        "unknown-key-recipe",
        replace("seed = 1", "sed = 1"),
        expect=["{recipe}: recipe.sed: unknown key", "did you mean 'seed'"],
    ),
    Case(
        "unknown-key-training",
        replace("epochs = 1", "epocs = 1"),
        expect=["{recipe}: training.epocs: unknown key (did you mean 'epochs'?)"],
    ),
    Case(
        "unknown-key-dataset-plugin",
        replace("num_classes = 2", "num_class = 2"),
        expect=["{recipe}: dataset.num_class: unknown key", "'num_classes'"],
    ),
    Case(
        "unknown-key-architecture-plugin",
        replace("hidden_units = [4]", "hidden = [4]"),
        expect=["{recipe}: architecture.hidden: unknown key", "'hidden_units'"],
    ),
    Case(
        "unknown-key-optimizer",
        replace("learning_rate = 0.01", "learning_rte = 0.01"),
        expect=["{recipe}: optimizer.learning_rte: unknown key", "'learning_rate'"],
    ),
    Case(
        "unknown-key-loss",
        BASE + "\n[loss]\nfrom_logit = true\n",
        expect=["{recipe}: loss.from_logit: unknown key", "'from_logits'"],
    ),
    Case(
        "unknown-key-runtime",
        BASE + '\n[runtime]\ndevcie = "cpu"\n',
        expect=["{recipe}: runtime.devcie: unknown key", "'device'"],
    ),
    Case("unknown-key-output", BASE + '\n[output]\ndri = "x"\n', expect=["{recipe}: output.dri: unknown key", "'dir'"]),
    Case(
        "unknown-key-logging",
        BASE + "\n[logging]\nplot = false\n",
        expect=["{recipe}: logging.plot: unknown key", "'plots'"],
    ),
    Case(
        "key-in-the-wrong-section",
        replace("epochs = 1", "epochs = 1\nlearning_rate = 0.1"),
        expect=["{recipe}: training.learning_rate: unknown key", "'optimizer.learning_rate'"],
    ),
    # --- wrong types
    Case(
        "type-epochs-string",
        replace("epochs = 1", 'epochs = "1"'),
        expect=['{recipe}: training.epochs: expected an integer, found a string ("1")'],
    ),
    Case(
        "type-epochs-float",
        replace("epochs = 1", "epochs = 1.5"),
        expect=["{recipe}: training.epochs: expected an integer, found a number (1.5)"],
    ),
    Case(
        "type-shuffle",
        replace("epochs = 1", 'epochs = 1\nshuffle = "yes"'),
        expect=["{recipe}: training.shuffle: expected a boolean"],
    ),
    Case(
        "type-metrics",
        replace("epochs = 1", 'epochs = 1\nmetrics = "accuracy"'),
        expect=["{recipe}: training.metrics: expected a list of strings"],
    ),
    Case(
        "type-plugin-param",
        replace("hidden_units = [4]", 'hidden_units = "64"'),
        expect=["{recipe}: architecture.hidden_units: expected"],
    ),
    Case(
        "type-plugin-list-item",
        replace("input_shape = [4]", 'input_shape = [4, "x"]'),
        expect=["{recipe}: dataset.input_shape"],
    ),
    Case("type-seed", replace("seed = 1", "seed = 1.5"), expect=["{recipe}: recipe.seed: expected an integer"]),
    # --- out of range
    Case(
        "range-epochs-negative",
        replace("epochs = 1", "epochs = -3"),
        expect=["{recipe}: training.epochs: must be >= 1, found -3"],
    ),
    Case(
        "range-epochs-zero",
        replace("epochs = 1", "epochs = 0"),
        expect=["{recipe}: training.epochs: must be >= 1, found 0"],
    ),
    Case(
        "range-batch-size-zero",
        replace("batch_size = 16", "batch_size = 0"),
        expect=["{recipe}: training.batch_size: must be >= 1, found 0"],
    ),
    Case(
        "range-learning-rate-zero",
        replace("learning_rate = 0.01", "learning_rate = 0.0"),
        expect=["{recipe}: optimizer.learning_rate: must be > 0"],
    ),
    Case(
        "range-learning-rate-negative",
        replace("learning_rate = 0.01", "learning_rate = -0.1"),
        expect=["{recipe}: optimizer.learning_rate: must be > 0"],
    ),
    Case(
        "range-validation-split-one",
        replace("epochs = 1", "epochs = 1\nvalidation_split = 1.0"),
        expect=["{recipe}: training.validation_split: must be < 1"],
    ),
    Case(
        "range-validation-split-negative",
        replace("epochs = 1", "epochs = 1\nvalidation_split = -0.5"),
        expect=["{recipe}: training.validation_split: must be >= 0"],
    ),
    Case("range-seed-negative", replace("seed = 1", "seed = -1"), expect=["{recipe}: recipe.seed: must be >= 0"]),
    Case(
        "range-plugin-param",
        replace("num_classes = 2", "num_classes = 1"),
        expect=["{recipe}: dataset.num_classes: must be >= 2"],
    ),
    # --- unknown names
    Case(
        "unknown-dataset",
        replace('name = "synthetic"', 'name = "synthtic"'),
        expect=["{recipe}: dataset.name: unknown dataset 'synthtic'", "did you mean 'synthetic'"],
    ),
    Case(
        "unknown-architecture",
        replace('name = "mlp"', 'name = "mpl"'),
        expect=["{recipe}: architecture.name: unknown architecture 'mpl'", "did you mean 'mlp'"],
    ),
    Case(
        "unknown-optimizer",
        replace('name = "adam"', 'name = "adma"'),
        expect=["{recipe}: optimizer.name: unknown optimizer 'adma'", "did you mean"],
    ),
    Case(
        "unknown-loss",
        BASE + '\n[loss]\nname = "crossentropy"\n',
        expect=["{recipe}: loss.name: unknown loss 'crossentropy'", "supported:"],
    ),
    Case(
        "unknown-metric",
        replace("epochs = 1", 'epochs = 1\nmetrics = ["acuracy"]'),
        expect=["{recipe}: training.metrics[0]: unknown metric 'acuracy'", "did you mean 'accuracy'"],
    ),
    Case(
        "unknown-precision",
        BASE + '\n[runtime]\nprecision = "fp16"\n',
        expect=['{recipe}: runtime.precision: "fp16" is not one of'],
    ),
    Case(
        "unknown-backend-in-recipe",
        BASE + '\n[runtime]\nbackend = "jaxx"\n',
        expect=['{recipe}: runtime.backend: "jaxx" is not one of'],
    ),
    Case(
        "unknown-device-in-recipe",
        BASE + '\n[runtime]\ndevice = "tpu"\n',
        expect=["{recipe}: runtime.device: invalid device 'tpu'"],
    ),
    # --- a recipe is data: names are never import paths, run names never leave the output folder
    Case(
        "import-path-architecture",
        replace('name = "mlp"', 'name = "os:system"'),
        expect=["{recipe}: architecture.name: unknown architecture 'os:system'"],
    ),
    Case(
        "import-path-layer",
        replace('name = "mlp"', 'name = "keras.layers.Lambda"'),
        expect=["{recipe}: architecture.name: unknown architecture 'keras.layers.Lambda'"],
    ),
    Case(
        "import-path-optimizer",
        replace('name = "adam"', 'name = "builtins.eval"'),
        expect=["{recipe}: optimizer.name: unknown optimizer 'builtins.eval'"],
    ),
    Case(
        "import-path-loss",
        BASE + '\n[loss]\nname = "keras.losses.Loss"\n',
        expect=["{recipe}: loss.name: unknown loss 'keras.losses.Loss'"],
    ),
    Case(
        "import-path-dataset",
        replace('name = "synthetic"', 'name = "kmlp.plugins.builtins.small:load_synthetic"'),
        expect=["{recipe}: dataset.name: unknown dataset"],
    ),
    Case(
        "run-name-parent",
        replace('name = "bad"', 'name = "../escape"'),
        expect=["{recipe}: recipe.name: '../escape' cannot name a run folder", "no '/' or '..'"],
    ),
    Case(
        "run-name-absolute",
        replace('name = "bad"', 'name = "/tmp/escape"'),
        expect=["{recipe}: recipe.name: '/tmp/escape' cannot name a run folder"],
    ),
    # --- command-line overrides
    Case(
        "override-no-section",
        argv=["run", "{recipe}", "--set", "epochs=2"],
        expect=["invalid override 'epochs=2'", "section.key=value"],
    ),
    Case(
        "override-no-value",
        argv=["run", "{recipe}", "--set", "training.epochs"],
        expect=["invalid override 'training.epochs'"],
    ),
    Case(
        "override-bad-toml",
        argv=["run", "{recipe}", "--set", "architecture.hidden_units=[4,"],
        expect=["invalid value in override", "write the value as TOML"],
    ),
    Case(
        "override-unknown-key",
        argv=["run", "{recipe}", "--set", "training.epocs=2"],
        expect=["--set: training.epocs: unknown key (did you mean 'epochs'?)"],
    ),
    Case(
        "override-unknown-section",
        argv=["run", "{recipe}", "training.epochs=2", "nosuch.key=1"],
        expect=["--set: nosuch: unknown section"],
    ),
    Case(
        "override-into-a-value",
        argv=["run", "{recipe}", "--set", "training.epochs.x=1"],
        expect=["cannot override 'training.epochs.x=1': training.epochs is not a table"],
    ),
    Case(
        "override-wrong-type",
        argv=["run", "{recipe}", "--set", "training.batch_size=big"],
        expect=["--set: training.batch_size: expected an integer"],
    ),
    # --- backend and device
    Case(
        "unknown-backend",
        argv=["run", "{recipe}", "--backend", "jaxx"],
        expect=["unknown backend 'jaxx' (from --backend)", "did you mean 'jax'"],
    ),
    Case("unknown-device", argv=["run", "{recipe}", "--device", "tpu"], expect=["invalid device 'tpu'"]),
    Case(
        "gpu-without-a-gpu",
        argv=["run", "{recipe}", "--device", "gpu"],
        expect=[f"--device gpu: the {BACKEND} backend sees no GPU"],
        fresh=True,
    ),
    Case(
        "backend-not-installed",
        argv=["run", "{recipe}"],
        expect=[f"the {BACKEND} backend is not installed", f"pip install 'kmlp[{BACKEND}]'"],
        fresh=True,
        env={"KMLP_TEST_BLOCK": BACKEND},
    ),
    # --- data
    Case(
        "dataset-path-missing",
        FASHION.replace("{tmp}/fm", "{tmp}/nowhere"),
        expect=["{recipe}: [dataset] fashion_mnist: dataset.path '{tmp}/nowhere' does not exist"],
    ),
    Case(
        "idx-truncated",
        FASHION,
        setup=lambda t: _idx(t, damage="truncated"),
        expect=["train-images-idx3-ubyte.gz", "download the file again"],
    ),
    Case(
        "idx-not-gzip",
        FASHION,
        setup=lambda t: _idx(t, damage="not-gzip"),
        expect=["train-images-idx3-ubyte.gz", "download the file again"],
    ),
    Case(
        "idx-count-mismatch",
        FASHION,
        setup=lambda t: _idx(t, damage="counts"),
        expect=["the train split has 30 images but 29 labels"],
    ),
    Case(
        "output-dir-not-writable",
        BASE + '\n[output]\ndir = "{tmp}/a-file/runs"\n',
        setup=lambda t: (t / "a-file").write_text(""),
        expect=["cannot create runs under {tmp}/a-file/runs", "--set output.dir=PATH"],
    ),
    # --- models and inputs
    Case(
        "model-not-a-zip",
        None,
        argv=["predict", "{tmp}/model.keras", "{tmp}/x.npy"],
        setup=_garbage_model,
        expect=["{tmp}/model.keras is not a .keras model file"],
    ),
    Case(
        "model-without-config",
        None,
        argv=["predict", "{tmp}/model.keras", "{tmp}/x.npy"],
        setup=_write_model_zip(None),
        expect=["{tmp}/model.keras is not a .keras model file: it has no config.json"],
    ),
    Case(
        "model-config-not-json",
        None,
        argv=["predict", "{tmp}/model.keras", "{tmp}/x.npy"],
        setup=_write_model_zip("{nope"),
        expect=["{tmp}/model.keras is damaged"],
    ),
    Case("model-missing", None, argv=["predict", "{tmp}/missing.keras", "{tmp}/x.npy"], expect=["{tmp}/missing.keras"]),
    Case("resume-not-a-run", None, argv=["resume", "{tmp}"], expect=["{tmp} is not a run folder"]),
]


#: Lines TensorFlow's (absl) logging writes to stderr in a fresh process.
FRAMEWORK_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d:\d\d)")


def _format(text: str, tmp: Path, recipe: Path) -> str:
    return text.replace("{recipe}", str(recipe)).replace("{tmp}", str(tmp))


def _fresh(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    blocked = env.get("KMLP_TEST_BLOCK")
    if blocked is None:
        return kmlp(*argv, env=env)
    # A framework that cannot be imported, as if it were not installed (sys.modules[name] = None blocks it).
    code = f"import sys\nsys.modules[{blocked!r}] = None\nfrom kmlp.cli import main\nsys.argv = ['kmlp', *{argv!r}]\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=300
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_one_clear_message_exit_2_and_no_run_folder(case: Case, tmp_path, monkeypatch):
    recipe = tmp_path / "recipe.toml"
    if case.recipe is not None:
        recipe.write_text(
            _format(case.recipe, tmp_path, recipe) + f'\n[output]\ndir = "{(tmp_path / "runs").as_posix()}"\n'
            if "[output]" not in case.recipe
            else _format(case.recipe, tmp_path, recipe)
        )
    if case.setup:
        case.setup(tmp_path)
    if case.patch:
        case.patch(tmp_path, monkeypatch)
    argv = [_format(a, tmp_path, recipe) for a in case.argv]
    done = _fresh(argv, case.env) if case.fresh else invoke(*argv)
    if case.fresh:  # TensorFlow's C++ runtime logs to stderr as it starts, before kmlp can say anything
        done.stderr = "".join(line for line in done.stderr.splitlines(keepends=True) if not FRAMEWORK_LOG.match(line))
    output = done.stderr + done.stdout
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert done.stderr.startswith("error: "), output
    assert sum(line.startswith("error:") for line in done.stderr.splitlines()) == 1, output
    for expected in case.expect:
        assert _format(expected, tmp_path, recipe) in done.stderr, done.stderr
    assert not (tmp_path / "runs").exists()


def test_the_corpus_is_large_and_its_names_unique():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
