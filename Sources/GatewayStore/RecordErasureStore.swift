import GatewayChain
import GatewayCrypto
import Logging
import NIOCore
import PostgresNIO

/// What erasing a record found and did.
package enum ErasureOutcome: Sendable {
    /// Erased: the row, its dimensions and aggregate ciphertexts are gone, the running sums compensated, and the
    /// erasure transaction is in the outbox.
    case erased(transaction: Transaction, hash: [UInt8])
    /// No such row: never published here, or already erased (`erasure` then names the first erasure transaction).
    case absent(erasure: (hash: [UInt8], height: UInt64)?)
    /// The row was published by another department: only its holder erases it.
    case notHolder(publisher: String)
    /// The record's anchor is not on chain yet: wait for that transaction, then erase (an erasure never overtakes the
    /// anchor it erases, so the id's anchored key already refuses a re-publish when the row goes).
    case anchorPending(transaction: [UInt8])
}

extension RecordStore {
    /// Erases one record in one database transaction: the row (with its wrapped data key — the only copy of the key
    /// that opens the ciphertext) and its aggregate ciphertexts are deleted, a compensating running-sum row per
    /// aggregate field subtracts what the record added (the inverse ciphertext, one record fewer, one citizen fewer
    /// when the citizen has no other record in the group), and the erasure transaction `makeErasure` signs goes into
    /// the outbox. All of it, or none of it.
    package func erase(
        category: String, id: String, holder: String, sums: RunningSumsWriter?,
        makeErasure: @Sendable (_ recordKey: [UInt8], _ nonce: UInt64) throws -> (transaction: Transaction, hash: [UInt8])
    ) async throws -> ErasureOutcome {
        let logger = database.logger
        return try await database.transaction { connection in
            let removed = try await Self.removeRow(category: category, id: id, holder: holder, sums: sums, on: connection, logger: logger)
            let recordKey: [UInt8]
            switch removed {
            case .removed(let key): recordKey = key
            case .notHolder(let publisher): return .notHolder(publisher: publisher)
            case .anchorPending(let transaction): return .anchorPending(transaction: transaction)
            case .absent: return .absent(erasure: nil)
            }
            let nonce = try await Self.nextNonce(connection, logger: logger)
            let erasure = try makeErasure(recordKey, nonce)
            try await ChainStore.enqueue(erasure.transaction, hash: erasure.hash, on: connection, logger: logger)
            return .erased(transaction: erasure.transaction, hash: erasure.hash)
        }
    }

    enum Removal {
        case removed(recordKey: [UInt8])
        case absent
        case notHolder(publisher: String)
        case anchorPending(transaction: [UInt8])
    }

    /// Deletes a record's row and aggregate ciphertexts and compensates the running sums, on `connection`.
    static func removeRow(
        category: String, id: String, holder: String?, sums: RunningSumsWriter?, on connection: PostgresConnection, logger: Logger
    ) async throws -> Removal {
        let rows = try await connection.query(
            """
            SELECT r.publisher, r.record_key, r.citizen_key, r.dimensions::text, r.anchor_tx,
                   EXISTS (SELECT 1 FROM anchored_records a WHERE a.record_key = r.record_key AND a.tx_hash = r.anchor_tx)
            FROM records r WHERE r.category = \(category) AND r.record_id = \(id) FOR UPDATE OF r
            """,
            logger: logger)
        var found: (publisher: String, recordKey: [UInt8], citizenKey: [UInt8], dimensions: String, anchor: [UInt8], anchored: Bool)?
        for try await (publisher, recordKey, citizenKey, dimensions, anchor, anchored) in rows.decode(
            (String, ByteBuffer, ByteBuffer, String, ByteBuffer, Bool).self)
        {
            found = (publisher, recordKey.bytes, citizenKey.bytes, dimensions, anchor.bytes, anchored)
        }
        guard let record = found else { return .absent }
        if let holder, record.publisher != holder { return .notHolder(publisher: record.publisher) }
        guard record.anchored else { return .anchorPending(transaction: record.anchor) }
        var aggregates: [String: [UInt8]] = [:]
        let stored = try await connection.query(
            "SELECT field, ciphertext FROM record_aggregates WHERE category = \(category) AND record_id = \(id)", logger: logger)
        for try await (field, ciphertext) in stored.decode((String, ByteBuffer).self) { aggregates[field] = ciphertext.bytes }
        try await connection.query("DELETE FROM records WHERE category = \(category) AND record_id = \(id)", logger: logger)
        guard let sums, !aggregates.isEmpty else { return .removed(recordKey: record.recordKey) }
        // The group key as the running sums spell it (the canonical JSON the publish wrote; PostgreSQL prints jsonb its
        // own way).
        var groupKey = record.dimensions
        let spelled = try await connection.query(
            """
            SELECT group_key FROM aggregate_sums WHERE category = \(category) AND group_key::jsonb = \(record.dimensions)::jsonb
            ORDER BY id LIMIT 1
            """,
            logger: logger)
        for try await key in spelled.decode(String.self) { groupKey = key }
        // The citizen leaves the group's cohort only when no other record of theirs remains in it.
        var others = 0
        let remaining = try await connection.query(
            """
            SELECT count(*)::bigint FROM records
            WHERE category = \(category) AND citizen_key = \(ByteBuffer(record.citizenKey)) AND dimensions = \(record.dimensions)::jsonb
            """,
            logger: logger)
        for try await count in remaining.decode(Int64.self) { others = Int(count) }
        var cohort = 0
        if others == 0 {
            let left = try await connection.query(
                """
                DELETE FROM aggregate_members
                WHERE category = \(category) AND group_key = \(groupKey) AND citizen_key = \(ByteBuffer(record.citizenKey))
                RETURNING 1
                """,
                logger: logger)
            for try await _ in left.decode(Int32.self) { cohort = -1 }
        }
        try await insert(
            sums.compensation(category: category, groupKey: groupKey, aggregates: aggregates, cohort: cohort), on: connection, logger: logger)
        return .removed(recordKey: record.recordKey)
    }

    /// Applies erasures the chain holds to rows still here — a database restored from a backup taken before them —
    /// as `erase` does (row, aggregate ciphertexts, compensated sums), without a new transaction. Returns how many
    /// rows it erased. Run at start; at any time, reads never release a row whose key the chain erased.
    package func replayErasures(sums: RunningSumsWriter) async throws -> Int {
        let logger = database.logger
        let rows = try await database.client.query(
            """
            SELECT r.category, r.record_id FROM records r
            WHERE \(unescaped: Self.erasedSQL) ORDER BY r.category, r.record_id
            """,
            logger: logger)
        var stale: [(category: String, id: String)] = []
        for try await row in rows.decode((String, String).self) { stale.append(row) }
        for row in stale {
            try await database.transaction { connection in
                _ = try await Self.removeRow(category: row.category, id: row.id, holder: nil, sums: sums, on: connection, logger: logger)
            }
        }
        return stale.count
    }

    /// The first erasure of each of these record keys that the chain holds (derived `erased_records`) submitted by
    /// `node`, of a key `node` anchored: another member can copy the key from the chain, never erase this node's record.
    package func erasures(recordKeys: [[UInt8]], by node: String) async throws -> [[UInt8]: (hash: [UInt8], height: UInt64)] {
        guard !recordKeys.isEmpty else { return [:] }
        let rows = try await database.client.query(
            """
            SELECT DISTINCT ON (e.record_key) e.record_key, e.tx_hash, e.height FROM erased_records e
            WHERE e.record_key = ANY(\(recordKeys.map { ByteBuffer($0) })) AND e.submitter = \(node)
              AND EXISTS (SELECT 1 FROM anchored_records a WHERE a.record_key = e.record_key AND a.submitter = \(node))
            ORDER BY e.record_key, e.height, e.tx_hash
            """,
            logger: database.logger)
        var out: [[UInt8]: (hash: [UInt8], height: UInt64)] = [:]
        for try await (key, hash, height) in rows.decode((ByteBuffer, ByteBuffer, Int64).self) {
            out[key.bytes] = (hash.bytes, try StoreError.stored(height, .height, column: "erased_records.height"))
        }
        return out
    }

    /// Reclaims the space of erased rows now (VACUUM), so their bytes — the wrapped data key among them — do not
    /// linger in dead tuples until autovacuum comes by. Outside any transaction, as VACUUM must be.
    package func vacuumErased() async throws {
        try await database.client.query("VACUUM records, record_aggregates", logger: database.logger)
    }
}

extension RunningSumsWriter {
    /// The rows that take one erased record out of its group's running sums: per aggregate field, the inverse of its
    /// ciphertext (an encryption of minus its value), minus one record, and `cohort` (−1 when its citizen left the
    /// group, else 0). Each row is tagged like any other, so a statistic checks and counts it.
    package func compensation(category: String, groupKey: String, aggregates: [String: [UInt8]], cohort: Int) -> [RunningSum] {
        let width = (publicKey.nSquared.bitWidth + 7) / 8
        return aggregates.keys.sorted().compactMap { field in
            guard let inverse = GMPInteger(bigEndian: aggregates[field]!).inverse(modulo: publicKey.nSquared) else { return nil }
            let ciphertext = inverse.bigEndianBytes(width: width)
            return RunningSum(
                id: 0, category: category, field: field, groupKey: groupKey, ciphertext: ciphertext, records: -1, cohort: cohort,
                tag: tag(category, field, groupKey, ciphertext, -1, cohort))
        }
    }
}
