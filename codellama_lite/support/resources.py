"""The workbook's folders (notebooks, exercises, recipes, data samples, paper facts), wherever the package runs.

In the repository they are top-level folders beside the package (they show the pipeline). A wheel carries copies of
them inside the package, under ``codellama_lite/_shipped/`` (``setup.py`` copies them at build time), read through
:mod:`importlib.resources`. An editable install has no copies and reads the checkout's folders.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

# The top-level folders that ship inside the wheel (docs: the facts the notebooks cite; released: finished runs the
# workbook starts from, pipeline.cache); setup.py reads this tuple.
SHIPPED = ("notebooks", "exercises", "configs", "data_samples", "docs", "released")
SHIPPED_PACKAGE_DIR = "_shipped"
CHECKOUT = Path(__file__).resolve().parents[2]


def resource_dir(name: str) -> Path:
    """The folder ``name`` (one of :data:`SHIPPED`): the installed copy if there is one, else the checkout's."""
    if name not in SHIPPED:
        raise ValueError(f"unknown resource folder {name!r}; expected one of {', '.join(SHIPPED)}")
    shipped = importlib.resources.files("codellama_lite") / SHIPPED_PACKAGE_DIR / name
    if shipped.is_dir():
        return Path(str(shipped))
    checkout = CHECKOUT / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"the workbook's {name}/ folder is missing: neither {shipped} nor {checkout} exists; "
                            "reinstall codellama-lite")
