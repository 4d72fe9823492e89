from __future__ import annotations

import pytest

from codellama_lite.support.profiles import check_profile, pick


def test_env_var_picks_the_profile(monkeypatch):
    monkeypatch.setenv("CODELLAMA_LITE_PROFILE", "gpu")
    assert check_profile() == "gpu"
    monkeypatch.delenv("CODELLAMA_LITE_PROFILE")
    assert check_profile() == "laptop"


def test_bad_profile_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        check_profile("huge")


def test_pick():
    assert pick("smoke", smoke=1, laptop=2, gpu=3) == 1
