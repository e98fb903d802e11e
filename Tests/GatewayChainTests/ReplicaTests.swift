import GatewayChain
import GatewayCrypto
import Testing

/// Signatures for unit tests: HMAC with a per-replica key; verification recomputes with the signer's key.
struct TestSigner: ConsensusSigner {
    let replica: ReplicaID
    let keys: [[UInt8]]
    func sign(_ message: [UInt8]) -> [UInt8] { InternationalSuite().hmac(key: keys[replica], message) }
    func verify(_ signature: [UInt8], by replica: ReplicaID, for message: [UInt8]) -> Bool {
        keys.indices.contains(replica) && signature == InternationalSuite().hmac(key: keys[replica], message)
    }
}

/// A perfect network: every message delivered in order, no loss. Returns the commits per replica.
func runCluster(replicas n: Int, ticks: Int, offline: Set<ReplicaID> = []) -> [[ConsensusBlock]] {
    let keys = (0..<n).map { [UInt8(truncatingIfNeeded: $0 + 1)] }
    let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }
    var nodes = (0..<n).map { Replica(id: $0, configuration: .init(replicas: n), signer: TestSigner(replica: $0, keys: keys), hash: hash) }
    var commits = Array(repeating: [ConsensusBlock](), count: n)
    var inbox: [(from: ReplicaID, to: ReplicaID, message: ConsensusMessage)] = []
    func perform(_ effects: [ConsensusEffect], of id: ReplicaID) {
        for effect in effects {
            switch effect {
            case .send(let to, let message): inbox.append((id, to, message))
            case .broadcast(let message): for to in 0..<n where to != id { inbox.append((id, to, message)) }
            case .commit(let block, _): commits[id].append(block)
            case .persist, .persistBlock: break
            }
        }
    }
    for id in 0..<n where !offline.contains(id) { perform(nodes[id].start(now: 0), of: id) }
    for now in 1...UInt64(ticks) {
        for id in 0..<n where !offline.contains(id) { _ = nodes[id].submit(Array("tx-\(now)".utf8)) }
        var pending = inbox
        inbox = []
        var rounds = 0
        while !pending.isEmpty {
            rounds += 1
            if rounds > 1_000 {
                var kinds: [String: Int] = [:]
                for envelope in pending { kinds[String(describing: envelope.message).prefix(12).description, default: 0] += 1 }
                Issue.record("no quiescence at tick \(now): \(kinds.sorted { $0.key < $1.key }), rounds \(nodes.map(\.round))")
                return commits
            }
            for envelope in pending where !offline.contains(envelope.to) {
                perform(nodes[envelope.to].receive(envelope.message, from: envelope.from, now: now), of: envelope.to)
            }
            pending = inbox
            inbox = []
        }
        for id in 0..<n where !offline.contains(id) { perform(nodes[id].tick(now: now), of: id) }
    }
    return commits
}

@Suite struct ReplicaTests {
    @Test(arguments: [1, 4, 7]) func honestReplicasOnAPerfectNetworkCommitTheSameChain(replicas: Int) {
        let commits = runCluster(replicas: replicas, ticks: 20)
        #expect(commits[0].count >= 10, "only \(commits[0].count) blocks committed")
        for other in commits.dropFirst() {
            #expect(other.map(\.id) == Array(commits[0].map(\.id).prefix(other.count)) || commits[0].map(\.id) == Array(other.map(\.id).prefix(commits[0].count)))
        }
        #expect(commits[0].enumerated().allSatisfy { UInt64($0.offset + 1) == $0.element.height })
        #expect(commits[0].flatMap(\.payload).count > 0)
    }

    @Test func progressContinuesWithFCrashedReplicasAndStopsWithMore() {
        let withOne = runCluster(replicas: 4, ticks: 600, offline: [2])
        #expect(withOne[0].count >= 5)
        let withTwo = runCluster(replicas: 4, ticks: 600, offline: [1, 2])
        #expect(withTwo[0].isEmpty && withTwo[3].isEmpty)
    }
}
