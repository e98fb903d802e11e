import Foundation
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewaySchema
import GatewayTestSupport
import GatewayWire
import Testing

// Live nodes where a live node is the point: the `gateway` CLI speaking HTTP to a running node, and a solo node's
// bundle approval matching what `gateway policy check` prints. Consent, grants, roles and expiry as such are tested
// through the routes over fakes (ExchangeRouteTests) and end to end by the demo scenario.

/// `gateway grant` against a running node, as a data steward would use it.
@Suite struct GrantCommandTests {
    /// `gateway grant issue|list|revoke` against the live node, as a data steward would use it.
    @Test func theGrantCommandIssuesListsAndRevokes() async throws {
        let node = try await TestNode.start("grant_command")
        defer { let running = node.running; Task { try? await running.stop() } }
        let keys = node.consortium.departmentsFile.deletingLastPathComponent()
        func gateway(_ arguments: [String], as department: String) async throws -> (status: Int32, stdout: String, stderr: String) {
            let result = try await runProcess(
                TestPaths.gatewayBinary.path,
                arguments + [
                    "--url", node.running.baseURL, "--department", department,
                    "--key", keys.appendingPathComponent("\(department)-key.pem").path, "--suite", "sm",
                    "--server-certificate", try #require(node.tlsCertificateFile).path,
                    "--client-certificate", keys.appendingPathComponent("\(department)-tls-cert.pem").path,
                    "--client-key", keys.appendingPathComponent("\(department)-tls-key.pem").path,
                ])
            return (result.status, result.stdout, result.stderr)
        }
        let issued = try await gateway(
            [
                "grant", "issue", "--grantee", DemoConsortium.statistics, "--category", "citizen", "--purpose", "research",
                "--fields", "district, age_band", "--expires", inDays(10),
            ], as: DemoConsortium.registry)
        #expect(issued.status == 0, "\(issued.stderr)")
        #expect(issued.stdout.contains("live  civil_registry → statistics  citizen for research, fields district,age_band"), "\(issued.stdout)")
        let id = try #require(issued.stdout.split(separator: " ").first.map(String.init))
        #expect(id.hasPrefix("grant-"))
        let listed = try await gateway(["grant", "list"], as: DemoConsortium.statistics)
        #expect(listed.status == 0 && listed.stdout.contains(id), "\(listed.stdout)\(listed.stderr)")
        // Not the holder: a clear error and a non-zero exit.
        let refused = try await gateway(["grant", "revoke", "--id", id], as: DemoConsortium.statistics)
        #expect(refused.status != 0 && refused.stderr.contains("not_data_holder"), "\(refused.stderr)")
        let revoked = try await gateway(["grant", "revoke", "--id", id], as: DemoConsortium.registry)
        #expect(revoked.status == 0 && revoked.stdout.contains("revoked"), "\(revoked.stdout)\(revoked.stderr)")
        // An id is one path segment: a slash in it reaches the grant route (no such grant), not another route.
        let slashed = try await gateway(["grant", "revoke", "--id", "\(id)/approvals"], as: DemoConsortium.registry)
        #expect(slashed.status != 0 && slashed.stderr.contains("gave no grant"), "\(slashed.stderr)")
        let badRole = try await gateway(["grant", "list", "--role", "Not A Role"], as: DemoConsortium.statistics)
        #expect(badRole.status != 0 && badRole.stderr.contains("--role"))
    }
}

/// A solo validator approves its own policy bundle on chain (a proposal its single vote decides), so it serves.
@Suite struct SoloBundleApprovalTests {
    @Test func aSoloNodeApprovesItsOwnBundle() async throws {
        let node = try await TestNode.start("solo_bundle")
        defer { let running = node.running; Task { try? await running.stop() } }
        let registry = node.client(DemoConsortium.registry)
        let health = try await registry.send("GET", "/v1/health").decode(API.Health.self)
        // The first request finds it approved (at startup, or by that request if it came first).
        let publish = try await registry.send(
            "POST", "/v1/records/citizen", json: API.PublishRequest(records: SyntheticCitizens.generate(count: 1, seed: 1)))
        #expect(publish.status == 201)
        let status = try await registry.send("GET", "/v1/governance").decode(API.GovernanceStatus.self)
        #expect(status.approvedBundles == [health.policyBundle])
        // `gateway policy check` prints the very hash the node runs under (policies, entities.json and the schema).
        let check = try await runProcess(
            TestPaths.gatewayBinary.path,
            [
                "policy", "check", "--policies", TestPaths.policies.path,
                "--schema", TestPaths.schemas.appendingPathComponent("policies.cedarschema.json").path,
            ])
        #expect(check.stdout.contains("bundle hash (sm): \(health.policyBundle)"), "\(check.stdout)\n\(check.stderr)")
    }
}

/// `gateway call`: any API operation, signed by the CLI over mutual TLS, as an operator would send it.
@Suite struct CallCommandTests {
    @Test func theCallCommandPublishesReadsAndReportsRefusals() async throws {
        let node = try await TestNode.start("call_command")
        defer { let running = node.running; Task { try? await running.stop() } }
        let keys = node.consortium.departmentsFile.deletingLastPathComponent()
        func call(_ arguments: [String], as department: String) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await runProcess(
                TestPaths.gatewayBinary.path,
                [
                    "call", "--url", node.running.baseURL, "--department", department, "--key",
                    keys.appendingPathComponent("\(department)-key.pem").path,
                ]
                    + [
                        "--suite", "sm", "--server-certificate", try #require(node.tlsCertificateFile).path,
                        "--client-certificate", keys.appendingPathComponent("\(department)-tls-cert.pem").path,
                        "--client-key", keys.appendingPathComponent("\(department)-tls-key.pem").path,
                    ] + arguments)
        }
        let records = try TestPaths.temporaryDirectory("call-body").appendingPathComponent("records.json")
        try JSONEncoder().encode(API.PublishRequest(records: SyntheticCitizens.generate(count: 3, seed: 5))).write(to: records)
        let published = try await call(["POST", "/v1/records/citizen", "--body", records.path], as: DemoConsortium.registry)
        #expect(published.status == 0 && published.stderr.contains("HTTP 201"), "\(published.stderr)")
        #expect(try JSONDecoder().decode(API.PublishResponse.self, from: Data(published.stdout.utf8)).accepted == 3)
        let audit = try await call(["GET", "/v1/audit/events?limit=10"], as: DemoConsortium.regulator)
        #expect(audit.status == 0 && audit.stdout.contains("\"events\""), "\(audit.stderr)")
        // A refusal: the answer's problem is printed, and the exit code says it failed.
        let screening = records.deletingLastPathComponent().appendingPathComponent("screening.json")
        try JSONEncoder().encode(API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "tenant_screening")).write(to: screening)
        let refused = try await call(["POST", "/v1/requests", "--body", screening.path], as: DemoConsortium.housing)
        #expect(refused.status == 1 && refused.stderr.contains("HTTP 403 access_denied"), "\(refused.stderr)")
        #expect(refused.stdout.contains("application/problem+json") || refused.stdout.contains("\"code\""), "\(refused.stdout)")
    }
}
