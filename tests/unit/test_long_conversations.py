"""Long conversations cost no more per turn than short ones, and give the
same answers: RulePolicy's states and the action server's request are cut to
what is read (bot.rasa.policies, bot.rasa.remote_actions, bot.rasa.trackers),
checked here against Rasa's own results."""

from __future__ import annotations

import asyncio
import json

import pytest
from rasa.core.policies.rule_policy import RulePolicy
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa import extensions, policies, remote_actions

FAQS = [
    "faq_does_it_hurt",
    "faq_side_effects",
    "faq_needle_duration",
    "faq_aftercare",
    "faq_vs_acupuncture",
]


@pytest.fixture(scope="module")
def agent():
    from rasa.core.agent import load_agent

    from tests.servers import MODEL

    extensions.apply()
    return asyncio.run(load_agent(model_path=str(MODEL)))


def rule_policy(agent) -> RulePolicy:
    """The model's rule policy: config.yml's, ours."""
    from bot.rasa.policies import RulePolicy as Ours

    for node in agent.processor.graph_runner._instantiated_nodes.values():
        if isinstance(getattr(node, "_component", None), RulePolicy):
            assert type(node._component) is Ours
            return node._component
    raise AssertionError("no RulePolicy in the model")


def user(intent: str, text: str | None = None) -> list:
    return [
        ActionExecuted("action_listen"),
        UserUttered(text or intent, intent={"name": intent, "confidence": 1.0}),
    ]


def faq_turn(intent: str) -> list:
    return [
        *user(intent),
        ActionExecuted("action_give_disclaimer"),
        ActionExecuted(f"utter_{intent}"),
        BotUttered("answer"),
    ]


def form_turns() -> list:
    """A booking form with an FAQ in the middle of it."""
    return [
        *user("book_appointment"),
        ActionExecuted("booking_form"),
        ActiveLoop("booking_form"),
        SlotSet("requested_slot", "first_name"),
        *user("inform", "Ana"),
        ActionExecuted("booking_form"),
        SlotSet("first_name", "Ana"),
        SlotSet("requested_slot", "phone"),
        *faq_turn("faq_does_it_hurt"),
        ActionExecuted("booking_form"),
        SlotSet("requested_slot", "phone"),
        *user("inform", "0412 345 678"),
    ]


def long_events(turns: int) -> list:
    events = []
    for i in range(turns):
        events += faq_turn(FAQS[i % len(FAQS)])
        if i % 17 == 16:
            events += form_turns()
            events += [
                ActionExecuted("booking_form"),
                ActiveLoop(None),
                ActionExecuted("action_cancel_booking"),
            ]
    return events + user("faq_aftercare")


def prefixes(events: list, every: int = 7):
    for end in range(1, len(events) + 1, every):
        yield events[:end]
    yield events


@pytest.mark.slow  # builds a model graph: seconds
def test_rule_states_are_the_end_of_rasas_states(agent):
    policy = rule_policy(agent)
    domain = agent.domain
    events = long_events(60)
    compared = 0
    for prefix in prefixes(events):
        tracker = DialogueStateTracker.from_events("s", prefix, domain.slots)
        ours = policy._prediction_states(tracker, domain)
        rasas = RulePolicy._prediction_states(policy, tracker, domain)
        assert ours == rasas[-len(ours) :]
        assert len(ours) >= min(len(rasas), policies.longest_rule(policy))
        compared += 1
    assert compared > 30 and len(rasas) > 10 * len(ours)


def test_rule_predictions_are_rasas_at_every_turn(agent, monkeypatch):
    policy = rule_policy(agent)
    domain = agent.domain
    events = long_events(40)
    for prefix in prefixes(events, every=3):
        tracker = DialogueStateTracker.from_events("s", prefix, domain.slots)
        ours = policy.predict_action_probabilities(tracker, domain)
        with monkeypatch.context() as patch:
            patch.setattr(
                type(policy), "_prediction_states", RulePolicy._prediction_states
            )
            rasas = policy.predict_action_probabilities(tracker, domain)
        assert ours.probabilities == rasas.probabilities
        assert ours.events == rasas.events
        assert ours.is_no_user_prediction == rasas.is_no_user_prediction


def test_the_action_server_gets_the_last_twenty_user_turns(agent):
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig

    domain = agent.domain
    events = long_events(100)
    tracker = DialogueStateTracker.from_events("s", events, domain.slots)
    tracker.update(SlotSet("first_name", "Ana"))
    action = RemoteAction("action_give_disclaimer", EndpointConfig("http://x"))
    body = action._action_call_format(tracker, domain)
    full = extensions.original("bot.rasa.remote_actions:action_call_format")(
        action, tracker, domain
    )
    sent = body["tracker"]["events"]
    assert sum(e["event"] == "user" for e in sent) == remote_actions.ACTION_EVENT_TURNS
    assert sent == full["tracker"]["events"][-len(sent) :]
    assert body["tracker"]["slots"] == full["tracker"]["slots"]
    assert body["tracker"]["latest_message"] == full["tracker"]["latest_message"]
    assert len(json.dumps(body["tracker"])) < len(json.dumps(full["tracker"])) / 3


def test_the_domain_goes_only_to_form_validation():
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.domain import Domain
    from rasa.utils.endpoints import EndpointConfig

    from bot import PROJECT_ROOT
    from bot.rasa.endpoints import build_endpoints
    from bot.settings import load_settings

    endpoint = EndpointConfig.from_dict(
        build_endpoints(load_settings())["action_endpoint"]
    )
    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    tracker = DialogueStateTracker.from_events("s", user("greet"), domain.slots)
    plain = RemoteAction("action_give_disclaimer", endpoint)
    validation = RemoteAction("validate_booking_form", endpoint)
    assert "domain" not in plain._action_call_format(tracker, domain)
    assert validation._action_call_format(tracker, domain)["domain"]


def test_one_tracker_growing_turn_by_turn_keeps_rasas_states(agent):
    """The replay carried from one prediction to the next, through a form
    (whose executions drop earlier events from the applied ones), a
    reverted utterance and a restart."""
    from rasa.shared.core.events import Restarted, UserUtteranceReverted

    policy = rule_policy(agent)
    domain = agent.domain
    events = long_events(30)
    events[90:90] = [UserUtteranceReverted()]
    events[150:150] = [Restarted()]
    assert len(events) > 170
    tracker = DialogueStateTracker.from_events("s", [], domain.slots)
    for number, event_ in enumerate(events):
        tracker.update(event_)
        if number % 2:
            continue
        ours = policy._prediction_states(tracker, domain)
        rasas = RulePolicy._prediction_states(policy, tracker, domain)
        assert ours == rasas[-len(ours) :], number


async def test_the_store_hands_back_what_it_saved_until_someone_else_writes(
    tmp_path,
):
    from rasa.shared.core.domain import Domain

    from bot import PROJECT_ROOT
    from bot.rasa.tracker_store import SQLTrackerStore

    extensions.apply()
    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    path = tmp_path / "t.db"
    ours = SQLTrackerStore(domain, dialect="sqlite", db=str(path))
    other = SQLTrackerStore(domain, dialect="sqlite", db=str(path))
    tracker = DialogueStateTracker.from_events("p", faq_turn("faq_aftercare"))
    await ours.save(tracker)
    assert await ours.retrieve("p") is tracker

    tracker.update(ActionExecuted("action_listen"))  # not saved: a failed turn
    loaded = await ours.retrieve("p")
    assert loaded is not tracker and len(loaded.events) == len(tracker.events) - 1

    await ours.save(loaded)
    assert await ours.retrieve("p") is loaded
    foreign = await other.retrieve("p")
    foreign.update(UserUttered("hi", intent={"name": "greet"}))
    await other.save(foreign)  # another instance wrote: ours must reload
    again = await ours.retrieve("p")
    assert again is not loaded
    assert [e.as_dict() for e in again.events] == [e.as_dict() for e in foreign.events]


def random_events(rng, domain) -> list:
    """A messy conversation: FAQs, forms, reverted utterances, restarts."""
    from rasa.shared.core.events import (
        ActionReverted,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
    )

    events = []
    for _ in range(rng.randint(5, 40)):
        roll = rng.random()
        if roll < 0.5:
            events += faq_turn(rng.choice(FAQS))
        elif roll < 0.7:
            events += form_turns()
        elif roll < 0.78:
            events += [ActionExecuted("booking_form"), ActiveLoop(None)]
        elif roll < 0.84:
            events.append(UserUtteranceReverted())
        elif roll < 0.88:
            events.append(ActionReverted())
        elif roll < 0.92:
            events.append(Restarted())
        elif roll < 0.95:
            events += [SessionStarted(), ActionExecuted("action_listen")]
        else:
            events += [ActiveLoop("callback_form"), ActionExecuted("callback_form")]
    return events


@pytest.mark.slow
def test_applied_events_and_copies_are_rasas_on_random_conversations(agent):
    import random

    from rasa.shared.core.trackers import EventVerbosity

    domain = agent.domain
    rng = random.Random(11)
    checked = 0
    for _ in range(60):
        events = random_events(rng, domain)
        tracker = DialogueStateTracker.from_events("r", [], domain.slots)
        for number, event_ in enumerate(events):
            tracker.update(event_)
            if rng.random() < 0.3:
                continue
            ours = tracker.applied_events()
            rasas = extensions.original("bot.rasa.trackers:applied_events")(tracker)
            assert [id(e) for e in ours] == [id(e) for e in rasas], number
            copy_ours = tracker.copy()
            copy_rasas = extensions.original("bot.rasa.trackers:tracker_copy")(tracker)
            assert copy_ours.current_state(
                EventVerbosity.ALL
            ) == copy_rasas.current_state(EventVerbosity.ALL)
            assert {n: s.value for n, s in copy_ours.slots.items()} == {
                n: s.value for n, s in copy_rasas.slots.items()
            }
            assert copy_ours.active_loop == copy_rasas.active_loop
            assert copy_ours.followup_action == copy_rasas.followup_action
            copy_ours.update(SlotSet("first_name", "changed"))
            assert tracker.get_slot("first_name") != "changed"
            checked += 1
    assert checked > 500


async def test_a_rewritten_conversation_is_read_again(tmp_path):
    """Moving a conversation's events back in time (as the scenario tests do
    for "the next day") is seen: the newest row's timestamp changed."""
    import sqlite3

    from rasa.shared.core.domain import Domain

    from bot import PROJECT_ROOT
    from bot.rasa.tracker_store import SQLTrackerStore

    extensions.apply()
    domain = Domain.load(str(PROJECT_ROOT / "domain.yml"))
    path = tmp_path / "t.db"
    store = SQLTrackerStore(domain, dialect="sqlite", db=str(path))
    tracker = DialogueStateTracker.from_events("p", faq_turn("faq_aftercare"))
    await store.save(tracker)
    assert await store.retrieve("p") is tracker
    with sqlite3.connect(path) as db:
        db.execute("UPDATE events SET timestamp = timestamp - 86400")
    reread = await store.retrieve("p")
    assert reread is not tracker and len(reread.events) == len(tracker.events)
