"""Rasa's ``DialogueStateTracker``: copies and applied events without
replaying the whole conversation (patches, bot/rasa/extensions.py).

Rasa copies a tracker by replaying every event into a new one, and works
out its applied events from the first event on every call; both grow with
the conversation. The copy here takes the state replaying would rebuild,
and the applied events are carried forward from the last call, folding in
only what was appended since, with Rasa's own rules
(tests/unit/test_long_conversations.py compares both with Rasa's on random
conversations).

Other modules keep what they worked out for a tracker on the tracker itself,
under the attribute names below, so that a copy must not share them.
"""

from __future__ import annotations

import copy
import itertools

# How many of the tracker's events the tracker store holds
# (bot/rasa/tracker_store.py).
STORED_EVENTS = "_clinic_stored_events"
# The replay behind the rule policy's states (bot/rasa/policies.py).
RULE_REPLAY = "_clinic_rule_replay"
# The applied events carried forward (below).
APPLIED = "_clinic_applied_events"
# Attributes of ours that a copy of a tracker must not share.
TRACKER_CACHES = (STORED_EVENTS, RULE_REPLAY, APPLIED)


def tracker_copy(self):
    """``DialogueStateTracker.copy`` without replaying every event: the
    state replaying would rebuild, copied (slots, loop and the latest action
    are the parts events change in place); like Rasa's copy, it starts
    without a model id, assistant id or sender source."""
    duplicate = copy.copy(self)
    for attribute in TRACKER_CACHES:
        vars(duplicate).pop(attribute, None)
    duplicate.events = self._create_events(list(self.events))
    duplicate.slots = {name: copy.copy(slot) for name, slot in self.slots.items()}
    duplicate.active_loop = copy.copy(self.active_loop)
    duplicate.latest_action = copy.copy(self.latest_action)
    duplicate.model_id = None
    duplicate.assistant_id = None
    duplicate.sender_source = None
    return duplicate


def applied_events(self) -> list:
    """``applied_events`` carried forward from the last call on the same
    tracker: only events appended since are folded in, with Rasa's own rules.
    Everything is recomputed when the events seen last are no longer in place
    or a new loop name appears (Rasa's rules look at all loop names)."""
    from rasa.shared.core.events import ActiveLoop

    events = self.events
    total = len(events)
    kept = getattr(self, APPLIED, None)
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
                    APPLIED,
                    (total, events[-1] if total else None, applied, loop_names),
                )
                return list(applied)
    loop_names = frozenset(
        e.name for e in events if isinstance(e, ActiveLoop) and e.name
    )
    applied: list = []
    _fold_applied(self, list(events), applied, loop_names)
    setattr(self, APPLIED, (total, events[-1] if total else None, applied, loop_names))
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
