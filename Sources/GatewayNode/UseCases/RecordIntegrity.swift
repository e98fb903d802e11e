import GatewayCrypto
import GatewaySchema
import GatewayStore
import GatewayWire
import Logging
import NIOConcurrencyHelpers

/// Checks what the database gives back against what the chain anchored: a record's content, dimensions and aggregate
/// ciphertexts. A mismatch is tampering: located, logged (by salted record key only), counted, and never released.
package struct RecordIntegrity: Sendable {
    let vault: RecordVault
    let counter: IntegrityCounter
    let logger: Logger

    /// Decrypts a record and checks it — content, dimensions and aggregate ciphertexts — against the hash anchored on
    /// chain; any mismatch is tampering, located (position in the request, salted record key) and counted.
    func verified(_ record: StoredRecord, position: Int) throws -> JSONValue {
        let plaintext: JSONValue
        do {
            plaintext = try vault.open(category: record.category, id: record.recordID, wrappedKey: record.wrappedKey, ciphertext: record.ciphertext)
        } catch {
            throw failure(
                record.category, recordKey: record.recordKey, position: position, table: "records",
                problem: "fails decryption (ciphertext or wrapped key altered)")
        }
        let hash = vault.recordHash(category: record.category, record: plaintext)
        guard constantTimeEquals(hash, record.recordHash) else {
            throw failure(
                record.category, recordKey: record.recordKey, position: position, table: "records",
                problem: "does not match its stored content hash")
        }
        guard let anchored = record.anchoredHash else {
            throw failure(
                record.category, recordKey: record.recordKey, position: position, table: "anchored_records",
                problem: "has no anchor on chain")
        }
        let expected = vault.expectedAnchor(
            version: record.anchorVersion, contentHash: hash, dimensionsJSON: record.dimensionsJSON, aggregates: record.aggregates
        )
        guard constantTimeEquals(expected, anchored) else {
            throw failure(
                record.category, recordKey: record.recordKey, position: position, table: "records/record_aggregates",
                problem: "does not match its anchored hash (content, dimensions or aggregate ciphertexts altered)")
        }
        return plaintext
    }

    /// Checks one aggregate input against its record's anchor before it counts: a ciphertext copied from another
    /// record, or a record moved to another group, changes what the anchor covers.
    func check(_ row: AggregateRow, category: String) throws {
        guard let anchored = row.anchoredHash else {
            throw failure(category, recordKey: row.recordKey, position: nil, table: "anchored_records", problem: "has no anchor on chain")
        }
        guard row.anchorVersion >= 2 else {
            throw failure(
                category, recordKey: row.recordKey, position: nil, table: "records", height: row.anchoredHeight,
                problem: "was anchored before aggregate inputs were bound to anchors; re-anchor it before statistics use it")
        }
        let expected = vault.expectedAnchor(
            version: row.anchorVersion, contentHash: row.recordHash, dimensionsJSON: row.dimensionsJSON, aggregates: row.aggregates
        )
        guard constantTimeEquals(expected, anchored) else {
            throw failure(
                category, recordKey: row.recordKey, position: nil, table: "records/record_aggregates",
                height: row.anchoredHeight, problem: "has dimensions or aggregate ciphertexts that do not match its anchor")
        }
    }

    /// Checks a running-sum row's tag before it counts: a row altered, added or moved in the database is refused.
    func check(_ row: RunningSum) throws {
        let expected = vault.sumTag(
            category: row.category, field: row.field, groupKey: row.groupKey, ciphertext: row.ciphertext, records: row.records, cohort: row.cohort)
        guard constantTimeEquals(expected, row.tag) else { throw sumFailure(row, problem: "does not match its tag") }
    }

    /// Logs, counts and describes a running-sum row that fails a check.
    func sumFailure(_ row: RunningSum, problem: String) -> ExchangeError {
        counter.record()
        logger.critical(
            "running sum \(problem): tampering",
            metadata: ["category": "\(row.category)", "field": "\(row.field)", "row": "\(row.id)", "table": "aggregate_sums"])
        return ExchangeError(
            .integrityFailure,
            "running sum row \(row.id) of \(row.category).\(row.field) (aggregate_sums) \(problem); nothing was released and the operator has been alerted"
        )
    }

    /// Logs (critical, by salted record key — never the id or the content), counts and describes one integrity failure.
    func failure(
        _ category: String, recordKey: [UInt8], position: Int?, table: String, height: UInt64? = nil, problem: String
    ) -> ExchangeError {
        counter.record()
        var metadata: Logger.Metadata = ["category": "\(category)", "record_key": "\(Hex.encode(recordKey))", "table": "\(table)"]
        if let height { metadata["anchor_height"] = "\(height)" }
        logger.critical("stored record \(problem): tampering", metadata: metadata)
        let which = position.map { "ids[\($0)]" } ?? "a stored record"
        return ExchangeError(
            .integrityFailure,
            """
            \(which) (record key \(Hex.encode(recordKey).prefix(16))…) \(problem); it was not released and the operator has been alerted
            """)
    }
}

/// Counts integrity failures for /v1/health and the operator.
package final class IntegrityCounter: Sendable {
    let count = NIOLockedValueBox(0)

    package init() {}

    func record() { count.withLockedValue { $0 += 1 } }
    package var failures: Int { count.withLockedValue { $0 } }
}
