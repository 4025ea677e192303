"""The ``copy`` module as three Rasa modules see it (patches,
bot/rasa/extensions.py): no deep copy for a debug log line that is off.

Rasa deep-copies events, states and slots for its debug log lines even when
debug logging is off: 3 % of the server's CPU per message in our profile. In
the three modules that copy only for the log (tests/unit/test_speedups.py
checks that every ``copy.`` call there is an argument of a ``structlogger``
call), the copy is skipped unless their debug log is on.
"""

from __future__ import annotations

import copy
import logging


class _CopyForDebugLog:
    """The ``copy`` module as seen by Rasa modules that deep-copy only what
    they hand to ``structlogger.debug``: the copy is skipped when that
    module's debug log is off and the entry would be dropped anyway."""

    def __init__(self, module_name: str) -> None:
        self._logger = logging.getLogger(module_name)

    def deepcopy(self, value, memo=None):
        if self._logger.isEnabledFor(logging.DEBUG):
            return copy.deepcopy(value, memo)
        return value

    def __getattr__(self, name: str):
        return getattr(copy, name)


PROCESSOR_COPY = _CopyForDebugLog("rasa.core.processor")
MEMOIZATION_COPY = _CopyForDebugLog("rasa.core.policies.memoization")
RULE_POLICY_COPY = _CopyForDebugLog("rasa.core.policies.rule_policy")
