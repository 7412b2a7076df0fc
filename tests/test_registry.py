"""The plugin registry: discovery from metadata, loading, broken plugins, name clashes, lookups."""

from __future__ import annotations

import itertools
import re
import shutil

import pytest
from conftest import kmlp, run_json
from plugin_fixtures import GOOD_SPEC, make_distribution

from kmlp.api import API_VERSION
from kmlp.errors import KmlpError, RecipeError
from kmlp.plugins.registry import Registry, find_entries
from kmlp.recipe.resolve import resolve

_ids = itertools.count()


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A directory on sys.path where tests "install" fake distributions."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    return path


def install(site, dist, version="1.0", datasets=None, architectures=None, source=None):
    """A fake distribution whose entry points point into a uniquely named module."""
    module = f"fake_plugin_{next(_ids)}"
    groups = {}
    if datasets:
        groups["kmlp.datasets"] = {n: f"{module}:{v}" for n, v in datasets.items()}
    if architectures:
        groups["kmlp.architectures"] = {n: f"{module}:{v}" for n, v in architectures.items()}
    make_distribution(site, dist, version, groups, {module: source or GOOD_SPEC.replace("MODULE", module)})
    return module


def test_builtins_come_through_kmlps_own_entry_points():
    entries = {(e.kind, e.name): e for e in find_entries()}
    for key in [
        ("dataset", "mnist"),
        ("dataset", "fashion_mnist"),
        ("dataset", "digits"),
        ("dataset", "synthetic"),
        ("architecture", "mlp"),
    ]:
        assert entries[key].distribution == "kmlp" and entries[key].builtin
        assert entries[key].version


def test_third_party_plugin_is_found_loaded_and_usable_in_a_recipe(site):
    install(site, "kmlp-fake", "2.1", architectures={"fake_net": "ARCH"})
    registry = Registry.discover()
    (entry,) = registry.entries("architecture", "fake_*")
    assert (entry.distribution, entry.version, entry.builtin) == ("kmlp-fake", "2.1", False)
    plugin = registry.lookup("architecture", "fake_net")
    assert plugin.ok and plugin.spec.summary == "A fake architecture."
    recipe = resolve(
        {"dataset": {"name": "synthetic"}, "architecture": {"name": "fake_net", "width": 8}}, "r", registry
    )
    assert recipe["architecture"] == {"name": "fake_net", "width": 8}
    with pytest.raises(RecipeError, match="architecture.widht: unknown key"):
        resolve({"dataset": {"name": "synthetic"}, "architecture": {"name": "fake_net", "widht": 8}}, "r", registry)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("raise ImportError('needs libfoo')", "import of 'fake_plugin_\\d+:ARCH' failed: ImportError: needs libfoo"),
        ("ARCH = 42", "expected a kmlp.api.ArchitectureSpec, found int"),
        (
            "from kmlp.api import ArchitectureSpec\nARCH = ArchitectureSpec(summary='s', builder='x:y', api_version=99)",
            f"written for plugin API version 99; this kmlp supports version {API_VERSION}",
        ),
        (
            "from kmlp.api import ArchitectureSpec, Param\nARCH = ArchitectureSpec(summary='s', builder='x:y', params={'d': Param(dict, {})})",
            "parameter 'd' has type <class 'dict'>, which a TOML recipe cannot express",
        ),
    ],
)
def test_broken_plugin_is_reported_and_breaks_nothing_else(site, source, reason):
    install(site, "kmlp-broken", architectures={"broken_net": "ARCH"}, source=source)
    registry = Registry.discover()
    (entry,) = registry.entries("architecture", "broken_net")
    plugin = registry.plugin(entry)
    assert not plugin.ok
    assert re.search(reason, plugin.error), plugin.error
    # Everything else still works...
    assert resolve({"dataset": {"name": "synthetic"}, "architecture": {"name": "mlp"}}, "r", registry)
    # ...and a recipe that uses it gets the reason and the distribution.
    with pytest.raises(RecipeError, match="architecture 'broken_net' from kmlp-broken 1.0 is broken"):
        resolve({"dataset": {"name": "synthetic"}, "architecture": {"name": "broken_net"}}, "r", registry)


def test_invalid_entry_point_name_is_broken(site):
    install(site, "kmlp-badname", architectures={"Bad-Name": "ARCH"})
    plugin = Registry.discover().plugin(Registry.discover().entries("architecture", "Bad-Name")[0])
    assert "invalid name 'Bad-Name'" in plugin.error


def test_two_distributions_claiming_one_name(site):
    install(site, "kmlp-one", architectures={"twin": "ARCH"})
    install(site, "kmlp-two", architectures={"twin": "ARCH"})
    registry = Registry.discover()
    assert [e.distribution for e in registry.conflicts()[("architecture", "twin")]] == ["kmlp-one", "kmlp-two"]
    with pytest.raises(KmlpError) as caught:
        registry.lookup("architecture", "twin")
    assert "provided by several distributions: kmlp-one 1.0, kmlp-two 1.0" in caught.value.message
    assert "'kmlp-one:twin' or 'kmlp-two:twin'" in caught.value.hint
    assert registry.lookup("architecture", "kmlp-two:twin").entry.distribution == "kmlp-two"
    assert registry.lookup("architecture", "kmlp_two:twin").entry.distribution == "kmlp-two"  # PEP 503 names


def test_a_plugin_never_silently_replaces_a_builtin(site):
    install(site, "kmlp-shadow", architectures={"mlp": "ARCH"})
    registry = Registry.discover()
    assert registry.lookup("architecture", "mlp").entry.distribution == "kmlp"
    assert registry.lookup("architecture", "kmlp-shadow:mlp").entry.distribution == "kmlp-shadow"
    rows = run_json("list", "architectures", "mlp", env={"PYTHONPATH": str(site)})
    assert {r["distribution"]: r["status"] for r in rows} == {
        "kmlp 0.1.0": "ok; also claimed by kmlp-shadow (built-in wins)",
        "kmlp-shadow 1.0": "shadowed by the built-in; use 'kmlp-shadow:mlp'",
    }


def test_exact_duplicate_entries_are_merged(site, monkeypatch):
    install(site, "kmlp-dup", architectures={"dup_net": "ARCH"})
    # A stale second copy of the same distribution's metadata, as a leftover egg-info leaves behind.
    stale = site.parent / "stale"
    shutil.copytree(site / "kmlp_dup-1.0.dist-info", stale / "kmlp_dup-1.0.dist-info")
    monkeypatch.syspath_prepend(str(stale))
    assert len(Registry.discover().entries("architecture", "dup_net")) == 1


def test_disable_autoload_keeps_only_builtins(site, monkeypatch):
    install(site, "kmlp-extra", architectures={"extra_net": "ARCH"})
    assert Registry.discover().entries("architecture", "extra_net")
    monkeypatch.setenv("KMLP_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = Registry.discover()
    assert not registry.entries("architecture", "extra_net")
    assert all(e.builtin for e in registry.entries())
    # Asking for the disabled plugin says why it is missing, not just "unknown".
    with pytest.raises(KmlpError) as caught:
        registry.lookup("architecture", "extra_net")
    assert caught.value.message == "architecture 'extra_net' comes from kmlp-extra, but plugins are disabled"
    assert "unset KMLP_DISABLE_PLUGIN_AUTOLOAD" in caught.value.hint
    env = {"PYTHONPATH": str(site), "KMLP_DISABLE_PLUGIN_AUTOLOAD": "1"}
    assert not [r for r in run_json("list", env=env) if not r["distribution"].startswith("kmlp ")]
    enabled = {"PYTHONPATH": str(site), "KMLP_DISABLE_PLUGIN_AUTOLOAD": ""}
    assert "extra_net" in {r["name"] for r in run_json("list", env=enabled)}


def test_wildcards_like_timm():
    registry = Registry.discover()

    def builtins(entries):  # installed plugins (mnist1d, mlp_mixer) match these patterns too
        return [e.name for e in entries if e.builtin]

    assert builtins(registry.entries("dataset", "*mnist*")) == ["fashion_mnist", "mnist"]
    assert builtins(registry.entries(None, "m*")) == ["mlp", "mnist"]
    assert [e.name for e in registry.entries("dataset", "kmlp:digits")] == ["digits"]
    assert [e.name for e in registry.entries(None, "kmlp:m*")] == ["mlp", "mnist"]


def test_cli_list_shows_broken_and_conflicting_plugins(site):
    install(site, "kmlp-broken", architectures={"broken_net": "ARCH"}, source="raise RuntimeError('boom')")
    install(site, "kmlp-one", datasets={"twin": "DATA"})
    install(site, "kmlp-two", datasets={"twin": "DATA"})
    done = kmlp("list", env={"PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    assert "broken: import of" in done.stdout and "RuntimeError: boom" in done.stdout
    assert "conflict with kmlp-two; use 'kmlp-one:twin'" in done.stdout
    # A recipe that does not use them is unaffected.
    ok = kmlp("validate", "kmlp/recipe/recipes/digits_mlp.toml", env={"PYTHONPATH": str(site)}, cwd=None)
    assert ok.returncode == 0, ok.stderr


def test_timm_style_create_model_validates_parameters(backend):
    from kmlp.plugins.registry import create_model, load_dataset

    data = load_dataset("synthetic", seed=1, train_samples=10, test_samples=5, input_shape=[3, 2])
    assert data.train[0].shape == (10, 3, 2)
    model = create_model("mlp", input_shape=(3, 2), num_outputs=5, hidden_units=[4])
    assert model.output_shape == (None, 5)
    with pytest.raises(RecipeError, match="architecture.hidden: unknown key"):
        create_model("mlp", input_shape=(3,), num_outputs=2, hidden=[4])


def test_info_reports_broken_plugins_with_distribution_and_reason(site):
    install(site, "kmlp-broken", "3.2", datasets={"broken_data": "DATA"}, source="raise ImportError('needs libfoo')")
    report = run_json("info", env={"PYTHONPATH": str(site)})
    (broken,) = report["plugins"]["broken"]
    assert broken["name"] == "broken_data" and broken["distribution"] == "kmlp-broken"
    assert "ImportError: needs libfoo" in broken["error"]


def test_show_a_third_party_plugin_without_reading_its_source(site):
    install(site, "kmlp-fake", "2.1", architectures={"fake_net": "ARCH"})
    shown = run_json("show", "fake_net", env={"PYTHONPATH": str(site)})
    assert (shown["summary"], shown["distribution"], shown["version"]) == ("A fake architecture.", "kmlp-fake", "2.1")
    assert shown["params"] == [
        {"name": "width", "type": "int", "default": 4, "required": False, "choices": None, "doc": ""}
    ]


def test_a_recipe_using_a_clashing_name_names_both_and_how_to_pick(site, tmp_path):
    install(site, "kmlp-one", architectures={"twin": "ARCH"})
    install(site, "kmlp-two", architectures={"twin": "ARCH"})
    recipe = tmp_path / "r.toml"
    recipe.write_text('[dataset]\nname = "synthetic"\n[architecture]\nname = "twin"\n')
    env = {"PYTHONPATH": str(site)}
    done = kmlp("validate", str(recipe), env=env)
    assert done.returncode == 2
    assert "architecture 'twin' is provided by several distributions: kmlp-one 1.0, kmlp-two 1.0" in done.stderr
    assert "pick one with a qualified name: 'kmlp-one:twin' or 'kmlp-two:twin'" in done.stderr
    recipe.write_text('[dataset]\nname = "synthetic"\n[architecture]\nname = "kmlp-two:twin"\n')
    assert kmlp("validate", str(recipe), env=env).returncode == 0
    assert run_json("show", "kmlp-two:twin", env=env)["distribution"] == "kmlp-two"
