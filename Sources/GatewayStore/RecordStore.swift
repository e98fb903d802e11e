import GatewayChain
import GatewayCrypto
import Logging
import NIOCore
import PostgresNIO

/// An encrypted record as stored: nothing in it is readable without the node's record key.
public struct StoredRecord: Sendable, Equatable {
    public let category: String
    public let recordID: String
    public let publisher: String
    public let recordKey: [UInt8]
    public let citizenKey: [UInt8]
    public let recordHash: [UInt8]
    public let wrappedKey: [UInt8]
    public let ciphertext: [UInt8]
    /// Canonical JSON of the coarse dimensions statistics may group by.
    public let dimensionsJSON: String
    /// Paillier ciphertexts of the aggregate fields, by field name.
    public let aggregates: [String: [UInt8]]

    public init(
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
public struct AggregateRow: Sendable {
    public let dimensionsJSON: String
    public let citizenKey: [UInt8]
    public let ciphertext: [UInt8]
}

/// Records, stored and anchored atomically.
public struct RecordStore: Sendable {
    let database: Database

    public init(database: Database) { self.database = database }

    /// The outcome of a publish: the anchor transaction to wait for, and how many records were new.
    public struct PublishOutcome: Sendable {
        /// Hashes of the anchor transactions covering the batch (the new one, and those of identical re-publishes).
        public let anchorTransactions: [[UInt8]]
        public let inserted: Int
        public let alreadyPresent: Int
        /// The anchor transaction this call wrote to the outbox, if it stored anything.
        public var newAnchor: Transaction? = nil
    }

    /// Stores a batch and its anchor transaction in one database transaction: all of it, or none of it.
    ///
    /// A record already present with the same hash is an idempotent re-publish; one present with a different hash
    /// is a conflict and rolls back the whole batch. `makeAnchor` receives the records actually inserted and returns
    /// the signed anchor transaction, which goes into the pending outbox in the same database transaction.
    public func publish(
        _ records: [StoredRecord],
        makeAnchor: @Sendable ([StoredRecord], UInt64) throws -> (transaction: Transaction, hash: [UInt8])
    ) async throws -> PublishOutcome {
        precondition(!records.isEmpty, "publish needs at least one record")
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
            let nonce = try await Self.nextNonce(connection, logger: logger)
            let anchor = try makeAnchor(fresh, nonce)
            let anchorHash = ByteBuffer(anchor.hash)
            try await connection.query(
                """
                INSERT INTO records (category, record_id, publisher, record_key, citizen_key, record_hash, wrapped_key, ciphertext,
                                     dimensions, anchor_tx)
                SELECT c, i, p, rk, ck, rh, wk, ct, d::jsonb, \(anchorHash)
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
            try await ChainStore.enqueue(anchor.transaction, hash: anchor.hash, on: connection, logger: logger)
            anchors.append(anchor.hash)
            return PublishOutcome(
                anchorTransactions: anchors, inserted: fresh.count, alreadyPresent: records.count - fresh.count, newAnchor: anchor.transaction
            )
        }
    }

    static func nextNonce(_ connection: PostgresConnection, logger: Logger) async throws -> UInt64 {
        for try await value in try await connection.query("SELECT nextval('transaction_nonce')", logger: logger).decode(Int64.self) {
            return UInt64(value)
        }
        throw StoreError(.unavailable, "nonce sequence returned nothing")
    }

    /// Records of one category by id, in the order asked; missing ids are skipped.
    public func records(category: String, ids: [String]) async throws -> [StoredRecord] {
        let rows = try await database.client.query(
            """
            SELECT record_id, publisher, record_key, citizen_key, record_hash, wrapped_key, ciphertext, dimensions::text
            FROM records WHERE category = \(category) AND record_id = ANY(\(ids))
            """,
            logger: database.logger
        )
        var byID: [String: StoredRecord] = [:]
        for try await (id, publisher, recordKey, citizenKey, recordHash, wrappedKey, ciphertext, dimensions) in rows.decode(
            (String, String, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, String).self
        ) {
            byID[id] = StoredRecord(
                category: category, recordID: id, publisher: publisher, recordKey: recordKey.bytes, citizenKey: citizenKey.bytes,
                recordHash: recordHash.bytes, wrappedKey: wrappedKey.bytes, ciphertext: ciphertext.bytes, dimensionsJSON: dimensions,
                aggregates: [:]
            )
        }
        return ids.compactMap { byID[$0] }
    }

    /// Every encrypted value of one aggregate field in a category, with its record's dimensions and citizen.
    public func aggregateRows(category: String, field: String) async throws -> [AggregateRow] {
        let rows = try await database.client.query(
            """
            SELECT r.dimensions::text, r.citizen_key, a.ciphertext
            FROM record_aggregates a JOIN records r ON r.category = a.category AND r.record_id = a.record_id
            WHERE a.category = \(category) AND a.field = \(field)
            ORDER BY a.record_id
            """,
            logger: database.logger
        )
        var out: [AggregateRow] = []
        for try await (dimensions, citizen, ciphertext) in rows.decode((String, ByteBuffer, ByteBuffer).self) {
            out.append(AggregateRow(dimensionsJSON: dimensions, citizenKey: citizen.bytes, ciphertext: ciphertext.bytes))
        }
        return out
    }

    public func count(category: String? = nil) async throws -> Int {
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
