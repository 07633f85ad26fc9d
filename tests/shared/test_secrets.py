"""SecretBox: values stay readable through one rotation of the secret key."""

from __future__ import annotations

import pytest

from attune_shared.secrets import SecretBox, SecretDecryptError


def test_values_survive_exactly_one_rotation() -> None:
    old = SecretBox("secret-a").encrypt("v-123")
    rotated = SecretBox("secret-b", previous="secret-a")
    assert rotated.decrypt(old) == "v-123"
    new = rotated.encrypt("v-456")
    assert SecretBox("secret-b").decrypt(new) == "v-456"  # written under the current key
    with pytest.raises(SecretDecryptError):
        SecretBox("secret-a").decrypt(new)
    twice = SecretBox("secret-c", previous="secret-b")
    assert twice.decrypt(new) == "v-456"
    with pytest.raises(SecretDecryptError, match="another security.secret_key"):
        twice.decrypt(old)
