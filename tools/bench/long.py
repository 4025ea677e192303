"""One long conversation: latency at turn 1 against turn 100, and what Rasa
sends the action server per turn.

Rasa posts the whole session (every event so far) and the domain with every
custom action call, so both the payload and the work per turn grow with the
conversation. A counting proxy between Rasa and the action server measures
the bytes; the latency is the REST round trip per turn. The target is turn 100
no slower than 1.5x turn 1 (medians over a window of turns and several
conversations, so one slow request does not decide), reported as met or
not. Apart from it, the run fails (FAIL, and ``make bench`` exits non-zero)
when a booking does not complete, an action call fails or a reply is the
apology for one: figures from a broken conversation mean nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from bot.rasa.resilience import APOLOGY_PREFIX

TURNS = 100
WINDOW = 10
TARGET_RATIO = 1.5
# Questions that are answered without starting a form; each answer runs the
# disclaimer action, so every turn calls the action server once.
QUESTIONS = (
    "what is dry needling",
    "does it hurt",
    "what are the side effects",
    "how long are the needles in",
    "what should I do afterwards",
    "how is it different from acupuncture",
    "what is a trigger point",
    "what is the twitch response",
    "what does it treat",
    "is there evidence it works",
    "does the relief last",
    "who does the needling",
    "what is referred pain",
    "what is myofascial pain syndrome",
    "how does it work",
    "I'm scared of needles",
    "what is the free initial assessment",
    "what results can I expect straight after",
)
# Set by the proxy's own connection, not passed on.
DROPPED = frozenset({"host", "content-length", "connection", "transfer-encoding"})
BOOKING = (
    "I'd like to book",
    "Sam",
    "0412 345 678",
    "skip",
    "any time",
    "sore neck",
    "yes",
)


@dataclass
class CountingProxy:
    """Forwards Rasa's action calls to the action server, counting bytes and
    the calls that failed."""

    target: str
    turn: int = 0
    calls: list[tuple[int, int]] = field(default_factory=list)
    # (turn, why) of each call the action server did not answer with success
    failures: list[tuple[int, str]] = field(default_factory=list)
    port: int = 0

    def start_in_thread(self) -> None:
        """Serve from a thread of its own, so the measuring client and the
        servers' start-up can block without stalling the proxy."""
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop_thread(self) -> None:
        asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/webhook", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self._session.close()
        await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        """Pass the call on with Rasa's headers: the action server refuses a
        call without the ``Authorization`` secret (bot/rasa/action_auth.py)."""
        body = await request.read()
        turn = self.turn
        self.calls.append((turn, len(body)))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
        try:
            async with self._session.post(
                self.target, data=body, headers=headers
            ) as response:
                answer = await response.read()
        except aiohttp.ClientError as error:
            self.failures.append((turn, type(error).__name__))
            return web.Response(status=502)
        if response.status >= 300:
            self.failures.append((turn, f"HTTP {response.status}"))
        return web.Response(
            body=answer,
            status=response.status,
            content_type="application/json",
        )


@dataclass
class Conversation:
    """What one long conversation's patient saw."""

    latencies: list[float] = field(default_factory=list)
    booked: bool = False
    apologies: int = 0
    errors: list[str] = field(default_factory=list)


async def converse(
    session: aiohttp.ClientSession, url: str, proxy: CountingProxy, turns: int
) -> Conversation:
    """``turns`` questions then a booking: latency per question turn, whether
    the booking got its reference, the apologies and failed requests."""
    sender = f"long-{uuid.uuid4().hex[:10]}"
    messages = [QUESTIONS[i % len(QUESTIONS)] for i in range(turns)] + list(BOOKING)
    seen = Conversation()
    replies: list[dict] = []
    for turn, text in enumerate(messages, start=1):
        proxy.turn = turn
        started = time.perf_counter()
        async with session.post(
            f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
        ) as response:
            replies = await response.json() if response.status == 200 else []
            if response.status != 200:
                seen.errors.append(f"turn {turn}: HTTP {response.status}")
        if turn <= turns:
            seen.latencies.append((time.perf_counter() - started) * 1000)
        seen.apologies += sum(APOLOGY_PREFIX in (r.get("text") or "") for r in replies)
    seen.booked = any("reference is" in (r.get("text") or "") for r in replies)
    return seen


def _median_ms(rows: list[list[float]], first: int, last: int) -> float:
    return statistics.median(v for row in rows for v in row[first:last])


def problems(result: dict) -> list[str]:
    """What went wrong in the run itself, whatever the timing: a booking
    not completed, a failed action call, an apology or a failed request."""
    found = []
    if result.get("error"):
        found.append(f"did not run: {result['error']}")
        return found
    if result["bookings_completed"] < result["conversations"]:
        found.append(
            f"{result['bookings_completed']} of {result['conversations']} "
            "bookings completed"
        )
    if not result["action_calls"]:
        found.append("no custom action call reached the action server")
    if result["action_calls_failed"]:
        kinds = ", ".join(f"{k} x{n}" for k, n in result["action_failures"].items())
        found.append(
            f"{result['action_calls_failed']} of {result['action_calls']} "
            f"action calls failed ({kinds})"
        )
    if result["apologies"]:
        found.append(f"{result['apologies']} apologies for a failed action")
    if result["errors"]:
        found.append(f"{len(result['errors'])} requests failed: {result['errors'][:3]}")
    return found


async def measure(
    url: str, proxy: CountingProxy, conversations: int = 3, turns: int = TURNS
) -> dict:
    """Run ``conversations`` long conversations one after the other."""
    seen = []
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for _ in range(conversations):
            seen.append(await converse(session, url, proxy, turns))
    rows = [c.latencies for c in seen]
    early = _median_ms(rows, 0, WINDOW)
    late = _median_ms(rows, turns - WINDOW, turns)
    by_turn: dict[int, list[int]] = {}
    for turn, size in proxy.calls:
        by_turn.setdefault(turn, []).append(size)
    # Bytes one conversation sends at that turn (all conversations together,
    # divided by their number).
    per_turn = [
        round(sum(by_turn.get(t, [0])) / conversations) for t in range(1, turns + 1)
    ]
    result = {
        "conversations": conversations,
        "turns": turns,
        "p50_ms_turns_1_to_10": round(early, 1),
        f"p50_ms_turns_{turns - WINDOW + 1}_to_{turns}": round(late, 1),
        "ratio": round(late / early, 2),
        "target_ratio": TARGET_RATIO,
        "met": late / early <= TARGET_RATIO,
        "action_bytes_turn_1": per_turn[0],
        f"action_bytes_turn_{turns}": per_turn[-1],
        "action_bytes_mean_per_turn": round(statistics.mean(per_turn)),
        "action_calls": len(proxy.calls),
        "action_calls_failed": len(proxy.failures),
        "action_failures": dict(Counter(why for _, why in proxy.failures)),
        "bookings_completed": sum(c.booked for c in seen),
        "apologies": sum(c.apologies for c in seen),
        "errors": [e for c in seen for e in c.errors],
    }
    result["problems"] = problems(result)
    return result


def run(url: str, proxy: CountingProxy, conversations: int = 3) -> dict:
    return asyncio.run(measure(url, proxy, conversations))


def format_result(result: dict) -> str:
    """One line: the timing against its target (met / NOT met), then the
    scenario's own verdict (FAIL when anything in it went wrong)."""
    found = result.get("problems", [])
    verdict = "FAIL: " + "; ".join(found) if found else "scenario ok"
    if "turns" not in result:
        return f"long conversation: {verdict}"
    turns = result["turns"]
    late = result[f"p50_ms_turns_{turns - WINDOW + 1}_to_{turns}"]
    return (
        f"long conversation ({result['conversations']} x {turns} turns + booking): "
        f"p50 {result['p50_ms_turns_1_to_10']} ms at turns 1-{WINDOW}, {late} ms at "
        f"turns {turns - WINDOW + 1}-{turns} (x{result['ratio']}, target <= "
        f"{TARGET_RATIO}: {'met' if result['met'] else 'NOT met'}); action server "
        f"receives {result['action_bytes_turn_1']} B at turn 1, "
        f"{result[f'action_bytes_turn_{turns}']} B at turn {turns}; bookings "
        f"completed {result['bookings_completed']}/{result['conversations']}, "
        f"action calls failed {result.get('action_calls_failed', 0)}"
        f"/{result.get('action_calls', 0)}; {verdict}"
    )
