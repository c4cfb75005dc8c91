"""A person's sign-in, kept in Starlette's signed session cookie (HttpOnly, SameSite=strict,
Secure outside loopback). The token inside it is encrypted as well (Fernet), so the cookie
never shows a credential to whatever logs or inspects it, and it expires with the session."""

import base64
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request

SESSION_SECONDS = 8 * 3600
"""A session ends after a working day, whatever the token's own lifetime."""


class Sessions:
    def __init__(self, secret: str) -> None:
        key = hashlib.sha256(b"stratus-console-token\0" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def sign_in(self, request: Request, token: str, person: dict[str, Any]) -> None:
        request.session.clear()
        request.session.update(
            {"token": self._fernet.encrypt(token.encode()).decode(), "person": person}
        )

    def token(self, request: Request) -> str | None:
        sealed = request.session.get("token")
        if not isinstance(sealed, str):
            return None
        try:
            return self._fernet.decrypt(sealed, ttl=SESSION_SECONDS).decode()
        except InvalidToken:
            return None

    def person(self, request: Request) -> dict[str, Any]:
        person = request.session.get("person")
        return person if isinstance(person, dict) else {"username": "", "groups": []}
