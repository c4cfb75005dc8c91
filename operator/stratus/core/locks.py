"""Locks by key, for work on one thing that must not run twice at once in this process:
Kopf runs change handlers, timers and other objects' events in separate threads. They are
re-entrant, so a step that holds one may call another step that takes it too."""

import threading
from collections import defaultdict

_guard = threading.Lock()
_locks: defaultdict[str, threading.RLock] = defaultdict(threading.RLock)


def lock_for(key: str) -> threading.RLock:
    with _guard:
        return _locks[key]
