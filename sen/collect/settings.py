"""The collector's settings live with every other setting in `sen/settings.py`; re-exported here."""

from sen.settings import SOURCE_NAME, CollectSettings, CollectSettingsError, parse_write_keys

__all__ = ["SOURCE_NAME", "CollectSettings", "CollectSettingsError", "parse_write_keys"]
