import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewayPolicy
import GatewayStore
import GatewayTestSupport
import GatewayWire
import Testing

/// Citizens see who used their data, over in-memory fakes: the list at the home node and across nodes, the deferral
/// of covert accesses (on chain, capped by the bundle, ended by a release), the tokens, and the proof.
@Suite struct CitizenAccessTests {
    typealias F = ExchangeFixture
    static let day: Int64 = 86_400_000

    /// A holder (social security: it publishes its own silo, and its fraud investigators read it) with citizen 1.
    func socialSecurity(nodeID: String = "node-1", peers: (any CitizenAccessPeering)? = nil) async throws -> F {
        let fixture = try F(holder: F.socialSecurity, citizenPeers: peers, nodeID: nodeID)
        _ = try await fixture.exchange.publishing.publish(F.principal(F.socialSecurity), category: "citizen", records: [F.citizen(1), F.citizen(2)])
        return fixture
    }

    func investigate(_ fixture: F, _ id: String = "C0000001", discloseAfter: String? = nil) async throws -> API.RecordsResponse {
        try await fixture.exchange.reading.request(
            F.principal(F.socialSecurity, role: "fraud_investigator"),
            API.RecordsRequest(category: "citizen", ids: [id], purpose: "fraud_investigation", discloseAfter: discloseAfter))
    }

    func benefitCheck(_ fixture: F, _ id: String = "C0000001") async throws -> API.RecordsResponse {
        try await fixture.exchange.reading.request(
            F.principal(F.socialSecurity), API.RecordsRequest(category: "citizen", ids: [id], purpose: "benefit_eligibility"))
    }

    @Test func aCovertAccessIsDeferredOnChainForTheBundlesMaximumAndHiddenFromTheCitizenUntilThen() async throws {
        let fixture = try await socialSecurity()
        let start = fixture.clock.now
        let covert = try await investigate(fixture)
        let open = try await benefitCheck(fixture)
        let events = await fixture.chain.events.map(\.event)
        let deferred = try #require(events.first { $0.eventID == covert.receipt.eventId })
        #expect(deferred.discloseAtMs == deferred.timestampMs + 180 * Self.day, "the bundle's maximum for fraud_investigation")
        #expect(events.first { $0.eventID == open.receipt.eventId }?.discloseAtMs == nil, "an ordinary purpose is not deferred")

        var list = try await fixture.exchange.citizens.accesses(citizenID: "C0000001")
        #expect(list.accesses.filter { $0.action == "read" }.map(\.eventId) == [open.receipt.eventId!], "the covert access is not listed")
        // The holder's publishing of the records is an access to them too, listed to both citizens.
        #expect(list.accesses.filter { $0.action == "publish" }.count == 1)
        #expect(try await fixture.exchange.citizens.accesses(citizenID: "C0000002").accesses.map(\.action) == ["publish"])

        fixture.clock.advance(byMs: 180 * Self.day - (fixture.clock.now - start) - 1)
        list = try await fixture.exchange.citizens.accesses(citizenID: "C0000001")
        #expect(list.accesses.count == 2, "one ms before the disclosure time it is still hidden")
        fixture.clock.advance(byMs: 1_000)
        list = try await fixture.exchange.citizens.accesses(citizenID: "C0000001")
        let shown = try #require(list.accesses.first { $0.eventId == covert.receipt.eventId })
        #expect(shown.purpose == "fraud_investigation" && shown.role == "fraud_investigator" && shown.requester == F.socialSecurity)
        #expect(shown.disclosure == API.Disclosure(discloseAtMs: deferred.discloseAtMs!, releasedAtHeight: nil))
        #expect(shown.policies == ["social-security-fraud-investigation"] && shown.decision == "allow")
    }

    @Test func aRequestedDisclosureTimeIsHeldToTheBundlesMaximumAndRefusedForOrdinaryPurposes() async throws {
        let fixture = try await socialSecurity()
        let now = fixture.clock.now
        func date(_ ms: Int64) -> String {
            let formatter = ISO8601DateFormatter()
            return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(ms) / 1_000))
        }
        let thirty = try await investigate(fixture, discloseAfter: date(now + 30 * Self.day))
        let event = try #require(await fixture.chain.events.map(\.event).first { $0.eventID == thirty.receipt.eventId })
        #expect(event.discloseAtMs == (now + 30 * Self.day) / 1_000 * 1_000)
        let before = await fixture.chain.events.count
        for (text, code) in [
            (date(now + 181 * Self.day), ProblemCode.invalidRequest), (date(now - Self.day), .invalidRequest), ("next week", .invalidRequest),
            ("2027-02-30", .invalidDate),
        ] {
            await #expect(throws: ExchangeError.self, "discloseAfter \(text)") {
                do { _ = try await investigate(fixture, discloseAfter: text) } catch let error as ExchangeError {
                    #expect(error.code == code, "\(text): \(error)")
                    throw error
                }
            }
        }
        await #expect(throws: ExchangeError.self) {
            _ = try await fixture.exchange.reading.request(
                F.principal(F.socialSecurity),
                API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "benefit_eligibility", discloseAfter: date(now + Self.day)))
        }
        #expect(await fixture.chain.events.count == before, "a refused discloseAfter logs nothing")
    }

    @Test func aDeniedCovertRequestIsDeferredToo() async throws {
        let fixture = try await socialSecurity()
        // A caseworker may not investigate: the denial is logged, deferred like an allow (it would tip the citizen off).
        await #expect(throws: ExchangeError.self) {
            _ = try await fixture.exchange.reading.request(
                F.principal(F.socialSecurity, role: "caseworker"),
                API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "fraud_investigation"))
        }
        let denied = try #require(await fixture.chain.events.map(\.event).last)
        #expect(denied.decision == .deny && denied.discloseAtMs != nil)
        #expect(try await fixture.exchange.citizens.accesses(citizenID: "C0000001").accesses.map(\.action) == ["publish"])
    }

    @Test func theDepartmentThatMadeAnAccessReleasesItAtItsOwnNodeAndOnlyThen() async throws {
        let fixture = try await socialSecurity()
        let covert = try await investigate(fixture)
        let id = try #require(covert.receipt.eventId)
        let open = try await benefitCheck(fixture)

        // Another department, or a release of an access that was never deferred, is refused before anything goes on chain.
        await #expect(throws: ExchangeError.self) {
            _ = try await fixture.exchange.releases.release(F.principal(F.registry), API.ReleaseRequest(eventIds: [id]))
        }
        await #expect(throws: ExchangeError.self) {
            _ = try await fixture.exchange.releases.release(F.principal(F.socialSecurity), API.ReleaseRequest(eventIds: [open.receipt.eventId!]))
        }
        await #expect(throws: ExchangeError.self) {
            _ = try await fixture.exchange.releases.release(F.principal(F.socialSecurity), API.ReleaseRequest(eventIds: [id, id]))
        }
        let released = try await fixture.exchange.releases.release(F.principal(F.socialSecurity), API.ReleaseRequest(eventIds: [id]))
        #expect(released.released == [id])
        let shown = try #require(try await fixture.exchange.citizens.accesses(citizenID: "C0000001").accesses.first { $0.eventId == id })
        #expect(shown.disclosure?.releasedAtHeight == released.height)
        await #expect(throws: ExchangeError.self, "released twice") {
            _ = try await fixture.exchange.releases.release(F.principal(F.socialSecurity), API.ReleaseRequest(eventIds: [id]))
        }
        // Regulators see the deferral and its release in the access log.
        let page = try await fixture.exchange.audit.events(F.principal(F.regulator), after: nil, limit: 100)
        let audited = try #require(page.events.first { $0.eventId == id })
        #expect(audited.disclosure?.releasedAtHeight == released.height && audited.disclosure?.discloseAtMs != nil)
    }

    @Test func theChainCountsAReleaseOnlyFromTheNamedDepartmentsNode() async throws {
        let fixture = try await socialSecurity()
        // node-1 belongs to social security: a release it signs in another department's name is skipped by the ledger.
        await #expect(throws: ChainServiceError.self) {
            _ = try await fixture.chain.submit(.accessRelease, payload: AccessRelease(department: F.registry, eventIDs: ["x"]).encoded)
        }
        _ = try await fixture.chain.submit(.accessRelease, payload: AccessRelease(department: F.socialSecurity, eventIDs: ["x"]).encoded)
    }

    @Test func theHomeNodeListsEveryNodesPartAndSaysWhichNodeDidNotAnswer() async throws {
        // Two holders of the same citizen's records: each salts its record keys, so each answers for its own.
        let other = try await socialSecurity(nodeID: "node-2")
        _ = try await benefitCheck(other)
        let peers = FixturePeers(parts: ["node-2": other, "node-3": nil])
        let home = try F(holder: F.registry, citizenPeers: peers)
        _ = try await home.exchange.publishing.publish(F.principal(F.registry), category: "citizen", records: [F.citizen(1)])
        let read = try await home.exchange.reading.request(
            F.principal(F.registry), API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "registry_update"))
        #expect(home.recordKey("C0000001") != other.recordKey("C0000001"), "each node salts its own keys")

        let list = try await home.exchange.citizens.accesses(citizenID: "C0000001")
        #expect(Set(list.accesses.map(\.node)) == ["node-1", "node-2"])
        #expect(list.accesses.contains { $0.eventId == read.receipt.eventId && $0.node == "node-1" })
        #expect(list.accesses.contains { $0.node == "node-2" && $0.purpose == "benefit_eligibility" })
        #expect(list.nodes.map(\.node) == ["node-1", "node-2", "node-3"])
        #expect(list.nodes.map(\.status) == ["answered", "answered", "unavailable"])
        #expect(zip(list.accesses, list.accesses.dropFirst()).allSatisfy { $0.timestampMs >= $1.timestampMs }, "newest first")

        // Only member nodes ask for a part; a department cannot.
        await #expect(throws: ExchangeError.self) {
            _ = try await other.exchange.citizens.answer(F.principal(F.registry), API.CitizenAccessQuery(citizenId: "C0000001"))
        }
    }

    @Test func aProofIsGivenForADisclosedAccessOnlyAndTheTokensAreTheIssuingNodes() async throws {
        let fixture = try await socialSecurity()
        let covert = try await investigate(fixture)
        let open = try await benefitCheck(fixture)
        let proof = try await fixture.exchange.citizens.proof(eventID: open.receipt.eventId!)
        #expect(proof.height == open.receipt.height)
        await #expect(throws: ExchangeError.self, "a hidden access has no proof either") {
            _ = try await fixture.exchange.citizens.proof(eventID: covert.receipt.eventId!)
        }

        let tokens = fixture.exchange.citizenTokens
        let issued = try await tokens.issue(F.principal(F.socialSecurity), API.CitizenTokenRequest(citizenId: "C0000001", ttlSeconds: 600))
        #expect(try await tokens.verify(issued.token) == "C0000001")
        await #expect(throws: ExchangeError.self, "another department's login issues at its own node") {
            _ = try await tokens.issue(F.principal(F.registry), API.CitizenTokenRequest(citizenId: "C0000001"))
        }
        await #expect(throws: ExchangeError.self) {
            _ = try await tokens.issue(F.principal(F.socialSecurity), API.CitizenTokenRequest(citizenId: "C0000001", ttlSeconds: 86_400))
        }
        // Tampered, foreign and expired tokens are refused.
        var parts = issued.token.split(separator: ".").map(String.init)
        parts[1] = Data(#"{"sub":"C0000002","iss":"node:node-1","aud":"datagateway-citizen","iat":1,"exp":9999999999,"jti":"x"}"#.utf8)
            .base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
        let other = try await socialSecurity(nodeID: "node-9")
        let foreign = try await other.exchange.citizenTokens.issue(F.principal(F.socialSecurity), API.CitizenTokenRequest(citizenId: "C0000001"))
        for bad in [parts.joined(separator: "."), foreign.token, "", String(repeating: "a", count: 5_000), "a.b.c"] {
            await #expect(throws: ExchangeError.self) {
                do { _ = try await tokens.verify(bad) } catch let error as ExchangeError {
                    #expect(error.code == .invalidToken)
                    throw error
                }
            }
        }
        fixture.clock.advance(byMs: 601_000)
        await #expect(throws: ExchangeError.self, "expired") { _ = try await tokens.verify(issued.token) }
    }
}

extension CitizenAccessTests {
    /// A node that never answers (its request hangs until cancelled) is listed as unavailable once the home node's wait
    /// is over; the others' parts are shown.
    @Test func aNodeThatNeverAnswersIsReportedAndDoesNotHoldTheListBack() async throws {
        let other = try await socialSecurity(nodeID: "node-2")
        let home = try F(holder: F.registry, citizenPeers: FixturePeers(parts: ["node-2": other], hanging: ["node-3"]))
        var citizens = home.exchange.citizens
        citizens.peerWait = .milliseconds(300)
        let list = try await citizens.accesses(citizenID: "C0000001")
        #expect(list.nodes.map(\.status) == ["answered", "answered", "unavailable"])
        #expect(list.nodes.last?.detail?.contains("no answer within") == true)
        #expect(list.accesses.contains { $0.node == "node-2" })
    }
}

extension CitizenAccessTests {
    /// An event's time comes from its submitter: one at the end of Int64 is judged without trapping.
    @Test func extremeEventTimesAreJudgedWithoutOverflow() throws {
        let bundle = try PolicyBundle.load(from: TestPaths.policies, schemas: TestPaths.schemas)
        let row = ChainStore.AccessEventRow(
            eventID: "e", height: 1, transactionHash: [1], requester: "social_security", action: "read", category: "citizen",
            purpose: "fraud_investigation", decision: "allow", policies: [], recordCount: 1, bundleHash: [2], timestampMs: .max - 1, role: nil,
            grantID: nil, discloseAtMs: .max)
        #expect(!CitizenAccesses.isVisible(row, now: 1_800_000_000_000, policies: bundle))
        #expect(CitizenAccesses.isVisible(row, now: .max, policies: bundle))
    }
}

/// Other nodes, as in-memory fixtures answering node-to-node (nil: a node that cannot be reached).
struct FixturePeers: CitizenAccessPeering {
    let parts: [String: ExchangeFixture?]
    /// Nodes whose requests never complete (until cancelled).
    var hanging: Set<String> = []
    var nodes: [String] { (Array(parts.keys) + hanging).sorted() }

    func accesses(from node: String, _ query: API.CitizenAccessQuery) async throws -> API.CitizenAccessPart {
        if hanging.contains(node) {
            try await Task.sleep(for: .seconds(86_400))
            throw CancellationError()
        }
        guard let fixture = parts[node] ?? nil else { throw ExchangeError(.chainUnavailable, "cannot reach \(node)") }
        let principal = Principal(department: "peer", node: "node-1", requestDigest: SystemRandom().bytes(count: 32))
        return try await fixture.exchange.citizens.answer(principal, query)
    }
}

/// Regulators' queries of the access log: by department, role, purpose, decision, time range and citizen; bad values
/// are refused before anything is logged; a query about a citizen is itself an access the citizen sees.
@Suite struct AuditQueryTests {
    typealias F = ExchangeFixture

    @Test func theLogIsQueriedByEachFieldAndACitizensQueryIsVisibleToTheCitizen() async throws {
        let fixture = try F()
        _ = try await fixture.exchange.publishing.publish(F.principal(F.registry), category: "citizen", records: [F.citizen(1), F.citizen(2)])
        let start = fixture.clock.now
        _ = try await fixture.exchange.reading.request(
            F.principal(F.socialSecurity), API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "benefit_eligibility"))
        fixture.clock.advance(byMs: 60_000)
        _ = try? await fixture.exchange.reading.request(
            F.principal(F.housing), API.RecordsRequest(category: "citizen", ids: ["C0000002"], purpose: "tenant_screening"))
        _ = try? await fixture.exchange.reading.request(
            F.principal(F.socialSecurity, role: "trainee"), API.RecordsRequest(category: "citizen", ids: ["C0000002"], purpose: "benefit_eligibility")
        )
        let regulator = F.principal(F.regulator)
        func query(_ build: (inout API.AuditQuery) -> Void) async throws -> [API.AuditEvent] {
            var query = API.AuditQuery()
            build(&query)
            return try await fixture.exchange.audit.events(regulator, after: nil, limit: 100, query: query).events.filter { $0.action != "audit" }
        }
        #expect(try await query { $0.department = F.housing }.map(\.purpose) == ["tenant_screening"])
        #expect(try await query { $0.role = "trainee" }.map(\.requester) == [F.socialSecurity])
        #expect(try await query { $0.decision = "deny" }.count == 2)
        #expect(
            try await query {
                $0.purpose = "benefit_eligibility"; $0.decision = "allow"
            }.count == 1)
        let instant = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(start + 30_000) / 1_000))
        #expect(try await query { $0.to = instant }.map(\.action).sorted() == ["publish", "read"])
        #expect(try await query { $0.from = instant }.count == 2)
        let citizen = try await query { $0.citizen = "C0000002" }
        #expect(citizen.count == 3 && citizen.allSatisfy { ["publish", "read"].contains($0.action) }, "\(citizen.map(\.action))")
        // The regulator's query about citizen 2 is in citizen 2's own list.
        let list = try await fixture.exchange.citizens.accesses(citizenID: "C0000002")
        #expect(list.accesses.contains { $0.action == "audit" && $0.requester == F.regulator })
        #expect(!(try await fixture.exchange.citizens.accesses(citizenID: "C0000001")).accesses.contains { $0.action == "audit" })
        let before = await fixture.chain.events.count
        for bad: (inout API.AuditQuery) -> Void in [
            { $0.decision = "maybe" }, { $0.from = "yesterday" }, { $0.purpose = "Not A Purpose" }, { $0.role = "no role!" },
            { $0.department = "" }, { $0.citizen = "a\u{0}b" }, { $0.to = "2027-02-30" },
        ] {
            await #expect(throws: ExchangeError.self) { _ = try await query(bad) }
        }
        #expect(await fixture.chain.events.count == before, "a refused query logs nothing")
    }
}
