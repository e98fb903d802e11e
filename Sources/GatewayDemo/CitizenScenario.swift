import Foundation
import GatewayClient
import GatewayCrypto
import GatewayWire

/// Step 8 of the demo: a citizen sees who used their data, on every department's node, and a covert access appears
/// only when the department that made it releases it.
package struct CitizenScenario: Sendable {
    package let cluster: DemoCluster
    /// A citizen with records on the registry's node and on social security's.
    package let citizenID: String

    package init(cluster: DemoCluster, citizenID: String) {
        self.cluster = cluster
        self.citizenID = citizenID
    }

    func client(_ department: String, at node: RunningNode) throws -> GatewayClient {
        var client = try cluster.consortium.client(
            department, baseURL: node.baseURL, suite: try cluster.layout.suite.makeSuite(),
            nodeCertificate: node.node.configuration.tls?.certificatePEM)
        client.nodeKey = node.node.signingKey.publicKey
        return client
    }

    package func run(narrate: @Sendable (String) -> Void) async throws {
        guard let home = cluster.node(of: DemoConsortium.registry), let socialNode = cluster.node(of: DemoConsortium.socialSecurity) else {
            throw DemoFailure(step: "citizen view", message: "the demo cluster lacks a department's node")
        }
        narrate("8. Citizen \(citizenID) signs in at the civil registry and sees who used their data, on every department's node.")

        // A covert access first: social security's fraud investigators read the citizen's record on their own node.
        var step = "covert access"
        let investigator = try client(DemoConsortium.socialSecurity, at: socialNode).acting(as: "fraud_investigator")
        let covert = try await investigator.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [citizenID], purpose: "fraud_investigation"))
        guard covert.status == 200, let covertEvent = try covert.decode(API.RecordsResponse.self).receipt.eventId else {
            throw failure(step, covert)
        }
        narrate(
            "   social security's fraud investigator reads the record on \(socialNode.node.configuration.nodeID) for fraud_investigation — a purpose the policy bundle marks covert (at most 180 days hidden)"
        )

        step = "citizen token"
        let login = try client(DemoConsortium.registry, at: home)
        let issued = try await login.send("POST", "/v1/citizen/tokens", json: API.CitizenTokenRequest(citizenId: citizenID))
        guard issued.status == 201 else { throw failure(step, issued) }
        let token = try issued.decode(API.CitizenToken.self)
        narrate(
            "   the registry's login issues a \(Int((token.expiresAtMs - Int64(Date().timeIntervalSince1970 * 1_000)) / 60_000 + 1))-minute token (JWT) at its node; the citizen's page is \(home.baseURL)/citizen#token=…"
        )

        step = "citizen view"
        func view() async throws -> API.CitizenAccesses {
            let answer = try await login.sendRaw("GET", "/v1/citizen/accesses", headers: [("Authorization", "Bearer \(token.token)")])
            guard answer.status == 200 else { throw failure(step, answer) }
            return try answer.decode(API.CitizenAccesses.self)
        }
        let before = try await view()
        let answered = before.nodes.filter { $0.status == "answered" }.map(\.node)
        guard answered.count == cluster.nodes.count else {
            throw DemoFailure(step: step, message: "not every node answered: \(before.nodes)")
        }
        narrate(
            "   \(home.node.configuration.nodeID) lists its own part and asks \(answered.count - 1) other nodes, signed node to node; each answers for its own records:"
        )
        for access in before.accesses { narrate("   " + line(access)) }
        guard !before.accesses.contains(where: { $0.eventId == covertEvent }) else {
            throw DemoFailure(step: step, message: "the covert access was shown before its release")
        }
        guard Set(before.accesses.map(\.node)).count >= 2 else {
            throw DemoFailure(step: step, message: "the list should hold accesses from both nodes that hold the citizen's records")
        }
        narrate("   the fraud investigation is not listed: its deferral is on chain, and regulators see it already:")
        let regulator = try client(DemoConsortium.regulator, at: home)
        var cursor: String? = nil
        var audited: API.AuditEvent? = nil
        repeat {
            let page = try await regulator.send("GET", "/v1/audit/events?limit=500" + (cursor.map { "&after=\($0)" } ?? ""))
            guard page.status == 200 else { throw failure(step, page) }
            let decoded = try page.decode(API.AuditPage.self)
            audited = audited ?? decoded.events.first { $0.eventId == covertEvent }
            cursor = decoded.next
        } while cursor != nil && audited == nil
        guard let audited, let deferral = audited.disclosure else {
            throw DemoFailure(step: step, message: "the regulator does not see the covert access and its deferral")
        }
        narrate(
            "   regulator: block \(audited.height) \(audited.requester)/\(audited.role ?? "") read purpose=\(audited.purpose), hidden from the citizen until \(Self.date(deferral.discloseAtMs))"
        )

        step = "release"
        let release = try await client(DemoConsortium.socialSecurity, at: socialNode).send(
            "POST", "/v1/accesses/releases", json: API.ReleaseRequest(eventIds: [covertEvent]))
        guard release.status == 201 else { throw failure(step, release) }
        let released = try release.decode(API.ReleaseResponse.self)
        narrate("   the investigation closes; social security releases the access at its own node: release transaction in block \(released.height)")
        // Every node answers from its own copy of the chain: the holder's node shows the release once it has the block.
        var after = try await view()
        let deadline = Date().addingTimeInterval(30)
        while !after.accesses.contains(where: { $0.eventId == covertEvent }), Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            after = try await view()
        }
        guard let shown = after.accesses.first(where: { $0.eventId == covertEvent }), shown.disclosure?.releasedAtHeight == released.height else {
            throw DemoFailure(step: step, message: "the released access is not in the citizen's list")
        }
        narrate("   the citizen's list now: \(after.accesses.count) accesses, the released one among them:")
        narrate("   " + line(shown))
    }

    func line(_ access: API.CitizenAccess) -> String {
        let who = access.requester + (access.role.map { "/" + $0 } ?? "")
        let released = access.disclosure?.releasedAtHeight.map { "  (covert, released in block \($0))" } ?? ""
        return
            "\(Self.date(access.timestampMs))  \(who.padding(toLength: 34, withPad: " ", startingAt: 0)) \(access.action.padding(toLength: 14, withPad: " ", startingAt: 0)) on \(access.node)  purpose=\(access.purpose)  \(access.decision) by \(access.policies.first ?? "default deny")  block \(access.height)\(released)"
    }

    static func date(_ ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(ms) / 1_000))
    }

    func failure(_ step: String, _ response: ClientResponse) -> DemoFailure {
        DemoFailure(
            step: step, message: "HTTP \(response.status): \(response.problem?.detail ?? String(decoding: response.body.prefix(300), as: UTF8.self))")
    }
}
