"""Hypothesis profiles for the property suite (gruverify.profiles): ``ci`` by default (derandomized),
``quick`` or ``thorough`` via ``--hypothesis-profile NAME`` or ``GRUVERIFY_PROFILE=NAME``."""

from __future__ import annotations

from typing import Any

import torch

from gruverify.profiles import load_profile, register_profiles

register_profiles()  # before hypothesis' own pytest_configure reads --hypothesis-profile
# the examples are small: one intra-op thread is faster, and xdist workers do not oversubscribe
torch.set_num_threads(1)


def pytest_configure(config: Any) -> None:
    if not config.getoption("hypothesis_profile", default=None):
        load_profile()
