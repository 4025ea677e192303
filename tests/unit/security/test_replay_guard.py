"""The replay guard's memory, on SQLite and (when .ci/run started it) on the
PostgreSQL server that all instances share."""

from __future__ import annotations

import os
import threading

import pytest

from bot.channels.replays import ReplayGuard, first_delivery


def databases(tmp_path) -> list[str]:
    urls = [f"sqlite:///{tmp_path / 'replays.db'}"]
    if os.environ.get("TEST_POSTGRES_URL"):
        from tests.servers import fresh_postgres_database

        urls.append(fresh_postgres_database("replays"))
    return urls


def test_an_id_is_handled_once_per_provider(tmp_path):
    for url in databases(tmp_path):
        guard = ReplayGuard(url)
        assert guard.first_time("twilio", "SM1")
        assert not guard.first_time("twilio", "SM1")
        assert guard.first_time("telegram", "SM1")
        assert not ReplayGuard(url).first_time("twilio", "SM1")  # another instance


def test_concurrent_deliveries_of_one_id_let_exactly_one_through(tmp_path):
    for url in databases(tmp_path):
        guard = ReplayGuard(url)
        guard.first_time("warm-up", "x")
        results, start = [], threading.Barrier(8)

        def deliver(start=start, results=results, guard=guard):
            start.wait()
            results.append(guard.first_time("messenger", "m_same"))

        threads = [threading.Thread(target=deliver) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False] * 7 + [True]


@pytest.mark.parametrize("message_id", [None, "", ["a"], {"a": 1}, True])
async def test_without_a_usable_id_the_message_is_handled(message_id):
    assert await first_delivery("twilio", message_id)


def deliver_together(guard: ReplayGuard, count: int) -> tuple[list, list]:
    results: list[bool] = []
    errors: list[BaseException] = []

    def deliver(i: int) -> None:
        try:
            results.append(guard.first_time("telegram", str(i % 10)))
        except Exception as error:  # noqa: BLE001 - collected for the assert
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_the_first_deliveries_arriving_together_on_a_new_database(tmp_path):
    """They used to race to create the table and were handled unchecked."""
    for url in databases(tmp_path):
        results, errors = deliver_together(ReplayGuard(url), 30)
        assert errors == []
        assert results.count(True) == 10
