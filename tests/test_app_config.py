"""AppConfig refuses settings the command line would refuse, also when built in code (no server started)."""
from __future__ import annotations

import pytest

from app import TABS, AppConfig


def test_an_unknown_tab_is_refused_when_the_config_is_built_in_code():
    with pytest.raises(ValueError, match="--only must be one of"):
        AppConfig(only_tab="bogus")


@pytest.mark.parametrize("tab", TABS)
def test_every_known_tab_is_accepted(tab):
    assert AppConfig(only_tab=tab).only_tab == tab
