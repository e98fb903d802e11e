import Foundation
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
/// `followers` more replicas (ids n, n + 1, …) receive every broadcast but are not validators; `sent` collects what
/// each replica sent.
func runCluster(
    replicas n: Int, followers: Int = 0, ticks: Int, offline: Set<ReplicaID> = [],
    sent: UnsafeMutablePointer<[[ConsensusMessage]]>? = nil
) -> [[ConsensusBlock]] {
    let total = n + followers
    let keys = (0..<n).map { [UInt8(truncatingIfNeeded: $0 + 1)] }
    let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }
    var nodes = (0..<total).map { Replica(id: $0, configuration: .init(replicas: n), signer: TestSigner(replica: $0, keys: keys), hash: hash) }
    var commits = Array(repeating: [ConsensusBlock](), count: total)
    var inbox: [(from: ReplicaID, to: ReplicaID, message: ConsensusMessage)] = []
    func perform(_ effects: [ConsensusEffect], of id: ReplicaID) {
        for effect in effects {
            switch effect {
            case .send(let to, let message):
                sent?.pointee[id].append(message)
                inbox.append((id, to, message))
            case .broadcast(let message):
                sent?.pointee[id].append(message)
                for to in 0..<total where to != id { inbox.append((id, to, message)) }
            case .commit(let block, _, _): commits[id].append(block)
            case .persist, .persistBlock: break
            }
        }
    }
    for id in 0..<total where !offline.contains(id) { perform(nodes[id].start(now: 0), of: id) }
    for now in 1...UInt64(ticks) {
        for id in 0..<total where !offline.contains(id) { _ = nodes[id].submit(Array("tx-\(now)".utf8)) }
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
        for id in 0..<total where !offline.contains(id) { perform(nodes[id].tick(now: now), of: id) }
    }
    return commits
}

@Suite struct ReplicaTests {
    @Test(arguments: [1, 4, 7]) func honestReplicasOnAPerfectNetworkCommitTheSameChain(replicas: Int) {
        let commits = runCluster(replicas: replicas, ticks: 20)
        #expect(commits[0].count >= 10, "only \(commits[0].count) blocks committed")
        for other in commits.dropFirst() {
            #expect(
                other.map(\.id) == Array(commits[0].map(\.id).prefix(other.count))
                    || commits[0].map(\.id) == Array(other.map(\.id).prefix(commits[0].count)))
        }
        #expect(commits[0].enumerated().allSatisfy { UInt64($0.offset + 1) == $0.element.height })
        #expect(commits[0].flatMap(\.payload).count > 0)
    }

    @Test func aFollowerCommitsWhatTheValidatorsCertifyAndNeverVotes() {
        var sent = Array(repeating: [ConsensusMessage](), count: 5)
        let commits = runCluster(replicas: 4, followers: 1, ticks: 30, sent: &sent)
        #expect(commits[4].count >= 10)
        #expect(commits[4].map(\.id) == Array(commits[0].map(\.id).prefix(commits[4].count)))
        let consensus = sent[4].filter {
            if case .proposal = $0 { true } else if case .vote = $0 { true } else if case .timeout = $0 { true } else { false }
        }
        #expect(consensus.isEmpty, "a follower sent \(consensus.count) consensus messages")
    }

    /// Epoch binding: a certificate made by the same keys in epoch 0 does not count for a replica in epoch 1 (whose
    /// root is a later block), while a replica of epoch 0 accepts it and commits with it.
    @Test func certificatesCountOnlyInTheirOwnEpoch() {
        let keys = (0..<4).map { [UInt8(truncatingIfNeeded: $0 + 1)] }
        let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }
        let genesis = Replica.genesis(hash: hash)
        let genesisQC = QuorumCertificate(blockID: genesis.id, round: 0, height: 0, signatures: [])
        func certify(_ block: ConsensusBlock, epoch: UInt64) -> QuorumCertificate {
            let message = QuorumCertificate.voteMessage(epoch: epoch, blockID: block.id, round: block.round, height: block.height)
            return QuorumCertificate(
                blockID: block.id, round: block.round, height: block.height,
                signatures: (0..<3).map { .init(replica: $0, signature: TestSigner(replica: $0, keys: keys).sign(message)) })
        }
        let first = ConsensusBlock(
            chainID: "simulation", round: 1, justify: genesisQC, timeout: nil, proposer: 1, timestampMs: 0, payload: [[1]], hash: hash)
        let second = ConsensusBlock(
            chainID: "simulation", round: 2, justify: certify(first, epoch: 0), timeout: nil, proposer: 2, timestampMs: 0,
            payload: [[2]], hash: hash)
        // Epoch 0: the block is fetched, then the QC on its child commits it.
        var zero = Replica(id: 3, configuration: .init(replicas: 4), signer: TestSigner(replica: 3, keys: keys), hash: hash)
        _ = zero.receive(.blocks([first]), from: 0, now: 1)
        let effects = zero.receive(.certified(second, certify(second, epoch: 0)), from: 0, now: 1)
        #expect(
            effects.contains {
                if case .commit(let block, _, let evidence) = $0 { block.id == first.id && evidence.child?.id == second.id } else { false }
            })
        #expect(zero.committedHeight == 1)
        // Epoch 1 rooted at the genesis (same keys, same indices): the epoch-0 certificates are refused.
        var config = Replica.Configuration(replicas: 4)
        config.epoch = 1
        var one = Replica(id: 3, configuration: config, signer: TestSigner(replica: 3, keys: keys), hash: hash)
        _ = one.receive(.blocks([first]), from: 0, now: 1)
        let refused = one.receive(.certified(second, certify(second, epoch: 0)), from: 0, now: 1)
        #expect(!refused.contains { if case .commit = $0 { true } else { false } })
        #expect(one.committedHeight == 0 && one.round == 1)
    }

    /// Forward sync: a replica that has nothing adopts a batch of committed blocks whose last one is proven committed
    /// by its certified child; a batch that does not reach back to its tip makes it ask for what comes next; a batch
    /// whose "child" does not follow in the next round proves nothing and is refused.
    @Test func aReplicaFarBehindSyncsForwardFromProvenCommittedBlocks() throws {
        let chain = runCluster(replicas: 4, ticks: 40)[0]
        #expect(chain.count >= 20)
        let keys = (0..<4).map { [UInt8(truncatingIfNeeded: $0 + 1)] }
        let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }
        // What a node's storage holds: each block with the QC on it (its successor's justify).
        let stored = zip(chain, chain.dropFirst()).map { (block: $0, certificate: $1.justify, evidence: CommitEvidence?.none) }
        var replica = Replica(id: 3, configuration: .init(replicas: 4), signer: TestSigner(replica: 3, keys: keys), hash: hash)
        let batch = try #require(SyncBatch.serve(Array(stored.prefix(17)), boundary: nil))
        #expect(batch.blocks.count >= 10 && batch.blocks.first?.height == 1)
        let effects = replica.receive(.syncBlocks(batch), from: 0, now: 1)
        #expect(replica.committedHeight == batch.blocks.last!.height)
        #expect(effects.filter { if case .commit = $0 { true } else { false } }.count == batch.blocks.count)
        // A later batch that skips ahead is not adopted; the replica asks for the next height instead.
        let ahead = try #require(SyncBatch.serve(Array(stored.dropFirst(Int(replica.committedHeight) + 2).prefix(17)), boundary: nil))
        let asked = replica.receive(.syncBlocks(ahead), from: 1, now: 2)
        #expect(asked.contains { if case .send(1, .syncRequest(let height)) = $0 { height == replica.committedHeight + 1 } else { false } })
        // A "child" two rounds later (or not a child at all) does not commit the last block.
        let next = try #require(SyncBatch.serve(Array(stored.dropFirst(Int(replica.committedHeight)).prefix(17)), boundary: nil))
        let far = chain.first { $0.round > next.blocks.last!.round + 1 }!
        let forged = SyncBatch(
            blocks: next.blocks, lastQC: next.lastQC, child: far.header, childQC: stored.first { $0.block.id == far.id }!.certificate)
        let before = replica.committedHeight
        _ = replica.receive(.syncBlocks(forged), from: 1, now: 3)
        #expect(replica.committedHeight == before)
        _ = replica.receive(.syncBlocks(next), from: 1, now: 4)
        #expect(replica.committedHeight == next.blocks.last!.height)
    }

    @Test func progressContinuesWithFCrashedReplicasAndStopsWithMore() {
        let withOne = runCluster(replicas: 4, ticks: 600, offline: [2])
        #expect(withOne[0].count >= 5)
        let withTwo = runCluster(replicas: 4, ticks: 600, offline: [1, 2])
        #expect(withTwo[0].isEmpty && withTwo[3].isEmpty)
    }
}

@Suite struct ConsensusCodecTests {
    let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }

    /// Messages as a real cluster produces them, captured from a run with the given suite's signatures.
    func capturedMessages(_ suiteName: SuiteName) throws -> [ConsensusMessage] {
        let suite = try suiteName.makeSuite()
        let keys = (0..<4).map { _ in suite.generateSigningKey() }
        let validators = keys.map(\.publicKey)
        let hash: @Sendable ([UInt8]) -> [UInt8] = { suite.hash($0) }
        var nodes = (0..<4).map {
            Replica(
                id: $0, configuration: .init(replicas: 4), signer: SuiteConsensusSigner(replica: $0, key: keys[$0], validators: validators),
                hash: hash)
        }
        var messages: [ConsensusMessage] = []
        var inbox: [(ReplicaID, ReplicaID, ConsensusMessage)] = []
        var commits = 0
        func perform(_ effects: [ConsensusEffect], of id: ReplicaID) {
            for effect in effects {
                switch effect {
                case .send(let to, let m): inbox.append((id, to, m)); messages.append(m)
                case .broadcast(let m): for to in 0..<4 where to != id { inbox.append((id, to, m)) }; messages.append(m)
                case .commit: commits += 1
                default: break
                }
            }
        }
        for id in 0..<4 { _ = nodes[id].submit([UInt8(id)]); perform(nodes[id].start(now: 0), of: id) }
        for now in UInt64(1)...200 {
            if now == 50 { for id in 0..<4 { _ = nodes[id].submit([9, 9]) } }
            while !inbox.isEmpty {
                let (from, to, m) = inbox.removeFirst()
                // Every message crosses the codec, as on the wire.
                let decoded = try ConsensusCodec.decode(ConsensusCodec.encode(m), hash: hash)
                perform(nodes[to].receive(decoded, from: from, now: now), of: to)
            }
            for id in 0..<4 { perform(nodes[id].tick(now: now), of: id) }
        }
        #expect(commits >= 8, "replicas with \(suiteName) signatures committed \(commits) blocks")
        return messages + [.fetch([1, 2, 3]), .blocks([nodes[0].committed.last!])]
    }

    @Test(arguments: SuiteName.allCases) func everyMessageRoundTripsAndRealSignaturesCommit(suite: SuiteName) throws {
        let suiteHash = try suite.makeSuite()
        let hash: @Sendable ([UInt8]) -> [UInt8] = { suiteHash.hash($0) }
        let captured = try capturedMessages(suite)
        let proposals = captured.compactMap { if case .proposal(let block) = $0 { block } else { nil } }
        let relayed = proposals.dropFirst().map { ConsensusMessage.certified($0, $0.justify) }.prefix(3)
        #expect(!relayed.isEmpty)
        let synced =
            proposals.count >= 3
            ? [
                ConsensusMessage.syncBlocks(
                    SyncBatch(blocks: [proposals[0]], lastQC: proposals[1].justify, child: proposals[1].header, childQC: proposals[2].justify))
            ]
            : []
        #expect(!synced.isEmpty)
        for message in captured + relayed + synced + [.catchUp, .syncRequest(42)] {
            #expect(try ConsensusCodec.decode(ConsensusCodec.encode(message), hash: hash) == message)
        }
    }

    @Test func garbageAndCorruptionAreErrorsNeverCrashes() throws {
        let messages = try capturedMessages(.intl)
        var random = SystemRandomNumberGenerator()
        for message in messages.prefix(40) {
            let encoded = ConsensusCodec.encode(message)
            for length in stride(from: 0, to: encoded.count, by: max(1, encoded.count / 50)) {
                #expect(throws: ChainError.self) { try ConsensusCodec.decode(Array(encoded.prefix(length)), hash: hash) }
            }
            for _ in 0..<50 {
                var corrupted = encoded
                corrupted[Int.random(in: 0..<corrupted.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                _ = try? ConsensusCodec.decode(corrupted, hash: hash)
            }
        }
        for _ in 0..<2_000 {
            _ = try? ConsensusCodec.decode(
                (0..<Int.random(in: 0..<200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }, hash: hash)
        }
        #expect(throws: ChainError.self) { try ConsensusCodec.decode([], hash: hash) }
    }
}

@Suite struct TimeoutBindingTests {
    /// Timeout signatures are bound to the chain's genesis: a certificate made of timeouts signed (with the same keys)
    /// for another chain does not move a replica to the next round; the same one made for its own chain does.
    @Test func aTimeoutCertificateFromAnotherChainIsIgnored() {
        let keys = (0..<4).map { [UInt8(truncatingIfNeeded: $0 + 1)] }
        let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }
        let mine = hash(Array("chain A".utf8))
        let other = hash(Array("chain B".utf8))
        func certificate(root: [UInt8]) -> TimeoutCertificate {
            TimeoutCertificate(
                round: 1,
                entries: (1..<4).map {
                    .init(
                        replica: $0, highQCRound: 0,
                        signature: TestSigner(replica: $0, keys: keys).sign(
                            TimeoutCertificate.timeoutMessage(root: root, round: 1, highQCRound: 0)))
                })
        }
        func roundAfter(_ tc: TimeoutCertificate) -> UInt64 {
            var replica = Replica(id: 0, configuration: .init(replicas: 4), signer: TestSigner(replica: 0, keys: keys), hash: hash, rootID: mine)
            _ = replica.start(now: 0)
            let genesisQC = QuorumCertificate(blockID: mine, round: 0, height: 0, signatures: [])
            let timeout = TimeoutVote(
                round: 1, highQC: genesisQC, highTC: tc, voter: 1,
                signature: TestSigner(replica: 1, keys: keys).sign(TimeoutCertificate.timeoutMessage(root: mine, round: 1, highQCRound: 0)))
            _ = replica.receive(.timeout(timeout), from: 1, now: 1)
            return replica.round
        }
        #expect(roundAfter(certificate(root: mine)) == 2)
        #expect(roundAfter(certificate(root: other)) == 1)
    }
}

/// A replica does the work it gives itself (its own proposal, its own vote, the next round's proposal) in a bounded
/// loop, never by recursion: a solo validator restarted with a persisted high QC far above a chain cut short used to
/// recurse propose → vote → QC → next round → propose until the stack overflowed.
@Suite struct ReplicaAgendaTests {
    let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }

    func solo(restoring safety: SafetyState? = nil) -> Replica {
        Replica(id: 0, configuration: .init(replicas: 1), signer: TestSigner(replica: 0, keys: [[1]]), hash: hash, restoring: safety)
    }

    @Test func aSoloValidatorWithAHighQCAboveItsStoredChainNeitherRecursesNorRunsAway() {
        // Build a real chain, keep its safety state, then restart with nothing committed (the tail was cut).
        var replica = solo()
        _ = replica.start(now: 0)
        for tick in 1...40 {
            _ = replica.submit(Array("tx-\(tick)".utf8))
            _ = replica.tick(now: UInt64(tick))
        }
        #expect(replica.committedHeight > 10)
        let persisted = replica.safety
        var restarted = solo(restoring: persisted)
        var effects = restarted.start(now: 100)
        #expect(restarted.committedHeight == 0)
        for tick in 101...140 {
            _ = restarted.submit(Array("again-\(tick)".utf8))
            let produced = restarted.tick(now: UInt64(tick))
            // Each input does at most a bounded number of steps: a handful of effects per step.
            #expect(produced.count <= Replica.stepsPerInputMax * 8)
            effects += produced
        }
        // Nothing below the lost tail can be committed from nothing.
        #expect(restarted.committedHeight == 0)
        #expect(!effects.contains { if case .commit = $0 { true } else { false } })
    }

    @Test func aHealthySoloValidatorStillCommitsEveryItem() {
        var replica = solo()
        let run = driveSolo(&replica, items: 50)
        #expect(Set(run.committed) == Set(run.items))
        #expect(replica.agendaCount == 0)
    }
}

/// Numbers in peer frames go through `Bounded`: a round, height or epoch beyond 2^53 is a malformed message (the
/// connection is closed), and the largest accepted values do no harm to a replica's arithmetic.
@Suite struct PeerNumberBoundsTests {
    let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }
    static let extremes: [UInt64] = [UInt64(1) << 53 + 1, UInt64(Int64.max), UInt64(Int64.max) + 1, UInt64.max - 1, UInt64.max]

    @Test(arguments: extremes)
    func roundsAndHeightsBeyondTheRangeAreMalformed(value: UInt64) {
        let qc = QuorumCertificate(blockID: [1], round: value, height: 1, signatures: [])
        let messages: [ConsensusMessage] = [
            .vote(Vote(blockID: [1], round: value, height: 1, voter: 0, signature: [])),
            .vote(Vote(blockID: [1], round: 1, height: value, voter: 0, signature: [])),
            .syncRequest(value),
            .timeout(
                TimeoutVote(
                    round: value, highQC: QuorumCertificate(blockID: [1], round: 0, height: 0, signatures: []), highTC: nil, voter: 0, signature: [])),
            .timeout(TimeoutVote(round: 1, highQC: qc, highTC: nil, voter: 0, signature: [])),
        ]
        for message in messages {
            #expect(throws: ChainError.self, "\(message)") { try ConsensusCodec.decode(ConsensusCodec.encode(message), hash: hash) }
        }
    }

    @Test func theLargestAcceptedValuesDoNotTrapAReplica() throws {
        let top = UInt64(Bounded.heightMax)
        let keys = (0..<4).map { [UInt8(truncatingIfNeeded: $0 + 1)] }
        var replica = Replica(id: 1, configuration: .init(replicas: 4), signer: TestSigner(replica: 1, keys: keys), hash: hash)
        _ = replica.start(now: 0)
        let high = QuorumCertificate(blockID: [9], round: top, height: top, signatures: [])
        let messages: [ConsensusMessage] = [
            .vote(Vote(blockID: [1], round: top, height: top, voter: 0, signature: [1])),
            .syncRequest(top),
            .timeout(TimeoutVote(round: top, highQC: high, highTC: nil, voter: 0, signature: [1])),
        ]
        for message in messages {
            let decoded = try ConsensusCodec.decode(ConsensusCodec.encode(message), hash: hash)
            _ = replica.receive(decoded, from: 0, now: 1)
            _ = replica.tick(now: 2)
        }
        #expect(replica.round < top)
    }
}

/// A payload item that arrives again after its commit (gossip delayed past it, an outbox re-offered after a restart)
/// is not pooled, so no honest leader proposes it a second time.
@Suite struct CommittedPayloadTests {
    @Test func anItemCommittedAlreadyIsNotProposedAgain() {
        let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }
        var replica = Replica(id: 0, configuration: .init(replicas: 1), signer: TestSigner(replica: 0, keys: [[1]]), hash: hash)
        var committed: [[UInt8]] = []
        func collect(_ effects: [ConsensusEffect]) { for case .commit(let block, _, _) in effects { committed += block.payload } }
        collect(replica.start(now: 0))
        let item = Array("once".utf8)
        _ = replica.submit(item)
        for tick in 1...10 { collect(replica.tick(now: UInt64(tick))) }
        #expect(committed == [item])
        let accepted = replica.submit(item)
        #expect(accepted, "a late copy is accepted (not busy) …")
        #expect(replica.mempoolCount == 0, "… but not pooled")
        _ = replica.submit(Array("other".utf8))
        for tick in 11...20 { collect(replica.tick(now: UInt64(tick))) }
        #expect(committed.filter { $0 == item }.count == 1)
        #expect(committed.contains(Array("other".utf8)))
    }
}

/// Leader reputation must not stall: while no QC forms the certified chain (the reputation's evidence) does not change,
/// so if the only validator it leaves unsuspected is dead, plain rotation must take over after a full rotation of
/// failed rounds. (Found by the simulator: validators 0–2 suspect after rounds the network made fail, validator 3
/// Byzantine and silent; every round timed out for the rest of the run.)
@Suite struct LeaderReputationTests {
    @Test func aFullRotationOfFailedRoundsFallsBackToRoundRobin() {
        let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }
        let keys = (0..<4).map { [UInt8($0 + 1)] }
        let genesis = Replica.genesis(hash: hash)
        func block(round: UInt64, on parent: ConsensusBlock, parentRound: UInt64) -> ConsensusBlock {
            ConsensusBlock(
                chainID: "simulation", round: round,
                justify: QuorumCertificate(blockID: parent.id, round: parentRound, height: parent.height, signatures: []),
                timeout: nil, proposer: 3, timestampMs: 0, payload: [], hash: hash)
        }
        // Validator 3 proposed every block; the rounds between them failed for 1 (round 5), 0 (round 8) and 2 (round 10).
        let c = block(round: 6, on: genesis, parentRound: 0)
        let b = block(round: 9, on: c, parentRound: 6)
        let a = block(round: 11, on: b, parentRound: 9)
        let replica = Replica(
            id: 0, configuration: .init(replicas: 4), signer: TestSigner(replica: 0, keys: keys), hash: hash, pendingBlocks: [c, b, a])
        // Within a rotation of the anchor's round, reputation skips the three suspects.
        for round in UInt64(12)...16 { #expect(replica.leaderOf(round, after: a.id) == 3, "round \(round)") }
        // Beyond it, every validator gets its turn again.
        #expect((UInt64(17)...UInt64(20)).map { replica.leaderOf($0, after: a.id) } == [1, 2, 3, 0])
    }
}

/// After each commit the replica drops the blocks at or below the committed height that are not on its committed chain.
/// It tells the committed ones by position (heights are consecutive) instead of building a set of up to `committedKeep`
/// ids and rebuilding its block table per commit; the answer must be the set's, for any block.
@Suite struct CommittedBlockLookupTests {
    let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }

    func chain(from parent: ConsensusBlock, length: Int, tag: String) -> [ConsensusBlock] {
        var blocks: [ConsensusBlock] = []
        var justify = QuorumCertificate(blockID: parent.id, round: parent.round, height: parent.height, signatures: [])
        for index in 0..<length {
            let block = ConsensusBlock(
                chainID: parent.chainID, round: justify.round + 1, justify: justify, timeout: nil, proposer: 0, timestampMs: 0,
                payload: [Array("\(tag)-\(index)".utf8)], hash: hash)
            blocks.append(block)
            justify = QuorumCertificate(blockID: block.id, round: block.round, height: block.height, signatures: [])
        }
        return blocks
    }

    @Test func positionalLookupAgreesWithTheSetForChainsForksAndHeightsOutOfRange() {
        let seed = ProcessInfo.processInfo.environment["DATAGATEWAY_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        print("CommittedBlockLookupTests seed \(seed) (replay: DATAGATEWAY_TEST_SEED=\(seed))")
        var random = SplitMix64(seed: seed)
        let genesis = Replica.genesis(hash: hash)
        let whole = chain(from: genesis, length: 64, tag: "main")
        for _ in 0..<200 {
            // A window of the committed chain, as `committed` holds it (a suffix of consecutive heights).
            let start = Int.random(in: 0..<whole.count, using: &random)
            let end = Int.random(in: start..<whole.count, using: &random)
            let committed = Array(whole[start...end])
            // Forks from a random block of the whole chain: same heights, other ids.
            let forkBase = whole[Int.random(in: 0..<whole.count, using: &random)]
            let forks = chain(from: forkBase, length: Int.random(in: 1...8, using: &random), tag: "fork-\(start)-\(end)")
            for block in whole + forks + [genesis] {
                #expect(
                    Replica.holds(block, committed: committed) == committed.contains { $0.id == block.id },
                    "seed \(seed): height \(block.height), window \(start)…\(end)")
            }
        }
        // Not consecutive (never produced by a replica): the lookup falls back to comparing ids.
        let gapped = [whole[0], whole[2], whole[5]]
        for block in whole.prefix(8) { #expect(Replica.holds(block, committed: gapped) == gapped.contains { $0.id == block.id }) }
    }

    @Test func aSoloValidatorKeepsItsCommittedWindowAndNothingMore() {
        var configuration = Replica.Configuration(replicas: 1)
        configuration.committedKeep = 100
        var replica = Replica(id: 0, configuration: configuration, signer: TestSigner(replica: 0, keys: [[1]]), hash: hash)
        let run = driveSolo(&replica, items: 600) { replica in
            // The committed window (at most keep + 64) and the uncommitted blocks above it: never the whole history.
            #expect(replica.heldBlocks <= configuration.committedKeep + 64 + 4)
        }
        #expect(replica.committedHeight > 300)
        #expect(Set(run.committed) == Set(run.items))
    }
}

/// Drives a solo validator: one new item per tick for `items` ticks, then ten idle ticks; `afterEach` looks at the replica
/// after every tick. Returns the items submitted and the payload committed, in order.
func driveSolo(_ replica: inout Replica, items count: Int, afterEach: (Replica) -> Void = { _ in }) -> (items: [[UInt8]], committed: [[UInt8]]) {
    var committed: [[UInt8]] = []
    func collect(_ effects: [ConsensusEffect]) { for case .commit(let block, _, _) in effects { committed += block.payload } }
    collect(replica.start(now: 0))
    var items: [[UInt8]] = []
    for tick in 1...count {
        let item = Array("item-\(tick)".utf8)
        items.append(item)
        _ = replica.submit(item)
        collect(replica.tick(now: UInt64(tick)))
        afterEach(replica)
    }
    for tick in count + 1...count + 10 { collect(replica.tick(now: UInt64(tick))) }
    return (items, committed)
}
