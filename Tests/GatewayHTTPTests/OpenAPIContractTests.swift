import Foundation
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewayTestSupport
import GatewayWire
import Testing

/// Schemas/openapi.yaml is hand-written; these tests keep it honest against the running server.
@Suite struct OpenAPIContractTests {
    static let spec = TestPaths.schemas.appendingPathComponent("openapi.yaml")

    @Test func theSpecIsAValidOpenAPIDocument() async throws {
        let result = try await runProcess(
            TestPaths.python,
            [
                "-c",
                """
                import sys, yaml
                from openapi_spec_validator import validate
                validate(yaml.safe_load(open(sys.argv[1])))
                print("valid")
                """, Self.spec.path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("valid"))
    }

    struct Sample: Codable {
        let path: String
        let method: String
        let status: Int
        let body: String
    }

    /// Real responses of a live node, each validated against the schema the spec documents for its status.
    @Test func realResponsesMatchTheDocumentedSchemas() async throws {
        let node = try await TestNode.start("openapi")
        defer { Task { try? await node.running.stop() } }
        let registry = node.client(DemoConsortium.registry)
        let regulator = node.client(DemoConsortium.regulator)
        var samples: [Sample] = []
        func record(_ path: String, _ method: String, _ response: ClientResponse) {
            samples.append(Sample(path: path, method: method, status: response.status, body: String(decoding: response.body, as: UTF8.self)))
        }
        let citizens = SyntheticCitizens.generate(count: 40, seed: 3)
        record("/v1/health", "get", try await registry.sendRaw("GET", "/v1/health", headers: []))
        record("/v1/ready", "get", try await registry.sendRaw("GET", "/v1/ready", headers: []))
        record("/metrics", "get", try await registry.sendRaw("GET", "/metrics", headers: []))
        record("/v1/records/{category}", "post", try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: citizens)))
        record("/v1/records/{category}", "post", try await registry.send("POST", "/v1/records/citizen", body: Array("{".utf8)))
        record("/v1/records/{category}", "post", try await registry.send("POST", "/v1/records/nope", json: API.PublishRequest(records: citizens)))
        record(
            "/v1/records/{category}", "post",
            try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: [.object([:])])))
        record("/v1/records/{category}", "post", try await registry.sendRaw("POST", "/v1/records/citizen", body: [1], headers: []))
        let id = citizens[0]["citizen_id"]!.stringValue!
        record("/v1/records/{category}/{id}", "get", try await registry.send("GET", "/v1/records/citizen/\(id)?purpose=registry_update"))
        record("/v1/records/{category}/{id}", "get", try await registry.send("GET", "/v1/records/citizen/C7777777?purpose=registry_update"))
        // Erasure of the last citizen: 200, then 410 on a read, a batch listing it as erased, and a second erasure.
        let erasedID = citizens[citizens.count - 1]["citizen_id"]!.stringValue!
        record("/v1/records/{category}/{id}", "delete", try await registry.send("DELETE", "/v1/records/citizen/\(erasedID)"))
        record("/v1/records/{category}/{id}", "delete", try await registry.send("DELETE", "/v1/records/citizen/\(erasedID)"))
        record("/v1/records/{category}/{id}", "delete", try await registry.send("DELETE", "/v1/records/citizen/C7777777"))
        record("/v1/records/{category}/{id}", "get", try await registry.send("GET", "/v1/records/citizen/\(erasedID)?purpose=registry_update"))
        record(
            "/v1/requests", "post",
            try await registry.send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id, erasedID], purpose: "registry_update")))
        record(
            "/v1/requests", "post",
            try await node.client(DemoConsortium.socialSecurity).send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "benefit_eligibility")))
        record(
            "/v1/requests", "post",
            try await node.client(DemoConsortium.housing).send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "tenant_screening")))
        record(
            "/v1/requests", "post",
            try await node.client(DemoConsortium.housing).send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "curiosity")))
        record(
            "/v1/consents", "post",
            try await registry.send(
                "POST", "/v1/consents", json: API.ConsentRequest(citizenId: id, purpose: "housing_allocation", given: true)))
        record(
            "/v1/consents", "post",
            try await node.client(DemoConsortium.housing).send(
                "POST", "/v1/consents", json: API.ConsentRequest(citizenId: id, purpose: "housing_allocation", given: true)))
        record("/v1/consents", "post", try await registry.send("POST", "/v1/consents", body: Array(#"{"citizenId": 1}"#.utf8)))
        record(
            "/v1/consents", "post",
            try await registry.send(
                "POST", "/v1/consents", json: API.ConsentRequest(citizenId: id, purpose: "curiosity", given: true)))
        // Grants: issued, listed, used (the answer names the grant), refused, revoked, revoked again.
        let grantRequest = API.GrantRequest(
            grantee: DemoConsortium.housing, category: "citizen", purpose: "tenant_screening", fields: ["district"], expiresAt: "2099-01-01")
        let farFuture = API.GrantRequest(grantee: DemoConsortium.housing, category: "citizen", purpose: "tenant_screening", expiresAt: "2031-01-01")
        let issued = try await registry.send("POST", "/v1/grants", json: farFuture)
        record("/v1/grants", "post", issued)
        record("/v1/grants", "post", try await registry.send("POST", "/v1/grants", json: grantRequest))
        record("/v1/grants", "post", try await node.client(DemoConsortium.housing).send("POST", "/v1/grants", json: farFuture))
        record(
            "/v1/grants", "post",
            try await registry.send(
                "POST", "/v1/grants",
                json: API.GrantRequest(
                    grantee: "nobody", category: "citizen", purpose: "tenant_screening", expiresAt: "2031-01-01")))
        record(
            "/v1/grants", "post",
            try await registry.send(
                "POST", "/v1/grants",
                json: API.GrantRequest(
                    grantee: DemoConsortium.housing, category: "nope", purpose: "tenant_screening", expiresAt: "2031-01-01")))
        record("/v1/grants", "get", try await node.client(DemoConsortium.housing).send("GET", "/v1/grants"))
        record("/v1/grants", "get", try await node.client(DemoConsortium.housing).acting(as: "nobody").send("GET", "/v1/grants"))
        record(
            "/v1/requests", "post",
            try await node.client(DemoConsortium.housing).send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "tenant_screening")))
        let grantID = try issued.decode(API.GrantResponse.self).grant.grantId
        record("/v1/grants/{id}", "delete", try await registry.send("DELETE", "/v1/grants/\(grantID)"))
        record("/v1/grants/{id}", "delete", try await registry.send("DELETE", "/v1/grants/\(grantID)"))
        record("/v1/grants/{id}", "delete", try await registry.send("DELETE", "/v1/grants/nope"))
        record("/v1/grants/{id}", "delete", try await node.client(DemoConsortium.housing).send("DELETE", "/v1/grants/\(grantID)"))
        record(
            "/v1/requests", "post",
            try await node.client(DemoConsortium.socialSecurity).acting(as: "trainee").send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "benefit_eligibility")))
        record(
            "/v1/aggregates", "post",
            try await node.client(DemoConsortium.statistics).send(
                "POST", "/v1/aggregates",
                json: API.AggregateRequest(
                    category: "citizen", field: "monthly_income", groupBy: ["district", "age_band"], purpose: "official_statistics")))
        record(
            "/v1/aggregates", "post",
            try await node.client(DemoConsortium.statistics).send(
                "POST", "/v1/aggregates",
                json: API.AggregateRequest(category: "citizen", field: "full_name", groupBy: [], purpose: "official_statistics")))
        // Statistics across departments are asked at the requester's own node (this one is the registry's): refused
        // here; a department may not call the node-to-node route. (A live cluster test covers the 200s.)
        let across = API.StatisticsRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics")
        record("/v1/statistics", "post", try await node.client(DemoConsortium.statistics).send("POST", "/v1/statistics", json: across))
        record(
            "/v1/statistics", "post",
            try await node.client(DemoConsortium.statistics).send(
                "POST", "/v1/statistics",
                json: API.StatisticsRequest(category: "citizen", field: "monthly_income", groupBy: ["birth_date"], purpose: "official_statistics")))
        record(
            "/v1/node/contributions", "post",
            try await node.client(DemoConsortium.statistics).send(
                "POST", "/v1/node/contributions",
                json: API.ContributionRequest(
                    statisticID: "s", requester: DemoConsortium.statistics, role: nil, category: "citizen", field: "monthly_income",
                    groupBy: ["district"], purpose: "official_statistics", epsilonMicros: 0, budgetMicros: 0, minimumCohort: 10, holders: ["node-1"],
                    salt: String(repeating: "ab", count: 32))))
        let page = try await regulator.send("GET", "/v1/audit/events?limit=200")
        record("/v1/audit/events", "get", page)
        record("/v1/audit/events", "get", try await regulator.send("GET", "/v1/audit/events?limit=0"))
        let filtered = try await regulator.send(
            "GET", "/v1/audit/events?department=housing&decision=deny&from=2020-01-01&to=2099-01-01&citizen=\(id)")
        record("/v1/audit/events", "get", filtered)
        let housingDenials = try filtered.decode(API.AuditPage.self).events
        #expect(!housingDenials.isEmpty && housingDenials.allSatisfy { $0.requester == DemoConsortium.housing && $0.decision == "deny" })
        record("/v1/audit/events", "get", try await regulator.send("GET", "/v1/audit/events?purpose=tenant_screening&role=caseworker"))
        record("/v1/audit/events", "get", try await regulator.send("GET", "/v1/audit/events?from=yesterday"))
        record("/v1/audit/events", "get", try await regulator.send("GET", "/v1/audit/events?to=2027-02-30"))
        let eventID = try page.decode(API.AuditPage.self).events[0].eventId
        record("/v1/audit/events/{id}/proof", "get", try await regulator.send("GET", "/v1/audit/events/\(eventID)/proof"))
        record("/v1/audit/events/{id}/proof", "get", try await regulator.send("GET", "/v1/audit/events/nope/proof"))
        // Citizens: the registry's login gets a token at its own node; the list, a proof, refusals; a department cannot
        // ask the node-to-node route; a release of another department's (or no) access is refused.
        record("/citizen", "get", try await registry.sendRaw("GET", "/citizen", headers: []))
        let tokenAnswer = try await registry.send("POST", "/v1/citizen/tokens", json: API.CitizenTokenRequest(citizenId: id))
        record("/v1/citizen/tokens", "post", tokenAnswer)
        record(
            "/v1/citizen/tokens", "post",
            try await node.client(DemoConsortium.housing).send("POST", "/v1/citizen/tokens", json: API.CitizenTokenRequest(citizenId: id)))
        record(
            "/v1/citizen/tokens", "post",
            try await registry.send("POST", "/v1/citizen/tokens", json: API.CitizenTokenRequest(citizenId: id, ttlSeconds: 5)))
        let bearer = [("Authorization", "Bearer " + (try tokenAnswer.decode(API.CitizenToken.self).token))]
        let citizenList = try await registry.sendRaw("GET", "/v1/citizen/accesses", headers: bearer)
        record("/v1/citizen/accesses", "get", citizenList)
        record("/v1/citizen/accesses", "get", try await registry.sendRaw("GET", "/v1/citizen/accesses", headers: [("Authorization", "Bearer x")]))
        let citizenEvent = try #require(try citizenList.decode(API.CitizenAccesses.self).accesses.first).eventId
        record("/v1/citizen/proofs/{id}", "get", try await registry.sendRaw("GET", "/v1/citizen/proofs/\(citizenEvent)", headers: bearer))
        record("/v1/citizen/proofs/{id}", "get", try await registry.sendRaw("GET", "/v1/citizen/proofs/nope", headers: bearer))
        record("/v1/citizen/proofs/{id}", "get", try await registry.sendRaw("GET", "/v1/citizen/proofs/nope", headers: []))
        record(
            "/v1/node/citizen-accesses", "post",
            try await registry.send("POST", "/v1/node/citizen-accesses", json: API.CitizenAccessQuery(citizenId: id)))
        record(
            "/v1/accesses/releases", "post",
            try await registry.send("POST", "/v1/accesses/releases", json: API.ReleaseRequest(eventIds: [citizenEvent])))
        record(
            "/v1/accesses/releases", "post",
            try await registry.send("POST", "/v1/accesses/releases", json: API.ReleaseRequest(eventIds: [])))
        record(
            "/v1/accesses/releases", "post",
            try await node.client(DemoConsortium.housing).send("POST", "/v1/accesses/releases", json: API.ReleaseRequest(eventIds: ["x"])))
        record("/v1/chain/blocks", "get", try await regulator.send("GET", "/v1/chain/blocks?from=1&limit=3"))
        let logHead = try await regulator.send("GET", "/v1/audit/log/head")
        record("/v1/audit/log/head", "get", logHead)
        let logSize = try logHead.decode(API.AccessLogHeadBody.self).size
        record("/v1/audit/log/consistency", "get", try await regulator.send("GET", "/v1/audit/log/consistency?from=1&to=\(logSize)"))
        record("/v1/audit/log/consistency", "get", try await regulator.send("GET", "/v1/audit/log/consistency?from=2&to=1"))
        record("/v1/audit/log/inclusion", "get", try await registry.send("GET", "/v1/audit/log/inclusion?index=0&size=\(logSize)"))
        record("/v1/audit/log/inclusion", "get", try await registry.send("GET", "/v1/audit/log/inclusion?index=0"))
        record("/v1/chain/blocks", "get", try await regulator.send("GET", "/v1/chain/blocks?limit=0"))
        record("/v1/chain/blocks", "get", try await registry.send("GET", "/v1/chain/blocks"))
        // Governance: the node's own department (the registry runs the test node) proposes; a solo chain decides at once.
        let bundle = API.GovernanceProposalRequest(
            proposalId: "bundle-1",
            change: API.GovernanceChange(
                kind: "approvePolicyBundle", bundleHash: Hex.encode(Array(repeating: 0x42, count: 32))))
        let proposed = try await registry.send("POST", "/v1/governance/proposals", json: bundle)
        record("/v1/governance/proposals", "post", proposed)
        #expect(proposed.status == 201 && (try? proposed.decode(API.GovernanceReceipt.self).status) == "decided")
        record("/v1/governance/proposals", "post", try await registry.send("POST", "/v1/governance/proposals", json: bundle))
        record(
            "/v1/governance/proposals", "post", try await node.client(DemoConsortium.housing).send("POST", "/v1/governance/proposals", json: bundle))
        record(
            "/v1/governance/proposals", "post",
            try await registry.send(
                "POST", "/v1/governance/proposals",
                json: API.GovernanceProposalRequest(
                    proposalId: "bad", change: API.GovernanceChange(kind: "addMember"))))
        record("/v1/governance/proposals/{id}/approvals", "post", try await registry.send("POST", "/v1/governance/proposals/bundle-1/approvals"))
        record("/v1/governance/proposals/{id}/approvals", "post", try await regulator.send("POST", "/v1/governance/proposals/nope/approvals"))
        let status = try await regulator.send("GET", "/v1/governance")
        record("/v1/governance", "get", status)
        #expect(try status.decode(API.GovernanceStatus.self).approvedBundles.contains(Hex.encode(Array(repeating: 0x42, count: 32))))

        let dir = try TestPaths.temporaryDirectory("openapi")
        let samplesPath = dir.appendingPathComponent("samples.json").path
        try JSONEncoder().encode(samples).write(to: URL(fileURLWithPath: samplesPath))
        let result = try await runProcess(
            TestPaths.python,
            [
                "-c",
                """
                import json, sys, yaml
                from jsonschema import Draft202012Validator
                spec = yaml.safe_load(open(sys.argv[1]))
                def resolve(node):
                    while isinstance(node, dict) and "$ref" in node:
                        target = spec
                        for part in node["$ref"].lstrip("#/").split("/"):
                            target = target[part]
                        node = target
                    return node
                failures = 0
                for s in json.load(open(sys.argv[2])):
                    op = spec["paths"][s["path"]][s["method"]]
                    response = op["responses"].get(str(s["status"]))
                    if response is None:
                        print("UNDOCUMENTED", s["method"], s["path"], s["status"], s["body"][:200]); failures += 1; continue
                    content = resolve(response)["content"]
                    media, = content.keys()
                    schema = dict(resolve(content[media]["schema"]))
                    schema["components"] = spec["components"]
                    body = s["body"] if media.startswith("text/") else json.loads(s["body"])
                    errors = list(Draft202012Validator(schema).iter_errors(body))
                    for e in errors[:3]:
                        print("MISMATCH", s["method"], s["path"], s["status"], e.message[:200]); failures += 1
                print("checked", len(json.load(open(sys.argv[2]))))
                sys.exit(1 if failures else 0)
                """, Self.spec.path, samplesPath,
            ])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("checked \(samples.count)"))
        // Every documented operation was exercised.
        let documented = try await runProcess(
            TestPaths.python,
            [
                "-c",
                """
                import sys, yaml
                spec = yaml.safe_load(open(sys.argv[1]))
                for path, ops in spec["paths"].items():
                    for method in ops:
                        if method in ("get", "post", "put", "patch", "delete"): print(method, path)
                """, Self.spec.path,
            ])
        let exercised = Set(samples.map { "\($0.method) \($0.path)" })
        for operation in documented.stdout.split(separator: "\n") {
            #expect(exercised.contains(String(operation)), "operation \(operation) not exercised")
        }
    }
}
