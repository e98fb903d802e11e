import GatewayChain
import GatewayCrypto
import GatewayNode
import Testing

/// Split views of the access log, with nodes as in-memory logs signing their heads with real keys: honest nodes at
/// different sizes are consistent; a node whose log rewrote an event is named, with both signed heads as evidence;
/// a head of one size with another root, a proof that lies, a forged signature and a foreign chain are each reported.
@Suite struct LogConsistencyTests {
    let suite = InternationalSuite()

    struct FakeNode {
        let id: String
        let key: any SigningKey
        var log: MerkleLog
    }

    func node(_ id: String, events: [String]) throws -> FakeNode {
        var log = MerkleLog(tree: MerkleTree(suite: suite))
        for event in events { log.append(leafHash: log.tree.leafHash(Array(event.utf8))) }
        return FakeNode(id: id, key: suite.generateSigningKey(), log: log)
    }

    func collected(_ node: FakeNode, size: Int? = nil, chain: String = "chain-1", lie: Bool = false) throws -> LogConsistency.Collected {
        let size = size ?? node.log.count
        let head = try AccessLogHead(
            chainID: chain, nodeID: node.id, size: UInt64(size), height: UInt64(size), root: node.log.root(size: size), timestampMs: 1,
            signer: node.key)
        let log = node.log
        return .init(
            source: "https://\(node.id)", head: head,
            proof: { from, to in
                let proof = log.consistencyProof(oldSize: Int(from), newSize: Int(to))
                return lie ? proof.map { _ in [UInt8](repeating: 7, count: 32) } : proof
            })
    }

    @Test func honestNodesAreConsistentAndAForkedOneIsNamedWithBothHeads() async throws {
        let events = (0..<40).map { "event \($0)" }
        let a = try node("a", events: events)
        let b = try node("b", events: Array(events.prefix(33)))
        let c = try node("c", events: Array(events.prefix(17)))
        var forked = events
        forked[5] = "event 5, rewritten"
        let d = try node("d", events: forked)
        let keys = Dictionary(uniqueKeysWithValues: [a, b, c, d].map { ($0.id, $0.key.publicKey) })

        let honest = await LogConsistency.check(
            [try collected(a), try collected(b), try collected(c), try collected(a, size: 12)], chainID: "chain-1", keys: { keys[$0] },
            suite: suite)
        #expect(honest.consistent && honest.consistentPairs == 6 && honest.splitViewNodes.isEmpty)

        let split = await LogConsistency.check(
            [try collected(a), try collected(b), try collected(c), try collected(d)], chainID: "chain-1", keys: { keys[$0] }, suite: suite)
        #expect(!split.consistent)
        #expect(split.splitViewNodes == ["d"], "\(split.conflicts.map(\.reason))")
        #expect(split.conflicts.count == 3 && split.conflicts.allSatisfy { $0.first.head.nodeID == "d" || $0.second.head.nodeID == "d" })
        // The evidence: both heads, each verifiable with its node's key alone.
        for conflict in split.conflicts {
            #expect(conflict.first.head.isSigned(by: keys[conflict.first.head.nodeID]!))
            #expect(conflict.second.head.isSigned(by: keys[conflict.second.head.nodeID]!))
        }
    }

    @Test func oneSizeTwoRootsALyingProofAForgedHeadAndAnotherChainAreReported() async throws {
        let events = (0..<20).map { "event \($0)" }
        let a = try node("a", events: events)
        var other = events
        other[19] = "another last event"
        let b = try node("b", events: other)
        let keys = Dictionary(uniqueKeysWithValues: [a, b].map { ($0.id, $0.key.publicKey) })

        let sameSize = await LogConsistency.check([try collected(a), try collected(b)], chainID: "chain-1", keys: { keys[$0] }, suite: suite)
        #expect(sameSize.conflicts.count == 1 && sameSize.conflicts[0].reason.contains("roots differ"))
        #expect(sameSize.splitViewNodes == ["a", "b"], "two nodes: the pair is named")

        // The larger node's proof does not join the smaller head: a split view, even if only the proof lies.
        let lying = await LogConsistency.check(
            [try collected(a, size: 7), try collected(a, lie: true)], chainID: "chain-1", keys: { keys[$0] }, suite: suite)
        #expect(lying.conflicts.count == 1 && lying.conflicts[0].reason.contains("does not extend"))
        #expect(lying.splitViewNodes == ["a"], "heads of one node that contradict each other name it")

        // A head signed by another key is no evidence; neither is one of another chain or of an unknown node.
        var forged = try collected(a)
        forged = .init(
            source: "forged.json",
            head: AccessLogHead(
                chainID: "chain-1", nodeID: "a", size: forged.head.size, height: 1, root: forged.head.root, timestampMs: 1,
                signature: try b.key.sign(forged.head.signingMessage)), proof: nil)
        let refused = await LogConsistency.check(
            [forged, try collected(b, chain: "chain-2"), try collected(try node("z", events: events)), try collected(b)], chainID: "chain-1",
            keys: { keys[$0] }, suite: suite)
        #expect(refused.refused.count == 3 && !refused.consistent)
        #expect(refused.refused.map(\.reason).joined(separator: "|").contains("not a's"))
        #expect(refused.refused.map(\.reason).joined(separator: "|").contains("--member-key"))

        // A smaller head read from a file is compared through the larger node's proof; a larger one from a file cannot be.
        let saved = try collected(a, size: 9)
        let fromFile = LogConsistency.Collected(source: "head.json", head: saved.head, proof: nil)
        let fine = await LogConsistency.check([fromFile, try collected(a)], chainID: "chain-1", keys: { keys[$0] }, suite: suite)
        #expect(fine.consistent && fine.consistentPairs == 1)
        let larger = LogConsistency.Collected(source: "later.json", head: try collected(a).head, proof: nil)
        let unproven = await LogConsistency.check([try collected(a, size: 9), larger], chainID: "chain-1", keys: { keys[$0] }, suite: suite)
        #expect(unproven.conflicts.count == 1 && unproven.conflicts[0].reason.contains("no proof can be asked"))
    }
}
