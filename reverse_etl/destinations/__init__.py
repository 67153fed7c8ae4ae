"""Destination configs and clients, keyed by the `type` used in sync YAML files."""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from reverse_etl.destinations.base import DestinationConfig
from reverse_etl.destinations.fcm import FcmConfig
from reverse_etl.destinations.file_export import FileExportConfig
from reverse_etl.destinations.google import GoogleConfig
from reverse_etl.destinations.klaviyo import KlaviyoConfig
from reverse_etl.destinations.meta import MetaConfig
from reverse_etl.destinations.webhook import WebhookConfig
from reverse_etl.destinations.zalo import ZaloConfig

AnyDestination = Annotated[
    MetaConfig | GoogleConfig | KlaviyoConfig | FcmConfig | ZaloConfig | WebhookConfig | FileExportConfig,
    Field(discriminator="type"),
]


def destination_types() -> set[str]:
    """The `type` of every destination (the discriminator values, left out of error locations)."""
    return {get_args(cls.model_fields["type"].annotation)[0] for cls in get_args(get_args(AnyDestination)[0])}


__all__ = [
    "AnyDestination",
    "DestinationConfig",
    "FcmConfig",
    "FileExportConfig",
    "GoogleConfig",
    "KlaviyoConfig",
    "MetaConfig",
    "WebhookConfig",
    "ZaloConfig",
    "destination_types",
]
