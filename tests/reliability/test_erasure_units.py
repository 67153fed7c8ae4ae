"""Issue 18, case 2 (erasure), the parts that need no pipeline: the suppression rule on raw rows, the load
filter, the salt, and rewriting kept files and the serving copy without the erased person."""

from __future__ import annotations

import duckdb
import pytest

from sen.contracts import load_contract
from sen.ingest.loader import ensure_raw_tables
from sen.privacy import DEVELOPMENT_SALT, ErasureError, erasure_salt, filter_load, scrub
from sen.privacy.suppression import SUPPRESSION_TABLE, add_hashes, apply_suppression, identifier_hash
from sen.settings import Settings

SALT = "unit-test-salt-0123456789"
CONTRACT = load_contract()


def _insert(conn: duckdb.DuckDBPyConnection, source: str, rows: list[dict], sha: str = "f1") -> None:
    ensure_raw_tables(conn, CONTRACT.sources[source])
    for line, row in enumerate(rows, start=1):
        columns = [*row, "_source_file", "_source_line", "_file_sha256", "_load_id", "_loaded_at"]
        values = [*row.values(), f"{source}.csv", line, sha, "load1", "2026-11-20T00:00:00Z"]
        conn.execute(
            f'insert into raw."{source}" ({", ".join(columns)}) values ({", ".join("?" for _ in values)})',
            values,
        )


@pytest.fixture
def conn():
    c = duckdb.connect()
    yield c
    c.close()


def test_the_erased_persons_rows_go_and_a_shared_phone_is_emptied_in_someone_elses_row(conn):
    _insert(
        conn,
        "pos_transactions",
        [
            # the erased person: loyalty card and phone
            {"transaction_id": "T1", "line_number": "1", "phone": "0901234567", "loyalty_card_id": "880011"},
            # the spouse: own card, the erased person's phone on the till
            {
                "transaction_id": "T2",
                "line_number": "1",
                "phone": "090 123 4567",
                "loyalty_card_id": "880022",
            },
            # a stranger
            {"transaction_id": "T3", "line_number": "1", "phone": "0907654321", "loyalty_card_id": "880033"},
        ],
    )
    add_hashes(conn, SALT, [("loyalty_card", "880011"), ("phone", "+84901234567")])
    result = apply_suppression(conn, "pos_transactions", SALT)
    rows = conn.execute(
        'select transaction_id, phone, loyalty_card_id from raw."pos_transactions" order by 1'
    ).fetchall()
    assert rows == [("T2", None, "880022"), ("T3", "0907654321", "880033")]
    assert (result.rows_deleted, result.rows_cleared) == (1, 1)


def test_child_rows_follow_their_erased_order(conn):
    _insert(
        conn,
        "orders",
        [
            {"order_id": "O1", "email": "lan@example.com", "total": "10"},
            {"order_id": "O2", "email": "binh@example.com", "total": "5"},
        ],
    )
    _insert(
        conn, "order_lines", [{"order_id": "O1", "line_number": "1"}, {"order_id": "O2", "line_number": "1"}]
    )
    add_hashes(conn, SALT, [("email", "lan@example.com"), ("record:orders", "O1")])
    apply_suppression(conn, "orders", SALT)
    apply_suppression(conn, "order_lines", SALT)
    assert conn.execute('select order_id from raw."orders"').fetchall() == [("O2",)]
    assert conn.execute('select order_id from raw."order_lines"').fetchall() == [("O2",)]


def test_the_load_filter_drops_a_reexported_erased_person_and_only_in_the_new_load(conn):
    _insert(
        conn,
        "crm_contacts",
        [{"customer_id": "C1", "email": "x@example.com", "first_name": "Keep"}],
        sha="old",
    )
    add_hashes(conn, SALT, [("customer_id", "C9")])
    _insert(
        conn,
        "crm_contacts",
        [
            {"customer_id": "c9", "email": "Lan@Example.com", "first_name": "Lan"},  # normalized: C9
            {"customer_id": "C2", "email": "binh@example.com", "first_name": "Binh"},
        ],
        sha="new",
    )
    dropped, cleared = filter_load(conn, "crm_contacts", ["new"], SALT)
    assert (dropped, cleared) == (1, 0)
    names = [n for (n,) in conn.execute('select first_name from raw."crm_contacts" order by 1').fetchall()]
    assert names == ["Binh", "Keep"]
    logged = conn.execute("select table_name, rows_deleted from raw._erasure_log").fetchall()
    assert logged == [("raw.crm_contacts", 1)]


def test_erasure_requests_are_never_filtered_at_load(conn):
    _insert(conn, "erasure_requests", [{"request_id": "R1", "email": "lan@example.com"}], sha="req")
    add_hashes(conn, SALT, [("email", "lan@example.com")])
    assert filter_load(conn, "erasure_requests", ["req"], SALT) == (0, 0)


def test_the_suppression_list_holds_salted_hashes_only(conn):
    add_hashes(conn, SALT, [("email", "lan@example.com")])
    stored = conn.execute(f"select * from {SUPPRESSION_TABLE}").fetchall()
    text = repr(stored)
    assert "lan@example.com" not in text and SALT not in text
    assert stored[0][1] == identifier_hash(SALT, "email", "lan@example.com")
    assert stored[0][1] != identifier_hash("another-salt-0123456789", "email", "lan@example.com")


def test_a_load_with_suppressions_but_no_salt_is_loud(conn):
    _insert(conn, "crm_contacts", [{"customer_id": "C1"}], sha="new")
    add_hashes(conn, SALT, [("customer_id", "C9")])
    with pytest.raises(ErasureError, match="CDP_ERASURE_SALT"):
        filter_load(conn, "crm_contacts", ["new"], None)


def test_salt_setting():
    assert Settings.from_env({"CDP_ERASURE_SALT": "s" * 32}).erasure_salt == "s" * 32
    assert "s" * 32 not in repr(Settings.from_env({"CDP_ERASURE_SALT": "s" * 32}))
    with pytest.raises(ValueError, match="CDP_ERASURE_SALT"):
        Settings.from_env({"CDP_ERASURE_SALT": "short"})
    # production (automation on) without a salt refuses; a laptop gets the public salt and a warning
    with pytest.raises(ErasureError, match="CDP_ERASURE_SALT"):
        erasure_salt(Settings.from_env({"CDP_AUTOMATION": "on"}))
    salt, warning = erasure_salt(Settings.from_env({}))
    assert salt == DEVELOPMENT_SALT and warning and "CDP_ERASURE_SALT" in warning


def test_files_and_the_serving_copy_are_rewritten_without_the_person(tmp_path):
    conn = duckdb.connect()
    scrub.load_tokens(conn, ["p-erased"], ["lan@example.com"])
    csv_file = tmp_path / "exports" / "a.csv"
    csv_file.parent.mkdir()
    csv_file.write_text(
        "person_id,email,_sen_op\np-erased,lan@example.com,remove\np-other,binh@example.com,add\n"
    )
    parquet = tmp_path / "exports" / "b.parquet"
    conn.execute(
        f"copy (select * from (values ('p-erased', 'x'), ('p-other', 'lan@example.com')) t(person_id, note)) "
        f"to '{parquet}' (format parquet)"
    )
    changed = scrub.scrub_files(conn, [tmp_path / "exports"])
    assert set(changed) == {str(csv_file), str(parquet)}
    assert "lan@example.com" not in csv_file.read_text() and "p-erased" not in csv_file.read_text()
    assert conn.execute(f"select * from read_parquet('{parquet}')").fetchall() == [("p-other", None)]

    serving = tmp_path / "serving.duckdb"
    db = duckdb.connect(str(serving))
    db.execute("create schema marts")
    db.execute(
        "create table marts.customers as select * from (values ('p-erased', 'Lan'), ('p-other', 'Binh')) t(person_id, name)"
    )
    db.close()
    assert scrub.scrub_duckdb_copy(conn, serving) == 1
    db = duckdb.connect(str(serving), read_only=True)
    assert db.execute("select * from marts.customers").fetchall() == [("p-other", "Binh")]
    db.close()
    assert not list(tmp_path.glob("*.erasure-tmp"))


def test_process_erasures_on_a_small_warehouse(tmp_path):
    """The whole step on hand-made tables: raw, identity, marts and sync lose the person; someone else keeps
    everything; the request keeps only its id; a second run has nothing to do."""
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    _insert(conn, "erasure_requests", [{"request_id": "R1", "email": "Lan@Example.com", "requested_at": "x"}])
    _insert(
        conn,
        "crm_contacts",
        [
            {"customer_id": "C1", "email": "lan@example.com", "first_name": "Lan", "last_name": "Tran"},
            {"customer_id": "C2", "email": "binh@example.com", "first_name": "Binh", "last_name": "Le"},
        ],
    )
    _insert(
        conn, "orders", [{"order_id": "O1", "customer_id": "C1"}, {"order_id": "O2", "customer_id": "C2"}]
    )
    _insert(
        conn, "order_lines", [{"order_id": "O1", "line_number": "1"}, {"order_id": "O2", "line_number": "1"}]
    )
    for statement in [
        "create schema identity",
        "create schema intermediate",
        "create schema marts",
        "create schema sync",
        """create table identity.identifier_person_map as select * from (values
            ('customer_id', 'C1', 'pA', null), ('email', 'lan@example.com', 'pA', null),
            ('customer_id', 'C2', 'pB', null), ('email', 'binh@example.com', 'pB', null))
            t(identifier_type, identifier_value, person_id, cut_reason)""",
        "create table identity.persons as select * from (values (0, 'pA'), (1, 'pB')) t(person_key, person_id)",
        """create table identity.person_id_history as select * from (values ('pA', 'created', null),
            ('pB', 'created', null)) t(person_id, event, related_person_id)""",
        "create table intermediate.int_erased_persons as select 'pA' as person_id",
        """create table intermediate.int_record_persons as select * from (values ('crm', 'C1', 'pA'),
            ('orders', 'O1', 'pA'), ('crm', 'C2', 'pB'), ('orders', 'O2', 'pB'), ('erasure', 'R1', 'pA'))
            t(record_source, record_id, person_id)""",
        """create table marts.customers as select * from (values ('pA', 'Lan', 'lan@example.com'),
            ('pB', 'Binh', 'binh@example.com')) t(person_id, first_name, email)""",
        """create table sync.dry_run_plans as select * from (values ('r', 's', 'pA', 'remove', null),
            ('r', 's', 'pB', 'add', null)) t(run_id, sync_name, primary_key, operation, reject_reason)""",
        """create table sync."state__meta" as select * from (values ('pA', 'pA')) t(__pk, __person_id)""",
    ]:
        conn.execute(statement)
    from sen.privacy import pending_requests, process_erasures

    report = process_erasures(conn, SALT, serving_path=tmp_path / "serving.duckdb")
    assert report.requests == ["R1"] and report.persons == 1
    assert conn.execute('select customer_id from raw."crm_contacts"').fetchall() == [("C2",)]
    assert conn.execute('select order_id from raw."orders"').fetchall() == [("O2",)]
    assert conn.execute('select order_id from raw."order_lines"').fetchall() == [("O2",)]
    assert conn.execute("select person_id from marts.customers").fetchall() == [("pB",)]
    assert conn.execute("select primary_key from sync.dry_run_plans").fetchall() == [("pB",)]
    assert conn.execute("select person_id from identity.person_id_history").fetchall() == [("pB",)]
    persons = conn.execute("select person_key, person_id from identity.persons order by 1").fetchall()
    assert persons[0][0] == 0 and persons[0][1].startswith("erased-") and persons[1] == (1, "pB")
    assert conn.execute("select identifier_value from identity.identifier_person_map").fetchall() == [
        ("C2",),
        ("binh@example.com",),
    ]
    # kept on purpose until a sending run removes the person from the destination, and said so
    assert report.pending_destination == {"sync.state__meta": 1} and report.warnings
    assert conn.execute('select request_id, email from raw."erasure_requests"').fetchall() == [("R1", None)]
    assert pending_requests(conn) == []
    assert process_erasures(conn, SALT).requests == []
    conn.close()


def test_a_referral_pointing_at_the_erased_person_is_emptied_not_deleted(conn):
    _insert(
        conn,
        "crm_contacts",
        [
            {"customer_id": "C9", "email": "lan@example.com"},
            {"customer_id": "C2", "email": "binh@example.com", "referred_by_customer_id": "C9"},
        ],
    )
    _insert(conn, "support_tickets", [{"ticket_id": "K1", "customer_id": "C2", "order_id": "O9"}])
    add_hashes(conn, SALT, [("customer_id", "C9"), ("record:orders", "O9")])
    apply_suppression(conn, "crm_contacts", SALT)
    apply_suppression(conn, "support_tickets", SALT)
    assert conn.execute('select customer_id, referred_by_customer_id from raw."crm_contacts"').fetchall() == [
        ("C2", None)
    ]
    assert conn.execute('select ticket_id, order_id from raw."support_tickets"').fetchall() == [("K1", None)]


def test_compacting_leaves_no_deleted_value_in_the_file(tmp_path):
    path = tmp_path / "sen.duckdb"
    db = duckdb.connect(str(path))
    db.execute("create schema marts")
    db.execute(
        "create table marts.customers as select 'p' || i as person_id, 'person' || i || '@example.com' as email "
        "from range(5000) t(i)"
    )
    db.execute("create view marts.v as select * from marts.customers")
    db.execute("checkpoint")
    db.execute("delete from marts.customers where person_id = 'p4321'")
    db.close()
    assert b"person4321@example.com" in path.read_bytes()  # DuckDB does not zero freed blocks
    scrub.compact_database(path)
    assert b"person4321@example.com" not in path.read_bytes()
    db = duckdb.connect(str(path), read_only=True)
    assert db.execute("select count(*) from marts.v").fetchall() == [(4999,)]
    db.close()


def test_the_ingestion_asset_keeps_an_erased_person_out_of_a_new_export(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.assets.ingestion import ingestion_assets
    from orchestration.resources import Warehouse

    data = tmp_path / "data" / "crm_contacts"
    data.mkdir(parents=True)
    columns = CONTRACT.sources["crm_contacts"].column_names
    rows = [
        {"customer_id": "C9", "email": "lan@example.com", "first_name": "Lan", "created_at": "2026-01-01"},
        {"customer_id": "C2", "email": "binh@example.com", "first_name": "Binh", "created_at": "2026-01-01"},
    ]
    lines = [",".join(columns)] + [",".join(r.get(c, "") for c in columns) for r in rows]
    (data / "crm.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    warehouse = tmp_path / "w.duckdb"
    conn = duckdb.connect(str(warehouse))
    add_hashes(conn, SALT, [("customer_id", "C9")])
    conn.close()
    monkeypatch.setenv("CDP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CDP_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("CDP_ERASURE_SALT", SALT)
    asset = next(a for a in ingestion_assets if a.key == dg.AssetKey(["raw", "crm_contacts"]))
    result = dg.materialize([asset], resources={"warehouse": Warehouse(path=str(warehouse))})
    assert result.success
    metadata = result.asset_materializations_for_node(asset.op.name)[0].metadata
    assert metadata["rows_erased"].value == 1
    conn = duckdb.connect(str(warehouse), read_only=True)
    assert conn.execute('select first_name from raw."crm_contacts"').fetchall() == [("Binh",)]
    conn.close()
