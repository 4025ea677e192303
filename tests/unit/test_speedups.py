"""The speed-ups of bot/rasa/ give Rasa's own results: the action-result
validator, the tracker store, event types, the action server's session, the
rule policy, the graph runner and the copies for debug lines."""

from __future__ import annotations

import json

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot.rasa import extensions, graph, policies, remote_actions

RESULTS = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": [{}]},
    {"events": [{"event": "action", "name": "action_listen"}]},
    {"events": [{"event": "followup", "name": "utter_greet"}], "responses": []},
    {"events": "not a list"},
    {"events": [{"event": "slot"}]},
    {"events": [{"event": "no_such_event"}]},
    {"responses": ["not an object"]},
    {"events": [{"event": "pause"}, {"event": "resume"}]},
]


@pytest.mark.parametrize("result", RESULTS)
def test_same_verdict_as_rasa(result):
    schema = RemoteAction.action_response_format_spec()
    try:
        jsonschema.validate(result, schema)
        expected = True
    except jsonschema.ValidationError:
        expected = False
    try:
        actual = remote_actions.validate_action_result(None, result)
    except jsonschema.ValidationError:
        actual = False
    assert actual == expected


def test_apply_replaces_rasas_validator():
    extensions.apply()
    assert RemoteAction._validate_action_result is remote_actions.validate_action_result
    with pytest.raises(jsonschema.ValidationError):
        RemoteAction._validate_action_result(None, {"events": "x"})


def test_the_tracker_store_uses_write_ahead_logging(tmp_path):
    from rasa.shared.core.domain import Domain
    from sqlalchemy import text

    from bot.rasa.tracker_store import SQLTrackerStore

    store = SQLTrackerStore(
        Domain.empty(), dialect="sqlite", db=str(tmp_path / "trackers.db")
    )
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1
    store.engine.dispose()


@pytest.fixture
def patched():
    """Rasa with the project's changes; they stay applied, as in the server."""
    extensions.apply()


def all_event_classes():
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    return all_subclasses(Event)


def test_event_types_resolve_to_the_same_classes(patched):
    from rasa.shared.core.events import Event

    original = extensions.original("bot.rasa.events:resolve_by_type")
    for cls in all_event_classes():
        assert Event.resolve_by_type(cls.type_name) is original(cls.type_name)
        assert Event.resolve_by_type(cls.type_name) is original(cls.type_name)
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no_such_event", default=dict) is dict
    with pytest.raises(ValueError):
        Event.resolve_by_type("no_such_event")


def test_events_round_trip_through_their_dicts(patched):
    from rasa.shared.core.events import (
        ActionExecuted,
        BotUttered,
        Event,
        SessionStarted,
        SlotSet,
        UserUttered,
    )

    events = [
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("hi", {"name": "greet", "confidence": 1.0}),
        SlotSet("first_name", "Ana"),
        BotUttered("Hello!"),
    ]
    for original in events:
        assert Event.from_parameters(original.as_dict()) == original


@pytest.fixture
def sql_store(tmp_path, patched):
    from rasa.shared.core.domain import Domain

    from bot.rasa.tracker_store import SQLTrackerStore

    domain = Domain.from_yaml('version: "3.1"\nintents: [greet, bye]\n')
    return SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "t.db"))


def user(text: str, intent: str):
    from rasa.shared.core.events import UserUttered

    return UserUttered(text, {"name": intent, "confidence": 1.0})


async def test_saves_only_new_events_without_counting_them(sql_store, monkeypatch):
    from rasa.shared.core.events import ActionExecuted, SessionStarted
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker.from_events(
        "ana", [ActionExecuted("action_session_start"), SessionStarted()]
    )
    await sql_store.save(tracker)
    queries = []
    original_query = type(sql_store)._event_query

    def counting_query(self, *args, **kwargs):
        queries.append(args)
        return original_query(self, *args, **kwargs)

    for turn in range(3):
        loaded = await sql_store.retrieve("ana")
        monkeypatch.setattr(type(sql_store), "_event_query", counting_query)
        loaded.update(user(f"hello {turn}", "greet"))
        loaded.update(ActionExecuted("action_listen"))
        await sql_store.save(loaded)
        loaded.update(user(f"again {turn}", "greet"))
        await sql_store.save(loaded)
        monkeypatch.setattr(type(sql_store), "_event_query", original_query)
        assert queries == []
    texts = [
        e.text
        for e in (await sql_store.retrieve("ana")).events
        if e.type_name == "user"
    ]
    assert texts == ["hello 0", "again 0", "hello 1", "again 1", "hello 2", "again 2"]


async def test_a_new_session_is_stored_once(sql_store):
    import time

    from rasa.shared.core.events import ActionExecuted, SessionStarted
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker.from_events(
        "ben", [SessionStarted(timestamp=time.time() - 100), user("hi", "greet")]
    )
    await sql_store.save(tracker)
    loaded = await sql_store.retrieve("ben")
    loaded.update(ActionExecuted("action_session_start"))
    loaded.update(SessionStarted())
    loaded.update(user("back again", "greet"))
    await sql_store.save(loaded)
    latest = await sql_store.retrieve("ben")
    assert [e.text for e in latest.events if e.type_name == "user"] == ["back again"]
    full = await sql_store.retrieve_full_tracker("ben")
    assert [e.text for e in full.events if e.type_name == "user"] == [
        "hi",
        "back again",
    ]


async def test_trackers_not_loaded_by_the_store_are_still_counted(sql_store):
    from rasa.shared.core.trackers import DialogueStateTracker

    await sql_store.save(DialogueStateTracker.from_events("cy", [user("a", "greet")]))
    fresh = DialogueStateTracker.from_events(
        "cy", [user("a", "greet"), user("b", "bye")]
    )
    await sql_store.save(fresh)
    stored = await sql_store.retrieve("cy")
    assert [e.text for e in stored.events if e.type_name == "user"] == ["a", "b"]


async def test_action_calls_reuse_one_connection(patched):
    from aiohttp import web
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig

    peers = []

    async def webhook(request):
        peers.append(request.transport.get_extra_info("peername"))
        if request.query.get("fail"):
            return web.json_response({"error": "no"}, status=400)
        return web.json_response({"echo": await request.json()})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        endpoint = EndpointConfig(url=f"http://127.0.0.1:{port}/webhook")
        for n in range(3):
            assert await endpoint.request(json={"n": n}) == {"echo": {"n": n}}
        with pytest.raises(ClientResponseError):
            await endpoint.request(json={}, params={"fail": "1"})
        assert len(peers) == 4
        assert len(set(peers)) == 1
    finally:
        await runner.cleanup()


def random_rule_lookup(rng):
    """Rule keys as RulePolicy stores them: JSON lists of states."""
    import json

    intents = ["greet", "bye", "faq_a", "faq_b"]
    actions = ["action_listen", "utter_a", "action_x", "utter_b"]
    lookup = {}
    for _ in range(60):
        states = []
        if rng.random() < 0.2:
            states.append({})
        for _ in range(rng.randint(1, 4)):
            state = {"prev_action": {"action_name": rng.choice(actions)}}
            if rng.random() < 0.6:
                state["user"] = {"intent": rng.choice(intents)}
            elif rng.random() < 0.3:
                state["user"] = {"intent": "should_not_be_set"}
            if rng.random() < 0.2:
                state["active_loop"] = {"name": rng.choice(["should_not_be_set", "f"])}
            states.append(state)
        if rng.random() < 0.05:
            states[-1] = {"prev_action": {"action_text": "hello"}}
        if rng.random() < 0.03:
            states = [{}]
        lookup[json.dumps(states)] = rng.choice(actions)
    return lookup, intents, actions


def rule_policies():
    """Rasa's rule matching and ours (config.yml's policy), side by side."""
    from rasa.core.policies.rule_policy import RulePolicy as Rasa

    from bot.rasa.policies import RulePolicy as Ours

    return Rasa.__new__(Rasa), Ours.__new__(Ours)


def test_rule_matching_gives_rasas_answers():
    import random

    rasa, ours = rule_policies()
    rng = random.Random(7)
    compared = matched = 0
    for _ in range(40):
        lookup, intents, actions = random_rule_lookup(rng)
        for _ in range(20):
            states = []
            if rng.random() < 0.5:
                states.append({})
            for _ in range(rng.randint(0, 9)):
                state = {"prev_action": {"action_name": rng.choice(actions)}}
                if rng.random() < 0.1:
                    state = {"prev_action": {"action_text": "hello"}}
                if rng.random() < 0.7:
                    state["user"] = {"intent": rng.choice(intents)}
                states.append(state)
            expected = rasa._get_possible_keys(lookup, states)
            assert ours._get_possible_keys(lookup, states) == expected
            compared += 1
            matched += bool(expected)
    assert matched > compared / 10


@pytest.fixture(scope="module")
def agent():
    """The trained model, loaded the way the server loads it."""
    import asyncio

    from rasa.core.agent import load_agent

    from tests.servers import MODEL

    extensions.apply()
    return asyncio.run(load_agent(model_path=str(MODEL)))


@pytest.mark.slow  # builds a model graph: seconds
@pytest.mark.parametrize(
    "texts",
    [
        ["does dry needling hurt?"],
        ["hi", "can it help my sciatica", "yes please book me in", "Ana"],
        ["blorp", "what is a trigger point", "thanks, bye"],
    ],
)
def test_graph_runs_give_dasks_results(agent, texts):
    from rasa.core.channels import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    runner = agent.processor.graph_runner
    dask_run = extensions.original("bot.rasa.graph:run_graph")
    metadata = agent.processor.model_metadata
    domain = agent.domain
    tracker = DialogueStateTracker.from_events(
        "t", [ActionExecuted("action_listen")], slots=domain.slots
    )
    for text in texts:
        message = UserMessage(text, sender_id="t")
        inputs = {PLACEHOLDER_MESSAGE: [message], PLACEHOLDER_TRACKER: tracker}
        targets = [metadata.nlu_target]
        expected = dask_run(runner, inputs=inputs, targets=targets)
        actual = graph.run_graph(runner, inputs=inputs, targets=targets)
        parsed = expected[metadata.nlu_target][0]
        output = actual[metadata.nlu_target][0].as_dict(only_output_properties=True)
        assert output == parsed.as_dict(only_output_properties=True)
        assert output["intent"]
        tracker.update(UserUttered(text, parsed.data["intent"]))
        inputs = {PLACEHOLDER_TRACKER: tracker}
        targets = [metadata.core_target]
        expected = dask_run(runner, inputs=inputs, targets=targets)
        actual = graph.run_graph(runner, inputs=inputs, targets=targets)
        assert actual[metadata.core_target] == expected[metadata.core_target]
        prediction = expected[metadata.core_target]
        tracker.update(
            ActionExecuted(
                domain.action_names_or_texts[prediction.max_confidence_index]
            )
        )


def test_rasa_constants_are_the_same():
    from rasa.shared.core import constants as core
    from rasa.shared.nlu import constants as nlu

    assert policies.PREVIOUS_ACTION == core.PREVIOUS_ACTION
    assert policies.USER == core.USER
    assert policies.SHOULD_NOT_BE_SET == core.SHOULD_NOT_BE_SET
    assert policies.ACTION_NAME == nlu.ACTION_NAME
    assert policies.INTENT == nlu.INTENT


async def test_stored_rows_are_the_ones_rasa_writes(sql_store):
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    events = [
        ActionExecuted("action_listen"),
        user("hi there", "greet"),
        SlotSet("x", "y"),
        BotUttered("Hello", {"buttons": [{"title": "A", "payload": "/a"}]}),
    ]
    await sql_store.save(DialogueStateTracker.from_events("ours", events))
    from rasa.core.tracker_store import SQLTrackerStore as RasaStore

    rasa_save = RasaStore.save
    await rasa_save(sql_store, DialogueStateTracker.from_events("rasa", events))

    def rows(sender):
        with sql_store.session_scope() as session:
            found = (
                session.query(sql_store.SQLEvent)
                .filter(sql_store.SQLEvent.sender_id == sender)
                .order_by(sql_store.SQLEvent.id)
                .all()
            )
            return [
                (r.type_name, r.timestamp, r.intent_name, r.action_name, r.data)
                for r in found
            ]

    assert rows("ours") == rows("rasa")
    assert [json.loads(r[-1]) for r in rows("ours")] == [e.as_dict() for e in events]


@pytest.mark.parametrize(
    "states",
    [
        [{}],
        [{"prev_action": {"action_text": "hello"}}],
        [{"prev_action": {"action_name": "action_listen"}}],
        [{"prev_action": {"action_name": "action_listen"}, "user": {"intent": "hi"}}],
        [],
    ],
)
def test_rules_without_an_indexable_last_turn_still_match(states):
    import json

    rasa, ours = rule_policies()
    lookup = {
        json.dumps(rule): "utter_x"
        for rule in (
            [{}],
            [{"prev_action": {"action_text": "hello"}}],
            [{"prev_action": {"action_name": "action_listen"}}],
            [
                {
                    "prev_action": {"action_name": "action_listen"},
                    "user": {"intent": "should_not_be_set"},
                }
            ],
            [
                {
                    "prev_action": {"action_name": "action_listen"},
                    "user": {"intent": "hi"},
                }
            ],
        )
    }
    expected = rasa._get_possible_keys(lookup, states)
    assert expected
    assert ours._get_possible_keys(lookup, states) == expected


def test_a_valid_response_is_remembered_and_an_invalid_one_never(monkeypatch):
    checks = []
    validator = remote_actions._action_result_validator()

    class Counting:
        def validate(self, result):
            checks.append(result)
            validator.validate(result)

    monkeypatch.setattr(remote_actions, "_action_result_validator", lambda: Counting())
    monkeypatch.setattr(
        remote_actions, "_valid_results", type(remote_actions._valid_results)()
    )
    good = {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": []}
    bad = {"events": "not a list"}
    for _ in range(3):
        assert remote_actions.validate_action_result(None, dict(good)) is True
        with pytest.raises(jsonschema.ValidationError):
            remote_actions.validate_action_result(None, bad)
    assert checks.count(good) == 1
    assert checks.count(bad) == 3


def test_remembered_responses_are_bounded(monkeypatch):
    monkeypatch.setattr(
        remote_actions, "_valid_results", type(remote_actions._valid_results)()
    )
    monkeypatch.setattr(remote_actions, "VALID_RESULTS_KEPT", 5)
    for n in range(20):
        remote_actions.validate_action_result(
            None, {"events": [], "responses": [{"n": n}]}
        )
    assert len(remote_actions._valid_results) == 5


LOG_ONLY_COPIES = [
    p.target.split(":")[0] for p in extensions.PATCHES if p.target.endswith(":copy")
]


def test_three_modules_get_the_log_only_copy():
    assert len(LOG_ONLY_COPIES) == 3


@pytest.mark.parametrize("module_name", LOG_ONLY_COPIES)
def test_these_modules_copy_only_for_their_log(module_name):
    """Guards the skipped copies: every ``copy.`` call in the module must be
    an argument of a ``structlogger`` call."""
    import ast
    import importlib
    import inspect

    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    copies, inside_log = 0, 0

    def is_copy(node):
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "copy"
        )

    for node in ast.walk(tree):
        copies += is_copy(node)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "structlogger"
        ):
            inside_log += sum(is_copy(n) for n in ast.walk(node))
    assert copies > 0
    assert inside_log == copies


def test_copies_for_the_log_are_skipped_only_with_debug_off(patched, caplog):
    import importlib
    import logging

    processor = importlib.import_module("rasa.core.processor")
    value = {"events": [1, 2]}
    logging.getLogger("rasa.core.processor").setLevel(logging.INFO)
    assert processor.copy.deepcopy(value) is value
    logging.getLogger("rasa.core.processor").setLevel(logging.DEBUG)
    try:
        copied = processor.copy.deepcopy(value)
        assert copied == value and copied is not value
    finally:
        logging.getLogger("rasa.core.processor").setLevel(logging.NOTSET)
    assert processor.copy.copy is importlib.import_module("copy").copy
