"""A local Event Grid topic that records what the app publishes.

The app publishes outcome events with ``EventGridPublisherClient``; pointing
``MEDLAKE_OUTCOME_TOPIC_ENDPOINT`` at the dev host lets tests read them back.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

__all__ = ["MAX_EVENTS_PER_TOPIC", "TopicStore"]

# Bounded so a long `make demo` session cannot grow without limit; the oldest
# events are dropped first.
MAX_EVENTS_PER_TOPIC = 10_000


class TopicStore:
    """Events received per topic, oldest first, at most ``limit`` each."""

    def __init__(self, limit: int = MAX_EVENTS_PER_TOPIC) -> None:
        self.limit = limit
        self._topics: dict[str, deque[dict[str, Any]]] = {}

    def append(self, topic: str, events: Iterable[dict[str, Any]]) -> None:
        """Record a published batch."""
        queue = self._topics.setdefault(topic, deque(maxlen=self.limit))
        queue.extend(events)

    def events(self, topic: str) -> list[dict[str, Any]]:
        """Everything recorded for ``topic`` (empty for an unknown topic)."""
        return list(self._topics.get(topic, ()))

    def counts(self) -> dict[str, int]:
        """Number of recorded events per topic, for ``/runtime/status``."""
        return {topic: len(queue) for topic, queue in self._topics.items()}
