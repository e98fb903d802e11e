import Foundation
import GatewayChain
import GatewayCrypto
import GatewayStore
import GatewayTestSupport
import Testing

/// The chain may carry one key in several transactions: an event id or a record key that a hostile member's node
/// copies from another's transaction (both are on chain for every member to read) into its own. The ledger cannot
/// refuse it without remembering every key ever written, so the derived tables take it as what it is — another row —
/// and the reads pin the row they mean. Before, the copy hit a primary key on every node and storage retried it
/// forever: one signed transaction stopped the whole consortium.
@Suite struct RepeatedKeyTests {
    struct Members {
        let suite: any CryptoSuite
        let honest: any SigningKey
        let hostile: any SigningKey
        let genesis: Genesis

        init(_ name: SuiteName) throws {
            suite = try name.makeSuite()
            honest = suite.generateSigningKey()
            hostile = suite.generateSigningKey()
            genesis = Genesis(
                chainID: "store-test", suite: name,
                members: [
                    .init(nodeID: "n1", department: "registry", role: .validator, publicKey: honest.publicKey.pemRepresentation, address: ""),
                    .init(nodeID: "n2", department: "housing", role: .observer, publicKey: hostile.publicKey.pemRepresentation, address: ""),
                ],
                createdAtMs: 0
            )
        }

        func transaction(_ kind: Transaction.Kind, by node: String, nonce: UInt64, payload: [UInt8]) throws -> Transaction {
            try Transaction(
                chainID: "store-test", kind: kind, submitter: node, nonce: nonce, timestampMs: 5, payload: payload,
                signer: node == "n1" ? honest : hostile)
        }

        func event(_ id: String, keys: [[UInt8]], requester: String = "social_security") -> AccessEvent {
            AccessEvent(
                eventID: id, requester: requester, action: "read", category: "citizen", recordKeys: keys, purpose: "benefit_eligibility",
                policyBundleHash: [1], decision: .allow, determiningPolicies: ["p"], requestDigest: [2], timestampMs: 5)
        }
    }

    @Test(arguments: SuiteName.allCases) func aKeyCopiedIntoAnotherMembersTransactionIsARowNotAStall(suite: SuiteName) async throws {
        let m = try Members(suite)
        let f = try StoreFixture(suite)
        let url = try await TestDatabase.fresh("repeated_keys")
        try await Database.withDatabase(url: url, logger: TestDatabase.logger) { database in
            try await database.migrate()
            let records = RecordStore(database: database)
            let chain = ChainStore(database: database)
            var ledger = try Ledger(genesis: m.genesis, suite: m.suite)
            func commit(_ transactions: [Transaction], at time: Int64) async throws {
                let block = try ledger.proposeSolo(transactions: transactions, proposer: "n1", signer: m.honest, timestampMs: time)
                let applied = try ledger.apply(block)
                #expect(applied.skipped.isEmpty, "\(applied.skipped)")
                try await chain.commit(block, suite: m.suite, skipped: applied.skipped)
            }

            // The honest holder (n1) publishes C1 and logs an access to it.
            let record = f.record("C1")
            let published = try await records.publish([record]) { fresh, nonce in
                let anchor = RecordAnchor(
                    publisher: "registry", category: "citizen", entries: fresh.map { .init(recordKey: $0.recordKey, recordHash: $0.recordHash) })
                let transaction = try m.transaction(.recordAnchor, by: "n1", nonce: nonce, payload: anchor.encoded)
                return (transaction, transaction.hash(suite: m.suite))
            }
            let access = try m.transaction(.accessLog, by: "n1", nonce: 1_000, payload: m.event("e1", keys: [record.recordKey]).encoded)
            let pending = try await chain.pending(limit: 10).map { try Transaction(decoding: $0.body) }
            try await commit(pending + [access], at: 10)

            // The hostile member copies the key with another hash, copies the event id twice in one block (and once
            // with another requester), and erases the key it read on chain.
            let key = record.recordKey
            let copies = [
                try m.transaction(
                    .recordAnchor, by: "n2", nonce: 1,
                    payload: RecordAnchor(publisher: "housing", category: "citizen", entries: [.init(recordKey: key, recordHash: [9, 9])]).encoded),
                try m.transaction(.accessLog, by: "n2", nonce: 2, payload: m.event("e1", keys: [key]).encoded),
                try m.transaction(
                    .accessLogBatch, by: "n2", nonce: 3, payload: AccessLogBatch(events: [m.event("e1", keys: [key], requester: "housing")]).encoded),
                try m.transaction(
                    .recordErasure, by: "n2", nonce: 4, payload: RecordErasure(publisher: "housing", category: "citizen", recordKeys: [key]).encoded),
            ]
            try await commit(copies, at: 20)
            #expect(try await chain.height() == 2)

            // The holder's record still reads against its own anchor, and is not erased.
            let read = try await records.records(category: "citizen", ids: ["C1"])
            #expect(read.count == 1 && read.first?.anchoredHash == record.recordHash)
            let rows = try await records.aggregateRows(category: "citizen", field: "monthly_income")
            #expect(rows.count == 1 && rows.first?.anchoredHash == record.recordHash && rows.first?.anchoredHeight == 1)
            #expect(try await records.erasures(recordKeys: [key], by: "n1").isEmpty)
            let key512 = try PaillierPrivateKey.generate(bits: 512, using: SystemRandom())
            let sums = RunningSumsWriter(publicKey: key512.publicKey) { _, _, _, _, _, _ in [] }
            #expect(try await records.replayErasures(sums: sums) == 0)
            #expect(try await chain.anchoredHash(recordKey: key, transaction: published.anchorTransactions[0]) == record.recordHash)

            // Every copy is an event of its own; the holder's comes first, and paging one at a time visits each once.
            let byID = try await chain.accessEvents(id: "e1")
            #expect(byID.count == 3 && byID.first?.transactionHash == access.hash(suite: m.suite), "\(byID.map { ($0.height, $0.requester) })")
            var seen: [[UInt8]] = []
            var cursor = (height: UInt64(0), id: "", transaction: [UInt8]())
            while let next = try await chain.accessEvents(
                afterHeight: cursor.height, afterEventID: cursor.id, afterTransaction: cursor.transaction, limit: 1
            ).first {
                seen.append(next.transactionHash)
                cursor = (next.height, next.eventID, next.transactionHash)
            }
            #expect(seen.count == 3 && Set(seen).count == 3)
            var filter = ChainStore.AccessEventFilter()
            filter.recordKeys = [key]
            #expect(try await chain.accessEvents(afterHeight: 0, afterEventID: "", limit: 10, filter: filter).count == 3)
            #expect(try await chain.accessesToRecords([key], limit: 10).count == 3)

            // The derived tables are exactly what the blocks imply, before and after a rebuild from the blocks.
            func proven() async throws -> Bool {
                var expected: [DerivedRows.Table: [UInt64: DerivedRows.Digest]] = [:]
                for stored in try await chain.storedBlocks(from: 1, limit: 10) {
                    let rows = try DerivedRows(
                        block: stored.block, hashes: stored.block.transactions.map { $0.hash(suite: m.suite) }, skipped: stored.skipped)
                    for (table, digest) in rows.digests where digest.count > 0 { expected[table, default: [:]][stored.block.header.height] = digest }
                }
                for table in DerivedRows.Table.allCases where try await chain.derivedDigests(table) != expected[table] ?? [:] { return false }
                return true
            }
            #expect(try await proven())
            _ = try await chain.rebuildDerived(suite: m.suite)
            #expect(try await proven())

            // The holder's own erasure counts: the row goes, and the erasure named is the holder's, not the copy.
            struct Unexpected: Error {}
            let outcome = try await records.erase(category: "citizen", id: "C1", holder: "registry", sums: nil) { recordKey, nonce in
                let erasure = RecordErasure(publisher: "registry", category: "citizen", recordKeys: [recordKey])
                let transaction = try m.transaction(.recordErasure, by: "n1", nonce: nonce, payload: erasure.encoded)
                return (transaction, transaction.hash(suite: m.suite))
            }
            guard case .erased(let erasure, let hash) = outcome else {
                Issue.record("expected the holder's erasure, got \(outcome)")
                return
            }
            try await commit([erasure], at: 30)
            #expect(try await records.records(category: "citizen", ids: ["C1"]).isEmpty)
            #expect(try await records.erasures(recordKeys: [key], by: "n1")[key]?.hash == hash)
            #expect(try await proven())
        }
    }
}
