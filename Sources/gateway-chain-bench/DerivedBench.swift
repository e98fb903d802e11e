import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewayStore
import Logging
import PostgresNIO

/// bench/derived: the start-up proof of the derived tables on a chain of `events` access events.
///
///   gateway-chain-bench derived <sm|intl> <events> <database-url>
///
/// Builds the chain once (access-log batches of 4,096 events, one per block, signed, committed through the store as
/// a node commits them), then times, as a node does at start: verifying every block (ledger rules) while computing
/// the digests the blocks imply, and proving both derived tables against them in PostgreSQL. The reference in the
/// same run is a plain scan of the same table (reading every row's columns once): the floor for touching the data.
/// Prints one JSON object.
func derivedBench(_ arguments: [String]) async throws {
    let setup = try await EventChainSetup(arguments, bench: "derived", database: "dg_bench_derived")
    let (suiteName, suite, events, key, genesis, url, logger) = (
        setup.suiteName, setup.suite, setup.events, setup.key, setup.genesis, setup.url, setup.logger
    )
    struct Report: Codable {
        let suite: String
        let events: Int
        let blocks: Int
        let build_seconds: Double
        let verify_seconds: Double
        let prove_seconds: Double
        let check_seconds: Double
        let scan_seconds: Double
        let problems: Int
    }
    let report: Report = try await Database.withDatabase(url: url, logger: logger) { database in
        try await database.migrate()
        // No autovacuum worker on what the bench builds (it would hold the database when the bench drops it).
        for table in ["access_events", "transactions", "blocks", "anchored_records", "pending_transactions"] {
            try await database.client.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(table) SET (autovacuum_enabled = false)"))
        }
        let store = ChainStore(database: database)
        let buildStart = ContinuousClock.now
        let blocks = try await buildAccessEventChain(store: store, genesis: genesis, key: key, suite: suite, events: events)
        let build = milliseconds(ContinuousClock.now - buildStart) / 1_000
        try await database.client.query("VACUUM ANALYZE access_events")

        // Alternate the check and the reference scan, three times each; report the median of each.
        var verifies: [Double] = [], proves: [Double] = [], scans: [Double] = []
        var problems = 0
        for round in 1...3 {
            progress("round \(round): start-up check")
            let start = ContinuousClock.now
            var fresh = try Ledger(genesis: genesis, suite: suite)
            let expected = try await ChainService.verifyStoredChain(store: store, ledger: &fresh, suite: suite)
            let verified = ContinuousClock.now
            let proof = try await ChainService.proveDerivedState(store: store, expected: expected, height: fresh.height, suite: suite)
            verifies.append(milliseconds(verified - start) / 1_000)
            proves.append(milliseconds(ContinuousClock.now - verified) / 1_000)
            problems = proof.problems.count + proof.heights.count
            progress("round \(round): reference scan")
            let scanStart = ContinuousClock.now
            for try await _ in try await database.client.query(
                "SELECT sum(length(event_id) + length(requester) + length(purpose) + length(tx_hash) + record_count) FROM access_events"
            ).decode(Int64?.self) {}
            scans.append(milliseconds(ContinuousClock.now - scanStart) / 1_000)
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let check = zip(verifies, proves).map { $0 + $1 }
        return Report(
            suite: suiteName.rawValue, events: events, blocks: blocks, build_seconds: build, verify_seconds: median(verifies),
            prove_seconds: median(proves), check_seconds: median(check), scan_seconds: median(scans), problems: problems
        )
    }
    try await Database.drop(url: url, logger: logger)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(report), as: UTF8.self))
}

/// Builds a solo chain of `events` access events (batches of `AccessLogBatch.eventsMax`, one per block, signed and
/// committed through the store as a node commits them). Returns the number of blocks.
func buildAccessEventChain(store: ChainStore, genesis: Genesis, key: any SigningKey, suite: any CryptoSuite, events: Int) async throws -> Int {
    var ledger = try Ledger(genesis: genesis, suite: suite)
    let bundle = suite.hash(Array("bundle".utf8))
    var written = 0
    var nonce: UInt64 = 0
    while written < events {
        let count = min(AccessLogBatch.eventsMax, events - written)
        let batch = (0..<count).map { offset -> AccessEvent in
            let number = written + offset
            return AccessEvent(
                eventID: UUID().uuidString.lowercased(), requester: "social_security", action: "read", category: "citizen",
                recordKeys: [suite.hash(Array("record \(number)".utf8))], purpose: "benefit_eligibility", policyBundleHash: bundle,
                decision: number % 7 == 0 ? .deny : .allow, determiningPolicies: ["benefit-eligibility"],
                requestDigest: suite.hash(Array("request \(number)".utf8)), timestampMs: 1_800_000_000_000 + Int64(number)
            )
        }
        nonce += 1
        let transaction = try Transaction(
            chainID: genesis.chainID, kind: .accessLogBatch, submitter: "v0", nonce: nonce, timestampMs: 1_800_000_000_000 + Int64(written),
            payload: AccessLogBatch(events: batch).encoded, signer: key
        )
        let block = try ledger.proposeSolo(transactions: [transaction], proposer: "v0", signer: key, timestampMs: Int64(nonce))
        let applied = try ledger.apply(block)
        try await store.commit(block, suite: suite, skipped: applied.skipped)
        written += count
        if nonce % 32 == 0 { progress("built \(written) of \(events) events") }
    }
    return Int(nonce)
}

/// What bench/derived and bench/audit share: their arguments (`<sm|intl> <events> <database-url>`), a solo genesis
/// with a fresh key, and a fresh database `name` on the server of the URL given.
struct EventChainSetup {
    let suiteName: SuiteName
    let suite: any CryptoSuite
    let events: Int
    let key: any SigningKey
    let genesis: Genesis
    let url: String
    let logger: Logger

    init(_ arguments: [String], bench: String, database name: String) async throws {
        guard arguments.count == 5, let suiteName = SuiteName(rawValue: arguments[2]), let events = Int(arguments[3]), events > 0 else {
            FileHandle.standardError.write(Data("usage: gateway-chain-bench \(bench) <sm|intl> <events> <database-url>\n".utf8))
            exit(2)
        }
        self.suiteName = suiteName
        self.events = events
        suite = try suiteName.makeSuite()
        var logger = Logger(label: "\(bench)-bench")
        logger.logLevel = .critical
        self.logger = logger
        key = suite.generateSigningKey()
        genesis = Genesis(
            chainID: "bench", suite: suiteName,
            members: [.init(nodeID: "v0", department: "d0", role: .validator, publicKey: key.publicKey.pemRepresentation, address: "127.0.0.1:1")],
            createdAtMs: 0
        )
        guard var components = URLComponents(string: arguments[4]) else { throw NodeError("bad database URL") }
        components.path = "/\(name)"
        url = components.string!
        try await Database.recreate(url: url, logger: logger)
    }
}
