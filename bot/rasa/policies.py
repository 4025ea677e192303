"""Rasa's RulePolicy with the same predictions, much less work per turn.

Named ``RulePolicy`` because parts of Rasa recognise the rule policy by its
class name; ``config.yml`` names it ``bot.rasa.policies.RulePolicy``, Rasa's
extension point for policies. It overrides private methods of Rasa's class
(``_prediction_states``, ``_get_possible_keys``, ``_is_rule_applicable``),
so it refuses to be built, in training as in serving, on another Rasa than
the one it was written against (``bot.rasa.version.check_version``).
tests/unit/test_speedups.py and tests/unit/test_long_conversations.py check
its predictions against Rasa's own class; the profile behind each change is
in docs/production.md ("Profiling and speed-ups").

- RulePolicy checks every rule against every earlier turn, even after no rule
  is left or all remaining rules are shorter than the history looked at:
  15 % of the server's CPU per message. It now stops there, and checks the
  last turn only against the rules indexed under its previous action and
  intent; the set of matching rules is the same.
- A rule's states are reversed once, not on every check (Rasa's lru_cache of
  1000 also thrashes when a model has more rule keys than that).
- RulePolicy turns the whole conversation into dialogue states before every
  prediction, though no rule looks further back than its own length: 43 %
  of the CPU at turn 100 of a conversation, and the reason turn 100 was four
  times slower than turn 1. Only the states the longest rule can reach are
  built now; the tracker is still replayed from the start, so each state is
  the one Rasa builds (a state depends only on the tracker before it).
"""

from __future__ import annotations

import copy
import json
import warnings
import weakref
from typing import Any

from rasa.core.policies.rule_policy import RulePolicy as RasaRulePolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates

from bot.rasa.trackers import RULE_REPLAY
from bot.rasa.version import check_version

# Rasa's recipe validator looks for its own class (``node.uses == RulePolicy``),
# not a subclass: it would warn that no rule policy is configured, wrongly
# (the default rules live in the class, which this one inherits), and skip its
# check of the fallback action against the domain, which ``train`` runs here.
warnings.filterwarnings(
    "ignore",
    message="'RulePolicy' is not included in the model's policy configuration",
    category=UserWarning,
)

# Rasa's state keys (rasa.shared.core.constants, rasa.shared.nlu.constants).
PREVIOUS_ACTION = "prev_action"
USER = "user"
ACTION_NAME = "action_name"
INTENT = "intent"
SHOULD_NOT_BE_SET = "should_not_be_set"

_rule_states: dict[str, tuple] = {}
# id of a lookup -> (the lookup, its size, the index, the rules always tried).
# The lookup itself is kept and compared, so a later one can never be taken
# for it.
_rule_indexes: dict[int, tuple] = {}
# Keyed by the policy itself, weakly: the entry goes with the policy, and a
# policy loaded later (a model reload) never sees an earlier one's entry.
_rule_lengths: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class RulePolicy(RasaRulePolicy):
    def __init__(self, *args, **kwargs) -> None:
        check_version()
        super().__init__(*args, **kwargs)

    def train(
        self,
        training_trackers: list[TrackerWithCachedStates],
        domain: Domain,
        **kwargs: Any,
    ) -> Resource:
        self.raise_if_incompatible_with_domain(self.config, domain)
        return super().train(training_trackers, domain, **kwargs)

    def _prediction_states(
        self, tracker, domain, use_text_for_last_user_input=False, rule_only_data=None
    ):
        return super()._prediction_states(
            tail_view(self, tracker),
            domain,
            use_text_for_last_user_input,
            rule_only_data,
        )

    def _get_possible_keys(self, lookup, states):
        """Rasa's ``_get_possible_keys``: the last turn is checked only
        against the rules that can match it, and the search stops once no
        rule is left or every rule left is shorter than the turns already
        checked (each of those matches whatever comes earlier)."""
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
                key
                for key in possible_keys
                if self._is_rule_applicable(key, i, turns[i])
            }
        return possible_keys

    def _is_rule_applicable(self, rule_key, turn_index, conversation_state) -> bool:
        """Rasa's ``_is_rule_applicable`` without re-reversing the rule's
        states on every call."""
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


def _reversed_rule_states(rule_key: str) -> tuple:
    states = _rule_states.get(rule_key)
    if states is None:
        states = _rule_states[rule_key] = tuple(reversed(json.loads(rule_key)))
    return states


def longest_rule(policy) -> int:
    """States in the longest rule or loop rule of this policy."""
    found = _rule_lengths.get(policy)
    if found is None:
        from rasa.core.policies.rule_policy import (
            RULES,
            RULES_FOR_LOOP_UNHAPPY_PATH,
        )

        keys = [
            *policy.lookup.get(RULES, {}),
            *policy.lookup.get(RULES_FOR_LOOP_UNHAPPY_PATH, {}),
        ]
        found = _rule_lengths[policy] = max(
            (len(_reversed_rule_states(k)) for k in keys), default=0
        )
    return found


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


def tail_view(policy, tracker):
    """``tracker`` as RulePolicy's states see it: its prior trackers are only
    the last turns, as many as the longest rule has (see above), so the
    states are the end of Rasa's list, which no rule reads past."""
    keep = longest_rule(policy) + 1
    view = copy.copy(tracker)
    view.generate_all_prior_trackers = lambda: _tail_of_prior_trackers(tracker, keep)
    return view


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


def _replayed_until(tracker, applied: list, cut: int):
    """A copy of ``tracker`` as it was before ``applied[cut]``.

    The replay is kept on the tracker and carried forward on the next call,
    so each event is replayed once. It is reused only when the event it
    stopped after is still at the same index: applied events only ever lose
    events (a reverted utterance, a restart, a form's repeated run), never
    gain them in the middle, so that event in place means nothing before it
    was removed and the whole prefix is the same."""
    kept = getattr(tracker, RULE_REPLAY, None)
    reusable = kept is not None and kept[0] <= cut
    if reusable:
        done, last, replay = kept
        reusable = done == 0 or (done <= len(applied) and applied[done - 1] is last)
    if not reusable:
        done, replay = 0, tracker.init_copy()
    for event_ in applied[done:cut]:
        replay.update(event_)
    setattr(tracker, RULE_REPLAY, (cut, applied[cut - 1] if cut else None, replay))
    return _snapshot(replay)


def _snapshot(replay):
    """A tracker in the replay's state that the tail can be played into:
    its own slot objects and loop, no events (states never read them)."""
    from collections import deque

    snapshot = copy.copy(replay)
    snapshot.events = deque()
    snapshot.slots = {name: copy.copy(slot) for name, slot in replay.slots.items()}
    snapshot.active_loop = copy.copy(replay.active_loop)
    return snapshot
