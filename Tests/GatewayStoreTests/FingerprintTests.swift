import GatewayChain
import GatewayCrypto
import GatewayStore
import GatewayTestSupport
import PostgresNIO
import Testing

/// The node's fingerprints of access events and their records (written straight from the events) equal what
/// PostgreSQL computes over the rows stored for them (`Table.rowSQL`), and the row-by-row fingerprints (used to locate
/// a difference) equal the digests: on seeded random events with non-ASCII text, empty and long fields, optional
/// fields, repeated record keys and several transactions per block.
@Suite struct FingerprintTests {
    @Test func theNodesDigestsEqualPostgreSQLsOnRandomEvents() async throws {
        let seed: UInt64 = 20_261_128
        print("FingerprintTests seed \(seed)")
        var random = SplitMix64(seed: seed)
        func pick(_ n: Int) -> Int { Int(random.next() % UInt64(n)) }
        let alphabet: [String] = ["a", "Z", "0", "-", "_", " ", "é", "政", "策", "😀", "\u{1E}", ":", "\\", "\"", "'"]
        func text(_ maximum: Int) -> String { (0..<pick(maximum + 1)).map { _ in alphabet[pick(alphabet.count)] }.joined() }
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
        var blocks: [(height: Int64, rows: DerivedRows)] = []
        for round in 0..<40 {
            var rows = DerivedRows()
            let transactions = (0..<(1 + pick(3))).map { _ in bytes(32) }
            for index in 0..<(1 + pick(20)) {
                let keys = (0..<pick(4)).map { _ in bytes(32) }
                let event = AccessEvent(
                    eventID: "e\(round)-\(index)-" + text(12), requester: text(10), action: text(6), category: text(6),
                    recordKeys: keys + (keys.isEmpty || pick(2) == 0 ? [] : [keys[0]]), purpose: text(20), policyBundleHash: bytes(pick(33)),
                    decision: pick(2) == 0 ? .allow : .deny, determiningPolicies: (0..<pick(3)).map { _ in text(8) }, requestDigest: bytes(32),
                    timestampMs: Int64(bitPattern: random.next()) / 2, role: pick(2) == 0 ? nil : text(5), grantID: pick(2) == 0 ? nil : text(5),
                    discloseAtMs: pick(2) == 0 ? nil : Int64(pick(1_000_000_000)))
                rows.events.append((event, transactions[pick(transactions.count)]))
            }
            // Row by row equals the digest.
            let digests = rows.digests
            for table in [DerivedRows.Table.accessEvents, .accessRecords] {
                let located = rows.rows(table).values
                #expect(digests[table]?.count == located.count && digests[table]?.xor == located.reduce(0, ^), "round \(round), \(table)")
            }
            blocks.append((Int64(round + 1), rows))
        }
        let written = blocks
        let url = try await TestDatabase.fresh("fingerprints")
        try await Database.withDatabase(url: url, logger: TestDatabase.logger) { database in
            try await database.migrate()
            // Rows without their blocks: the foreign keys to `blocks` are dropped in this scratch database.
            try await TestDatabase.dropForeignKeys(database)
            try await database.transaction { connection in
                try await DerivedRows.insert(written, on: connection, logger: TestDatabase.logger, only: [.accessEvents, .accessRecords])
            }
            let store = ChainStore(database: database)
            for table in [DerivedRows.Table.accessEvents, .accessRecords] {
                let stored = try await store.derivedDigests(table)
                for (height, rows) in written {
                    let expected = rows.digests[table] ?? DerivedRows.Digest()
                    #expect(
                        stored[UInt64(height)] ?? DerivedRows.Digest() == expected,
                        "\(table) at height \(height): PostgreSQL \(String(describing: stored[UInt64(height)])), node \(expected)")
                }
            }
        }
    }
}
