import Foundation
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayTestSupport
import GatewayWire
import Testing

/// A department's request-signing key changes through governance: from the height where the change is decided, the
/// node verifies the department's signatures with the new key and refuses the old one.
@Suite struct KeyRotationTests {
    @Test func aKeyRotatedByGovernanceIsTheOnlyOneAcceptedFromThatHeight() async throws {
        let node = try await TestNode.start("rotation")
        defer { let running = node.running; Task { try? await running.stop() } }
        let housing = node.client(DemoConsortium.housing)
        #expect(try await housing.send("GET", "/v1/grants").status == 200)
        let registry = node.client(DemoConsortium.registry)
        // A key that does not load, or a department's request to change its own key on a node it does not run: refused.
        let garbage = API.GovernanceProposalRequest(
            proposalId: "rotate-garbage", change: .init(kind: "setDepartmentKey", department: DemoConsortium.housing, publicKey: "not a key"))
        let refused = try await registry.send("POST", "/v1/governance/proposals", json: garbage)
        #expect(refused.status == 400 && refused.problem?.code == "invalid_request")
        let newKey = node.suite.generateSigningKey()
        let rotation = API.GovernanceProposalRequest(
            proposalId: "rotate-housing",
            change: .init(kind: "setDepartmentKey", department: DemoConsortium.housing, publicKey: newKey.publicKey.pemRepresentation))
        let notOperator = try await housing.send("POST", "/v1/governance/proposals", json: rotation)
        #expect(notOperator.status == 403)
        // The node's operator proposes; a solo validator's proposal is decided in its block.
        let proposed = try await registry.send("POST", "/v1/governance/proposals", json: rotation)
        #expect(proposed.status == 201, "\(String(decoding: proposed.body, as: UTF8.self))")
        let receipt = try proposed.decode(API.GovernanceReceipt.self)
        #expect(receipt.status == "decided")
        // From then on: the old key is refused, the new one accepted (over the department's same TLS certificate).
        let old = try await housing.send("GET", "/v1/grants")
        #expect(old.status == 401 && old.problem?.code == "bad_signature", "\(String(decoding: old.body, as: UTF8.self))")
        let rotated = try node.client(DemoConsortium.housing, key: newKey)
        #expect(try await rotated.send("GET", "/v1/grants").status == 200)
        // Other departments keep their keys; the change is on chain for every node and regulator to see.
        #expect(try await node.client(DemoConsortium.regulator).send("GET", "/v1/audit/events?limit=1").status == 200)
        let again = try await registry.send(
            "POST", "/v1/governance/proposals",
            json: API.GovernanceProposalRequest(
                proposalId: "rotate-housing-again", change: rotation.change))
        #expect(again.status == 409 && again.problem?.code == "governance_rejected")
    }
}
