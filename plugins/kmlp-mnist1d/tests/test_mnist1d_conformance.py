"""kmlp's conformance kit: one test per check, on the backend under test."""

from kmlp.testing import parametrize_plugin_checks


@parametrize_plugin_checks("kmlp-mnist1d")
def test_kmlp_conformance(plugin, check):
    check(plugin)
