"""The conformance kit: its catalogue, kmlp's own built-ins passing it, and a broken plugin failing it with reasons."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import BACKEND, REPO, kmlp, modules_after
from plugin_fixtures import make_distribution

from kmlp.errors import KmlpError
from kmlp.plugins.conformance import CATALOGUE, CHECK_GROUPS, FAILED, PASSED, XFAILED, XPASSED, CheckResult
from kmlp.plugins.conformance.base import apply_expectations
from kmlp.plugins.conformance.runner import resolve_targets
from kmlp.plugins.registry import Registry
from kmlp.testing import parametrize_plugin_checks

BROKEN_SOURCES = REPO / "tests" / "broken_plugin"
BROKEN = "kmlp-broken-fixture"
BROKEN_ENTRIES = {
    "kmlp.datasets": {
        "broken_import": "kmlp_broken_fixture.missing:DATA",
        "wrong_kind": "kmlp_broken_fixture.specs:WRONG_KIND",
        "noisy_data": "kmlp_broken_fixture.heavy_specs:NOISY_DATA",
    },
    "kmlp.architectures": {
        "unsaveable_net": "kmlp_broken_fixture.specs:UNSAVEABLE_NET",
        "bad_signature_net": "kmlp_broken_fixture.specs:BAD_SIGNATURE_NET",
        "wrong_outputs_net": "kmlp_broken_fixture.specs:WRONG_OUTPUTS_NET",
        "probability_net": "kmlp_broken_fixture.specs:PROBABILITY_NET",
    },
}
_NO_KMLP_DEPENDENCY = "kmlp-broken-fixture does not depend on kmlp"
#: Every check each broken entry must fail, with words its reason must contain. Every other check passes or is
#: skipped because a check it needs failed.
EXPECTED_FAILURES = {
    "broken_import": {
        "entry_point_loads": "ModuleNotFoundError: No module named 'kmlp_broken_fixture.missing'",
        "depends_on_kmlp": _NO_KMLP_DEPENDENCY,
    },
    "wrong_kind": {
        "spec_kind": "group kmlp.datasets names an object of type ArchitectureSpec; expected a kmlp.api.DatasetSpec",
        "depends_on_kmlp": _NO_KMLP_DEPENDENCY,
    },
    "noisy_data": {
        "param_defaults_valid": "size: default 0 is invalid: must be >= 1, found 0",
        "schema_rejects_bad_values": "mode: ge declared on a str parameter has no effect",
        "spec_import_is_light": "importing kmlp_broken_fixture.heavy_specs loads ",
        "params_documented": "no doc for: mode",
        "depends_on_kmlp": _NO_KMLP_DEPENDENCY,
        "declared_shapes": "train inputs have shape (64, 5); input_shape (4,) promises (N, *(4,))",
        "labels_in_range": "labels span 0..3, outside [0, 3) for num_classes=3",
        "same_seed_same_data": "differ between two loads with seed=0",
        "leaves_global_rng_alone": "loading changes the global numpy.random state",
        "float_inputs_are_float32": "train inputs are float64",
    },
    "unsaveable_net": {
        "saved_model_reloads": "Could not locate class 'Doubling'",
        "depends_on_kmlp": _NO_KMLP_DEPENDENCY,
    },
    "bad_signature_net": {
        "builder_signature": "got an unexpected keyword argument 'width'",
        "builds_model": "TypeError: build_without_width() got an unexpected keyword argument 'width'",
        "depends_on_kmlp": _NO_KMLP_DEPENDENCY,
    },
    "wrong_outputs_net": {
        "builds_model": "asked for num_outputs=3, the model's output has shape (None, 7)",
        "depends_on_kmlp": _NO_KMLP_DEPENDENCY,
    },
    "probability_net": {
        "predicts_logits": "outputs look like probabilities (each row sums to 1)",
        "batch_independent_predictions": "predicting an example alone differs from predicting it in a batch",
        "mixed_precision_logits": "under mixed_bfloat16 the logits are bfloat16",
        "depends_on_kmlp": _NO_KMLP_DEPENDENCY,
    },
}


@pytest.fixture
def broken_plugin(tmp_path, monkeypatch) -> dict[str, str]:
    """The broken fixture "installed": its metadata in a site folder, its modules from tests/broken_plugin."""
    site = tmp_path / "site"
    make_distribution(site, BROKEN, "0.1", BROKEN_ENTRIES, {})
    monkeypatch.syspath_prepend(str(BROKEN_SOURCES))
    monkeypatch.syspath_prepend(str(site))
    return {"PYTHONPATH": os.pathsep.join([str(site), str(BROKEN_SOURCES), str(REPO)])}


def test_catalogue_names_groups_and_docs():
    assert set(CHECK_GROUPS) == {"api", "extended"}
    for check in CATALOGUE.values():
        assert check.group in CHECK_GROUPS and check.stage in ("static", "runtime") and check.doc, check.name
    rows = json.loads(kmlp("plugins", "checks", "--json").stdout)
    assert [r["name"] for r in rows] == list(CATALOGUE)
    assert {r["applies_to"] for r in rows} == {"both", "dataset", "architecture"}


def test_the_plugin_guide_names_every_check():
    guide = (REPO / "docs" / "plugins.md").read_text()
    assert [name for name in CATALOGUE if f"`{name}`" not in guide] == []


@pytest.mark.parametrize("argv", [["plugins", "--help"], ["plugins", "checks"]])
def test_plugins_commands_import_no_backend(argv):
    code = f"import sys\nfrom kmlp.cli import main\nsys.argv = ['kmlp', *{argv!r}]\ntry:\n    main()\nexcept SystemExit:\n    pass"
    assert not modules_after(code) & {"keras", "jax", "torch", "tensorflow"}


@parametrize_plugin_checks(["kmlp:synthetic", "kmlp:digits", "kmlp:npy", "kmlp:mlp"])
def test_builtins_keep_the_contract(plugin, check):
    check(plugin)


def test_broken_plugin_fails_the_expected_checks_with_reasons(broken_plugin):
    done = kmlp("plugins", "check", BROKEN, "--backend", BACKEND, "--json", env=broken_plugin)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["backends"] == [BACKEND] and not report["ok"]
    results = [CheckResult(**r) for r in report["results"]]
    failing = {(r.plugin.split(":")[1], r.check) for r in results if r.status == FAILED}
    expected = {(name, check) for name, checks in EXPECTED_FAILURES.items() for check in checks}
    assert failing == expected
    for r in results:
        name = r.plugin.split(":")[1]
        if r.status == FAILED:
            assert EXPECTED_FAILURES[name][r.check] in r.reason, (r.check, r.reason)
            assert not r.reason.startswith("CheckFailed"), r.reason  # the plugin author reads the reason alone
        else:
            assert r.status == PASSED or r.reason.startswith("needs "), (name, r.check, r.reason)
    runtime = {r.backend for r in results if r.backend}
    assert runtime == {BACKEND}
    skipped = {(r.plugin.split(":")[1], r.check): r.reason for r in results if r.status == "skipped"}
    assert skipped[("bad_signature_net", "trains_one_step")] == "needs builds_model, which failed"
    assert skipped[("broken_import", "returns_splits")] == "needs entry_point_loads, which failed"


def test_cli_table_lists_each_finding_once_per_reason(broken_plugin):
    done = kmlp("plugins", "check", f"{BROKEN}:noisy_data", "-b", BACKEND, "--group", "api", env=broken_plugin)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (
        "FAIL kmlp-broken-fixture:noisy_data labels_in_range [" + BACKEND + "]: train labels span 0..3" in done.stdout
    )
    assert "params_documented" not in done.stdout  # an extended check, not selected
    assert "some checks fail:" in done.stdout


def test_pytest_helper_with_expected_failures(broken_plugin, tmp_path):
    """A plugin's own suite: expected failures become xfail; an expected failure that passes fails (strict)."""
    targets = [f"{BROKEN}:noisy_data", f"{BROKEN}:wrong_outputs_net", f"{BROKEN}:broken_import"]
    test_file = tmp_path / "test_plugin_conformance.py"
    test_file.write_text(
        textwrap.dedent(
            f"""
            from kmlp.testing import parametrize_plugin_checks

            EXPECTED = {json.dumps(EXPECTED_FAILURES)}

            @parametrize_plugin_checks({targets!r}, expected_failures=lambda plugin: EXPECTED[plugin.name])
            def test_conformance(plugin, check):
                check(plugin)

            @parametrize_plugin_checks({targets[1]!r}, checks=["builds_model", "name_is_valid"])
            def test_without_expectations(plugin, check):
                check(plugin)

            @parametrize_plugin_checks({targets[1]!r}, checks=["name_is_valid"], expected_failures={{"name_is_valid": "x"}})
            def test_stale_expectation(plugin, check):
                check(plugin)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEX", str(test_file)],
        capture_output=True,
        text=True,
        env={**os.environ, **broken_plugin},
        cwd=tmp_path,
        timeout=900,
    )
    summary = done.stdout.strip().splitlines()[-1]
    expected_xfails = sum(len(EXPECTED_FAILURES[t.split(":")[1]]) for t in targets)
    assert "2 failed" in summary and f"{expected_xfails} xfailed" in summary, done.stdout[-3000:]
    assert "test_without_expectations[wrong_outputs_net-builds_model]" in done.stdout
    assert "asked for num_outputs=3, the model's output has shape (None, 7)" in done.stdout
    assert "test_stale_expectation[wrong_outputs_net-name_is_valid]" in done.stdout and "XPASS(strict)" in done.stdout


def test_a_crashing_plugin_is_reported_where_it_crashed(tmp_path):
    site = tmp_path / "site"
    source = "import os\nfrom kmlp.api import DatasetSpec\n\ndef load(*, seed):\n    os._exit(3)\n\n"
    source += "CRASH = DatasetSpec(summary='Kills its process.', loader=load)\n"
    make_distribution(
        site, "kmlp-crash", "1.0", {"kmlp.datasets": {"crash": "crash_plugin:CRASH"}}, {"crash_plugin": source}
    )
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    done = kmlp("plugins", "check", "kmlp-crash", "-b", BACKEND, "--json", "-g", "api", env=env)
    results = {r["check"]: r for r in json.loads(done.stdout)["results"] if r["backend"]}
    assert done.returncode == 1
    assert results["loader_signature"]["status"] == PASSED
    assert results["returns_splits"]["status"] == FAILED
    assert "ended with exit code 3 while running this check" in results["returns_splits"]["reason"]
    assert results["declared_shapes"] == {
        **results["declared_shapes"],
        "status": "skipped",
        "reason": "not run: the check process ended",
    }


def test_expectations_turn_failures_into_xfail_and_passes_into_xpass():
    def result(status):
        return CheckResult("d:n", "dataset", "dtypes", "api", None, status, "why")

    assert apply_expectations(result(FAILED), {"dtypes": "known"}).status == XFAILED
    stale = apply_expectations(result(PASSED), {"dtypes": "known"})
    assert stale.status == XPASSED and stale.failing and "remove it from expected_failures" in stale.reason
    assert apply_expectations(result(FAILED), {"other": "x"}).status == FAILED


def test_targets_are_distributions_names_or_qualified_names(broken_plugin):
    registry = Registry.discover()
    assert len(resolve_targets([BROKEN], registry)) == 7
    assert len(resolve_targets(["kmlp_broken_fixture"], registry)) == 7  # PEP 503 spelling
    assert [e.qualified_name for e in resolve_targets(["wrong_kind"], registry)] == [f"{BROKEN}:wrong_kind"]
    assert [e.name for e in resolve_targets(["kmlp:mlp", "mlp"], registry)] == ["mlp"]
    with pytest.raises(KmlpError, match="no installed plugin or distribution 'wrong_knd'") as caught:
        resolve_targets(["wrong_knd"], registry)
    assert "did you mean 'wrong_kind'" in caught.value.hint
    builtins_only = Registry([e for e in registry.entries() if e.builtin])
    with pytest.raises(KmlpError, match="no third-party plugins are installed"):
        resolve_targets([], builtins_only)


def test_cli_rejects_unknown_groups_checks_and_backends():
    for argv, message in (
        (["--group", "apii"], "unknown check group 'apii'"),
        (["--check", "dtype"], "unknown check 'dtype'"),
        (["--backend", "jaxx"], "unknown backend 'jaxx'"),
    ):
        done = kmlp("plugins", "check", "kmlp:mlp", *argv)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_saved_model_of_a_run_loads_with_its_recorded_architecture(write_recipe):
    """kmlp.inference.load_model imports the architecture a run recorded before Keras reads the file."""
    import numpy as np
    from rich.console import Console

    from kmlp.inference.loading import load_model, recorded_architecture
    from kmlp.recipe.resolve import load
    from kmlp.runtime.backend import BackendChoice
    from kmlp.train import run as training

    result = training.train(
        load(write_recipe(), ["training.epochs=1"]),
        BackendChoice(BACKEND, "test"),
        "cpu:0",
        Console(quiet=True),
        quiet=True,
    )
    path = Path(result.run.path) / "model.keras"
    assert recorded_architecture(path) == "kmlp:mlp"
    x = np.random.default_rng(0).normal(size=(3, 16)).astype("float32")
    import keras

    original = keras.saving.load_model(path)
    assert np.array_equal(load_model(path).predict(x, verbose=0), original.predict(x, verbose=0))
