"""Failure families a handler turns into a Ready=False condition, an Event and a retry."""


class StratusError(Exception):
    """A failure with a machine-readable reason and a message for people."""

    retry_after: float | None = None
    """Seconds until a retry may help; None: wait for the user or the cluster to change."""
    phase: str | None = None
    """The phase this failure puts the object in; None: the handler's own default."""
    backoff_limit: float | None = None
    """When set, the delay doubles with each retry in a row, up to this many seconds."""
    condition: str | None = None
    """The condition (beside Ready) of the phase this failure stops, set False with it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def delay(self, retry: int) -> float | None:
        """Seconds until the retry that follows `retry` failed ones in a row."""
        if self.retry_after is None or self.backoff_limit is None:
            return self.retry_after
        return min(self.retry_after * (1 << min(retry, 32)), self.backoff_limit)


class DependencyNotReady(StratusError):
    """Something this object needs is missing or not usable yet. A change to it wakes this
    object at once (handlers.children.dependency_event); the retry is only a safety net."""

    retry_after = 60.0


class BackendUnavailable(StratusError):
    """The cluster or an external system cannot do what is asked right now."""

    retry_after = 30.0


class Conflict(StratusError):
    """What the user asked for collides with something another owner holds."""

    phase = "Error"


class WaitingForContents(StratusError):
    """Deletion is held back until the object's contents are gone."""

    retry_after = 10.0


class WaitingForEvent(WaitingForContents):
    """Deletion waits for something whose own events (a child gone, an attachment or a copy
    ended, a member left) run the deletion again at once; the delay is only a safety net."""

    retry_after = 600.0


class InvalidInput(StratusError):
    """The spec passed the API server's checks but is still unusable; the user must fix it."""

    phase = "Error"


class NotVisible(StratusError):
    """The object exists but this Project may not use it; its owner may share it later."""

    retry_after = 120.0
    phase = "Error"
