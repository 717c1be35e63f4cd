"""An order id becomes one NATS subject token: `.` would split it and `*`, `>` are wildcards, so every character
but letters, digits and `-` is written as `_` and its hex bytes, and the token reads back as the id."""

import pytest

from events_out.nats_sink import order_of_token, subject_token

ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@pytest.mark.parametrize(
    ("order_id", "token"),
    [("W-1001", "W-1001"), ("W.1", "W_2E1"), ("A_B", "A_5FB"), ("a.b_c.d", "a_2Eb_5Fc_2Ed"), ("x*>", "x_2A_3E")],
)
def test_an_order_id_is_one_token_and_reads_back(order_id: str, token: str) -> None:
    # given an order id, when it is mapped to a subject token
    mapped = subject_token(order_id)
    # then it is the expected token, holds nothing that splits or matches subjects, and maps back to the id
    assert mapped == token
    assert set(mapped) <= ALLOWED
    assert order_of_token(mapped) == order_id


def test_two_order_ids_never_share_a_token() -> None:
    # given ids that a lossy mapping (dots to underscores) would confuse, then each has its own token
    ids = ["A.B", "A_B", "A_2EB", "A-B"]
    assert len({subject_token(i) for i in ids}) == len(ids)
