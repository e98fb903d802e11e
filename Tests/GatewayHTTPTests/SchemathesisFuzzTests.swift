import Foundation
import GatewayClient
import GatewayDemo
import GatewayNode
import GatewayTestSupport
import GatewayWire
import Testing

/// schemathesis, the OpenAPI property-based tester, against a live node (real TCP, real PostgreSQL): generated
/// requests for every operation of Schemas/openapi.yaml, schema-valid and schema-invalid, signed as a department
/// signs them (Tests/Oracles/schemathesis_fuzz.py). No 5xx, only documented statuses and content types, bodies
/// valid against their schemas, invalid requests refused with a 4xx, every error an RFC 9457 problem.
@Suite(.timeLimit(.minutes(10))) struct SchemathesisFuzzTests {
    /// What the generated requests are steered towards, so that they reach decisions rather than stop at a 404.
    struct Vocabulary: Encodable {
        let categories: [String]
        let purposes: [String]
        let departments: [String]
        let fields: [String]
        let dimensions: [String]
        let citizens: [String]
        let ids: [String: [String]]
    }

    @Test func generatedRequestsForEveryOperationGetDocumentedAnswers() async throws {
        // The international suite: its Ed25519 request signatures are what the Python `cryptography` package makes.
        let node = try await TestNode.start("schemathesis", suite: .intl)
        defer { Task { try? await node.running.stop() } }

        // State for the generated requests to find: records, grants, access events on chain.
        let registry = node.client(DemoConsortium.registry)
        let citizens = SyntheticCitizens.generate(count: 20, seed: 11).map { $0["citizen_id"]!.stringValue! }
        let published = try await registry.send(
            "POST", "/v1/records/citizen", json: API.PublishRequest(records: SyntheticCitizens.generate(count: 20, seed: 11)))
        #expect(published.status == 201)
        var grants: [String] = []
        for (grantee, purpose) in [(DemoConsortium.housing, "tenant_screening"), (DemoConsortium.statistics, "official_statistics")] {
            let issued = try await registry.send(
                "POST", "/v1/grants",
                json: API.GrantRequest(
                    grantee: grantee, category: "citizen", purpose: purpose, fields: ["district", "age_band"], expiresAt: "2031-01-01"))
            #expect(issued.status == 201)
            grants.append(try issued.decode(API.GrantResponse.self).grant.grantId)
        }
        let read = try await node.client(DemoConsortium.socialSecurity).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [citizens[0]], purpose: "benefit_eligibility"))
        #expect(read.status == 200)
        let event = try read.decode(API.RecordsResponse.self).receipt.eventId!

        struct Entity: Decodable { struct UID: Decodable { let type: String; let id: String }; let uid: UID }
        let entities = try JSONDecoder().decode([Entity].self, from: Data(contentsOf: TestPaths.policies.appendingPathComponent("entities.json")))
        let citizenSchema =
            try JSONSerialization.jsonObject(with: Data(contentsOf: TestPaths.schemas.appendingPathComponent("citizen.schema.json")))
            as! [String: Any]
        let extensions = citizenSchema["x-datagateway"] as! [String: Any]
        let vocabulary = Vocabulary(
            categories: ["citizen"],
            purposes: entities.filter { $0.uid.type == "Purpose" }.map(\.uid.id),
            departments: [
                DemoConsortium.registry, DemoConsortium.socialSecurity, DemoConsortium.housing, DemoConsortium.statistics, DemoConsortium.regulator,
            ],
            fields: (citizenSchema["properties"] as! [String: Any]).keys.sorted(),
            dimensions: extensions["dimensions"] as! [String],
            citizens: citizens + ["C0000000"],
            ids: [
                "/v1/records/{category}/{id}": citizens,
                "/v1/grants/{id}": grants,
                "/v1/audit/events/{id}/proof": [event],
            ]
        )
        let vocabularyFile = try TestPaths.temporaryDirectory("schemathesis").appendingPathComponent("vocabulary.json")
        try JSONEncoder().encode(vocabulary).write(to: vocabularyFile)

        let script = TestPaths.packageRoot.appendingPathComponent("Tests/Oracles/schemathesis_fuzz.py")
        let departments = [DemoConsortium.registry, DemoConsortium.socialSecurity, DemoConsortium.regulator].joined(separator: ",")
        let result = try await runProcess(
            TestPaths.python,
            [
                script.path, TestPaths.schemas.appendingPathComponent("openapi.yaml").path, node.running.baseURL,
                node.consortium.departmentsFile.deletingLastPathComponent().path, departments, "20", "20261126", vocabularyFile.path,
            ], environment: node.oracleEnvironment)
        #expect(result.status == 0, "schemathesis found failures:\n\(result.stderr.suffix(6_000))\n\(result.stdout.suffix(3_000))")

        struct Summary: Decodable { let requests: Int; let statuses: [String: Int]; let failures: Int }
        let summaryLine = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let summary = try JSONDecoder().decode(Summary.self, from: Data(summaryLine.utf8))
        print("schemathesis: \(summaryLine)")
        #expect(summary.failures == 0)
        // Not vacuous: over a thousand requests; many accepted (signing and steering work), invalid ones refused.
        #expect(summary.requests >= 1_000, "\(summary)")
        #expect(summary.statuses["2xx", default: 0] >= 100, "\(summary)")
        #expect(summary.statuses["4xx", default: 0] >= 300, "\(summary)")
        #expect(summary.statuses["5xx", default: 0] == 0, "\(summary)")
    }
}
