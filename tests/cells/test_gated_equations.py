"""The gated cells (GRU, MUT1-3) state their equations in code: a Spec of
terms that gated.py runs and Spec.equations() writes out.  Each module's
docstring shows those equations, so the prose cannot drift from the code;
that the code computes them is checked against tests/reference.py."""

import importlib
import textwrap

import pytest

from charrnn import cells

MODULES = {
    name: importlib.import_module(path, "charrnn.cells") for name, path in cells.CELLS.items()
}
GATED = [name for name, module in MODULES.items() if hasattr(module, "SPEC")]


def test_the_gated_family_is_found():
    assert {"gru", "mut1", "mut2", "mut3"} <= set(GATED)


@pytest.mark.parametrize("cell", GATED)
def test_the_docstring_shows_the_equations_the_code_runs(cell):
    module = MODULES[cell]
    shown = textwrap.indent(module.SPEC.equations(), "    ")
    assert shown in module.__doc__, f"{cell}'s docstring lacks:\n{shown}"


def test_every_term_changes_the_equations():
    """No two cells' terms write the same equations, and each Spec field shows."""
    from dataclasses import replace

    from charrnn.cells.gated import Spec

    base = Spec(n_rz=2, tanh_z=False, keep_z=True, x_cols=(0, 3))
    variants = [
        base,
        replace(base, n_rz=1),
        replace(base, tanh_z=True),
        replace(base, keep_z=False),
        replace(base, x_cols=(1, 3)),
        replace(base, x_itself="tanh"),
        replace(base, x_itself="r"),
        replace(base, embeds=True),
    ]
    assert len({v.equations() for v in variants}) == len(variants)
