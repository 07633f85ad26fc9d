"""Secrets at rest: stored keys and webhook secrets encrypted with Fernet (AES-128-CBC + HMAC-SHA256).

The Fernet key is derived from ``security.secret_key`` with HKDF-SHA256, so one configured secret
serves every purpose without reusing key material (bearer tokens derive their own key with
:func:`derive_key`). Ciphertexts made under ``security.previous_secret_key`` stay readable (one
rotation); under any other secret :meth:`SecretBox.decrypt` raises :class:`SecretDecryptError`.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from attune_shared.errors import AttuneError

if TYPE_CHECKING:
    from attune_shared.settings import SecuritySettings

#: What a secret looks like wherever a person or a log can see it.
MASK = "********"

#: HKDF ``info`` labels: one derived key per purpose.
SECRETS_PURPOSE = b"attune/secrets/v1"
TOKENS_PURPOSE = b"attune/tokens/v1"


class SecretDecryptError(AttuneError):
    """A ciphertext cannot be decrypted with the configured ``security.secret_key``."""


def derive_key(secret_key: SecretStr | str, purpose: bytes, length: int = 32) -> bytes:
    """``length`` bytes derived from the service secret for one ``purpose`` (HKDF-SHA256)."""
    raw = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose)
    return hkdf.derive(raw.encode())


class SecretBox:
    """Encrypts short strings (key values, webhook secrets) with the service secret; decrypts those
    made with it or with the ``previous`` one."""

    def __init__(self, secret_key: SecretStr | str, previous: SecretStr | str | None = None) -> None:
        keys = [secret_key] if previous is None else [secret_key, previous]
        fernets = [Fernet(base64.urlsafe_b64encode(derive_key(s, SECRETS_PURPOSE))) for s in keys]
        self._current = fernets[0]
        self._fernet = MultiFernet(fernets)

    @classmethod
    def of(cls, security: SecuritySettings) -> SecretBox:
        """The box of the settings' ``secret_key`` (and ``previous_secret_key`` while rotating)."""
        return cls(security.secret_key, previous=security.previous_secret_key)

    def encrypt(self, plaintext: str) -> str:
        """The ciphertext of ``plaintext`` (URL-safe base64 text; a new nonce each call)."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext of a value made by :meth:`encrypt` with the same or the previous secret.

        :raises SecretDecryptError: when the value was encrypted with another secret or is corrupt.
        """
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretDecryptError(
                "cannot decrypt a stored secret: it was encrypted with another security.secret_key or is corrupt"
            ) from exc

    def rotate(self, ciphertext: str) -> str | None:
        """``ciphertext`` encrypted again with the current secret, or ``None`` when it already is.

        :raises SecretDecryptError: when neither secret can decrypt it.
        """
        try:
            self._current.decrypt(ciphertext.encode())
            return None
        except (InvalidToken, ValueError):
            pass
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretDecryptError(
                "cannot re-encrypt a stored secret: neither security.secret_key nor "
                "security.previous_secret_key decrypts it"
            ) from exc
