"""The windows that training cuts and the gateway cuts over a face track."""

from __future__ import annotations

import pytest

from contract import sequence_windows


@pytest.mark.parametrize(
    ("count", "length", "windows"),
    [
        (0, 3, []),
        (1, 3, [[0, 0, 0]]),  # too short: the last item repeats
        (2, 3, [[0, 1, 1]]),
        (3, 3, [[0, 1, 2]]),
        (5, 4, [[0, 1, 2, 3], [1, 2, 3, 4]]),  # the last window ends on the last item
        (8, 4, [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7]]),  # half overlapping
        (4, 1, [[0], [1], [2], [3]]),
    ],
)
def test_windows(count: int, length: int, windows: list[list[int]]) -> None:
    assert sequence_windows(count, length) == windows


def test_every_item_is_seen() -> None:
    for count in range(1, 40):
        for length in range(1, 10):
            seen = {i for window in sequence_windows(count, length) for i in window}
            assert seen == set(range(count)), (count, length)


def test_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        sequence_windows(3, 0)
