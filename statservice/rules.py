"""The disclosure rules page under the policy the service applies.

``disclosure.policy`` holds every release rule but imports none of our other packages, so it cannot
know the registers whose owners require a larger minimum cell count (the Danish Heart Failure
Registry's 10): the registry derives those from the table contract, and the service's policy is
``Policy.default()`` with them. ``python -m statservice.rules > docs/disclosure-rules.md`` writes the
published page from that policy; a test keeps the page current.
"""

from __future__ import annotations

from disclosure.policy import Policy
from disclosure.rules import render_rules
from queries.registry import register_thresholds


def service_policy() -> Policy:
    """The default policy with each register's stricter threshold, as the registry declares it."""
    default = Policy.default()
    return default.model_copy(update={"register_thresholds": register_thresholds(default.default_threshold)})


if __name__ == "__main__":
    print(render_rules(service_policy()), end="")
