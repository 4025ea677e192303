"""The per-conversation and per-address queues are bounded, give places
back, and forget places a cut connection never returned."""

from __future__ import annotations

from bot.channels.floods import STALE_SECONDS, Floods


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_conversation_gets_its_limit_and_no_more():
    floods = Floods(per_conversation=3, per_address=100)
    tickets = [floods.enter("rest:a", "1.2.3.4") for _ in range(3)]
    assert None not in tickets
    assert floods.enter("rest:a", "1.2.3.4") is None
    assert floods.enter("rest:b", "1.2.3.4") is not None  # another conversation
    floods.leave(tickets[0])
    assert floods.enter("rest:a", "1.2.3.4") is not None


def test_an_address_gets_its_limit_across_conversations():
    floods = Floods(per_conversation=3, per_address=4)
    assert all(floods.enter(f"rest:{i}", "1.2.3.4") for i in range(4))
    assert floods.enter("rest:new", "1.2.3.4") is None
    assert floods.enter("rest:new", "5.6.7.8") is not None
    assert floods.enter("rest:new") is not None  # webhooks: no address limit


def test_leaving_frees_every_key_and_nothing_leaks():
    floods = Floods(per_conversation=2, per_address=2)
    for _ in range(50):
        with floods.admitted("rest:a", "1.2.3.4") as admitted:
            assert admitted
    assert floods._in_work == {} and floods._keys == {}


def test_a_refused_entry_takes_no_place():
    floods = Floods(per_conversation=1, per_address=10)
    with floods.admitted("rest:a", "ip") as first:
        with floods.admitted("rest:a", "ip") as second:
            assert first and not second
        assert floods.enter("rest:a", "ip") is None
    assert floods.enter("rest:a", "ip") is not None


def test_places_never_given_back_expire():
    clock = Clock()
    floods = Floods(per_conversation=1, per_address=10, clock=clock)
    assert floods.enter("rest:a", "ip") is not None  # its request was cut
    assert floods.enter("rest:a", "ip") is None
    clock.now = STALE_SECONDS + 1
    assert floods.enter("rest:a", "ip") is not None
