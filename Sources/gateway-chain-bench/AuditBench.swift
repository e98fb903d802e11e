import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewayStore
import Logging
import PostgresNIO

/// bench/audit: `gateway audit verify`'s work on a chain of `events` access events.
///
///   gateway-chain-bench audit <sm|intl> <events> <database-url>
///
/// Builds the chain once (as bench/derived does), then times `ChainAudit.verify` — every block from the genesis,
/// every derived table proven against the blocks, the off-chain records, the access log's tree — three times. The
/// reference in the same run is the machine's hashing rate over the same history: every stored block's header and
/// transactions, read into memory beforehand, hashed once with the suite's hash (the least any verifier must do).
/// Prints one JSON object.
func auditBench(_ arguments: [String]) async throws {
    let setup = try await EventChainSetup(arguments, bench: "audit", database: "dg_bench_audit")
    let (suiteName, suite, events, key, genesis, url, logger) = (
        setup.suiteName, setup.suite, setup.events, setup.key, setup.genesis, setup.url, setup.logger
    )
    struct Report: Codable {
        let suite: String
        let events: Int
        let blocks: Int
        let bytes: Int
        let build_seconds: Double
        let audit_seconds: [Double]
        let hash_seconds: [Double]
        let problems: Int
        let log_size: Int
    }
    let (blocks, build, bytes, chunks) = try await Database.withDatabase(url: url, logger: logger) { database in
        try await database.migrate()
        for table in ["access_events", "access_records", "transactions", "blocks", "anchored_records", "pending_transactions"] {
            try await database.client.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(table) SET (autovacuum_enabled = false)"))
        }
        let store = ChainStore(database: database)
        let start = ContinuousClock.now
        let blocks = try await buildAccessEventChain(store: store, genesis: genesis, key: key, suite: suite, events: events)
        let build = milliseconds(ContinuousClock.now - start) / 1_000
        try await database.client.query("VACUUM ANALYZE")
        // The reference's input: every block's header and transactions, as stored.
        var chunks: [[UInt8]] = []
        var bytes = 0
        var next: UInt64 = 1
        while true {
            let page = try await store.storedBlocks(from: next, limit: 64)
            guard let last = page.last else { break }
            for stored in page {
                chunks.append(stored.block.header.encoded)
                for transaction in stored.block.transactions { chunks.append(transaction.encoded) }
            }
            next = last.block.header.height + 1
        }
        bytes = chunks.reduce(0) { $0 + $1.count }
        return (blocks, build, bytes, chunks)
    }
    var audits: [Double] = []
    var hashes: [Double] = []
    var problems = 0
    var logSize = 0
    for round in 1...3 {
        progress("round \(round): audit verify")
        let start = ContinuousClock.now
        // When each phase began (blocks, derived tables, records), for the breakdown.
        let phases = PhaseClock()
        let report = try await ChainAudit.verify(
            databaseURL: url, genesis: genesis, logger: logger,
            progress: { line in
                if line.hasPrefix("proving") { phases.mark("derived") }
                if line.hasPrefix("checking the off-chain") { phases.mark("records") }
            })
        audits.append(milliseconds(ContinuousClock.now - start) / 1_000)
        let marks = phases.marks
        if let derived = marks["derived"], let records = marks["records"] {
            progress(
                String(
                    format: "round %d: blocks %.2f s, derived tables %.2f s, records %.2f s", round, milliseconds(derived - start) / 1_000,
                    milliseconds(records - derived) / 1_000, milliseconds(ContinuousClock.now - records) / 1_000))
        }
        problems = report.problems.count + report.differingHeights.count
        logSize = report.logSize
        progress("round \(round): reference — hashing \(bytes) bytes of history")
        let hashStart = ContinuousClock.now
        var sink: UInt8 = 0
        for chunk in chunks { sink ^= suite.hash(chunk)[0] }
        hashes.append(milliseconds(ContinuousClock.now - hashStart) / 1_000)
        if sink == 0 && bytes < 0 { print(sink) }  // keeps the hashing observable
    }
    try await Database.drop(url: url, logger: logger)
    let report = Report(
        suite: suiteName.rawValue, events: events, blocks: blocks, bytes: bytes, build_seconds: build, audit_seconds: audits,
        hash_seconds: hashes, problems: problems, log_size: logSize)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(report), as: UTF8.self))
}

/// Instants named as they happen, from any thread.
final class PhaseClock: @unchecked Sendable {
    // Safety: `values` is only touched under `lock`.
    private let lock = NSLock()
    private var values: [String: ContinuousClock.Instant] = [:]
    func mark(_ name: String) { lock.withLock { values[name] = ContinuousClock.now } }
    var marks: [String: ContinuousClock.Instant] { lock.withLock { values } }
}
