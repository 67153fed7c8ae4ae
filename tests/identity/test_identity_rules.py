"""Identity rules on hand-built graphs: shared laptops, cookies and kiosks never merge two people; duplicate
accounts still merge; junk found by behaviour; every cut audited (issue 19, item 4)."""

from __future__ import annotations

import duckdb
import pytest

from sen.identity import IdentityConfig, load_identity_config, resolve_identities
from tests.identity.conftest import T0, day, person_map, write_graph

C1, C2, C3 = ("customer_id", "C1"), ("customer_id", "C2"), ("customer_id", "C3")
E1, E2, E3 = ("email", "anh@shop.vn"), ("email", "binh@shop.vn"), ("email", "chi@shop.vn")
P1, P2, P3 = ("phone", "+84912000001"), ("phone", "+84912000002"), ("phone", "+84912000003")
LAPTOP = ("device_id", "laptop-1")
COOKIE = ("anonymous_id", "cookie-1")


def resolve(conn: duckdb.DuckDBPyConnection, config: IdentityConfig | None = None):
    return resolve_identities(conn, config or load_identity_config(), T0)


def cuts(conn: duckdb.DuckDBPyConnection, reason: str) -> list[tuple]:
    return conn.sql(
        "select identifier_type, identifier_value, degree, related_identifier_type, related_identifier_value "
        f"from identity.identity_cuts where reason = '{reason}' order by all"
    ).fetchall()


def persons_holding(people: dict, *identifiers) -> set[str]:
    return {people[i] for i in identifiers}


def test_laptop_of_two_account_holders_with_a_shared_cookie(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [[C1, E1, LAPTOP, COOKIE], [C2, E2, LAPTOP, COOKIE]], seen_at=[day(1), day(2)])
    resolve(conn)
    people = person_map(conn)
    assert people[C1] == people[E1] != people[C2] == people[E2]
    # Two accounts on one device: the degree limit (one customer id per device or cookie) gives it to no one.
    assert people[LAPTOP] not in {people[C1], people[C2]}
    assert people[COOKIE] not in {people[C1], people[C2]}


def test_couple_where_one_never_logs_in(conn: duckdb.DuckDBPyConnection) -> None:
    # He logs in on the laptop; she browses on it with her own cookie and checks out as a guest.
    her_cookie = ("anonymous_id", "cookie-her")
    write_graph(
        conn,
        [[C1, E1, LAPTOP, COOKIE], [LAPTOP, her_cookie], [E2, P2, her_cookie]],
        seen_at=[day(1), day(5), day(5)],
    )
    stats = resolve(conn)
    people = person_map(conn)
    assert people[C1] == people[E1] == people[LAPTOP] == people[COOKIE]
    assert people[E2] == people[P2] == people[her_cookie]
    assert people[C1] != people[E2]
    assert cuts(conn, "weak_identifier_shared") == [
        ("device_id", "laptop-1", 2, "anonymous_id", "cookie-her")
    ]
    assert stats.edges_cut_weak == 1


def test_laptop_of_three_people_stays_with_the_most_recent(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(
        conn, [[C1, E1, LAPTOP], [E2, P2, LAPTOP], [E3, P3, LAPTOP]], seen_at=[day(1), day(2), day(3)]
    )
    stats = resolve(conn)
    people = person_map(conn)
    assert len(persons_holding(people, C1, E2, E3)) == 3
    assert people[C1] == people[E1] and people[E2] == people[P2] and people[E3] == people[P3]
    assert people[LAPTOP] == people[E3]  # seen with her last
    [(t, v, persons, related_type, related_value)] = cuts(conn, "weak_identifier_shared")
    assert (t, v, persons) == ("device_id", "laptop-1", 3)
    assert people[(related_type, related_value)] == people[E3]
    assert stats.nodes_weak_shared == 1


def test_account_holder_and_a_guest(conn: duckdb.DuckDBPyConnection) -> None:
    records = [[C1, E1, LAPTOP, COOKIE], [E2, P2, LAPTOP, COOKIE]]
    write_graph(conn, records, seen_at=[day(1), day(3)])
    resolve(conn)
    people = person_map(conn)
    assert people[C1] == people[E1] != people[E2] == people[P2]
    assert people[LAPTOP] == people[COOKIE] == people[E2]  # the guest used it last
    assert {r[:3] for r in cuts(conn, "weak_identifier_shared")} == {
        ("anonymous_id", "cookie-1", 2),
        ("device_id", "laptop-1", 2),
    }


def test_account_holder_and_a_guest_attributed_to_no_one(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [[C1, E1, LAPTOP], [E2, P2, LAPTOP]], seen_at=[day(1), day(3)])
    config = load_identity_config().model_copy(deep=True)
    config.weak_identifiers.attribute_to = "none"
    resolve(conn, config)
    people = person_map(conn)
    assert len(persons_holding(people, C1, E2, LAPTOP)) == 3
    assert conn.sql(
        "select cut_reason from identity.identifier_person_map where identifier_value = 'laptop-1'"
    ).fetchall() == [("weak_identifier_shared",)]
    [(_, _, persons, related_type, _)] = cuts(conn, "weak_identifier_shared")
    assert persons == 2 and related_type is None


def test_two_guests_on_one_cookie(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [[E1, P1, COOKIE], [E2, P2, COOKIE]], seen_at=[day(1), day(2)])
    resolve(conn)
    people = person_map(conn)
    assert people[E1] == people[P1] != people[E2] == people[P2]


def test_a_guest_who_only_typed_an_email_joins_the_account_of_the_cookie(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    # The account has no email yet: one person (what identity resolution is for).
    write_graph(conn, [[C1, P1, COOKIE], [E1, COOKIE]], seen_at=[day(1), day(2)])
    resolve(conn)
    assert len(set(person_map(conn).values())) == 1


def test_low_traffic_kiosk_of_three_shoppers(conn: duckdb.DuckDBPyConnection) -> None:
    kiosk = ("device_id", "kiosk-7")
    write_graph(conn, [[C1, E1, kiosk], [E2, P2, kiosk], [E3, kiosk]], seen_at=[day(1), day(2), day(3)])
    config = load_identity_config().model_copy(deep=True)
    config.weak_identifiers.shared_by_persons = 3  # a shop that knows its kiosks see many people
    resolve(conn, config)
    people = person_map(conn)
    assert len(persons_holding(people, C1, E2, E3, kiosk)) == 4
    assert cuts(conn, "weak_identifier_shared") == [("device_id", "kiosk-7", 3, None, None)]


def test_busy_kiosk_is_cut_by_the_degree_limit(conn: duckdb.DuckDBPyConnection) -> None:
    kiosk = ("device_id", "kiosk-1")
    write_graph(conn, [[("customer_id", f"K{i}"), ("email", f"k{i}@shop.vn"), kiosk] for i in range(12)])
    resolve(conn)
    people = person_map(conn)
    assert len({people[("customer_id", f"K{i}")] for i in range(12)} | {people[kiosk]}) == 13


def test_two_accounts_of_one_person_joined_by_phone_merge(conn: duckdb.DuckDBPyConnection) -> None:
    # Duplicate CRM accounts sharing a phone: a strong identifier, so the weak-join limits do not apply.
    write_graph(conn, [[C1, E1, P1, LAPTOP], [C2, E2, P1, LAPTOP]], seen_at=[day(1), day(2)])
    config = load_identity_config().model_copy(deep=True)
    config.degree_limits["device_id"]["customer_id"] = 2
    stats = resolve(conn, config)
    people = person_map(conn)
    assert len(set(people.values())) == 1
    assert stats.nodes_weak_shared == 0


def test_two_emails_and_a_typo_on_one_device_stay_whole(conn: duckdb.DuckDBPyConnection) -> None:
    typo = ("email", "anh@shop.vnn")
    records = [[C1, E1, LAPTOP, COOKIE], [C1, E2, LAPTOP, COOKIE], [C1, typo, LAPTOP, COOKIE]]
    write_graph(conn, records, seen_at=[day(1), day(2), day(3)])
    stats = resolve(conn)
    people = person_map(conn)
    assert len(set(people.values())) == 1
    assert stats.nodes_degree_cut == 0 and stats.nodes_weak_shared == 0


def test_cookie_chain_between_two_people_is_cut(conn: duckdb.DuckDBPyConnection) -> None:
    # 120 cookie rotations with an account and its email at one end and another email at the other: a chain
    # that would give one person two emails through weak identifiers only is cut somewhere, and audited.
    chain = [("anonymous_id", f"r{i:04d}") for i in range(120)]
    records = [[chain[i], chain[i + 1]] for i in range(len(chain) - 1)]
    records += [[C1, E1, chain[0]], [chain[-1], E2]]
    write_graph(conn, records)
    stats = resolve(conn)
    people = person_map(conn)
    assert people[C1] == people[E1] == people[chain[0]]
    assert people[E2] == people[chain[-1]] != people[C1]
    assert stats.edges_cut_weak == 1
    assert len(cuts(conn, "weak_identifier_shared")) == 1


def test_value_shared_by_unrelated_accounts_is_junk(conn: duckdb.DuckDBPyConnection) -> None:
    # 'khongco@gmail.com'-like: three accounts typed it; nothing else relates them. Not on any blocklist.
    fake = ("email", "khongcomail@yahoo.com")
    write_graph(conn, [[C1, P1, fake], [C2, P2, fake], [C3, P3, fake]])
    stats = resolve(conn)
    people = person_map(conn)
    assert len(persons_holding(people, C1, C2, C3, fake)) == 4
    assert cuts(conn, "junk_by_behaviour") == [("email", "khongcomail@yahoo.com", 3, "customer_id", None)]
    assert stats.nodes_junk_cut == 1
    assert conn.sql(
        "select cut_reason from identity.identifier_person_map where identifier_value = 'khongcomail@yahoo.com'"
    ).fetchall() == [("junk_by_behaviour",)]


@pytest.mark.parametrize(
    "records",
    [[[C1, E1, P1], [C2, E1, P1], [C3, E1, P1]], [[C1, E1, P1], [C2, E1, P2]]],
    ids=["three accounts sharing email and phone", "two accounts sharing only the email"],
)
def test_duplicate_accounts_sharing_an_email_still_merge(conn: duckdb.DuckDBPyConnection, records) -> None:
    # Accounts of one person: related by their phone, or only two of them by the email.
    write_graph(conn, records)
    stats = resolve(conn)
    assert len(set(person_map(conn).values())) == 1
    assert stats.nodes_junk_cut == 0


def test_call_center_number_in_a_small_shop_is_junk(conn: duckdb.DuckDBPyConnection) -> None:
    hotline = ("phone", "+842873001234")  # a landline on the accounts of three unrelated customers
    write_graph(conn, [[C1, E1, hotline], [C2, E2, hotline], [C3, E3, hotline]])
    resolve(conn)
    people = person_map(conn)
    assert len(persons_holding(people, C1, C2, C3)) == 3
    assert [r[:3] for r in cuts(conn, "junk_by_behaviour")] == [("phone", "+842873001234", 3)]


def test_person_with_two_emails_still_takes_a_phone_through_a_cookie(conn: duckdb.DuckDBPyConnection) -> None:
    # Two emails joined by the account (strong); the phone typed on a form with the same cookie joins too.
    write_graph(conn, [[C1, E1], [C1, E2], [C1, COOKIE], [P1, COOKIE]])
    resolve(conn)
    assert len(set(person_map(conn).values())) == 1


def test_two_guests_with_only_an_email_each_on_one_device(conn: duckdb.DuckDBPyConnection) -> None:
    # No customer id and no phone on either side: the guest emails alone make them two persons.
    write_graph(conn, [[E1, LAPTOP], [E2, LAPTOP]], seen_at=[day(1), day(2)])
    resolve(conn)
    people = person_map(conn)
    assert people[E1] != people[E2]
    assert people[LAPTOP] == people[E2]  # seen with her last
    [(t, v, persons, _, related_value)] = cuts(conn, "weak_identifier_shared")
    assert (t, v, persons, related_value) == ("device_id", "laptop-1", 2, "binh@shop.vn")


def test_browser_push_token_of_a_household_member_is_not_the_account_holders(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    # He logs in on the household laptop's browser; she, who never logs in there, subscribes it to web push.
    her_token = ("push_token", "web-push-her")
    write_graph(conn, [[C1, E1, COOKIE], [COOKIE, her_token]], seen_at=[day(1), day(5)])
    stats = resolve(conn)
    people = person_map(conn)
    assert people[C1] == people[E1] == people[COOKIE]
    assert people[her_token] != people[C1]
    assert cuts(conn, "weak_pair_not_linked") == [
        ("push_token", "web-push-her", None, "anonymous_id", "cookie-1")
    ]
    assert stats.edges_cut_weak == 1


def test_app_push_token_joins_through_its_install(conn: duckdb.DuckDBPyConnection) -> None:
    # An app install: its device id, cookie and push token are seen together; the device logs in.
    phone_app = ("device_id", "app-install-1")
    token = ("push_token", "apns-1")
    write_graph(conn, [[phone_app, COOKIE, token], [C1, E1, phone_app]], seen_at=[day(1), day(2)])
    resolve(conn)
    people = person_map(conn)
    assert people[token] == people[phone_app] == people[COOKIE] == people[C1]
    # The unused cookie-token link changed nothing: not audited.
    assert cuts(conn, "weak_pair_not_linked") == []


def test_push_token_and_cookie_link_when_the_rule_is_off(conn: duckdb.DuckDBPyConnection) -> None:
    token = ("push_token", "web-push-1")
    write_graph(conn, [[C1, E1, COOKIE], [COOKIE, token]], seen_at=[day(1), day(5)])
    config = load_identity_config().model_copy(deep=True)
    config.weak_identifiers.not_linked = []
    resolve(conn, config)
    people = person_map(conn)
    assert people[token] == people[C1]


def test_not_linked_must_pair_weak_types() -> None:
    data = load_identity_config().model_dump()
    data["weak_identifiers"]["not_linked"] = [["push_token", "email"]]
    with pytest.raises(ValueError, match="not_linked must pair weak types"):
        IdentityConfig.model_validate(data)


def guests_apart() -> IdentityConfig:
    config = load_identity_config().model_copy(deep=True)
    config.weak_identifiers.guests_join_accounts = False
    return config


def test_a_guest_phone_before_an_account_on_the_cookie_joins_it_by_default(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    # Guest orders with a phone, later an account without a phone on the same cookie: the graph cannot tell
    # the account holder's own phone from a household member's, so by default it is the account holder's.
    write_graph(conn, [[P2, COOKIE], [C1, E1, COOKIE]], seen_at=[day(1), day(5)])
    resolve(conn)
    assert len(set(person_map(conn).values())) == 1


def test_guests_stay_apart_from_accounts_when_configured(conn: duckdb.DuckDBPyConnection) -> None:
    write_graph(conn, [[P2, COOKIE], [C1, E1, COOKIE]], seen_at=[day(1), day(5)])
    resolve(conn, guests_apart())
    people = person_map(conn)
    assert people[C1] == people[E1] == people[COOKIE] != people[P2]  # the cookie: the most recent person
    assert cuts(conn, "weak_identifier_shared") == [("anonymous_id", "cookie-1", 2, "customer_id", "C1")]


def test_guests_apart_still_joins_guest_records_to_an_account_through_a_strong_identifier(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    # A guest order with the account's own email and a new phone: the email joins them, not the cookie.
    write_graph(conn, [[C1, E1], [E1, P2, COOKIE], [C1, COOKIE]], seen_at=[day(1), day(2), day(3)])
    resolve(conn, guests_apart())
    assert len(set(person_map(conn).values())) == 1
    assert cuts(conn, "weak_identifier_shared") == []


def test_guests_apart_keeps_two_guest_records_of_one_cookie_together(conn: duckdb.DuckDBPyConnection) -> None:
    # No account on the cookie: an email on one guest order and a phone on the next still join (no conflict).
    write_graph(conn, [[E2, COOKIE], [P2, COOKIE]], seen_at=[day(1), day(2)])
    resolve(conn, guests_apart())
    assert len(set(person_map(conn).values())) == 1


def test_guests_apart_is_refused_on_spark_rather_than_ignored() -> None:
    from sen.identity.config import IdentityConfigError
    from sen.identity.spark import resolve_identities_spark

    with pytest.raises(IdentityConfigError, match="guests_join_accounts"):
        resolve_identities_spark(None, guests_apart())  # type: ignore[arg-type]


def test_guests_apart_sees_the_guest_a_blocked_value_used_to_tie_to_the_account(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    # 'test@test.com' typed on the account and on the guest order ties them before the blocklist cuts it: the
    # guest is still a guest, and the cookie alone may not join them.
    junk = ("email", "test@test.com")
    write_graph(
        conn, [[P2, COOKIE], [P2, junk], [C1, junk], [C1, COOKIE]], seen_at=[day(1), day(1), day(5), day(5)]
    )
    resolve(conn)
    assert len({person_map(conn)[i] for i in (C1, P2)}) == 1  # the default: joined through the cookie
    conn.execute("drop schema identity cascade")
    resolve(conn, guests_apart())
    people = person_map(conn)
    assert people[C1] == people[COOKIE] != people[P2]
