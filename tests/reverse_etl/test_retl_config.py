"""Sync YAML files are validated on load, with errors naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reverse_etl.config import load_sync, load_syncs
from reverse_etl.errors import SyncConfigError

REPO_SYNCS = Path(__file__).resolve().parents[2] / "reverse_etl" / "syncs"

VALID = {
    "name": "meta_winback",
    "model": "audience_meta_winback",
    "primary_key": "person_id",
    "mode": "add_remove",
    "schedule": "0 3 * * *",
    "mapping": {"EMAIL": "email", "PHONE": {"column": "phone"}},
    "destination": {"type": "meta_custom_audiences", "audience_id": "123", "token_env": "META_TOKEN"},
}


def write(folder: Path, name: str, data: object) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def with_changes(**changes: object) -> dict:
    data = {**VALID, "destination": dict(VALID["destination"])}  # type: ignore[arg-type]
    for key, value in changes.items():
        if key.startswith("destination__"):
            data["destination"][key.split("__", 1)[1]] = value
        elif value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def test_valid_sync_loads(tmp_path: Path) -> None:
    sync = load_sync(write(tmp_path, "meta.yml", VALID))
    assert sync.name == "meta_winback"
    assert sync.destination.type == "meta_custom_audiences"
    assert sync.mapping["PHONE"].column == "phone"
    assert sync.field_rule("EMAIL").transform == "meta_email_sha256"
    assert sync.source_file.endswith("meta.yml")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"destination__audience_id": None}, "destination.audience_id: Field required"),
        ({"mode": "insert"}, "mode: 'insert' is not supported by destination type 'meta_custom_audiences'"),
        ({"mapping": {"EMAIL": "email", "SHOE_SIZE": "x"}}, "mapping.SHOE_SIZE: unknown field"),
        ({"mapping": {"FN": "first_name"}}, "mapping: needs at least one identifier"),
        ({"schedule": "every day"}, "schedule: 'every day' is not a valid cron string"),
        ({"name": "Bad Name"}, "name: must be lowercase"),
        ({"primary_key": None}, "primary_key: Field required"),
        ({"unexpected": 1}, "unexpected: Extra inputs are not permitted"),
        ({"mapping": {"EMAIL": {"column": "email", "transform": "text"}}}, "fixes its own transforms"),
        ({"destination__type": "carrier_pigeon"}, "destination"),
    ],
)
def test_errors_name_file_and_field(tmp_path: Path, changes: dict, expected: str) -> None:
    data = with_changes(**changes)
    if "destination__audience_id" in changes:
        data["destination"].pop("audience_id")
    path = write(tmp_path, "broken.yml", data)
    with pytest.raises(SyncConfigError) as err:
        load_sync(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_message_destination_requires_campaign(tmp_path: Path) -> None:
    data = {
        **VALID,
        "mode": "insert",
        "mapping": {"token": "push_token"},
        "destination": {"type": "fcm", "project_id": "p", "token_env": "FCM_TOKEN"},
    }
    with pytest.raises(SyncConfigError, match="campaign: required"):
        load_sync(write(tmp_path, "push.yml", data))
    data["campaign"] = "winback"
    data["destination"]["body_template"] = "Hi $name"
    with pytest.raises(SyncConfigError, match=r"templates use \['name'\]"):
        load_sync(write(tmp_path, "push.yml", data))


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("name: x\nmapping: [unclosed\n", encoding="utf-8")
    with pytest.raises(SyncConfigError, match=r"bad\.yml: line \d+ invalid YAML"):
        load_sync(path)


def test_folder_reports_every_bad_file_and_duplicate_names(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", VALID)
    write(tmp_path, "b.yml", VALID)
    write(tmp_path, "c.yml", with_changes(mode="nope"))
    with pytest.raises(SyncConfigError) as err:
        load_syncs(tmp_path)
    text = str(err.value)
    assert "b.yml: name: 'meta_winback' is already used" in text
    assert "c.yml: mode" in text


def test_repository_syncs_are_valid() -> None:
    syncs = load_syncs(REPO_SYNCS)
    assert {s.destination.type for s in syncs} >= {
        "meta_custom_audiences",
        "google_customer_match",
        "klaviyo",
        "fcm",
    }
    for sync in syncs:  # secrets are named, never inlined
        dumped = sync.model_dump_json()
        assert (
            "token_env" in dumped
            or "api_key_env" in dumped
            or "secret_env" in dumped
            or sync.destination.type == "file_export"
        )


@pytest.mark.parametrize(
    ("mode", "mapping", "destination", "campaign", "expected"),
    [
        (
            "insert",
            {"phone": "phone"},
            {"type": "zalo_zns", "token_env": "ZALO_TOKEN"},
            "winback",
            "destination.template_id: set it, or map `template_id` to a column",
        ),
        (
            "add_remove",
            {"phone_number": "phone"},
            {"type": "klaviyo", "list_id": "L", "api_key_env": "KLAVIYO_KEY"},
            None,
            "mapping.email: Klaviyo removal looks profiles up by email; map `email`",
        ),
        (
            "upsert",
            {"email": "email"},
            {"type": "file_export"},
            None,
            "destination.directory: set `directory` or `directory_env`",
        ),
    ],
)
def test_destination_rules_name_file_and_field(
    tmp_path: Path, mode: str, mapping: dict, destination: dict, campaign: str | None, expected: str
) -> None:
    """Rules a destination declares for the syncs using it (reverse_etl/destinations/<type>.py)."""
    data = {**VALID, "mode": mode, "mapping": mapping, "destination": destination}
    if campaign:
        data["campaign"] = campaign
    path = write(tmp_path, "dest.yml", data)
    with pytest.raises(SyncConfigError) as err:
        load_sync(path)
    assert str(err.value) == f"{path}: {expected}"
    # the same sync passes once the rule is met
    fixed = {
        "zalo_zns": {"mapping": {"phone": "phone", "template_id": "tpl"}},
        "klaviyo": {"mapping": {"email": "email"}},
        "file_export": {"destination": {**destination, "directory_env": "EXPORT_DIR"}},
    }[destination["type"]]
    assert load_sync(write(tmp_path, "dest.yml", {**data, **fixed})).name == VALID["name"]
