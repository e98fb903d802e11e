import Foundation
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewaySchema
import GatewayTestSupport
import GatewayWire
import Testing

/// A citizen's view on a live node over TLS: the department's login gets a token, the API lists the accesses to the
/// citizen's records (a covert one hidden), and the citizen's page shows the same list in a real headless browser
/// (Debian's chromium through chromium-driver), takes the token out of the address bar, and fetches a proof.
@Suite struct CitizenLiveTests {
    @Test func aCitizenSeesWhoUsedTheirRecordsThroughTheAPIAndThePageInARealBrowser() async throws {
        let node = try await TestNode.start("citizen_view")
        defer { let running = node.running; Task { try? await running.stop() } }
        let registry = node.client(DemoConsortium.registry)
        let citizens = SyntheticCitizens.generate(count: 3, seed: 77)
        let published = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: citizens))
        #expect(published.status == 201, "\(String(decoding: published.body, as: UTF8.self))")
        let id = try #require(citizens[0]["citizen_id"]?.stringValue)
        let benefit = try await node.client(DemoConsortium.socialSecurity).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "benefit_eligibility"))
        #expect(benefit.status == 200, "\(String(decoding: benefit.body, as: UTF8.self))")
        let benefitEvent = try #require(try benefit.decode(API.RecordsResponse.self).receipt.eventId)
        let covert = try await node.client(DemoConsortium.socialSecurity).acting(as: "fraud_investigator").send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "fraud_investigation"))
        #expect(covert.status == 200, "\(String(decoding: covert.body, as: UTF8.self))")
        let covertEvent = try #require(try covert.decode(API.RecordsResponse.self).receipt.eventId)

        // The registry's login asks its own node for the citizen's token; another department may not.
        let issued = try await registry.send("POST", "/v1/citizen/tokens", json: API.CitizenTokenRequest(citizenId: id, ttlSeconds: 600))
        #expect(issued.status == 201, "\(String(decoding: issued.body, as: UTF8.self))")
        let token = try issued.decode(API.CitizenToken.self)
        let elsewhere = try await node.client(DemoConsortium.housing).send("POST", "/v1/citizen/tokens", json: API.CitizenTokenRequest(citizenId: id))
        #expect(elsewhere.status == 403 && elsewhere.problem?.code == "not_own_node")

        let listed = try await registry.sendRaw("GET", "/v1/citizen/accesses", headers: [("Authorization", "Bearer \(token.token)")])
        #expect(listed.status == 200, "\(String(decoding: listed.body, as: UTF8.self))")
        #expect(listed.fields.first { $0.name.lowercased() == "cache-control" }?.value == "no-store")
        let list = try listed.decode(API.CitizenAccesses.self)
        #expect(list.accesses.contains { $0.eventId == benefitEvent && $0.requester == DemoConsortium.socialSecurity && $0.decision == "allow" })
        #expect(list.accesses.contains { $0.action == "publish" && $0.requester == DemoConsortium.registry })
        #expect(!list.accesses.contains { $0.eventId == covertEvent }, "a covert access stays hidden")
        #expect(list.nodes.map(\.status) == ["answered"])
        for bad in ["", "Bearer nope", "Basic \(token.token)"] {
            let refused = try await registry.sendRaw("GET", "/v1/citizen/accesses", headers: bad.isEmpty ? [] : [("Authorization", bad)])
            #expect(refused.status == 401 && refused.problem?.code == "invalid_token", "\(bad)")
            #expect(refused.fields.contains { $0.name.lowercased() == "www-authenticate" && $0.value.hasPrefix("Bearer") })
        }
        // The regulator sees the covert access and its deferral at once.
        let audit = try await node.client(DemoConsortium.regulator).send("GET", "/v1/audit/events?limit=100")
        let audited = try #require(try audit.decode(API.AuditPage.self).events.first { $0.eventId == covertEvent })
        #expect(audited.disclosure?.discloseAtMs == audited.timestampMs + 180 * 86_400_000)
        // A release is made at the department's own node (this one is the registry's).
        let release = try await node.client(DemoConsortium.socialSecurity).send(
            "POST", "/v1/accesses/releases", json: API.ReleaseRequest(eventIds: [covertEvent]))
        #expect(release.status == 403 && release.problem?.code == "not_own_node")

        // Node to node: the part is answered signed with the node key on chain; an answer that does not verify with the
        // member's key is refused like no answer.
        let identity = try #require(node.running.node.configuration.tls)
        func peer(expecting key: any VerifyingKey) -> PeerClient {
            PeerClient(
                nodeID: "test-node", key: node.running.node.signingKey, suite: node.suite, addresses: ["test-node": node.running.baseURL],
                tls: identity, memberCertificate: { _ in identity.certificatePEM }, memberKey: { _ in key })
        }
        let part = try await peer(expecting: node.running.node.signingKey.publicKey).accesses(
            from: "test-node", API.CitizenAccessQuery(citizenId: id))
        #expect(part.accesses.map(\.eventId) == list.accesses.map(\.eventId))
        await #expect(throws: ExchangeError.self) {
            _ = try await peer(expecting: node.suite.generateSigningKey().publicKey).accesses(
                from: "test-node", API.CitizenAccessQuery(citizenId: id))
        }

        // The page, in chromium: the same rows, the token gone from the address bar, a proof fetched.
        let work = try TestPaths.temporaryDirectory("citizen-page")
        let screenshot = work.appendingPathComponent("citizen-page.png")
        let result = try await runProcess(
            TestPaths.python,
            [
                TestPaths.packageRoot.appendingPathComponent("Tests/Oracles/citizen_page.py").path,
                node.running.baseURL + "/citizen#token=" + token.token, screenshot.path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        struct Page: Decodable {
            struct Row: Decodable {
                let eventId: String
                let purpose: String
                let decision: String
                let cells: [String]
            }
            struct Node: Decodable {
                let node: String
                let status: String
            }
            let state: String
            let status: String
            let rows: [Row]
            let nodes: [Node]
            let address: String
            let tokenStored: Bool
            let proof: String
        }
        let page = try JSONDecoder().decode(Page.self, from: Data(result.stdout.utf8))
        #expect(page.state == "loaded", "\(page.status)")
        #expect(page.rows.map(\.eventId) == list.accesses.map(\.eventId), "the page shows the API's list, in its order")
        let row = try #require(page.rows.first { $0.eventId == benefitEvent })
        #expect(row.purpose == "benefit_eligibility" && row.decision == "allow")
        #expect(row.cells.contains { $0.contains(DemoConsortium.socialSecurity) })
        #expect(row.cells.contains("social-security-benefit-check"))
        #expect(page.status.contains("\(list.accesses.count) accesses"), "\(page.status)")
        #expect(page.nodes.map(\.status) == ["answered"])
        #expect(!page.address.contains("token") && page.tokenStored, "the token left the address bar for session storage")
        #expect(page.proof.contains("\"proof\"") && page.proof.contains("\"transaction\""), "\(page.proof.prefix(200))")
        #expect(FileManager.default.fileExists(atPath: screenshot.path))

        // Signed out: the page asks to sign in, and no list is fetched.
        let signedOut = try await runProcess(
            TestPaths.python,
            [
                TestPaths.packageRoot.appendingPathComponent("Tests/Oracles/citizen_page.py").path, node.running.baseURL + "/citizen",
                work.appendingPathComponent("signed-out.png").path,
            ])
        #expect(signedOut.status == 0, "\(signedOut.stderr)")
        let out = try JSONDecoder().decode(Page.self, from: Data(signedOut.stdout.utf8))
        #expect(out.state == "signed-out" && out.rows.isEmpty)
    }
}
