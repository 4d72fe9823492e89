"""Run profiles shared by notebooks, CLI and benchmarks.

``smoke`` is for CI (each notebook well under a minute), ``laptop`` is the default (a 2-core CPU, minutes) and
``gpu`` uses real sizes on an accelerator. The environment variable ``CODELLAMA_LITE_PROFILE`` picks one.
"""

from __future__ import annotations

import os
from typing import TypeVar

PROFILES: tuple[str, ...] = ("smoke", "laptop", "gpu")
DEFAULT_PROFILE = "laptop"
ENV_VAR = "CODELLAMA_LITE_PROFILE"

T = TypeVar("T")


def check_profile(name: str | None = None) -> str:
    """Return a valid profile name: ``name``, else ``$CODELLAMA_LITE_PROFILE``, else ``laptop``."""
    chosen = name if name is not None else os.environ.get(ENV_VAR, DEFAULT_PROFILE)
    if chosen not in PROFILES:
        raise ValueError(f"unknown profile {chosen!r} (from {ENV_VAR} or PROFILE); choose one of {', '.join(PROFILES)}")
    return chosen


def pick(profile: str, *, smoke: T, laptop: T, gpu: T) -> T:
    """Choose the value for ``profile``: ``pick(PROFILE, smoke=64, laptop=512, gpu=4096)``."""
    return {"smoke": smoke, "laptop": laptop, "gpu": gpu}[check_profile(profile)]
