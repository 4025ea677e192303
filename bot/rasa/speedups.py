"""Speed-ups for the Rasa server, each found by profiling (see README).

- Rasa 3.6 checks every action server response with ``jsonschema.validate``,
  which re-validates the schema itself on each call: about 60 % of the
  server's CPU time per message in our profile. Here the validator is built
  once and the same responses are accepted and rejected as before; the last
  2048 valid responses are remembered (checking still cost 5 %).
- The SQLite tracker store commits each message with a full fsync of the
  rollback journal (6 % of samples in ``do_commit`` alone). Write-ahead
  logging with ``synchronous=NORMAL`` keeps every committed message across a
  crash of the server and lets readers work while one instance writes.
- Every stored event is turned back into an object by ``Event.resolve_by_type``,
  which walks all Event subclasses (with ``inspect.isabstract``) each time:
  6 % of the CPU. The class found for a type name is now remembered.
- The SQL tracker store counts the stored events of the conversation (a
  second query with a subquery) before each save, to know which are new:
  7 %. It already read exactly those rows when it loaded the tracker, under
  the conversation's lock, so the number read then is used. It also built
  ORM objects for every event read and written (10 %); it now reads the one
  column it uses and writes new events in one multi-row insert.
- Each call to the action server opened a new HTTP session and connection:
  5 %. One keep-alive session per endpoint and event loop is reused, closing
  idle connections before the action server's own keep-alive timeout (5 s)
  so a request never goes out on a connection the server is closing.
- Each prediction runs the model's graph through dask, which recomputes the
  needed part of the graph (recursively, without memo) and schedules a
  handful of nodes: 7 %. The nodes now run in a topological order worked out
  once per set of targets, with the same inputs and outputs.
- RulePolicy checks every rule against every earlier turn, even after no rule
  is left or all remaining rules are shorter than the history looked at:
  15 %. It now stops there, and checks the last turn only against the rules
  indexed under its previous action and intent; the set of matching rules is
  the same.
- RulePolicy turns the whole conversation into dialogue states before every
  prediction, though no rule looks further back than its own length: 43 %
  of the CPU at turn 100 of a conversation, and the reason turn 100 was four
  times slower than turn 1. Only the states the longest rule can reach are
  built now; the tracker is still replayed from the start, so each state is
  the one Rasa builds (a state depends only on the tracker before it).
- The action server is sent the whole session with every call (over 300 KB
  at turn 100). It now gets the events of the last 20 user messages and
  what followed them, with the slots, latest message and active loop as
  before: the actions read no further back (the handoff transcript shows the
  last 40 messages). Rasa's own ``enable_selective_domain`` (endpoints.yml)
  keeps the domain to the form validation actions that use it.
- Rasa deep-copies events, states and slots for its debug log lines even
  when debug logging is off (3 %): in the three modules that copy only for
  the log, the copy is skipped unless their debug log is on.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import weakref
from collections import OrderedDict
from functools import cache
from typing import Any

from jsonschema import ValidationError
from jsonschema.validators import validator_for

from bot.rasa import extensions

VALID_RESULTS_KEPT = 2048
_valid_results: OrderedDict[str, bool] = OrderedDict()


@cache
def _action_result_validator():
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _validate_action_result(self, result: dict) -> bool:
    """Rasa's check of an action server response; a response already found
    valid (most are the same few: "no events", the disclaimer, a form's
    next question) is recognised by its JSON instead of checked again."""
    key = json.dumps(result, sort_keys=True, default=repr)
    if key in _valid_results:
        _valid_results.move_to_end(key)
        return True
    try:
        _action_result_validator().validate(result)
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure "
            "your response from the Action endpoint is valid."
        )
        raise
    _valid_results[key] = True
    if len(_valid_results) > VALID_RESULTS_KEPT:
        _valid_results.popitem(last=False)
    return True


def sqlite_wal(dbapi_connection, _record) -> None:
    """SQLAlchemy ``connect`` listener for the tracker store's engine."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


_STORED_EVENTS = "_clinic_stored_events"
_event_classes: dict[str, type] = {}
_sessions: dict[tuple[int, int], Any] = {}
_rule_states: dict[str, tuple] = {}
_rule_indexes: dict[int, tuple] = {}
_rule_lengths: dict[int, int] = {}
_trackers: OrderedDict[tuple[int, str], tuple] = OrderedDict()
# Enough for every conversation in progress at 50 users and more; each kept
# tracker costs tens of KB, and at 1000 they held 60-70 MB of a Rasa process
# under the benchmark's load.
TRACKERS_KEPT = 256
_REPLAY = "_clinic_rule_replay"
_APPLIED = "_clinic_applied_events"
# Attributes of ours that a copy of a tracker must not share.
_TRACKER_CACHES = (_STORED_EVENTS, _REPLAY, _APPLIED)
# Whole user turns of events sent to the action server (see above).
ACTION_EVENT_TURNS = 20
# Rasa's state keys (rasa.shared.core.constants, rasa.shared.nlu.constants).
PREVIOUS_ACTION = "prev_action"
USER = "user"
ACTION_NAME = "action_name"
INTENT = "intent"
SHOULD_NOT_BE_SET = "should_not_be_set"
IDLE_CONNECTION_SECONDS = 2.0


def _resolve_by_type(type_name, default=None):
    """``Event.resolve_by_type`` with the found class remembered by name."""
    found = _event_classes.get(type_name)
    if found is None:
        found = extensions.original("bot.rasa.speedups:_resolve_by_type")(
            type_name, default
        )
        if found is not None and found is not default:
            _event_classes[type_name] = found
    return found


def _newest_row(store, session, sender_id: str) -> tuple | None:
    """Id and timestamp of the conversation's newest stored event: a write
    by anyone else, a deletion or a rewrite of that row changes them."""
    event_ = store.SQLEvent
    return (
        session.query(event_.id, event_.timestamp)
        .filter(event_.sender_id == sender_id)
        .order_by(event_.id.desc())
        .limit(1)
        .one_or_none()
    )


def _kept_tracker(store, session, sender_id: str):
    """The tracker this process saved last for ``sender_id``, if the database
    holds exactly what it saved: no other instance wrote since, nothing was
    deleted, and no event of it is unsaved (a message that failed half way)."""
    key = (id(store), sender_id)
    kept = _trackers.get(key)
    if kept is None:
        return None
    tracker, domain, last_id = kept
    if (
        domain is not store.domain
        or getattr(tracker, _STORED_EVENTS, None) != len(tracker.events)
        or _newest_row(store, session, sender_id) != last_id
    ):
        _trackers.pop(key, None)
        return None
    _trackers.move_to_end(key)
    return tracker


def drop_kept(store, sender_id: str) -> None:
    """Forget the tracker kept for ``sender_id`` (its conversation was deleted)."""
    _trackers.pop((id(store), sender_id), None)


def _keep_tracker(store, session, tracker) -> None:
    """Remember a saved tracker; one that holds a new session's start is
    dropped instead, since a load gives only the latest session."""
    from rasa.shared.core.events import SessionStarted

    key = (id(store), tracker.sender_id)
    if any(
        isinstance(e, SessionStarted) for e in itertools.islice(tracker.events, 1, None)
    ):
        _trackers.pop(key, None)
        return
    _trackers[key] = (
        tracker,
        store.domain,
        _newest_row(store, session, tracker.sender_id),
    )
    _trackers.move_to_end(key)
    while len(_trackers) > TRACKERS_KEPT:
        _trackers.popitem(last=False)


async def sql_retrieve(self, sender_id, fetch_events_from_all_sessions):
    """Rasa's ``SQLTrackerStore._retrieve`` reading only the ``data`` column
    (no ORM objects), noting how many rows it read; the latest session comes
    from memory when the database holds just what this process saved."""
    from rasa.shared.core.trackers import DialogueStateTracker

    with self.session_scope() as session:
        if not fetch_events_from_all_sessions:
            kept = _kept_tracker(self, session, sender_id)
            if kept is not None:
                return kept
        rows = (
            self._event_query(
                session,
                sender_id,
                fetch_events_from_all_sessions=fetch_events_from_all_sessions,
            )
            .with_entities(self.SQLEvent.data)
            .all()
        )
        events = [json.loads(data) for (data,) in rows]
        if not (self.domain and events):
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if not fetch_events_from_all_sessions:
            setattr(tracker, _STORED_EVENTS, len(rows))
        return tracker


def stored_events(tracker) -> int | None:
    """How many of the tracker's events the store holds, when it knows."""
    return getattr(tracker, _STORED_EVENTS, None)


def _event_row(sender_id: str, event) -> dict[str, Any]:
    """The columns Rasa's ``SQLTrackerStore.save`` writes for one event."""
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {})
        .get("intent", {})
        .get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


async def sql_save(self, tracker) -> None:
    """Rasa's ``SQLTrackerStore.save`` as one multi-row insert instead of the
    ORM's unit of work; afterwards the tracker knows all its events are stored."""
    total = len(tracker.events)
    await self.stream_events(tracker)
    with self.session_scope() as session:
        rows = [
            _event_row(tracker.sender_id, event)
            for event in self._additional_events(session, tracker)
        ]
        if rows:
            session.execute(self.SQLEvent.__table__.insert(), rows)
        session.commit()
        setattr(tracker, _STORED_EVENTS, total)
        _keep_tracker(self, session, tracker)


def _endpoint_session(self):
    """A kept-alive session for this endpoint in the running event loop."""
    import aiohttp

    loop = asyncio.get_running_loop()
    key = (id(self), id(loop))
    # The loop is kept in the value so its id cannot be reused by a new loop;
    # the entry goes when the endpoint object does.
    _, session = _sessions.get(key, (None, None))
    if session is None or session.closed:
        auth = None
        if self.basic_auth:
            auth = aiohttp.BasicAuth(
                self.basic_auth["username"], self.basic_auth["password"]
            )
        from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

        session = aiohttp.ClientSession(
            headers=self.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=IDLE_CONNECTION_SECONDS),
        )
        _sessions[key] = (loop, session)
        weakref.finalize(self, _forget_session, key)
    return _SharedSession(session)


def _forget_session(key) -> None:
    loop, session = _sessions.pop(key, (None, None))
    if session is not None and not session.closed and not loop.is_closed():
        loop.call_soon_threadsafe(lambda: loop.create_task(session.close()))


class _SharedSession:
    """``async with`` on a shared session that must stay open afterwards."""

    def __init__(self, session) -> None:
        self.session = session

    async def __aenter__(self):
        return self.session

    async def __aexit__(self, *exc_info) -> None:
        return None


def _reversed_rule_states(rule_key: str) -> tuple:
    states = _rule_states.get(rule_key)
    if states is None:
        states = _rule_states[rule_key] = tuple(reversed(json.loads(rule_key)))
    return states


def _longest_rule(policy) -> int:
    """States in the longest rule or loop rule of this policy."""
    found = _rule_lengths.get(id(policy))
    if found is None:
        from rasa.core.policies.rule_policy import (
            RULES,
            RULES_FOR_LOOP_UNHAPPY_PATH,
        )

        keys = [
            *policy.lookup.get(RULES, {}),
            *policy.lookup.get(RULES_FOR_LOOP_UNHAPPY_PATH, {}),
        ]
        found = _rule_lengths[id(policy)] = max(
            (len(_reversed_rule_states(k)) for k in keys), default=0
        )
    return found


def _replayed_until(tracker, applied: list, cut: int):
    """A copy of ``tracker`` as it was before ``applied[cut]``.

    The replay is kept on the tracker and carried forward on the next call,
    so each event is replayed once. It is reused only when the event it
    stopped after is still at the same index: applied events only ever lose
    events (a reverted utterance, a restart, a form's repeated run), never
    gain them in the middle, so that event in place means nothing before it
    was removed and the whole prefix is the same."""
    kept = getattr(tracker, _REPLAY, None)
    reusable = kept is not None and kept[0] <= cut
    if reusable:
        done, last, replay = kept
        reusable = done == 0 or (done <= len(applied) and applied[done - 1] is last)
    if not reusable:
        done, replay = 0, tracker.init_copy()
    for event_ in applied[done:cut]:
        replay.update(event_)
    setattr(tracker, _REPLAY, (cut, applied[cut - 1] if cut else None, replay))
    return _snapshot(replay)


def _tracker_copy(self):
    """``DialogueStateTracker.copy`` without replaying every event: the
    state replaying would rebuild, copied (slots, loop and the latest action
    are the parts events change in place); like Rasa's copy, it starts
    without a model id, assistant id or sender source."""
    duplicate = copy.copy(self)
    for attribute in _TRACKER_CACHES:
        vars(duplicate).pop(attribute, None)
    duplicate.events = self._create_events(list(self.events))
    duplicate.slots = {name: copy.copy(slot) for name, slot in self.slots.items()}
    duplicate.active_loop = copy.copy(self.active_loop)
    duplicate.latest_action = copy.copy(self.latest_action)
    duplicate.model_id = None
    duplicate.assistant_id = None
    duplicate.sender_source = None
    return duplicate


def _applied_events(self) -> list:
    """``applied_events`` carried forward from the last call on the same
    tracker: only events appended since are folded in, with Rasa's own rules.
    Everything is recomputed when the events seen last are no longer in place
    or a new loop name appears (Rasa's rules look at all loop names)."""
    from rasa.shared.core.events import ActiveLoop

    events = self.events
    total = len(events)
    kept = getattr(self, _APPLIED, None)
    if kept is not None:
        seen, last, applied, loop_names = kept
        if seen <= total and (seen == 0 or events[seen - 1] is last):
            new = list(itertools.islice(events, seen, total))
            if not any(
                isinstance(e, ActiveLoop) and e.name and e.name not in loop_names
                for e in new
            ):
                applied = list(applied)
                _fold_applied(self, new, applied, loop_names)
                setattr(
                    self,
                    _APPLIED,
                    (total, events[-1] if total else None, applied, loop_names),
                )
                return list(applied)
    loop_names = frozenset(
        e.name for e in events if isinstance(e, ActiveLoop) and e.name
    )
    applied: list = []
    _fold_applied(self, list(events), applied, loop_names)
    setattr(self, _APPLIED, (total, events[-1] if total else None, applied, loop_names))
    return list(applied)


def _fold_applied(tracker, new_events, applied: list, loop_names) -> None:
    """The loop of Rasa 3.6's ``DialogueStateTracker.applied_events``."""
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
        UserUttered,
    )

    for event_ in new_events:
        if isinstance(event_, Restarted | SessionStarted):
            applied.clear()
        elif isinstance(event_, ActionReverted):
            tracker._undo_till_previous(ActionExecuted, applied)
        elif isinstance(event_, UserUtteranceReverted):
            tracker._undo_till_previous(UserUttered, applied)
            tracker._undo_till_previous(ActionExecuted, applied)
        elif (
            isinstance(event_, ActionExecuted)
            and event_.action_name in loop_names
            and not tracker._first_loop_execution_or_unhappy_path(
                event_.action_name, applied
            )
        ):
            tracker._undo_till_previous_loop_execution(event_.action_name, applied)
        else:
            applied.append(event_)


def _snapshot(replay):
    """A tracker in the replay's state that the tail can be played into:
    its own slot objects and loop, no events (states never read them)."""
    from collections import deque

    snapshot = copy.copy(replay)
    snapshot.events = deque()
    snapshot.slots = {name: copy.copy(slot) for name, slot in replay.slots.items()}
    snapshot.active_loop = copy.copy(replay.active_loop)
    return snapshot


def _tail_of_prior_trackers(tracker, keep: int):
    """``generate_all_prior_trackers`` yielding only the last ``keep`` steps
    and the final tracker; earlier events are replayed without a state."""
    from rasa.shared.core.events import ActionExecuted

    applied = tracker.applied_events()
    steps = [i for i, e in enumerate(applied) if isinstance(e, ActionExecuted)]
    cut = steps[-keep] if len(steps) > keep else 0
    replay = _replayed_until(tracker, applied, cut)
    for event_ in applied[cut:]:
        if isinstance(event_, ActionExecuted):
            yield replay, event_.hide_rule_turn
        replay.update(event_)
    yield replay, False


def tail_view(policy, tracker):
    """``tracker`` as RulePolicy's states see it: its prior trackers are only
    the last turns, as many as the longest rule has (see above), so the
    states are the end of Rasa's list, which no rule reads past."""
    keep = _longest_rule(policy) + 1
    view = copy.copy(tracker)
    view.generate_all_prior_trackers = lambda: _tail_of_prior_trackers(tracker, keep)
    return view


def _action_call_format(self, tracker, domain) -> dict:
    """RemoteAction's request body with the events of the last
    ACTION_EVENT_TURNS user messages only (see above)."""
    from rasa.shared.core.events import UserUttered

    events = tracker.events
    users = [i for i, e in enumerate(events) if isinstance(e, UserUttered)]
    start = users[-ACTION_EVENT_TURNS] if len(users) > ACTION_EVENT_TURNS else 0
    rasa_format = extensions.original("bot.rasa.speedups:_action_call_format")
    if start == 0:
        return rasa_format(self, tracker, domain)
    window = copy.copy(tracker)
    window.events = list(itertools.islice(events, start, None))
    return rasa_format(self, window, domain)


def _is_rule_applicable(self, rule_key, turn_index, conversation_state) -> bool:
    """RulePolicy's ``_is_rule_applicable`` without re-reversing the rule's
    states on every call (Rasa's lru_cache of 1000 also thrashes when a
    model has more rule keys than that)."""
    reversed_rule_states = _reversed_rule_states(rule_key)
    if turn_index >= len(reversed_rule_states):
        return True
    rule_state = reversed_rule_states[turn_index]
    current_previous_action = conversation_state.get(PREVIOUS_ACTION)
    rule_previous_action = rule_state.get(PREVIOUS_ACTION)
    if not rule_previous_action:
        return not current_previous_action
    if not current_previous_action:
        return False
    return self._does_rule_match_state(rule_state, conversation_state)


def _rule_candidates(lookup, state) -> list[str]:
    """The rules that can match ``state`` as their last turn.

    A rule whose last turn names a previous action (and maybe an intent) only
    matches a turn with that action (and intent), so rules are indexed by
    them once per lookup; any other rule is always a candidate."""
    cached = _rule_indexes.get(id(lookup))
    if cached is None or cached[0] is not lookup or cached[1] != len(lookup):
        index: dict[tuple, list[str]] = {}
        always: list[str] = []
        for key in lookup:
            rule_states = _reversed_rule_states(key)
            last = rule_states[0] if rule_states else {}
            action = _named(last.get(PREVIOUS_ACTION), ACTION_NAME)
            if action is None:
                always.append(key)
                continue
            intent = _named(last.get(USER), INTENT)
            index.setdefault((action, intent), []).append(key)
        cached = _rule_indexes[id(lookup)] = (lookup, len(lookup), index, always)
    _, _, index, always = cached
    action = (state.get(PREVIOUS_ACTION) or {}).get(ACTION_NAME)
    if action is None:
        return always
    intent = (state.get(USER) or {}).get(INTENT)
    return [
        *always,
        *index.get((action, None), ()),
        *(index.get((action, intent), ()) if intent is not None else ()),
    ]


def _named(sub_state, key: str) -> str | None:
    value = (sub_state or {}).get(key)
    if isinstance(value, str) and value and value != SHOULD_NOT_BE_SET:
        return value
    return None


def _get_possible_keys(self, lookup, states):
    """RulePolicy's ``_get_possible_keys``: the last turn is checked only
    against the rules that can match it, and the search stops once no rule
    is left or every rule left is shorter than the turns already checked
    (each of those matches whatever comes earlier)."""
    if not states:
        return set(lookup.keys())
    turns = list(reversed(states))
    possible_keys = {
        key
        for key in _rule_candidates(lookup, turns[0])
        if self._is_rule_applicable(key, 0, turns[0])
    }
    for i in range(1, len(turns)):
        if not possible_keys or all(
            len(_reversed_rule_states(key)) <= i for key in possible_keys
        ):
            break
        possible_keys = {
            key for key in possible_keys if self._is_rule_applicable(key, i, turns[i])
        }
    return possible_keys


def _plan(runner, targets: tuple) -> list[tuple[str, list[str]]]:
    """Nodes needed for ``targets``, each after the nodes it needs."""
    plans = runner.__dict__.setdefault("_clinic_plans", {})
    plan = plans.get(targets)
    if plan is None:
        nodes = runner._graph_schema.nodes
        plan, seen = [], set()

        def visit(name: str) -> None:
            if name in seen or name not in nodes:
                return
            seen.add(name)
            needs = list(nodes[name].needs.values())
            for need in needs:
                visit(need)
            plan.append((name, needs))

        for target in targets:
            visit(target)
        plans[targets] = plan
    return plan


def _run_graph(self, inputs=None, targets=None):
    """``DaskGraphRunner.run`` without dask: same nodes, inputs and outputs."""
    from rasa.engine.exceptions import GraphRunError

    run_targets = list(targets) if targets else self._graph_schema.target_names
    values: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and value in self._graph_schema.nodes:
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure "
                f"that none of the input names passed to the `run` method are the "
                f"same as node names in the graph schema."
            )
        values[name] = (name, value)
    try:
        for name, needs in _plan(self, tuple(run_targets)):
            node = self._instantiated_nodes[name]
            values[name] = node(*(values[need] for need in needs))
    except RuntimeError as error:
        raise GraphRunError("Error running runner.") from error
    return dict(values[target] for target in run_targets)


class _CopyForDebugLog:
    """The ``copy`` module as seen by Rasa modules that deep-copy only what
    they hand to ``structlogger.debug`` (tested): the copy is skipped when
    that module's debug log is off and the entry would be dropped anyway."""

    def __init__(self, module_name: str) -> None:
        self._logger = logging.getLogger(module_name)

    def deepcopy(self, value, memo=None):
        if self._logger.isEnabledFor(logging.DEBUG):
            return copy.deepcopy(value, memo)
        return value

    def __getattr__(self, name: str):
        return getattr(copy, name)


# The ``copy`` each of the three modules sees (bot/rasa/extensions.py).
PROCESSOR_COPY = _CopyForDebugLog("rasa.core.processor")
MEMOIZATION_COPY = _CopyForDebugLog("rasa.core.policies.memoization")
RULE_POLICY_COPY = _CopyForDebugLog("rasa.core.policies.rule_policy")
