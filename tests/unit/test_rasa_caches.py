"""What bot/rasa/ remembers per Rasa object (a policy, a tracker store) is
never handed to another object, even one at the same address: a model
reload builds a new policy where the old one may have been."""

from __future__ import annotations

import gc
import json

from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH

from bot.rasa import extensions, policies
from bot.rasa import tracker_store as tracker_store_module


def policy_with_rules(*lengths: int):
    """Our RulePolicy holding one rule of each length (in states)."""
    policy = policies.RulePolicy.__new__(policies.RulePolicy)
    policy.lookup = {
        RULES: {
            json.dumps([{"prev_action": {"action_name": "action_listen"}}] * n): "x"
            for n in lengths
        },
        RULES_FOR_LOOP_UNHAPPY_PATH: {},
    }
    return policy


def test_a_policy_never_gets_the_longest_rule_of_another_with_its_id(monkeypatch):
    """Every object given the same id, as a new policy where a freed one was
    would be: each still gets its own rules' answer."""
    monkeypatch.setattr(policies, "id", lambda _obj: 1, raising=False)
    first, second = policy_with_rules(2), policy_with_rules(5, 3)
    assert policies.longest_rule(first) == 2
    assert policies.longest_rule(second) == 5
    assert policies.longest_rule(first) == 2


def test_a_policys_entry_goes_with_the_policy():
    gc.collect()
    before = len(policies._rule_lengths)
    first = policy_with_rules(4)
    assert policies.longest_rule(first) == 4
    assert len(policies._rule_lengths) == before + 1
    del first
    gc.collect()
    assert len(policies._rule_lengths) <= before
    assert policies.longest_rule(policy_with_rules(1)) == 1


async def test_a_store_never_gets_the_tracker_another_store_kept(tmp_path, monkeypatch):
    """Two stores on one database and one domain, given the same id: the
    second reads its own tracker, it is not handed the first's object."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    extensions.apply()
    monkeypatch.setattr(tracker_store_module, "id", lambda _obj: 1, raising=False)
    domain = Domain.from_yaml('version: "3.1"\nintents: [greet]\n')
    path = str(tmp_path / "t.db")
    first = tracker_store_module.SQLTrackerStore(domain, dialect="sqlite", db=path)
    second = tracker_store_module.SQLTrackerStore(domain, dialect="sqlite", db=path)
    tracker = DialogueStateTracker.from_events(
        "p",
        [
            ActionExecuted("action_listen"),
            UserUttered("hi", intent={"name": "greet", "confidence": 1.0}),
        ],
    )
    await first.save(tracker)
    assert await first.retrieve("p") is tracker
    read = await second.retrieve("p")
    assert read is not tracker
    assert [e.as_dict() for e in read.events] == [e.as_dict() for e in tracker.events]
    first.engine.dispose()
    second.engine.dispose()
