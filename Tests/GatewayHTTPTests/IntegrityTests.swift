import Foundation
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewaySchema
import GatewayStore
import GatewayTestSupport
import PostgresNIO
import Testing

/// What an insider with write access to a node's PostgreSQL can do, and what the node makes of it.
@Suite(.serialized, .timeLimit(.minutes(10))) struct IntegrityTests {
    static func execute(_ url: String, _ statements: [String]) async throws {
        try await Database.withDatabase(url: url, logger: TestDatabase.logger) { database in
            for statement in statements { try await database.client.query(PostgresQuery(unsafeSQL: statement)) }
        }
    }

    static func integer(_ url: String, _ sql: String) async throws -> Int {
        try await Database.withDatabase(url: url, logger: TestDatabase.logger) { database in
            for try await value in try await database.client.query(PostgresQuery(unsafeSQL: sql)).decode(Int.self) { return value }
            return 0
        }
    }

    /// The newest blocks are deleted (with their transactions and derived rows) while the validator's persisted safety
    /// state still certifies them. A solo validator has nobody to fetch them from: it refuses to start and names the
    /// heights — it used to log "chain ready" and die of a stack overflow seconds later.
    @Test func aSoloValidatorWhoseStoredChainLostItsTailRefusesToStartAndNamesTheHeights() async throws {
        let node = try await TestNode.start("cut_tail")
        let registry = node.client(DemoConsortium.registry)
        for batch in 0..<6 {
            let records = SyntheticCitizens.generate(count: 3, seed: UInt64(100 + batch)).enumerated().map { index, record -> JSONValue in
                guard case .object(var members) = record else { return record }
                members["citizen_id"] = .string(String(format: "C%07d", 500 + batch * 3 + index))
                return .object(members)
            }
            #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records)).status == 201)
        }
        let configuration = node.running.node.configuration
        try await node.running.stop()
        let top = try await Self.integer(node.databaseURL, "SELECT max(height)::int FROM blocks")
        #expect(top >= 6)
        let cut = top - 3
        try await Self.execute(node.databaseURL, [
            "DELETE FROM access_events WHERE height > \(cut)", "DELETE FROM anchored_records WHERE height > \(cut)",
            "DELETE FROM skipped_transactions WHERE height > \(cut)", "DELETE FROM transactions WHERE height > \(cut)",
            "DELETE FROM blocks WHERE height > \(cut)",
        ])
        do {
            let restarted = try await RunningNode.start(configuration, logger: TestDatabase.logger)
            try? await restarted.stop()
            Issue.record("a solo validator started on a chain that lost its tail")
        } catch {
            let message = "\(error)"
            #expect(message.contains("stored chain ends at height \(cut)"), "\(message)")
            #expect(message.contains("blocks \(cut + 1)…"), "\(message)")
        }
    }
}
