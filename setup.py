"""Ships the workbook's top-level folders (notebooks, exercises, configs, data samples) inside the package.

In the repository they stay beside the package, where they show the pipeline. A wheel built from here carries a copy
of each under ``codellama_lite/_shipped/``, read back by :func:`codellama_lite.support.resources.resource_dir`; whatever is
added to those folders later ships without further declaration. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from codellama_lite.support.resources import SHIPPED, SHIPPED_PACKAGE_DIR  # noqa: E402  (the list lives with its reader)

SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", ".pytest_cache")


class BuildWithWorkbook(build_py):
    """``build_py`` that also copies the shipped folders into the built package (not for editable installs, which
    read the checkout's folders)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "codellama_lite" / SHIPPED_PACKAGE_DIR
        shutil.rmtree(target, ignore_errors=True)
        for name in SHIPPED:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, target / name, ignore=SKIPPED)


setup(cmdclass={"build_py": BuildWithWorkbook})
