"""closest_name: the did-you-mean of the CLI and the settings file."""

from __future__ import annotations

from gruverify.conformance import check_names
from gruverify.core.names import closest_name


def test_a_typo_of_a_family_stem_suggests_the_family_first_member() -> None:
    # difflib alone ranks 'forward[long]' above 'forward[basic]' for 'forwrd' (shorter name)
    assert closest_name("forwrd", check_names()) == "forward[basic]"
    assert closest_name("gradient", check_names()) == "gradient[output]"


def test_a_typo_of_a_whole_name_suggests_that_name() -> None:
    assert closest_name("forward[lenghts]", check_names()) == "forward[lengths]"
    assert closest_name("box invarance", check_names()) == "box invariance"
    assert closest_name("torch-gur", ["torch-gru", "torch-grucell"]) == "torch-gru"


def test_a_prefix_suggests_the_first_name_it_starts_and_nothing_matches_nothing() -> None:
    assert closest_name("d", ["determinism", "direction alignment"]) == "determinism"
    assert closest_name("zzzzzzzz", check_names()) is None
    assert closest_name("", ["a"]) is None
