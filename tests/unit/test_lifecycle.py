"""The test's life cycle as a table: every (current, new) pair of the eight states, allowed or refused."""

from __future__ import annotations

import pytest

from gateway.results import STATES, allowed

# Written out by hand (not derived from the code): y = a message in state `new` moves a `current` test.
#                         Rdy Sta Fin Rev TD  Com Inv Dis
EXPECTED = {
    "Ready":                "-   y   y   y   y   y   y   y",
    "Started":              "-   -   y   y   y   y   y   y",
    "Finished":             "-   -   -   y   y   y   y   y",
    "Review":               "-   -   -   -   y   y   y   y",
    "Technical Difficulty": "-   -   -   y   -   y   y   y",
    "Completed":            "-   -   -   -   -   y   y   y",
    "Invalidated":          "-   -   -   -   -   -   -   y",
    "Disabled":             "-   -   -   -   -   -   -   -",
}  # fmt: skip
ORDER = tuple(EXPECTED)  # the columns are in the order of the rows
PAIRS = [
    (current, new, mark == "y")
    for current, row in EXPECTED.items()
    for new, mark in zip(ORDER, row.split(), strict=True)
]


def test_the_table_covers_every_pair_of_the_eight_states():
    assert sorted(ORDER) == sorted(STATES)
    assert len(PAIRS) == 64


@pytest.mark.parametrize(("current", "new", "expected"), PAIRS, ids=[f"{c}->{n}" for c, n, _ in PAIRS])
def test_each_move_is_allowed_or_refused_with_a_reason(current, new, expected):
    # Given a test in state `current`, When a message in state `new` arrives
    verdict = allowed(current, new)
    # Then it is allowed (True) or refused with a reason for the engine (a non-empty text, never False)
    if expected:
        assert verdict is True
    else:
        assert isinstance(verdict, str) and verdict


@pytest.mark.parametrize(
    ("current", "new", "reason"),
    [
        ("Completed", "Started", "Started comes before Completed in the life cycle (a late message)"),
        ("Completed", "Review", "Review comes before Completed in the life cycle (a late message)"),
        ("Review", "Review", "the test is already Review"),
        ("Started", "Ready", "a test never goes back to Ready through a result (only a release or an expiry returns it)"),
        ("Invalidated", "Completed", "the test is Invalidated: a later result does not reinstate it (only Disabled may follow)"),
        ("Disabled", "Completed", "the test is Disabled, which is final"),
        ("Disabled", "Disabled", "the test is Disabled, which is final"),
    ],
)  # fmt: skip
def test_a_refusal_says_which_rule_refused_it(current, new, reason):
    assert allowed(current, new) == reason
