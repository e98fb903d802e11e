import Foundation
import GatewayClient
import GatewayDemo
import GatewayNode
import GatewaySchema
import GatewayTestSupport
import GatewayWire
import Testing

/// Consent through a live node: the civil registry records a citizen's consent on chain, housing (whose policy
/// requires it) can then read that citizen's record, and after a withdrawal it cannot — each change taking effect on
/// the next request.
@Suite(.serialized) final class ConsentTests {
    let node: TestNode

    init() async throws {
        node = try await TestNode.start("consent")
        let seed = SyntheticCitizens.generate(count: 5, seed: 9)
        let response = try await node.client(DemoConsortium.registry).send("POST", "/v1/records/citizen", json: API.PublishRequest(records: seed))
        guard response.status == 201 else { throw NodeError("seeding failed: \(response.status)") }
    }

    deinit {
        let running = node.running
        Task { try? await running.stop() }
    }

    @Test func consentGivenAndWithdrawnDecidesHousingReads() async throws {
        let registry = node.client(DemoConsortium.registry)
        let housing = node.client(DemoConsortium.housing)
        let citizens = SyntheticCitizens.generate(count: 5, seed: 9).compactMap { $0["citizen_id"]?.stringValue }
        let (first, second) = (citizens[0], citizens[1])
        func read(_ ids: [String]) async throws -> ClientResponse {
            try await housing.send("POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ids, purpose: "housing_allocation"))
        }

        let before = try await read([first])
        #expect(before.status == 403 && before.problem?.code == "access_denied")

        // Consent to the parent purpose covers housing_allocation.
        let given = try await registry.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: first, purpose: "social_welfare", given: true))
        #expect(given.status == 201, "\(String(decoding: given.body, as: UTF8.self))")
        let receipt = try given.decode(API.ConsentResponse.self)
        #expect(receipt.consents == ["social_welfare"] && receipt.height > 0)

        let allowed = try await read([first])
        #expect(allowed.status == 200, "\(String(decoding: allowed.body, as: UTF8.self))")
        let body = try allowed.decode(API.RecordsResponse.self)
        #expect(body.policies == ["housing-allocation-with-consent"])
        #expect(body.records.count == 1 && body.records[0]["full_name"] == nil)
        #expect(body.records[0]["citizen_id"]?.stringValue != first, "the id must leave as a salted hash")

        // All or nothing: one record without consent refuses the request, and says which.
        let mixed = try await read([first, second])
        #expect(mixed.status == 403 && mixed.problem?.detail.contains("ids[1]") == true, "\(String(decoding: mixed.body, as: UTF8.self))")

        let withdrawn = try await registry.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: first, purpose: "social_welfare", given: false))
        #expect(withdrawn.status == 201)
        #expect(try withdrawn.decode(API.ConsentResponse.self).consents.isEmpty)
        let after = try await read([first])
        #expect(after.status == 403, "a withdrawn consent must stop the next read")
    }

    /// A consent may come before the records (README, "Consent"): it is recorded under the salted citizen key, and a
    /// record of that citizen published afterwards is read under it.
    @Test func aConsentGivenBeforeTheCitizensRecordsAppliesToThemWhenPublished() async throws {
        let registry = node.client(DemoConsortium.registry)
        var record = SyntheticCitizens.generate(count: 1, seed: 4_242)[0]
        guard case .object(var members) = record else { return }
        members["citizen_id"] = .string("C7777777")
        record = .object(members)
        let given = try await registry.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: "C7777777", purpose: "social_welfare", given: true))
        #expect(given.status == 201, "\(String(decoding: given.body, as: UTF8.self))")
        #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: [record])).status == 201)
        let read = try await node.client(DemoConsortium.housing).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C7777777"], purpose: "housing_allocation"))
        #expect(read.status == 200, "\(String(decoding: read.body, as: UTF8.self))")
    }

    @Test func onlyPermittedDepartmentsRecordConsentAndBadInputIsRefused() async throws {
        let housing = node.client(DemoConsortium.housing)
        let registry = node.client(DemoConsortium.registry)
        let refused = try await housing.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: "C1", purpose: "housing_allocation", given: true))
        #expect(refused.status == 403 && refused.problem?.code == "access_denied" && refused.problem?.eventId != nil)
        let unknown = try await registry.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: "C1", purpose: "whatever", given: true))
        #expect(unknown.status == 422 && unknown.problem?.code == "unknown_purpose")
        let empty = try await registry.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: "", purpose: "treatment", given: true))
        #expect(empty.status == 400 && empty.problem?.code == "invalid_request")
        let malformed = try await registry.send("POST", "/v1/consents", body: Array(#"{"citizenId": "C1", "purpose": "treatment"}"#.utf8))
        #expect(malformed.status == 400)
        // Commercial purposes are forbidden whatever the caller.
        let commercial = try await registry.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: "C1", purpose: "marketing", given: true))
        #expect(commercial.status == 403 && commercial.problem?.detail.contains("no-commercial-use") == true)
    }
}

/// A permit past its `@expires` grants nothing: the node refuses the request, says why, and logs the refusal.
@Suite struct GrantExpiryTests {
    @Test func anExpiredPermitIsRefusedAndLogged() async throws {
        let dir = try TestPaths.temporaryDirectory("expiry_policies")
        let demo = try String(contentsOf: TestPaths.policies.appendingPathComponent("demo.cedar"), encoding: .utf8)
        let expired = demo.replacingOccurrences(of: #"@id("social-security-benefit-check")"#, with: #"@id("social-security-benefit-check") @expires("2020-01-01")"#)
        #expect(expired != demo)
        try expired.write(to: dir.appendingPathComponent("demo.cedar"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(at: TestPaths.policies.appendingPathComponent("entities.json"), to: dir.appendingPathComponent("entities.json"))
        let node = try await TestNode.start("expiry", policies: dir)
        defer { let running = node.running; Task { try? await running.stop() } }
        let seed = SyntheticCitizens.generate(count: 2, seed: 4)
        let published = try await node.client(DemoConsortium.registry).send("POST", "/v1/records/citizen", json: API.PublishRequest(records: seed))
        #expect(published.status == 201)
        let id = seed[0]["citizen_id"]!.stringValue!
        let response = try await node.client(DemoConsortium.socialSecurity).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "benefit_eligibility"))
        #expect(response.status == 403 && response.problem?.code == "access_denied")
        #expect(response.problem?.detail.contains("expired") == true, "\(String(decoding: response.body, as: UTF8.self))")
        #expect(response.problem?.eventId != nil, "the refusal is in the access log")
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
        let publish = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: SyntheticCitizens.generate(count: 1, seed: 1)))
        #expect(publish.status == 201)
        let status = try await registry.send("GET", "/v1/governance").decode(API.GovernanceStatus.self)
        #expect(status.approvedBundles == [health.policyBundle])
        // `gateway policy check` prints the very hash the node runs under (policies, entities.json and the schema).
        let check = try await runProcess(TestPaths.gatewayBinary.path, [
            "policy", "check", "--policies", TestPaths.policies.path,
            "--schema", TestPaths.schemas.appendingPathComponent("policies.cedarschema.json").path,
        ])
        #expect(check.stdout.contains("bundle hash (sm): \(health.policyBundle)"), "\(check.stdout)\n\(check.stderr)")
    }
}
