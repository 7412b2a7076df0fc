"""kmlp's conformance kit: one test per check and architecture, on the backend under test."""

from kmlp.testing import parametrize_plugin_checks


@parametrize_plugin_checks("kmlp-mixer")
def test_kmlp_conformance(plugin, check):
    check(plugin)
