/// The schema, as an ordered list of migrations. Never edit a released migration; add a new one.
enum Migrations {
    struct Migration {
        let version: Int
        let statements: [String]
    }

    static let all: [Migration] = [
        Migration(
            version: 1,
            statements: [
                // Records: encrypted at rest with a per-record data key wrapped by the node's record key.
                """
                CREATE TABLE records (
                    category      text        NOT NULL,
                    record_id     text        NOT NULL,
                    publisher     text        NOT NULL,
                    record_key    bytea       NOT NULL UNIQUE,
                    citizen_key   bytea       NOT NULL,
                    record_hash   bytea       NOT NULL,
                    wrapped_key   bytea       NOT NULL,
                    ciphertext    bytea       NOT NULL,
                    dimensions    jsonb       NOT NULL,
                    anchor_tx     bytea       NOT NULL,
                    created_at    timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (category, record_id)
                )
                """,
                // Paillier ciphertexts of the category's aggregate fields.
                """
                CREATE TABLE record_aggregates (
                    category   text  NOT NULL,
                    record_id  text  NOT NULL,
                    field      text  NOT NULL,
                    ciphertext bytea NOT NULL,
                    PRIMARY KEY (category, field, record_id),
                    FOREIGN KEY (category, record_id) REFERENCES records (category, record_id) ON DELETE CASCADE
                )
                """,
                // Durable outbox of transactions not yet in a block: written in the same database transaction as the
                // data they anchor, so a crash never leaves data without its anchor on the way.
                """
                CREATE TABLE pending_transactions (
                    seq         bigserial   PRIMARY KEY,
                    tx_hash     bytea       NOT NULL UNIQUE,
                    body        bytea       NOT NULL,
                    enqueued_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                "CREATE SEQUENCE transaction_nonce",
                """
                CREATE TABLE blocks (
                    height       bigint      PRIMARY KEY,
                    hash         bytea       NOT NULL UNIQUE,
                    header       bytea       NOT NULL,
                    certificate  bytea       NOT NULL,
                    tx_count     integer     NOT NULL,
                    committed_at timestamptz NOT NULL DEFAULT now()
                )
                """,
                """
                CREATE TABLE transactions (
                    tx_hash  bytea    PRIMARY KEY,
                    height   bigint   NOT NULL REFERENCES blocks (height),
                    tx_index integer  NOT NULL,
                    kind     smallint NOT NULL,
                    body     bytea    NOT NULL,
                    UNIQUE (height, tx_index)
                )
                """,
                // Derived state, written in the same database transaction as the block that implies it.
                """
                CREATE TABLE anchored_records (
                    record_key  bytea  PRIMARY KEY,
                    record_hash bytea  NOT NULL,
                    height      bigint NOT NULL REFERENCES blocks (height),
                    tx_hash     bytea  NOT NULL
                )
                """,
                """
                CREATE TABLE access_events (
                    event_id     text     PRIMARY KEY,
                    height       bigint   NOT NULL REFERENCES blocks (height),
                    tx_hash      bytea    NOT NULL,
                    requester    text     NOT NULL,
                    action       text     NOT NULL,
                    category     text     NOT NULL,
                    purpose      text     NOT NULL,
                    decision     text     NOT NULL,
                    policies     text[]   NOT NULL,
                    record_count integer  NOT NULL,
                    bundle_hash  bytea    NOT NULL,
                    timestamp_ms bigint   NOT NULL
                )
                """,
                "CREATE INDEX access_events_height ON access_events (height, event_id)",
            ]),
        Migration(
            version: 2,
            statements: [
                // The consensus replica's safety state (one row) and the blocks it persisted before voting for them.
                """
                CREATE TABLE consensus_safety (
                    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                    state     bytea   NOT NULL
                )
                """,
                """
                CREATE TABLE consensus_blocks (
                    block_id bytea  PRIMARY KEY,
                    height   bigint NOT NULL,
                    body     bytea  NOT NULL
                )
                """,
                "CREATE INDEX consensus_blocks_height ON consensus_blocks (height)",
            ]),
        Migration(
            version: 3,
            statements: [
                // A committed block's consensus evidence (justify QC and timeout certificate), so that it can be served
                // to a peer that syncs and re-verified as a consensus block.
                "ALTER TABLE blocks ADD COLUMN evidence bytea NOT NULL DEFAULT '\\x'::bytea",
                // Transactions a block carries but the ledger skipped (a replay or a governance step the state no longer
                // allows): kept for the block's Merkle root, with no effect and no receipt.
                """
                CREATE TABLE skipped_transactions (
                    height   bigint  NOT NULL REFERENCES blocks (height),
                    tx_index integer NOT NULL,
                    body     bytea   NOT NULL,
                    reason   text    NOT NULL,
                    PRIMARY KEY (height, tx_index)
                )
                """,
            ]),
        Migration(
            version: 4,
            statements: [
                // Request nonces used within the freshness window, so that a restarted node still refuses a replay.
                """
                CREATE TABLE request_nonces (
                    department text   NOT NULL,
                    nonce      text   NOT NULL,
                    expires_s  bigint NOT NULL,
                    PRIMARY KEY (department, nonce)
                )
                """,
                "CREATE INDEX request_nonces_expiry ON request_nonces (expires_s)",
            ]),
        Migration(
            version: 5,
            statements: [
                // Epochs (validator-set generations): a safety state per epoch, so that a node that restarts behind an
                // epoch boundary it had crossed finds its old epoch's votes again; pending blocks tagged with their epoch;
                // and how each epoch ended, to bring lagging nodes over.
                "ALTER TABLE consensus_safety ADD COLUMN epoch bigint NOT NULL DEFAULT 0",
                "ALTER TABLE consensus_safety DROP CONSTRAINT consensus_safety_pkey",
                "ALTER TABLE consensus_safety DROP COLUMN singleton",
                "ALTER TABLE consensus_safety ADD PRIMARY KEY (epoch)",
                "ALTER TABLE consensus_blocks ADD COLUMN epoch bigint NOT NULL DEFAULT 0",
                "CREATE TABLE epoch_ends (epoch bigint PRIMARY KEY, body bytea NOT NULL)",
            ]),
        Migration(
            version: 6,
            statements: [
                // Why each block is committed (the certified child's header and certificate), for proofs that show a block
                // committed and not only certified. Empty for blocks stored before.
                "ALTER TABLE blocks ADD COLUMN commitment bytea NOT NULL DEFAULT '\\x'::bytea"
            ]),
        Migration(
            version: 7,
            statements: [
                // The role within the requesting department, and the grant a decision relied on ('' for none).
                "ALTER TABLE access_events ADD COLUMN role text NOT NULL DEFAULT ''",
                "ALTER TABLE access_events ADD COLUMN grant_id text NOT NULL DEFAULT ''",
            ]),
        Migration(
            version: 8,
            statements: [
                // How a record's anchor covers it: 1 (the content only, as stored before) or 2 (the content bound to its
                // dimensions and aggregate ciphertexts). New records are written with 2.
                "ALTER TABLE records ADD COLUMN anchor_version smallint NOT NULL DEFAULT 1"
            ]),
        Migration(
            version: 9,
            statements: [
                // Running encrypted sums (issue 14): per publish, per aggregate field and finest group (the record's
                // dimensions), the product of the new records' ciphertexts, how many records and how many citizens new
                // to the group it adds, tagged with the node's key. A statistic multiplies a group's rows: it touches
                // groups, not records.
                """
                CREATE TABLE aggregate_sums (
                    id         bigserial PRIMARY KEY,
                    category   text    NOT NULL,
                    field      text    NOT NULL,
                    group_key  text    NOT NULL,
                    ciphertext bytea   NOT NULL,
                    records    integer NOT NULL,
                    cohort     integer NOT NULL,
                    tag        bytea   NOT NULL
                )
                """,
                "CREATE INDEX aggregate_sums_by_field ON aggregate_sums (category, field)",
                // Which citizens each finest group has counted (salted citizen keys), so a citizen counts once.
                """
                CREATE TABLE aggregate_members (
                    category    text  NOT NULL,
                    group_key   text  NOT NULL,
                    citizen_key bytea NOT NULL,
                    PRIMARY KEY (category, group_key, citizen_key)
                )
                """,
                // Records stored before running sums existed are summed once, in Swift, at the next start.
                "CREATE TABLE aggregate_sums_backfill (done boolean PRIMARY KEY)",
                "INSERT INTO aggregate_sums_backfill SELECT true WHERE NOT EXISTS (SELECT 1 FROM record_aggregates)",
            ]),
        Migration(
            version: 10,
            statements: [
                // A database restored from a backup (`gateway restore`) is marked: its consensus safety state may be
                // older than votes the node cast before the backup was restored, so the node holds its votes until it
                // has seen the network pass them (ConsensusDriver), then clears the mark.
                "CREATE TABLE restore_marks (restored_at timestamptz PRIMARY KEY DEFAULT now(), note text NOT NULL)"
            ]),
        Migration(
            version: 11,
            statements: [
                // Derived from blocks: records their holder erased (salted key, erasure transaction). A read of one
                // answers 410 Gone naming the transaction; an audit sees the record as erased, not as missing.
                """
                CREATE TABLE erased_records (
                    record_key bytea  NOT NULL,
                    height     bigint NOT NULL REFERENCES blocks (height),
                    tx_hash    bytea  NOT NULL,
                    PRIMARY KEY (record_key, tx_hash)
                )
                """,
                "CREATE INDEX erased_records_by_height ON erased_records (height)",
            ]),
        Migration(
            version: 12,
            statements: [
                // Deferred visibility: when the citizens concerned may see an access (NULL: at once).
                "ALTER TABLE access_events ADD COLUMN disclose_at_ms bigint",
                // Derived from blocks: which access events concern which salted record key, so a citizen's accesses
                // are found by their records' keys without reading the whole log.
                """
                CREATE TABLE access_records (
                    record_key bytea  NOT NULL,
                    event_id   text   NOT NULL,
                    height     bigint NOT NULL REFERENCES blocks (height),
                    PRIMARY KEY (record_key, event_id)
                )
                """,
                "CREATE INDEX access_records_by_height ON access_records (height)",
                // Derived from blocks: a department's release of the deferral of accesses it made.
                """
                CREATE TABLE released_events (
                    event_id   text   NOT NULL,
                    department text   NOT NULL,
                    height     bigint NOT NULL REFERENCES blocks (height),
                    tx_hash    bytea  NOT NULL,
                    PRIMARY KEY (event_id, tx_hash)
                )
                """,
                "CREATE INDEX released_events_by_height ON released_events (height)",
                // Derived tables added to a node that already holds blocks are filled from them once, at the next
                // start, before the derived state is proven (ChainStore.completeBackfills).
                "CREATE TABLE derived_backfills (table_name text PRIMARY KEY)",
                "INSERT INTO derived_backfills (table_name) SELECT 'access_records' WHERE EXISTS (SELECT 1 FROM blocks)",
            ]),
        Migration(
            version: 13,
            statements: [
                // Views for analysts (README, "Auditing"): the access log with readable times, its denials, and daily
                // counts. Times outside what PostgreSQL's timestamp holds read as NULL (a view that errs on one hostile
                // row would stop every query).
                """
                CREATE VIEW audit_accesses AS
                SELECT e.event_id, e.height, encode(e.tx_hash, 'hex') AS transaction, e.requester AS department,
                       nullif(e.role, '') AS role, e.action, e.category, e.purpose, e.decision, e.policies, e.record_count,
                       CASE WHEN e.timestamp_ms BETWEEN 0 AND 253402300799999 THEN to_timestamp(e.timestamp_ms / 1000.0) END AS accessed_at,
                       CASE WHEN e.disclose_at_ms BETWEEN 0 AND 253402300799999 THEN to_timestamp(e.disclose_at_ms / 1000.0) END AS hidden_until,
                       (SELECT min(r.height) FROM released_events r WHERE r.event_id = e.event_id AND r.department = e.requester)
                           AS released_at_height,
                       encode(e.bundle_hash, 'hex') AS policy_bundle, nullif(e.grant_id, '') AS grant_id
                FROM access_events e
                """,
                "CREATE VIEW audit_denials AS SELECT * FROM audit_accesses WHERE decision = 'deny'",
                """
                CREATE VIEW audit_daily AS
                SELECT date_trunc('day', accessed_at) AS day, department, role, purpose, decision, count(*) AS accesses
                FROM audit_accesses GROUP BY 1, 2, 3, 4, 5
                """,
            ]),
        Migration(
            version: 14,
            statements: [
                // A key the chain may carry in two transactions is a row per transaction, never a conflict: a hostile
                // member's node that repeats another's event id or record key in a transaction of its own must not stop
                // every node from storing the block (a primary-key violation there is retried forever). Reads pin the
                // row they mean: a holder its own anchor transaction, an erasure only from the node that anchored.
                "ALTER TABLE anchored_records DROP CONSTRAINT anchored_records_pkey",
                "ALTER TABLE anchored_records ADD COLUMN submitter text NOT NULL DEFAULT ''",
                "ALTER TABLE anchored_records ADD PRIMARY KEY (record_key, tx_hash)",
                "ALTER TABLE erased_records ADD COLUMN submitter text NOT NULL DEFAULT ''",
                "ALTER TABLE access_events DROP CONSTRAINT access_events_pkey",
                "ALTER TABLE access_events ADD PRIMARY KEY (event_id, tx_hash)",
                "ALTER TABLE access_records ADD COLUMN tx_hash bytea NOT NULL DEFAULT '\\x'",
                "ALTER TABLE access_records DROP CONSTRAINT access_records_pkey",
                "ALTER TABLE access_records ADD PRIMARY KEY (record_key, event_id, tx_hash)",
                // The new columns are filled from the blocks at the next start, before the derived state is proven.
                """
                INSERT INTO derived_backfills (table_name)
                SELECT t FROM unnest(ARRAY['anchored_records', 'erased_records', 'access_records']) AS t
                WHERE EXISTS (SELECT 1 FROM blocks)
                ON CONFLICT DO NOTHING
                """,
            ]),
        Migration(
            version: 15,
            statements: [
                // A record's aggregate ciphertexts are looked up by (category, record_id) on every read and erasure
                // (and by the foreign key's cascade): the primary key leads with the field, so without this index each
                // lookup walked every ciphertext of the category.
                "CREATE INDEX record_aggregates_by_record ON record_aggregates (category, record_id, field)"
            ]),
    ]
}
