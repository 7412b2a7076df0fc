"""A plugin that breaks kmlp's contract on purpose, each entry in its own known ways (see test_conformance.py)."""
