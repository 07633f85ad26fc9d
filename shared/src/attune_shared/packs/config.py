"""A pack's config with its secret values sealed.

The ``pack`` row holds the config with every value its schema marks ``secret: true`` shown as
``********`` (what anyone reading the row or the API sees), and the whole config encrypted in
``config_secrets``. The services that hand the config to actions, sensors and templates open it
with :func:`open_config`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pydantic_core

from attune_shared.errors import ConfigError
from attune_shared.masking import mask_secrets
from attune_shared.models import Pack
from attune_shared.secrets import SecretBox


class ConfigSealError(ConfigError):
    """A config with secret values, and no secret key to seal them with."""


def seal_config(
    config: Mapping[str, Any], schema: Mapping[str, Any], box: SecretBox | None, *, pack_ref: str
) -> tuple[dict[str, Any], str | None]:
    """``(config to store, config_secrets)``: the secret values masked and the whole config
    encrypted; ``(config, None)`` when it holds no secret value.

    :raises ConfigSealError: secret values and no ``box``.
    """
    masked: dict[str, Any] = mask_secrets(dict(config), schema)
    if masked == config:
        return dict(config), None
    if box is None:
        raise ConfigSealError(
            f"the config of pack {pack_ref} holds secrets: registering it needs the secret key"
        )
    return masked, box.encrypt(pydantic_core.to_json(config).decode())


def open_config(pack: Pack | None, box: SecretBox) -> dict[str, Any]:
    """The config of ``pack`` with its secret values in clear (``{}`` without a pack)."""
    if pack is None:
        return {}
    if pack.config_secrets is None:
        return pack.config
    config: dict[str, Any] = json.loads(box.decrypt(pack.config_secrets))
    return config


def opened(pack: Pack | None, box: SecretBox) -> Pack | None:
    """``pack`` with its config opened (see :func:`open_config`)."""
    if pack is None or pack.config_secrets is None:
        return pack
    return pack.model_copy(update={"config": open_config(pack, box)})
