"""The command line as a user meets it: help, list, show, validate, info, and errors without tracebacks."""

from __future__ import annotations

import pytest
from conftest import BACKEND, RECIPES, kmlp, modules_after, run_json

BACKEND_MODULES = {"keras", "jax", "jaxlib", "torch", "tensorflow"}


def _cli(*argv: str) -> str:
    return (
        "import sys\nfrom kmlp.cli import main\n"
        f"sys.argv = ['kmlp', *{list(argv)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["list"],
        ["list", "datasets", "*mnist*"],
        ["show", "mnist"],
        ["bench", "--help"],
        ["validate", str(RECIPES / "mnist_mlp.toml")],
        ["validate", str(RECIPES / "digits_mlp.toml"), "--set", "training.epochs=2"],
    ],
    ids=lambda argv: " ".join(argv)[:40],
)
def test_commands_that_only_look_import_no_backend(argv):
    loaded = modules_after(_cli(*argv))
    assert not loaded & BACKEND_MODULES, loaded & BACKEND_MODULES


def test_python_dash_m_and_help():
    done = kmlp("--help")
    assert done.returncode == 0
    for command in ("run", "list", "show", "validate", "info"):
        assert command in done.stdout


def test_list_json_and_wildcards():
    rows = run_json("list")
    names = {(r["kind"], r["name"]) for r in rows}
    assert {
        ("dataset", "mnist"),
        ("dataset", "fashion_mnist"),
        ("dataset", "digits"),
        ("dataset", "synthetic"),
        ("architecture", "mlp"),
    } <= names
    assert all(
        r["status"] == "ok" and r["distribution"].startswith("kmlp ")
        for r in rows
        if r["distribution"].startswith("kmlp ")
    )
    builtin_matches = [r["name"] for r in run_json("list", "*mnist*") if r["distribution"].startswith("kmlp ")]
    assert builtin_matches == ["fashion_mnist", "mnist"]  # installed plugins (mnist1d) may match too
    assert [r["name"] for r in run_json("list", "architectures")] == [
        r["name"] for r in rows if r["kind"] == "architecture"
    ]


def test_list_table():
    done = kmlp("list", "datasets")
    assert done.returncode == 0
    assert "fashion_mnist" in done.stdout and "kmlp 0.1.0" in done.stdout and "architecture" not in done.stdout


def test_list_unknown_kind():
    done = kmlp("list", "datsets", "x")
    assert done.returncode == 2 and "did you mean 'datasets'" in done.stderr


def test_show_lists_parameters_with_types_defaults_and_docs():
    shown = run_json("show", "synthetic")
    params = {p["name"]: p for p in shown["params"]}
    assert shown["distribution"] == "kmlp"
    assert params["input_shape"]["type"] == "list[int]" and params["input_shape"]["default"] == [32]
    assert params["noise"]["doc"]
    table = kmlp("show", "mlp").stdout
    assert "hidden_units" in table and "list[int]" in table and "[128, 64]" in table


def test_show_unknown_name_suggests():
    done = kmlp("show", "mnsit")
    assert done.returncode == 2 and "did you mean 'mnist'" in done.stderr


def test_validate_ok_and_bad(tmp_path):
    assert kmlp("validate", str(RECIPES / "mnist_mlp.toml")).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[dataset]\nname = "mnist"\n[architecture]\nname = "mlp"\n[training]\nepocs = 3\n')
    done = kmlp("validate", str(bad))
    assert done.returncode == 2
    assert f"{bad}: training.epocs: unknown key (did you mean 'epochs'?)" in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_show_prints_the_resolved_recipe():
    done = kmlp("validate", str(RECIPES / "mnist_mlp.toml"), "--show", "training.epochs=3")
    assert done.returncode == 0
    assert "epochs = 3" in done.stdout and "momentum = 0.0" in done.stdout


def test_info_reports_versions_backends_devices_and_plugins():
    report = run_json("info")
    assert report["kmlp"] == "0.1.0"
    backend = report["backends"][BACKEND]
    assert backend["version"] and backend["devices"] == ["cpu:0"]
    for name, entry in report["backends"].items():
        assert (entry["version"] is None) == (entry["devices"] is None), name
    assert report["plugins"]["found"] >= 5 and report["plugins"]["broken"] == []
    assert report["default_backend"].startswith(BACKEND)


def test_errors_exit_2_without_traceback(tmp_path):
    for argv in (
        ["run", str(tmp_path / "missing.toml")],
        ["validate", str(tmp_path)],
        ["run", str(RECIPES / "digits_mlp.toml"), "--set", "epochs"],
    ):
        done = kmlp(*argv)
        assert done.returncode == 2, argv
        assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
