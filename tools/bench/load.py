"""Virtual users talking to the REST webhook, as many at once as a level asks.

Each user runs a short script, like a visitor: two or three FAQ questions in
their own words, then, sometimes, a whole booking; then it starts again as a
new sender, so no conversation grows beyond what a real one would.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from bot.rasa.resilience import APOLOGY_PREFIX
from tools.bench.stats import Sample

WEBHOOK = "/webhooks/rest/webhook"

FAQ_QUESTIONS = (
    "what is dry needling?",
    "can you explain what trigger point dry needling is",
    "whats a trigger point",
    "what exactly are trigger points",
    "does dry needling hurt?",
    "is it painful",
    "how much does the needling hurt",
    "are there any side effects",
    "what are the risks of dry needling",
    "what should I do after a dry needling session",
    "any aftercare tips for after the needles?",
    "how is dry needling different from acupuncture",
    "is it the same thing as acupuncture?",
    "how does dry needling actually work",
    "what conditions can dry needling treat",
    "is there any evidence that dry needling works",
    "how long do the needles stay in",
    "what is a twitch response",
    "what are the benefits of dry needling",
    "how long do the results last",
    "who does the dry needling at your clinic",
    "i'm really scared of needles",
    "is the first assessment free?",
    "what is myofascial pain syndrome",
    "what does referred pain mean",
)
NAMES = ("Priya", "Noah", "Ava", "Liam", "Mia", "Jack", "Chloe", "Oliver")
PHONES = ("0412 345 678", "0498 765 432", "0423 111 222", "0455 987 654")
CONCERNS = (
    "sore lower back from work",
    "tight calves from running",
    "stiff neck",
    "shoulder pain from swimming",
)
CONFIRMED = "reference is"
APOLOGISED = APOLOGY_PREFIX


def conversation(rng: random.Random, booking_probability: float) -> list[str]:
    """One visitor's messages: 2–3 FAQ questions, then maybe a full booking."""
    messages = rng.sample(FAQ_QUESTIONS, rng.choice((2, 3)))
    if rng.random() < booking_probability:
        messages += [
            "/book_appointment",
            rng.choice(NAMES),
            rng.choice(PHONES),
            "skip",
            "any time",
            rng.choice(CONCERNS),
            "yes",
        ]
    return messages


@dataclass
class LevelRun:
    """What one level produced: every request, the measured window, counts."""

    users: int
    start: float
    end: float
    samples: list[Sample] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


async def say(
    session: aiohttp.ClientSession, url: str, sender: str, message: str
) -> tuple[Sample, list[dict]]:
    """One webhook call; an error is a non-200, a timeout or an empty reply list."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    replies: list[dict] = []
    error = None
    try:
        async with session.post(
            url + WEBHOOK, json={"sender": sender, "message": message}
        ) as response:
            body = await response.read()
            if response.status != 200:
                error = f"http_{response.status}"
            else:
                replies = json.loads(body)
                if not isinstance(replies, list):
                    error, replies = "bad_json", []
                elif not replies:
                    error = "empty_reply"
    except asyncio.TimeoutError:
        error = "timeout"
    except aiohttp.ClientError as exc:
        error = f"connection:{type(exc).__name__}"
    except ValueError:
        error = "bad_json"
    apology = any(APOLOGISED in (r.get("text") or "") for r in replies)
    return Sample(started, loop.time(), error, apology), replies


async def run_level(
    url: str,
    users: int,
    *,
    warmup: float,
    duration: float,
    timeout: float,
    booking_probability: float,
    seed: str,
    senders: str,
) -> LevelRun:
    """``users`` conversations at once for warm-up plus duration seconds.

    ``seed`` fixes each user's scripts, so two models get the same messages
    in the same order; ``senders`` prefixes the sender ids. A failed request
    ends that visitor's script (the rest would not make sense) and the user
    starts over as a new sender.
    """
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(
        connector=connector, timeout=client_timeout
    ) as session:
        loop = asyncio.get_running_loop()
        start = loop.time() + warmup
        run = LevelRun(users=users, start=start, end=start + duration)

        async def user(index: int) -> None:
            rng = random.Random(f"{seed}-{index}")
            visit = 0
            while loop.time() < run.end:
                sender = f"{senders}-u{index}-v{visit}"
                visit += 1
                for message in conversation(rng, booking_probability):
                    if loop.time() >= run.end:
                        return
                    sample, replies = await say(session, url, sender, message)
                    run.samples.append(sample)
                    if not sample.ok:
                        run.counts["conversations_abandoned"] += 1
                        break
                    if message == "/book_appointment":
                        run.counts["bookings_started"] += 1
                    if any(CONFIRMED in (r.get("text") or "") for r in replies):
                        run.counts["bookings_confirmed"] += 1
                else:
                    run.counts["conversations_completed"] += 1

        await asyncio.gather(*(user(i) for i in range(users)))
    return run


async def first_answer(url: str, deadline: float, alive) -> float | None:
    """Poll with a FAQ question until a non-empty reply; the loop time it came,
    or ``None`` at the deadline or when ``alive()`` turns false."""
    loop = asyncio.get_running_loop()
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        attempt = 0
        while loop.time() < deadline and alive():
            attempt += 1
            sample, _ = await say(
                session, url, f"bench-probe-{attempt}", "does dry needling hurt?"
            )
            if sample.ok:
                return sample.finished
            await asyncio.sleep(0.2)
    return None
