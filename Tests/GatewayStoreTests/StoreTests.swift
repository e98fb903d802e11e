import Foundation
import GatewayChain
import GatewayCrypto
import GatewayStore
import GatewayTestSupport
import NIOCore
import PostgresNIO
import Testing

/// Integration tests against the real PostgreSQL that scripts/test.sh starts; each test has its own database.
struct StoreFixture: Sendable {
    let suite: any CryptoSuite
    let signer: any SigningKey
    let genesis: Genesis

    init(_ name: SuiteName) throws {
        suite = try name.makeSuite()
        signer = suite.generateSigningKey()
        genesis = Genesis(
            chainID: "store-test", suite: name,
            members: [.init(nodeID: "n1", department: "registry", role: .validator, publicKey: signer.publicKey.pemRepresentation, address: "")],
            createdAtMs: 0
        )
    }

    func record(_ id: String, payload: UInt8 = 1) -> StoredRecord {
        StoredRecord(
            category: "citizen", recordID: id, publisher: "registry", recordKey: suite.hash(Array("key \(id)".utf8)),
            citizenKey: suite.hash(Array(id.utf8)), recordHash: suite.hash([payload] + Array(id.utf8)), wrappedKey: [1, 2, 3],
            ciphertext: [payload, 5, 6], dimensionsJSON: #"{"district":"se"}"#, aggregates: ["monthly_income": [9, 9]]
        )
    }

    func anchor(_ records: [StoredRecord], nonce: UInt64) throws -> (transaction: Transaction, hash: [UInt8]) {
        let payload = RecordAnchor(
            publisher: "registry", category: "citizen", entries: records.map { .init(recordKey: $0.recordKey, recordHash: $0.recordHash) })
        let transaction = try Transaction(
            chainID: "store-test", kind: .recordAnchor, submitter: "n1", nonce: nonce, timestampMs: 1, payload: payload.encoded, signer: signer)
        return (transaction, transaction.hash(suite: suite))
    }

}

@Suite struct StoreTests {
    func withStore(_ label: String, _ body: @Sendable (Database) async throws -> Void) async throws {
        let url = try await TestDatabase.fresh(label)
        try await Database.withDatabase(url: url, logger: TestDatabase.logger) { database in
            try await database.migrate()
            try await database.migrate()  // idempotent
            try await body(database)
        }
    }

    @Test(arguments: SuiteName.allCases) func aBatchIsStoredWholeWithItsAnchorInTheOutbox(suite: SuiteName) async throws {
        let f = try StoreFixture(suite)
        try await withStore("batch") { database in
            let records = RecordStore(database: database)
            let chain = ChainStore(database: database)
            let batch = (0..<50).map { f.record("C\($0)") }
            let outcome = try await records.publish(batch) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            #expect(outcome.inserted == 50 && outcome.alreadyPresent == 0)
            #expect(try await records.count(category: "citizen") == 50)
            let pending = try await chain.pending(limit: 10)
            #expect(pending.count == 1 && pending[0].hash == outcome.anchorTransactions[0])
            #expect(try await records.aggregateRows(category: "citizen", field: "monthly_income").count == 50)
        }
    }

    @Test(arguments: SuiteName.allCases) func aConflictingRecordRollsBackTheWholeBatch(suite: SuiteName) async throws {
        let f = try StoreFixture(suite)
        try await withStore("conflict") { database in
            let records = RecordStore(database: database)
            _ = try await records.publish([f.record("C1")]) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            // C1 again with different contents, among new records: nothing of this batch may be stored.
            let batch = [f.record("C2"), f.record("C3"), f.record("C1", payload: 2)]
            await #expect(throws: StoreError.self) {
                _ = try await records.publish(batch) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            }
            #expect(try await records.count() == 1)
            #expect(try await ChainStore(database: database).pending(limit: 10).count == 1)
        }
    }

    /// An erasure never overtakes the anchor it erases: while the record's anchor waits in the outbox, erase says so
    /// (and the use case waits for that transaction); nothing is deleted, and no erasure is queued.
    @Test func anErasureWaitsForTheRecordsAnchor() async throws {
        let f = try StoreFixture(.intl)
        try await withStore("erase_pending") { database in
            let records = RecordStore(database: database)
            let published = try await records.publish([f.record("C1")]) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            struct Unexpected: Error {}
            let outcome = try await records.erase(category: "citizen", id: "C1", holder: "registry", sums: nil) { _, _ in throw Unexpected() }
            guard case .anchorPending(let transaction) = outcome else {
                Issue.record("expected anchorPending, got \(outcome)")
                return
            }
            #expect(transaction == published.anchorTransactions.first)
            #expect(try await records.count() == 1)
            #expect(try await ChainStore(database: database).pending(limit: 10).count == 1)
            // Another department is refused before anything else; an unknown id is absent.
            guard
                case .notHolder = try await records.erase(
                    category: "citizen", id: "C1", holder: "housing", sums: nil, makeErasure: { _, _ in throw Unexpected() })
            else {
                Issue.record("expected notHolder")
                return
            }
            guard
                case .absent = try await records.erase(
                    category: "citizen", id: "C9", holder: "registry", sums: nil, makeErasure: { _, _ in throw Unexpected() })
            else {
                Issue.record("expected absent")
                return
            }
        }
    }

    @Test(arguments: SuiteName.allCases) func anIdenticalRepublishIsIdempotent(suite: SuiteName) async throws {
        let f = try StoreFixture(suite)
        try await withStore("idempotent") { database in
            let records = RecordStore(database: database)
            let first = try await records.publish([f.record("C1"), f.record("C2")]) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            let again = try await records.publish([f.record("C1"), f.record("C2")]) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            #expect(again.inserted == 0 && again.alreadyPresent == 2)
            #expect(again.anchorTransactions == first.anchorTransactions)
            let mixed = try await records.publish([f.record("C2"), f.record("C3")]) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            #expect(mixed.inserted == 1 && mixed.anchorTransactions.count == 2)
        }
    }

    @Test(arguments: SuiteName.allCases) func committingABlockMovesTheOutboxIntoTheChainWithDerivedState(suite: SuiteName) async throws {
        let f = try StoreFixture(suite)
        try await withStore("commit") { database in
            let records = RecordStore(database: database)
            let chain = ChainStore(database: database)
            let batch = [f.record("C1"), f.record("C2")]
            let outcome = try await records.publish(batch) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            let event = AccessEvent(
                eventID: "e1", requester: "social_security", action: "read", category: "citizen", recordKeys: [batch[0].recordKey],
                purpose: "benefit_eligibility", policyBundleHash: [1], decision: .deny,
                determiningPolicies: ["forbid \"quoted\"", "back\\slash", "control\u{1}", "政策"], requestDigest: [2], timestampMs: 5
            )
            let access = try Transaction(
                chainID: "store-test", kind: .accessLog, submitter: "n1", nonce: try await chain.nextNonce(), timestampMs: 5, payload: event.encoded,
                signer: f.signer)
            try await chain.enqueue(access, hash: access.hash(suite: f.suite))

            var ledger = try Ledger(genesis: f.genesis, suite: f.suite)
            let pending = try await chain.pending(limit: 100)
            #expect(pending.count == 2)
            let block = try ledger.proposeSolo(
                transactions: try pending.map { try Transaction(decoding: $0.body) }, proposer: "n1", signer: f.signer, timestampMs: 10)
            try await chain.commit(block, suite: f.suite)
            try ledger.apply(block)

            #expect(try await chain.pending(limit: 100).isEmpty)
            #expect(try await chain.height() == 1)
            #expect(try await chain.location(of: outcome.anchorTransactions[0])?.height == 1)
            #expect(try await chain.anchoredHash(recordKey: batch[1].recordKey, transaction: outcome.anchorTransactions[0]) == batch[1].recordHash)
            let events = try await chain.accessEvents(afterHeight: 0, afterEventID: "", limit: 10)
            #expect(events.map(\.eventID) == ["e1"] && events[0].decision == "deny")
            #expect(events[0].policies == event.determiningPolicies)
            #expect(try await chain.accessEvents(id: "e1").first?.height == 1)
            #expect(try await chain.accessEvents(afterHeight: 1, afterEventID: "e1", afterTransaction: events[0].transactionHash, limit: 10).isEmpty)

            // A block that repeats the access transaction (a Byzantine proposer's): stored for its Merkle root, skipped
            // by the ledger, no second receipt or event.
            let replay = try ledger.proposeSolo(transactions: [access], proposer: "n1", signer: f.signer, timestampMs: 11)
            let applied = try ledger.apply(replay)
            #expect(applied.skipped.keys.sorted() == [0])
            try await chain.commit(replay, suite: f.suite, skipped: applied.skipped)
            #expect(try await chain.location(of: access.hash(suite: f.suite))?.height == 1)
            #expect(try await chain.accessEvents(afterHeight: 0, afterEventID: "", limit: 10).count == 1)
            let stored = try await chain.storedBlocks(from: 2, limit: 1)
            #expect(stored.first?.block == replay && stored.first?.skipped == [0])

            // What was stored verifies from scratch, with the same skips.
            var verifier = try Ledger(genesis: f.genesis, suite: f.suite)
            for stored in try await chain.storedBlocks(from: 1, limit: 10) {
                #expect(Set(try verifier.apply(stored.block).skipped.keys) == stored.skipped)
            }
            #expect(verifier.tipHash == ledger.tipHash)
        }
    }

    /// Storing blocks is one statement of many clauses: when a late clause fails (here a derived row's key, taken by a
    /// row an insider wrote), the earlier clauses' rows are not left behind — no block row, no transaction, the
    /// outbox untouched, no access event — nor the replica's state written in the same statement (its safety state
    /// and the blocks it persists before voting), which is written with the blocks once the statement succeeds.
    @Test func aFailingClauseLeavesNothingOfTheBlocksStored() async throws {
        let f = try StoreFixture(.intl)
        try await withStore("combined_atomic") { database in
            let records = RecordStore(database: database)
            let chain = ChainStore(database: database)
            _ = try await records.publish([f.record("C1")]) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            var ledger = try Ledger(genesis: f.genesis, suite: f.suite)
            let pending = try await chain.pending(limit: 100)
            let anchor = try Transaction(decoding: pending[0].body)
            let block = try ledger.proposeSolo(transactions: [anchor], proposer: "n1", signer: f.signer, timestampMs: 10)
            try await chain.commit(block, suite: f.suite)
            try ledger.apply(block)

            let next = try Transaction(
                chainID: "store-test", kind: .accessLog, submitter: "n1", nonce: try await chain.nextNonce(), timestampMs: 11,
                payload: AccessEvent(
                    eventID: "e2", requester: "social_security", action: "read", category: "citizen", recordKeys: [f.record("C1").recordKey],
                    purpose: "benefit_eligibility", policyBundleHash: [1], decision: .allow, determiningPolicies: ["p"], requestDigest: [2],
                    timestampMs: 11
                ).encoded, signer: f.signer)
            let nextHash = next.hash(suite: f.suite)
            try await chain.enqueue(next, hash: nextHash)
            try await database.client.query(
                "INSERT INTO access_records (record_key, event_id, height, tx_hash) VALUES (\(ByteBuffer(bytes: f.record("C1").recordKey)), 'e2', 1, \(ByteBuffer(bytes: nextHash)))"
            )
            let second = try ledger.proposeSolo(transactions: [next], proposer: "n1", signer: f.signer, timestampMs: 12)
            // The replica's writes of the batch that decided `second`: the blocks it proposed and its safety state.
            let hash: @Sendable ([UInt8]) -> [UInt8] = { [suite = f.suite] in suite.hash($0) }
            let key = f.suite.generateSigningKey()
            var replica = Replica(
                id: 0, configuration: .init(replicas: 1), signer: SuiteConsensusSigner(replica: 0, key: key, validators: [key.publicKey]), hash: hash)
            _ = replica.submit([7])
            let effects = replica.start(now: 0)
            let (persisted, safety) = EpochHost<String>.writes(effects)
            #expect(!persisted.isEmpty && safety != nil)
            let replicaWrites = ConsensusStore.Writes(blocks: persisted, safety: safety, epoch: 0)
            let consensus = ConsensusStore(database: database)
            let committing = ChainStore.Committing(block: second)
            await #expect(throws: (any Error).self) { try await chain.commit([committing], suite: f.suite, consensus: replicaWrites) }
            #expect(try await chain.height() == 1)
            #expect(try await chain.location(of: nextHash) == nil)
            #expect(try await chain.pending(limit: 100).count == 1)
            #expect(try await chain.accessEvents(afterHeight: 0, afterEventID: "", limit: 10).isEmpty)
            #expect(try await consensus.loadSafety() == nil)
            #expect(try await consensus.blocks(above: 0, hash: hash).isEmpty)
            // With the intruding row gone, the same block stores whole, and the replica's state with it.
            try await database.client.query("DELETE FROM access_records")
            try await chain.commit([committing], suite: f.suite, consensus: replicaWrites)
            #expect(try await chain.height() == 2)
            #expect(try await chain.pending(limit: 100).isEmpty)
            #expect(try await consensus.loadSafety() == safety)
            // Blocks 1 and 2 of the replica's own chain: the clause that forgets persisted blocks at or below the stored
            // height sees the statement's snapshot, not what the statement itself persists.
            #expect(try await consensus.blocks(above: 0, hash: hash).map(\.id) == persisted.map(\.id))
        }
    }

    /// Numbers read back from PostgreSQL go through the same bounds as numbers from the network: a height edited to a
    /// negative value or past 2^53 is a `store_corrupt` error naming the column, never a trapping conversion.
    @Test func storedNumbersOutsideTheirRangeAreCorruptionNotATrap() async throws {
        let f = try StoreFixture(.intl)
        try await withStore("stored_bounds") { database in
            let records = RecordStore(database: database)
            let chain = ChainStore(database: database)
            let batch = [f.record("C1")]
            let outcome = try await records.publish(batch) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            let event = AccessEvent(
                eventID: "e1", requester: "social_security", action: "read", category: "citizen", recordKeys: [batch[0].recordKey],
                purpose: "benefit_eligibility", policyBundleHash: [1], decision: .allow, determiningPolicies: ["p"], requestDigest: [2],
                timestampMs: 5
            )
            let access = try Transaction(
                chainID: "store-test", kind: .accessLog, submitter: "n1", nonce: try await chain.nextNonce(), timestampMs: 5, payload: event.encoded,
                signer: f.signer)
            try await chain.enqueue(access, hash: access.hash(suite: f.suite))
            let ledger = try Ledger(genesis: f.genesis, suite: f.suite)
            let pending = try await chain.pending(limit: 100)
            let block = try ledger.proposeSolo(
                transactions: try pending.map { try Transaction(decoding: $0.body) }, proposer: "n1", signer: f.signer, timestampMs: 10)
            try await chain.commit(block, suite: f.suite)

            func expectCorrupt(_ column: String, _ read: () async throws -> Void) async {
                do {
                    try await read()
                    Issue.record("reading \(column) out of range did not fail")
                } catch let error as StoreError {
                    #expect(error.code == .corrupt && error.message.contains(column), "\(error)")
                } catch {
                    Issue.record("unexpected \(error)")
                }
            }
            // An insider with the node's own database role: it owns the tables, so it can drop their foreign keys.
            try await TestDatabase.dropForeignKeys(database)
            for value in [Int64(-1), Int64.min, (1 << 53) + 1, Int64.max] {
                try await database.client.query(PostgresQuery(unsafeSQL: "UPDATE access_events SET height = \(value)"))
                await expectCorrupt("access_events.height") { _ = try await chain.accessEvents(id: "e1") }
                try await database.client.query("UPDATE access_events SET height = 1")
                try await database.client.query(PostgresQuery(unsafeSQL: "UPDATE transactions SET height = \(value)"))
                await expectCorrupt("transactions.height") { _ = try await chain.location(of: outcome.anchorTransactions[0]) }
                try await database.client.query("UPDATE transactions SET height = 1")
            }
            #expect(try await chain.location(of: outcome.anchorTransactions[0])?.height == 1)
        }
    }

    @Test func requestNoncesAreClaimedOnceUntilTheyExpire() async throws {
        try await withStore("nonces") { database in
            let nonces = RequestNonceStore(database: database)
            #expect(try await nonces.claim(department: "registry", nonce: "00aa", nowS: 1_000, expiresS: 1_600))
            #expect(try await !nonces.claim(department: "registry", nonce: "00aa", nowS: 1_001, expiresS: 1_601))
            // Nonces are per department.
            #expect(try await nonces.claim(department: "housing", nonce: "00aa", nowS: 1_001, expiresS: 1_601))
            // Once its window has passed, a nonce may be used again (the timestamp check refuses the old request).
            #expect(try await nonces.claim(department: "registry", nonce: "00aa", nowS: 1_700, expiresS: 2_300))
            try await nonces.purge(nowS: 2_000)
            let rows = try await database.client.query("SELECT count(*) FROM request_nonces")
            for try await count in rows.decode(Int.self) { #expect(count == 1) }
            // The claim relaxes durability for its own transaction only: the pooled connection it ran on still
            // commits synchronously afterwards (the guarantee every later write relies on).
            try await database.client.withConnection { connection in
                for try await _ in try await connection.execute(
                    RequestNonceStore.Claims([.init(department: "registry", nonce: "00bb", nowS: 2_000, expiresS: 2_600)]),
                    logger: TestDatabase.logger)
                {}
                for try await setting in try await connection.query("SHOW synchronous_commit", logger: TestDatabase.logger).decode(String.self) {
                    #expect(setting == "on")
                }
            }
        }
    }

    /// Claims arriving together go in groups (one statement each), and grouping changes no answer: of concurrent
    /// claims of one nonce exactly one wins, whichever group they land in, and every distinct nonce is claimed once.
    @Test func concurrentNonceClaimsAreGroupedAndEachNonceWinsOnce() async throws {
        try await withStore("nonce_groups") { database in
            let nonces = RequestNonceStore(database: database)
            // 600 claims at once: 300 distinct (department, nonce) pairs over two departments, each claimed twice.
            let claims = (0..<600).map { index in (department: index % 3 == 0 ? "housing" : "registry", nonce: String(format: "%04x", index % 300)) }
            let results = try await withThrowingTaskGroup(of: (String, String, Bool).self) { group in
                for claim in claims {
                    group.addTask {
                        (
                            claim.department, claim.nonce,
                            try await nonces.claim(department: claim.department, nonce: claim.nonce, nowS: 10, expiresS: 70)
                        )
                    }
                }
                var all: [(String, String, Bool)] = []
                for try await result in group { all.append(result) }
                return all
            }
            var wins: [String: Int] = [:]
            for (department, nonce, won) in results { wins["\(department)/\(nonce)", default: 0] += won ? 1 : 0 }
            let distinct = Set(claims.map { "\($0.department)/\($0.nonce)" })
            #expect(Set(wins.keys) == distinct)
            #expect(wins.values.allSatisfy { $0 == 1 })
            #expect(nonces.statementsSent < claims.count, "claims that arrived together went in groups")
            let rows = try await database.client.query("SELECT count(*) FROM request_nonces")
            for try await count in rows.decode(Int.self) { #expect(count == distinct.count) }
            // After all of that, the same nonces are refused one by one.
            #expect(try await !nonces.claim(department: "registry", nonce: "0001", nowS: 11, expiresS: 71))
        }
    }

    /// A claim sends its group on its own task, so that task's cancellation (a client gone while the pool was busy)
    /// must not fail the claims of other requests that waited for it: they are sent again, by the first of them.
    @Test func aCancelledSenderDoesNotFailTheClaimsItWasToSend() async throws {
        try await withStore("nonce_cancel") { database in
            let nonces = RequestNonceStore(database: database)
            // Every pooled connection held, so the first claim waits for one with its group queued behind it.
            let (held, holding) = AsyncStream<Void>.makeStream()
            let (release, releasing) = AsyncStream<Void>.makeStream()
            let holders = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<Database.requestConnectionsMax {
                        group.addTask {
                            try await database.client.withConnection { _ in
                                holding.yield()
                                for await _ in release {}
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            var heldCount = 0
            for await _ in held {
                heldCount += 1
                if heldCount == Database.requestConnectionsMax { break }
            }
            // The first claim goes at once (and waits for a connection); the next ones queue: when it is done, the
            // second is told to send the group, and its task was cancelled meanwhile.
            let first = Task { try await nonces.claim(department: "registry", nonce: "a0", nowS: 10, expiresS: 70) }
            while nonces.statementsSent == 0 { await Task.yield() }
            var queued: [Task<Bool, any Error>] = []
            for index in 1...4 {
                queued.append(Task { try await nonces.claim(department: "registry", nonce: "a\(index)", nowS: 10, expiresS: 70) })
                while nonces.waitingCount < index { await Task.yield() }
            }
            let sender = queued.removeFirst()
            sender.cancel()
            releasing.finish()
            #expect(try await first.value)
            await #expect(throws: (any Error).self) { try await sender.value }
            for other in queued { #expect(try await other.value, "a waiting claim failed with its sender's cancellation") }
            try await holders.value
        }
    }

    /// The read path's cost grows with the ids asked, never with the table: one id read from 2,000 published and
    /// anchored records touches a few index and heap pages, whether PostgreSQL plans it for the values (the first
    /// executions) or generically (a prepared statement later). A lookup by a column an index does not lead with, or
    /// a hash of the whole anchor table, touches every page of it and fails this.
    @Test func readingOneRecordTouchesFewPagesWhateverTheTableSize() async throws {
        let f = try StoreFixture(.intl)
        try await withStore("read_cost") { database in
            let records = RecordStore(database: database)
            let chain = ChainStore(database: database)
            for start in stride(from: 0, to: 2_000, by: 500) {
                let batch = (start..<start + 500).map { f.record("C\($0)") }
                _ = try await records.publish(batch) { fresh, nonce in try f.anchor(fresh, nonce: nonce) }
            }
            let ledger = try Ledger(genesis: f.genesis, suite: f.suite)
            let pending = try await chain.pending(limit: 100)
            let block = try ledger.proposeSolo(
                transactions: try pending.map { try Transaction(decoding: $0.body) }, proposer: "n1", signer: f.signer, timestampMs: 10)
            try await chain.commit(block, suite: f.suite)
            try await database.client.query("ANALYZE records, record_aggregates, anchored_records, erased_records")
            let read = try await records.records(category: "citizen", ids: ["C1234"])
            #expect(read.count == 1 && read[0].anchoredHash == f.record("C1234").recordHash && read[0].aggregates.count == 1)

            try await database.client.withConnection { connection in
                for mode in ["force_custom_plan", "force_generic_plan"] {
                    try await connection.query(PostgresQuery(unsafeSQL: "SET plan_cache_mode = \(mode)"), logger: TestDatabase.logger)
                    var bindings = PostgresBindings()
                    bindings.append("citizen")
                    bindings.append(["C1234"])
                    let explain = PostgresQuery(
                        unsafeSQL: "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + RecordStore.RecordsByID.sql, binds: bindings)
                    var plan = ""
                    for try await text in try await connection.query(explain, logger: TestDatabase.logger).decode(String.self) { plan += text }
                    let json = try JSONSerialization.jsonObject(with: Data(plan.utf8)) as? [[String: Any]]
                    let top = json?.first?["Plan"] as? [String: Any]
                    let pages = ((top?["Shared Hit Blocks"] as? Int) ?? -1) + ((top?["Shared Read Blocks"] as? Int) ?? 0)
                    #expect((1...30).contains(pages), "\(mode): reading one record touched \(pages) pages\n\(plan)")
                }
            }
        }
    }

    @Test func badDatabaseURLsAreRefusedWithAHelpfulMessage() {
        for url in ["mysql://x@localhost/db", "postgres://localhost/db", "postgres://user@host", "not a url"] {
            #expect(throws: StoreError.self, "\(url)") { _ = try Database.configuration(from: url) }
        }
    }
}

/// The replica's durable state survives a restart through PostgreSQL: a restored replica refuses to vote again.
@Suite struct ConsensusStoreTests {
    @Test(arguments: SuiteName.allCases) func safetyStateAndVotedBlocksSurviveARestart(suite name: SuiteName) async throws {
        let suite = try name.makeSuite()
        let hash: @Sendable ([UInt8]) -> [UInt8] = { suite.hash($0) }
        let keys = (0..<4).map { _ in suite.generateSigningKey() }
        let signer = SuiteConsensusSigner(replica: 3, key: keys[3], validators: keys.map(\.publicKey))
        var replica = Replica(id: 3, configuration: .init(replicas: 4), signer: signer, hash: hash)
        _ = replica.start(now: 0)
        // Round 1's leader (replica 1) proposes; replica 3 votes (to replica 2, the next leader), persisting first.
        let leaderSigner = SuiteConsensusSigner(replica: 1, key: keys[1], validators: keys.map(\.publicKey))
        var leader = Replica(id: 1, configuration: .init(replicas: 4), signer: leaderSigner, hash: hash)
        _ = leader.submit([7])
        let proposal = leader.start(now: 0).compactMap { effect -> ConsensusMessage? in
            if case .broadcast(let message) = effect, case .proposal = message { return message }
            return nil
        }.first!
        let effects = replica.receive(proposal, from: 1, now: 1)
        let voteIndex = effects.firstIndex { if case .send(_, .vote) = $0 { return true } else { return false } }
        let persistIndex = effects.firstIndex { if case .persist = $0 { return true } else { return false } }
        let blockIndex = effects.firstIndex { if case .persistBlock = $0 { return true } else { return false } }
        #expect(persistIndex! < voteIndex! && blockIndex! < voteIndex!, "state and block must be durable before the vote leaves")
        let url = try await TestDatabase.fresh("consensus")
        try await Database.withDatabase(url: url, logger: TestDatabase.logger) { database in
            try await database.migrate()
            let store = ConsensusStore(database: database)
            var voted = false
            for effect in effects {
                switch effect {
                case .persist(let state): try await store.save(state)
                case .persistBlock(let block): try await store.save(block)
                case .send(_, .vote): voted = true
                default: break
                }
            }
            #expect(voted)
            let safety = try #require(try await store.loadSafety())
            #expect(safety.lastVotedRound == 1)
            let blocks = try await store.blocks(above: 0, hash: hash)
            #expect(blocks.count == 1 && blocks[0].payload == [[7]])

            // "kill -9": a new replica from what is stored must not vote for round 1 again.
            var restored = Replica(id: 3, configuration: .init(replicas: 4), signer: signer, hash: hash, restoring: safety, pendingBlocks: blocks)
            _ = restored.start(now: 100)
            let again = restored.receive(proposal, from: 1, now: 101)
            #expect(!again.contains { if case .send(_, .vote) = $0 { return true } else { return false } })
            try await store.prune(atOrBelow: 1)
            #expect(try await store.blocks(above: 0, hash: hash).isEmpty)
        }
    }
}
