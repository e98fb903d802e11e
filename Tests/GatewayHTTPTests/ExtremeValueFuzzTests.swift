import Foundation
import GatewayClient
import GatewayDemo
import GatewayNode
import GatewayTestSupport
import GatewayWire
import Testing

/// Extreme and malformed values in every header, query parameter, path parameter and body field of openapi.yaml, one
/// slot at a time, against a live node (Tests/Oracles/extreme_fuzz.py): every answer is a 4xx problem (or a 2xx where
/// the value is acceptable), never a 5xx or a dropped connection, and the node keeps answering. Seeded (set
/// DATAGATEWAY_FUZZ_SEED to replay a printed seed) and bounded in time.
@Suite(.timeLimit(.minutes(10))) struct ExtremeValueFuzzTests {
    @Test func extremeValuesInEverySlotAreRefusedAndTheNodeStaysUp() async throws {
        let node = try await TestNode.start("extreme_fuzz", suite: .intl)
        defer { Task { try? await node.running.stop() } }
        let registry = node.client(DemoConsortium.registry)
        #expect(
            try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: SyntheticCitizens.generate(count: 5, seed: 1)))
                .status == 201)
        let seed = ProcessInfo.processInfo.environment["DATAGATEWAY_FUZZ_SEED"] ?? "20261127"
        print("extreme value fuzz seed \(seed)")
        let keys = node.consortium.departmentsFile.deletingLastPathComponent()
        // The regulator may call every operation (audit, blocks) and is refused by policy elsewhere: both paths run.
        var summaries: [String] = []
        for department in [DemoConsortium.registry, DemoConsortium.regulator] {
            let result = try await runProcess(
                TestPaths.python,
                [
                    TestPaths.packageRoot.appendingPathComponent("Tests/Oracles/extreme_fuzz.py").path,
                    TestPaths.schemas.appendingPathComponent("openapi.yaml").path, node.running.baseURL,
                    keys.appendingPathComponent("\(department)-key.pem").path, department, seed, "45",
                ], environment: node.oracleEnvironment)
            #expect(result.status == 0, "seed \(seed), \(department):\n\(result.stderr.suffix(6_000))\n\(result.stdout.suffix(2_000))")
            struct Summary: Decodable { let sent: Int; let operations: Int; let failures: Int }
            let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
            let summary = try JSONDecoder().decode(Summary.self, from: Data(line.utf8))
            summaries.append("\(department): \(line)")
            #expect(summary.failures == 0)
            // Not vacuous: hundreds of requests over (nearly) every operation.
            #expect(summary.sent >= 300 && summary.operations >= 12, "\(line)")
        }
        print("extreme value fuzz: \(summaries.joined(separator: "; "))")
        #expect(try await registry.sendRaw("GET", "/v1/health", headers: []).status == 200)
    }
}
