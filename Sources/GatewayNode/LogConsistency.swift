import GatewayChain
import GatewayCrypto

/// Split-view detection over the access log: signed heads collected from several nodes (and heads kept from earlier
/// checks) are compared two by two. Two heads of one size must have one root; of two sizes, the node with the larger
/// must prove (RFC 9162) that its tree extends the smaller one. A pair that fails is a split view, and its two signed
/// heads are the evidence: each is a node's own signed statement, so neither can deny it. A node inconsistent with more
/// than half of the others it was compared with is named; with two nodes, the pair is.
package enum LogConsistency {
    /// A head as collected: where from (a node's URL, or a file of an earlier check), and which node's proofs to ask
    /// when it is the larger of a pair (nil for a head read from a file: its node may be asked under its URL).
    package struct Collected: Sendable {
        package let source: String
        package let head: AccessLogHead
        /// Asks the head's node for the consistency proof from `from` to `to` (nil: nobody to ask).
        package let proof: (@Sendable (_ from: UInt64, _ to: UInt64) async throws -> [[UInt8]])?

        package init(source: String, head: AccessLogHead, proof: (@Sendable (UInt64, UInt64) async throws -> [[UInt8]])?) {
            self.source = source
            self.head = head
            self.proof = proof
        }
    }

    package struct Conflict: Sendable {
        package let first: Collected
        package let second: Collected
        package let reason: String
    }

    package struct Report: Sendable {
        /// Heads whose signature checked, by source.
        package var verified: [Collected] = []
        /// Heads refused before any comparison (unknown key, bad signature, another chain), with the reason.
        package var refused: [(source: String, reason: String)] = []
        /// Pairs proven consistent.
        package var consistentPairs = 0
        package var conflicts: [Conflict] = []
        /// Nodes inconsistent with more than half of the others they were compared with.
        package var splitViewNodes: [String] = []

        package var consistent: Bool { conflicts.isEmpty && refused.isEmpty }
    }

    /// Checks every head's signature, then every pair.
    package static func check(
        _ heads: [Collected], chainID: String, keys: (String) -> (any VerifyingKey)?, suite: any CryptoSuite
    ) async -> Report {
        let tree = MerkleTree(suite: suite)
        var report = Report()
        for collected in heads {
            let head = collected.head
            guard head.chainID == chainID else {
                report.refused.append((collected.source, "the head is of chain \(head.chainID), not \(chainID)"))
                continue
            }
            guard let key = keys(head.nodeID) else {
                report.refused.append((collected.source, "no member key known for \(head.nodeID): give it with --member-key"))
                continue
            }
            guard head.isSigned(by: key) else {
                report.refused.append((collected.source, "the head's signature is not \(head.nodeID)'s: not evidence of anything"))
                continue
            }
            report.verified.append(collected)
        }
        let verifier = MerkleVerifier(suite: suite)
        var inconsistent: [String: Set<String>] = [:]
        var compared: [String: Set<String>] = [:]
        let heads = report.verified
        for i in heads.indices {
            for j in heads.indices where j > i {
                let (small, large) = heads[i].head.size <= heads[j].head.size ? (heads[i], heads[j]) : (heads[j], heads[i])
                if small.head.nodeID != large.head.nodeID {
                    compared[small.head.nodeID, default: []].insert(large.head.nodeID)
                    compared[large.head.nodeID, default: []].insert(small.head.nodeID)
                }
                if let reason = await conflict(small, large, verifier: verifier, tree: tree) {
                    report.conflicts.append(Conflict(first: small, second: large, reason: reason))
                    inconsistent[small.head.nodeID, default: []].insert(large.head.nodeID)
                    inconsistent[large.head.nodeID, default: []].insert(small.head.nodeID)
                } else {
                    report.consistentPairs += 1
                }
            }
        }
        // A node at odds with most of the others it was compared with shows a view of its own.
        report.splitViewNodes = inconsistent.keys.sorted().filter { node in
            let others = compared[node]?.count ?? 0
            let against = inconsistent[node]?.count ?? 0
            return others <= 1 ? against > 0 : 2 * against > others
        }
        // Heads of one node that contradict each other name it whatever the others say.
        for conflict in report.conflicts where conflict.first.head.nodeID == conflict.second.head.nodeID {
            if !report.splitViewNodes.contains(conflict.first.head.nodeID) { report.splitViewNodes.append(conflict.first.head.nodeID) }
        }
        return report
    }

    /// Why two heads (`small.size ≤ large.size`) cannot both be honest views of one log, or nil if they can.
    static func conflict(_ small: Collected, _ large: Collected, verifier: MerkleVerifier, tree: MerkleTree) async -> String? {
        let a = small.head
        let b = large.head
        if a.size == 0 {
            return a.root == tree.emptyRoot ? nil : "\(a.nodeID) signed an empty log with a root that is not the empty tree's"
        }
        if a.size == b.size {
            return a.root == b.root ? nil : "both logs hold \(a.size) events but their roots differ"
        }
        guard let ask = large.proof else {
            return "\(b.nodeID)'s head (size \(b.size)) came from \(large.source), where no proof can be asked"
        }
        let proof: [[UInt8]]
        do {
            proof = try await ask(a.size, b.size)
        } catch {
            return "\(b.nodeID) gave no consistency proof from size \(a.size) to \(b.size): \(error)"
        }
        guard verifier.verifyConsistency(oldSize: a.size, newSize: b.size, oldRoot: a.root, newRoot: b.root, proof: proof) else {
            return "\(b.nodeID)'s log of \(b.size) events does not extend \(a.nodeID)'s log of \(a.size) (the consistency proof fails)"
        }
        return nil
    }
}
