import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayNode
import GatewayWire

/// Step 9 of the demo: the regulator collects every node's signed head of the access log and checks, pair by pair,
/// that the nodes show one log (no split view), as `gateway audit consistency` does.
package struct LogHeadsScenario: Sendable {
    package let cluster: DemoCluster

    package init(cluster: DemoCluster) {
        self.cluster = cluster
    }

    package func run(narrate: @Sendable (String) -> Void) async throws {
        narrate("9. The regulator compares the four nodes' signed heads of the access log (one RFC 9162 tree over every access event).")
        let suite = try cluster.layout.suite.makeSuite()
        guard let genesis = cluster.nodes.first?.node.genesis else { throw DemoFailure(step: "log heads", message: "no node runs") }
        var collected: [LogConsistency.Collected] = []
        for node in cluster.nodes {
            var client = try cluster.consortium.client(
                DemoConsortium.regulator, baseURL: node.baseURL, suite: suite, nodeCertificate: node.node.configuration.tls?.certificatePEM)
            client.nodeKey = node.node.signingKey.publicKey
            let answer = try await client.send("GET", "/v1/audit/log/head")
            guard answer.status == 200, let head = try answer.decode(API.AccessLogHeadBody.self).head else {
                throw DemoFailure(step: "log heads", message: "HTTP \(answer.status) from \(node.node.configuration.nodeID)")
            }
            narrate("   \(head.nodeID): \(head.size) events at height \(head.height), root \(Hex.encode(head.root).prefix(16))…, signed")
            collected.append(
                .init(
                    source: node.baseURL, head: head,
                    proof: { [client] from, to in
                        let proof = try await client.send("GET", "/v1/audit/log/consistency?from=\(from)&to=\(to)")
                        guard proof.status == 200 else { throw DemoFailure(step: "log heads", message: "HTTP \(proof.status)") }
                        return try proof.decode(API.AccessLogConsistency.self).proof.compactMap(Hex.decode)
                    }))
        }
        let keys = Dictionary(genesis.members.compactMap { member in (try? suite.verifyingKey(pem: member.publicKey)).map { (member.nodeID, $0) } }) {
            first, _ in first
        }
        let report = await LogConsistency.check(collected, chainID: genesis.chainID, keys: { keys[$0] }, suite: suite)
        guard report.consistent else {
            throw DemoFailure(
                step: "log heads",
                message: "split view: " + report.conflicts.map(\.reason).joined(separator: "; ")
                    + report.refused.map(\.reason).joined(separator: "; "))
        }
        narrate(
            "   every signature checks against its member key, and each larger log proves it extends each smaller: \(report.consistentPairs) pairs consistent, no split view"
        )
    }
}
