"""Fake installed distributions for registry tests: a dist-info folder with entry points, plus a module."""

from __future__ import annotations

import textwrap
from pathlib import Path

GOOD_SPEC = """
from kmlp.api import ArchitectureSpec, DatasetSpec, Param

def _build(*, input_shape, num_outputs, width):
    raise AssertionError("not called in these tests")

ARCH = ArchitectureSpec(summary="A fake architecture.", builder=_build, params={"width": Param(int, 4, ge=1)})
DATA = DatasetSpec(summary="A fake dataset.", loader="MODULE:nothing")
"""


def make_distribution(
    site: Path, dist: str, version: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]
) -> None:
    """Write ``<dist>-<version>.dist-info`` with ``entry_points`` ({group: {name: value}}) and module files."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = []
    for group, entries in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {value}" for name, value in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
