import Foundation
import GatewayDemo
import GatewaySchema
import GatewayTestSupport
import GatewayWire
import Testing

/// `GET /metrics` of a live node, parsed by the reference Prometheus client's parser (prometheus_client): request
/// latencies by route pattern and status, decisions by outcome, chain height, and no record id anywhere in it.
@Suite struct MetricsTests {
    struct Sample: Decodable {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    @Test func metricsCountRequestsByRouteDecisionsByOutcomeAndTheChainWithoutPersonalData() async throws {
        let node = try await TestNode.start("metrics")
        defer { let running = node.running; Task { try? await running.stop() } }
        let registry = node.client(DemoConsortium.registry)
        let citizens = SyntheticCitizens.generate(count: 3, seed: 16)
        let id = try #require(citizens[0]["citizen_id"]?.stringValue)
        #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: citizens)).status == 201)
        #expect(try await registry.send("GET", "/v1/records/citizen/\(id)?purpose=benefit_eligibility").status == 200)
        let housing = node.client(DemoConsortium.housing)
        #expect(try await housing.send("GET", "/v1/records/citizen/\(id)?purpose=marketing").status == 403)
        #expect(try await housing.send("GET", "/v1/records/nowhere/x?purpose=marketing").status == 404)

        let scraped = try await registry.sendRaw("GET", "/metrics", headers: [])
        #expect(scraped.status == 200 && scraped.contentType.hasPrefix("text/plain; version=0.0.4"))
        let text = String(decoding: scraped.body, as: UTF8.self)
        for citizen in citizens {
            let cid = try #require(citizen["citizen_id"]?.stringValue)
            #expect(!text.contains(cid), "a record id reached the metrics")
        }
        let parsed = try await runProcess(
            TestPaths.python, [TestPaths.packageRoot.appendingPathComponent("Tests/Oracles/prometheus_parse.py").path], input: Data(scraped.body))
        #expect(parsed.status == 0, "prometheus_client could not parse the exposition: \(parsed.stderr)")
        let samples = try JSONDecoder().decode([Sample].self, from: Data(parsed.stdout.utf8))
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
        }
        let recordRoute = try #require(
            samples.first { $0.name == "datagateway_http_request_duration_seconds_count" && $0.labels["route"]?.contains("{") == true }?
                .labels["route"]
                ?? samples.first { $0.name == "datagateway_http_request_duration_seconds_count" && $0.labels["route"]?.contains(":") == true }?
                .labels["route"], "no route pattern label: \(samples.map(\.labels))")
        #expect(!recordRoute.contains(id))
        #expect((value("datagateway_http_request_duration_seconds_count", ["method": "POST", "status": "201"]) ?? 0) >= 1)
        #expect((value("datagateway_http_request_duration_seconds_count", ["method": "GET", "status": "403"]) ?? 0) >= 1)
        #expect((value("datagateway_http_request_duration_seconds_count", ["status": "404"]) ?? 0) >= 1)
        #expect((value("datagateway_decisions_total", ["outcome": "allow"]) ?? 0) >= 2)
        #expect((value("datagateway_decisions_total", ["outcome": "deny"]) ?? 0) >= 1)
        #expect((value("datagateway_chain_height") ?? 0) >= 1)
        #expect(value("datagateway_ready") == 1)
        #expect(value("datagateway_integrity_failures") == 0)
        #expect((value("datagateway_blocks_stored_total") ?? 0) >= 1)
        #expect(value("datagateway_validators") == 1 && value("datagateway_validators_reachable") == 1)
        #expect(value("datagateway_outbox_transactions") != nil && value("datagateway_mempool_transactions") != nil)
        // The database pool: the node holds connections open, at most the pool's maximum.
        let open = value("datagateway_db_pool_connections") ?? 0
        #expect(open >= 1 && open <= (value("datagateway_db_pool_connections_max") ?? 0), "\(open)")
    }
}
