import Foundation
import GatewayDemo
import GatewayNode
import GatewaySchema
import GatewayStore
import GatewayTestSupport
import GatewayWire
import Testing

/// Running sums in PostgreSQL: written with each publish, in its transaction; records stored before them are summed
/// once at the next start; the recomputation from the records agrees, and finds a row altered in the database.
@Suite(.serialized, .timeLimit(.minutes(5))) struct RunningSumsStoreTests {
    @Test func publishesAddRunningSumsAStartBackfillsThemAndTheRecomputationChecksThem() async throws {
        let node = try await TestNode.start("running_sums", suite: .intl)
        let registry = node.client(DemoConsortium.registry)
        for seed in [9, 10] as [UInt64] {
            let records = SyntheticCitizens.generate(count: 40, seed: seed).enumerated().map { index, record -> JSONValue in
                guard case .object(var fields) = record else { return record }
                fields["citizen_id"] = .string(String(format: "C%07d", Int(seed) * 1_000 + index))
                return .object(fields)
            }
            #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records)).status == 201)
        }
        let store = RecordStore(database: node.running.node.database)
        let written = try await store.runningSums(category: "citizen", field: "monthly_income")
        #expect(written.map(\.records).reduce(0, +) == 80 && written.count < 80, "\(written.count) rows for 80 records")
        let groups = try await node.running.node.exchange.aggregates.verifyRunningSums(category: "citizen", field: "monthly_income")
        #expect(groups > 1)

        // As if the records had been stored before running sums existed: the next start sums them once.
        let configuration = node.running.node.configuration
        try await node.running.stop()
        try await IntegrityTests.execute(
            node.databaseURL, ["DELETE FROM aggregate_sums", "DELETE FROM aggregate_members", "DELETE FROM aggregate_sums_backfill"])
        let restarted = try await RunningNode.start(configuration, logger: TestDatabase.logger)
        defer { Task { try? await restarted.stop() } }
        let backfilled = try await RecordStore(database: restarted.node.database).runningSums(category: "citizen", field: "monthly_income")
        #expect(backfilled.map(\.records).reduce(0, +) == 80)
        #expect(try await restarted.node.exchange.aggregates.verifyRunningSums(category: "citizen", field: "monthly_income") == groups)

        // An insider alters a row's count: its tag no longer holds.
        try await IntegrityTests.execute(
            node.databaseURL,
            ["UPDATE aggregate_sums SET records = records + 1 WHERE id = (SELECT min(id) FROM aggregate_sums WHERE field = 'monthly_income')"])
        do {
            _ = try await restarted.node.exchange.aggregates.verifyRunningSums(category: "citizen", field: "monthly_income")
            Issue.record("an altered running sum passed the recomputation")
        } catch let error as ExchangeError {
            #expect(error.code == .integrityFailure && error.message.contains("aggregate_sums"), "\(error)")
        }
    }
}
