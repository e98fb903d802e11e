import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewaySchema
import GatewayStore
import GatewayTestSupport
import GatewayWire
import PostgresNIO
import Testing

/// Erasure on a live node (real PostgreSQL): `DELETE /v1/records/{category}/{id}` by the holder removes the row with
/// its wrapped data key and its aggregate ciphertexts, compensates the running sums, and commits an erasure
/// transaction naming only the salted key; reads then get 410 naming that transaction, and the chain's derived tables
/// still match the blocks.
@Suite struct ErasureTests {
    @Test func theHolderErasesARecordAndEveryReadAfterIsGoneNamingTheErasure() async throws {
        let node = try await TestNode.start("erasure")
        defer { let running = node.running; Task { try? await running.stop() } }
        let registry = node.client(DemoConsortium.registry)
        let citizens = SyntheticCitizens.generate(count: 12, seed: 47)
        #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: citizens)).status == 201)
        let victim = try #require(citizens[3]["citizen_id"]?.stringValue)
        let kept = try #require(citizens[4]["citizen_id"]?.stringValue)
        let vault = node.running.node.exchange.erasing.vault
        let recordKey = vault.recordKey(category: "citizen", id: victim)
        let wrappedKey: [UInt8] = try await Database.withDatabase(url: node.databaseURL, logger: TestDatabase.logger) { database in
            let rows = try await database.client.query("SELECT wrapped_key FROM records WHERE record_id = \(victim)")
            for try await key in rows.decode(ByteBuffer.self) { return Array(key.readableBytesView) }
            return []
        }
        #expect(!wrappedKey.isEmpty)
        // What a backup taken now would hold of the off-chain tables (restored at the end, after the erasure).
        let offChain = ["records", "record_aggregates", "aggregate_sums", "aggregate_members"]
        try await Database.withDatabase(url: node.databaseURL, logger: TestDatabase.logger) { database in
            for table in offChain {
                try await database.client.query(PostgresQuery(unsafeSQL: "CREATE TABLE snap_\(table) AS SELECT * FROM \(table)"))
            }
        }

        // Only the holder erases: housing is refused by policy (and the refusal is logged), social security is allowed
        // by policy to erase citizen records but did not publish this one.
        let housing = try await node.client(DemoConsortium.housing).send("DELETE", "/v1/records/citizen/\(victim)")
        #expect(housing.status == 403 && housing.problem?.code == "access_denied", "\(String(decoding: housing.body, as: UTF8.self))")
        let other = try await node.client(DemoConsortium.socialSecurity).send("DELETE", "/v1/records/citizen/\(victim)")
        #expect(other.status == 403 && other.problem?.code == "not_data_holder", "\(String(decoding: other.body, as: UTF8.self))")

        let erased = try await registry.send("DELETE", "/v1/records/citizen/\(victim)")
        #expect(erased.status == 200, "\(String(decoding: erased.body, as: UTF8.self))")
        let receipt = try erased.decode(API.ErasureResponse.self)
        #expect(receipt.id == victim && receipt.erasure.height >= 1 && receipt.event.eventId != nil)

        // Reads: one id is 410 naming the erasure; a batch lists it under `erased`, apart from the never published.
        let gone = try await registry.send("GET", "/v1/records/citizen/\(victim)?purpose=registry_update")
        #expect(gone.status == 410 && gone.problem?.code == "record_erased" && gone.problem?.transaction == receipt.erasure.transaction)
        let batch = try await registry.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [victim, kept, "C7777777"], purpose: "registry_update"))
        let answer = try batch.decode(API.RecordsResponse.self)
        #expect(answer.records.count == 1 && answer.missing == ["C7777777"])
        #expect(answer.erased == [API.ErasedRecord(id: victim, transaction: receipt.erasure.transaction, height: receipt.erasure.height)])
        let again = try await registry.send("DELETE", "/v1/records/citizen/\(victim)")
        #expect(again.status == 410 && again.problem?.code == "record_erased")
        // An erased id is not published again.
        let republish = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: [citizens[3]]))
        #expect(republish.status == 409 && republish.problem?.code == "record_conflict", "\(String(decoding: republish.body, as: UTF8.self))")

        try await Database.withDatabase(url: node.databaseURL, logger: TestDatabase.logger) { database in
            // No row, no aggregate ciphertext, and the wrapped data key nowhere in the node's tables.
            for table in ["records", "record_aggregates"] {
                let rows = try await database.client.query(
                    PostgresQuery(unsafeSQL: "SELECT count(*)::bigint FROM \(table) WHERE record_id = '\(victim)'"))
                for try await count in rows.decode(Int64.self) { #expect(count == 0, "\(table)") }
            }
            let tables = try await database.client.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")
            var names: [String] = []
            for try await name in tables.decode(String.self) { names.append(name) }
            // (The test's own "backup" tables, snap_*, hold it, as a backup taken before an erasure does.)
            for name in names where !name.hasPrefix("snap_") {
                let found = try await database.client.query(
                    PostgresQuery(
                        unsafeSQL:
                            "SELECT count(*)::bigint FROM \(name) t WHERE position(decode('\(Hex.encode(wrappedKey))', 'hex') in convert_to(t::text, 'UTF8')) > 0 OR t::text LIKE '%\(Hex.encode(wrappedKey))%'"
                    ))
                for try await count in found.decode(Int64.self) { #expect(count == 0, "the wrapped key is still in \(name)") }
            }
            // The chain holds the erasure under the salted key only; the derived table names it.
            let derived = try await RecordStore(database: database).erasures(recordKeys: [recordKey], by: node.running.node.configuration.nodeID)
            #expect(derived[recordKey].map { Hex.encode($0.hash) } == receipt.erasure.transaction)
            let blocks = try await ChainStore(database: database).blocks(from: receipt.erasure.height, limit: 1)
            let transaction = try #require(blocks.first?.transactions.first { $0.kind == .recordErasure })
            let payload = try RecordErasure(decoding: transaction.payload)
            #expect(payload.recordKeys == [recordKey] && payload.publisher == DemoConsortium.registry)
            #expect(!String(decoding: transaction.payload, as: UTF8.self).contains(victim))
        }
        // A database restored from the backup taken before the erasure holds the record again: reads still refuse it, and
        // the replay at start erases it as the chain says, compensating its sums.
        try await Database.withDatabase(url: node.databaseURL, logger: TestDatabase.logger) { database in
            for statement in [
                "INSERT INTO records SELECT * FROM snap_records WHERE record_id = '\(victim)'",
                "INSERT INTO record_aggregates SELECT * FROM snap_record_aggregates WHERE record_id = '\(victim)'",
                "DELETE FROM aggregate_sums", "INSERT INTO aggregate_sums SELECT * FROM snap_aggregate_sums",
                "DELETE FROM aggregate_members", "INSERT INTO aggregate_members SELECT * FROM snap_aggregate_members",
                "DROP TABLE snap_records, snap_record_aggregates, snap_aggregate_sums, snap_aggregate_members",
            ] {
                try await database.client.query(PostgresQuery(unsafeSQL: statement))
            }
        }
        let restoredRead = try await registry.send("GET", "/v1/records/citizen/\(victim)?purpose=registry_update")
        #expect(restoredRead.status == 410 && restoredRead.problem?.code == "record_erased")
        let sums = vault.runningSums(node.running.node.aggregation.publicKey)
        let replayed = try await Database.withDatabase(url: node.databaseURL, logger: TestDatabase.logger) { database in
            let store = RecordStore(database: database)
            return [try await store.replayErasures(sums: sums), try await store.replayErasures(sums: sums)]
        }
        #expect(replayed == [1, 0])
        // The running sums still equal the records they sum, and the derived tables still match the blocks.
        #expect(try await node.running.node.exchange.aggregates.verifyRunningSums(category: "citizen", field: "monthly_income") > 0)
        try await Database.withDatabase(url: node.databaseURL, logger: TestDatabase.logger) { database in
            let store = ChainStore(database: database)
            var ledger = try Ledger(genesis: node.running.node.genesis, suite: node.suite)
            let expected = try await ChainService.verifyStoredChain(store: store, ledger: &ledger, suite: node.suite)
            #expect(expected[.erasedRecords]?.values.map(\.count).reduce(0, +) == 1)
            let proof = try await ChainService.proveDerivedState(store: store, expected: expected, height: ledger.height, suite: node.suite)
            #expect(proof.heights.isEmpty && proof.problems.isEmpty, "\(proof.problems)")
        }
    }
}
