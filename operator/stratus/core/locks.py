"""Locks by key, for work on one thing that must not run twice at once in this process:
Kopf runs change handlers, timers and other objects' events in separate threads."""

import threading
from collections import defaultdict

_guard = threading.Lock()
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def lock_for(key: str) -> threading.Lock:
    with _guard:
        return _locks[key]
