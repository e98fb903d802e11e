import GatewayChain
import GatewayCrypto
import Logging
import NIOCore
import PostgresNIO

/// An encrypted record as stored: nothing in it is readable without the node's record key.
package struct StoredRecord: Sendable, Equatable {
    package let category: String
    package let recordID: String
    package let publisher: String
    package let recordKey: [UInt8]
    package let citizenKey: [UInt8]
    package let recordHash: [UInt8]
    package let wrappedKey: [UInt8]
    package let ciphertext: [UInt8]
    /// Canonical JSON of the coarse dimensions statistics may group by.
    package let dimensionsJSON: String
    /// Paillier ciphertexts of the aggregate fields, by field name.
    package let aggregates: [String: [UInt8]]
    /// How the anchored hash covers the record: 1, the content only (records published before aggregate inputs were
    /// bound); 2, the content, the dimensions and every aggregate ciphertext.
    package var anchorVersion: Int = StoredRecord.anchorVersionCurrent
    /// The hash anchored on chain for it (when read back; nil if it was never anchored).
    package var anchoredHash: [UInt8]? = nil

    package static let anchorVersionCurrent = 2

    package init(
        category: String, recordID: String, publisher: String, recordKey: [UInt8], citizenKey: [UInt8], recordHash: [UInt8],
        wrappedKey: [UInt8], ciphertext: [UInt8], dimensionsJSON: String, aggregates: [String: [UInt8]]
    ) {
        self.category = category
        self.recordID = recordID
        self.publisher = publisher
        self.recordKey = recordKey
        self.citizenKey = citizenKey
        self.recordHash = recordHash
        self.wrappedKey = wrappedKey
        self.ciphertext = ciphertext
        self.dimensionsJSON = dimensionsJSON
        self.aggregates = aggregates
    }
}

/// One row for an aggregate: the group's dimensions, whose citizen it is, and the encrypted value.
package struct AggregateRow: Sendable {
    package let recordKey: [UInt8]
    /// The content hash kept with the record (anchored together with the inputs below).
    package let recordHash: [UInt8]
    package let dimensionsJSON: String
    package let citizenKey: [UInt8]
    /// The requested field's ciphertext.
    package let ciphertext: [UInt8]
    /// Every aggregate ciphertext of the record, by field (the anchor covers them all).
    package let aggregates: [String: [UInt8]]
    package let anchorVersion: Int
    package let anchoredHash: [UInt8]?
    package let anchoredHeight: UInt64?

    package init(
        recordKey: [UInt8], recordHash: [UInt8], dimensionsJSON: String, citizenKey: [UInt8], ciphertext: [UInt8],
        aggregates: [String: [UInt8]], anchorVersion: Int, anchoredHash: [UInt8]?, anchoredHeight: UInt64?
    ) {
        self.recordKey = recordKey
        self.recordHash = recordHash
        self.dimensionsJSON = dimensionsJSON
        self.citizenKey = citizenKey
        self.ciphertext = ciphertext
        self.aggregates = aggregates
        self.anchorVersion = anchorVersion
        self.anchoredHash = anchoredHash
        self.anchoredHeight = anchoredHeight
    }
}

/// Records, stored and anchored atomically.
package struct RecordStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    /// The outcome of a publish: the anchor transaction to wait for, and how many records were new.
    package struct PublishOutcome: Sendable {
        /// Hashes of the anchor transactions covering the batch (the new one, and those of identical re-publishes).
        package let anchorTransactions: [[UInt8]]
        package let inserted: Int
        package let alreadyPresent: Int
        /// The anchor transaction this call wrote to the outbox, if it stored anything.
        package var newAnchor: Transaction? = nil

        package init(anchorTransactions: [[UInt8]], inserted: Int, alreadyPresent: Int, newAnchor: Transaction? = nil) {
            self.anchorTransactions = anchorTransactions
            self.inserted = inserted
            self.alreadyPresent = alreadyPresent
            self.newAnchor = newAnchor
        }
    }

    /// Stores a batch and its anchor transaction in one database transaction: all of it, or none of it.
    ///
    /// A record already present with the same hash is an idempotent re-publish; one present with a different hash
    /// is a conflict and rolls back the whole batch. `makeAnchor` receives the records actually inserted and returns
    /// the signed anchor transaction, which goes into the pending outbox in the same database transaction.
    package func publish(
        _ records: [StoredRecord], sums: RunningSumsWriter? = nil,
        makeAnchor: @Sendable ([StoredRecord], UInt64) throws -> (transaction: Transaction, hash: [UInt8])
    ) async throws -> PublishOutcome {
        precondition(!records.isEmpty, "publish needs at least one record")
        // Two concurrent publishes of one id both find it absent, and the second insert hits the unique key. Its
        // transaction rolled back whole; run it again, and it sees the committed row: an idempotent re-publish, or a
        // conflict (409). A unique-key violation is never an error of its own.
        for attempt in 1...Self.publishAttemptsMax {
            do {
                return try await publishOnce(records, sums: sums, makeAnchor: makeAnchor)
            } catch let error as StoreError where error.code == .uniqueViolation && attempt < Self.publishAttemptsMax {
                continue
            }
        }
        preconditionFailure("the last attempt returns or throws")
    }

    static let publishAttemptsMax = 4

    func publishOnce(
        _ records: [StoredRecord], sums: RunningSumsWriter?,
        makeAnchor: @Sendable ([StoredRecord], UInt64) throws -> (transaction: Transaction, hash: [UInt8])
    ) async throws -> PublishOutcome {
        let logger = database.logger
        return try await database.transaction { connection in
            let category = records[0].category
            let ids = records.map(\.recordID)
            var existing: [String: (hash: [UInt8], anchor: [UInt8])] = [:]
            let rows = try await connection.query(
                "SELECT record_id, record_hash, anchor_tx FROM records WHERE category = \(category) AND record_id = ANY(\(ids))",
                logger: logger
            )
            for try await (id, hash, anchor) in rows.decode((String, ByteBuffer, ByteBuffer).self) {
                existing[id] = (hash.bytes, anchor.bytes)
            }
            var fresh: [StoredRecord] = []
            var anchors: [[UInt8]] = []
            for record in records {
                if let present = existing[record.recordID] {
                    guard present.hash == record.recordHash else {
                        throw StoreError(.conflict, "record \(record.recordID) already exists with different contents")
                    }
                    if !anchors.contains(present.anchor) { anchors.append(present.anchor) }
                } else {
                    fresh.append(record)
                }
            }
            guard !fresh.isEmpty else {
                return PublishOutcome(anchorTransactions: anchors, inserted: 0, alreadyPresent: records.count)
            }
            // A record anchored before but absent now was erased (its erasure may still be on its way to a block): an
            // erased id is not published again, and a second anchor of its key would not fit the chain's tables.
            let gone = try await connection.query(
                "SELECT count(*)::bigint FROM anchored_records WHERE record_key = ANY(\(fresh.map { ByteBuffer($0.recordKey) }))", logger: logger)
            for try await count in gone.decode(Int64.self) where count > 0 {
                throw StoreError(
                    .conflict, "\(count) of these records were erased by their holder; an erased record is not published again under its id")
            }
            let nonce = try await Self.nextNonce(connection, logger: logger)
            let anchor = try makeAnchor(fresh, nonce)
            let anchorHash = ByteBuffer(anchor.hash)
            try await connection.query(
                """
                INSERT INTO records (category, record_id, publisher, record_key, citizen_key, record_hash, wrapped_key, ciphertext,
                                     dimensions, anchor_tx, anchor_version)
                SELECT c, i, p, rk, ck, rh, wk, ct, d::jsonb, \(anchorHash), \(StoredRecord.anchorVersionCurrent)
                FROM unnest(\(fresh.map(\.category)), \(fresh.map(\.recordID)), \(fresh.map(\.publisher)),
                            \(fresh.map { ByteBuffer($0.recordKey) }), \(fresh.map { ByteBuffer($0.citizenKey) }),
                            \(fresh.map { ByteBuffer($0.recordHash) }), \(fresh.map { ByteBuffer($0.wrappedKey) }),
                            \(fresh.map { ByteBuffer($0.ciphertext) }), \(fresh.map(\.dimensionsJSON)))
                     AS t(c, i, p, rk, ck, rh, wk, ct, d)
                """,
                logger: logger
            )
            var aggregateIDs: [String] = []
            var aggregateFields: [String] = []
            var aggregateValues: [ByteBuffer] = []
            for record in fresh {
                for field in record.aggregates.keys.sorted() {
                    aggregateIDs.append(record.recordID)
                    aggregateFields.append(field)
                    aggregateValues.append(ByteBuffer(record.aggregates[field]!))
                }
            }
            if !aggregateIDs.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO record_aggregates (category, record_id, field, ciphertext)
                    SELECT \(category), i, f, v FROM unnest(\(aggregateIDs), \(aggregateFields), \(aggregateValues)) AS t(i, f, v)
                    """,
                    logger: logger
                )
            }
            if let sums { try await Self.addRunningSums(fresh, writer: sums, on: connection, logger: logger) }
            try await ChainStore.enqueue(anchor.transaction, hash: anchor.hash, on: connection, logger: logger)
            anchors.append(anchor.hash)
            return PublishOutcome(
                anchorTransactions: anchors, inserted: fresh.count, alreadyPresent: records.count - fresh.count, newAnchor: anchor.transaction
            )
        }
    }

    /// SQL true when the chain erased the record row `r`: an erasure of its key submitted by the node that submitted
    /// the row's own anchor transaction (an erasure by any other member, who can read the key on chain, counts for
    /// nothing).
    package static let erasedSQL = """
        EXISTS (SELECT 1 FROM erased_records e JOIN anchored_records ea ON ea.record_key = e.record_key AND ea.submitter = e.submitter
                WHERE e.record_key = r.record_key AND ea.tx_hash = r.anchor_tx)
        """

    static func nextNonce(_ connection: PostgresConnection, logger: Logger) async throws -> UInt64 {
        for try await value in try await connection.query("SELECT nextval('transaction_nonce')", logger: logger).decode(Int64.self) {
            return try StoreError.stored(value, .height, column: "sequence transaction_nonce")
        }
        throw StoreError(.unavailable, "nonce sequence returned nothing")
    }

    /// Records of one category by id, in the order asked (missing ids are skipped), with their aggregate ciphertexts
    /// and the hash anchored for each: one prepared query for the whole request.
    package func records(category: String, ids: [String]) async throws -> [StoredRecord] {
        var byID: [String: StoredRecord] = [:]
        for try await row in try await database.client.execute(RecordsByID(category: category, ids: ids), logger: database.logger) {
            var record = StoredRecord(
                category: category, recordID: row.0, publisher: row.1, recordKey: row.2.bytes, citizenKey: row.3.bytes,
                recordHash: row.4.bytes, wrappedKey: row.5.bytes, ciphertext: row.6.bytes, dimensionsJSON: row.7,
                aggregates: Dictionary(zip(row.11, row.12.map(\.bytes)), uniquingKeysWith: { first, _ in first })
            )
            record.anchorVersion = Int(row.8)
            record.anchoredHash = row.10 ? row.9.bytes : nil
            byID[row.0] = record
        }
        return ids.compactMap { byID[$0] }
    }

    /// The read path's query. Prepared once per pooled connection, so a request does not pay for planning it. Each
    /// record's anchor and aggregate ciphertexts are looked up through an index per record (the `LIMIT 1` keeps the
    /// planner from hashing the whole anchor table instead): its cost grows with the ids asked, never with the table.
    package struct RecordsByID: PostgresPreparedStatement {
        package typealias Row = (
            String, String, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, String, Int16, ByteBuffer, Bool, [String], [ByteBuffer]
        )

        package static let sql = """
            SELECT r.record_id, r.publisher, r.record_key, r.citizen_key, r.record_hash, r.wrapped_key, r.ciphertext, r.dimensions::text,
                   r.anchor_version, coalesce(ar.record_hash, '\\x'::bytea), ar.record_hash IS NOT NULL,
                   coalesce(ag.fields, '{}'), coalesce(ag.ciphertexts, '{}')
            FROM records r
                 LEFT JOIN LATERAL (SELECT a.record_hash FROM anchored_records a
                                    WHERE a.record_key = r.record_key AND a.tx_hash = r.anchor_tx LIMIT 1) ar ON true
                 LEFT JOIN LATERAL (SELECT array_agg(a.field ORDER BY a.field) AS fields, array_agg(a.ciphertext ORDER BY a.field) AS ciphertexts
                                    FROM record_aggregates a WHERE a.category = r.category AND a.record_id = r.record_id) ag ON true
            WHERE r.category = $1 AND r.record_id = ANY($2)
              AND NOT \(RecordStore.erasedSQL)
            """

        let category: String
        let ids: [String]

        package init(category: String, ids: [String]) {
            self.category = category
            self.ids = ids
        }

        package func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(category)
            bindings.append(ids)
            return bindings
        }

        package func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Every record of a category holding a value of one aggregate field: its dimensions, citizen, that ciphertext,
    /// and what its anchor covers (content hash, every aggregate ciphertext) with the anchored hash and its height.
    package func aggregateRows(category: String, field: String) async throws -> [AggregateRow] {
        let rows = try await database.client.query(
            """
            SELECT r.record_key, r.record_hash, r.dimensions::text, r.citizen_key, r.anchor_version,
                   array_agg(a.field ORDER BY a.field), array_agg(a.ciphertext ORDER BY a.field),
                   coalesce(ar.record_hash, '\\x'::bytea), ar.record_hash IS NOT NULL, coalesce(ar.height, 0)
            FROM records r JOIN record_aggregates a ON a.category = r.category AND a.record_id = r.record_id
                 LEFT JOIN anchored_records ar ON ar.record_key = r.record_key AND ar.tx_hash = r.anchor_tx
            WHERE r.category = \(category) AND NOT \(unescaped: Self.erasedSQL)
            GROUP BY r.record_id, r.record_key, r.record_hash, r.dimensions, r.citizen_key, r.anchor_version, ar.record_hash, ar.height
            HAVING bool_or(a.field = \(field))
            ORDER BY r.record_id
            """,
            logger: database.logger
        )
        var out: [AggregateRow] = []
        for try await row in rows.decode((ByteBuffer, ByteBuffer, String, ByteBuffer, Int16, [String], [ByteBuffer], ByteBuffer, Bool, Int64).self) {
            let aggregates = Dictionary(zip(row.5, row.6.map(\.bytes)), uniquingKeysWith: { first, _ in first })
            guard let ciphertext = aggregates[field] else { continue }
            out.append(
                AggregateRow(
                    recordKey: row.0.bytes, recordHash: row.1.bytes, dimensionsJSON: row.2, citizenKey: row.3.bytes, ciphertext: ciphertext,
                    aggregates: aggregates, anchorVersion: Int(row.4), anchoredHash: row.8 ? row.7.bytes : nil,
                    anchoredHeight: row.8 ? try StoreError.stored(row.9, .height, column: "anchored_records.height") : nil
                ))
        }
        return out
    }

    package func count(category: String? = nil) async throws -> Int {
        let rows: PostgresRowSequence
        if let category {
            rows = try await database.client.query("SELECT count(*) FROM records WHERE category = \(category)", logger: database.logger)
        } else {
            rows = try await database.client.query("SELECT count(*) FROM records", logger: database.logger)
        }
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }
}
