"""Rasa's RulePolicy with the same predictions, much less work per turn.

Named ``RulePolicy`` because parts of Rasa recognise the rule policy by its
class name; ``config.yml`` names it ``bot.rasa.policies.RulePolicy``, Rasa's
extension point for policies. What each change saves is measured in
bot/rasa/speedups.py; tests/unit/test_speedups.py checks the predictions against
Rasa's own class.

- The last turn is checked only against the rules indexed under its previous
  action and intent, and the search stops once no rule is left or every
  rule left is shorter than the turns already checked.
- A rule's states are reversed once, not on every check.
- The dialogue states are built only for the turns the longest rule reaches.
"""

from __future__ import annotations

import warnings
from typing import Any

from rasa.core.policies.rule_policy import RulePolicy as RasaRulePolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates

from bot.rasa import speedups

# Rasa's recipe validator looks for its own class (``node.uses == RulePolicy``),
# not a subclass: it would warn that no rule policy is configured, wrongly
# (the default rules live in the class, which this one inherits), and skip its
# check of the fallback action against the domain, which ``train`` runs here.
warnings.filterwarnings(
    "ignore",
    message="'RulePolicy' is not included in the model's policy configuration",
    category=UserWarning,
)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class RulePolicy(RasaRulePolicy):
    _get_possible_keys = speedups._get_possible_keys
    _is_rule_applicable = speedups._is_rule_applicable

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
            speedups.tail_view(self, tracker),
            domain,
            use_text_for_last_user_input,
            rule_only_data,
        )
