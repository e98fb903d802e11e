import GatewayChain
import GatewayCrypto
import Testing

/// The node's epoch code as a pure type (`EpochHost`), shared by `ConsensusDriver` and `Simulation`: what crosses
/// epochs, what is stored before what is sent, and what the next epoch's replica inherits.
@Suite struct EpochHostTests {
    static let hash: @Sendable ([UInt8]) -> [UInt8] = { InternationalSuite().hash($0) }

    /// A solo replica's first commits, with their evidence (an epoch end needs real evidence).
    static func commits() -> [(block: ConsensusBlock, evidence: CommitEvidence)] {
        var replica = Replica(id: 0, configuration: .init(replicas: 1), signer: TestSigner(replica: 0, keys: [[1]]), hash: hash)
        var out: [(ConsensusBlock, CommitEvidence)] = []
        var effects = replica.start(now: 0)
        for now in 1...400 where out.count < 3 {
            for case .commit(let block, _, let evidence) in effects { out.append((block, evidence)) }
            effects = replica.tick(now: UInt64(now))
        }
        return out
    }

    static func setup(epoch: UInt64, members: [String], others: [String] = [], me: String) -> EpochHost<String>.Setup {
        let index = members.firstIndex(of: me) ?? members.count + (others.firstIndex(of: me) ?? 0)
        var configuration = Replica.Configuration(replicas: members.count)
        configuration.epoch = epoch
        let replica = Replica(
            id: index, configuration: configuration, signer: TestSigner(replica: index, keys: members.indices.map { [UInt8($0 + 1)] }),
            hash: hash
        )
        return .init(epoch: epoch, members: members, others: others, replica: replica)
    }

    @Test func messagesAcrossEpochsGetTheEndOfTheOldOneOrACatchUpOncePerTimeout() throws {
        let commits = Self.commits()
        let ended = try #require(commits.last)
        let end = EpochEnd(evidence: ended.evidence, beyond: [])
        var host = EpochHost(me: "a", setup: Self.setup(epoch: 1, members: ["a", "b", "c", "d"], me: "a"), epochEnds: [0: end])
        let resend = host.replica.configuration.roundTimeoutTicks
        let vote = ConsensusMessage.vote(Vote(blockID: [1], round: 1, height: 1, voter: 1, signature: []))

        // A sender still in epoch 0 is told how it ended, stamped with its epoch; not again within a round timeout.
        let told = host.receive(vote, from: "b", epoch: 0, now: 1_000)
        #expect(told.effects.isEmpty && told.replies.map(\.epoch) == end.messages.map { _ in 0 } && !told.replies.isEmpty)
        #expect(told.replies.map(\.message) == end.messages)
        #expect(host.receive(vote, from: "b", epoch: 0, now: 1_000 + resend - 1).replies.isEmpty)
        #expect(!host.receive(vote, from: "b", epoch: 0, now: 1_000 + resend).replies.isEmpty)
        // Another sender has its own allowance; an epoch this host never saw end gets nothing.
        #expect(!host.receive(vote, from: "c", epoch: 0, now: 1_000).replies.isEmpty)
        var older = EpochHost(me: "a", setup: Self.setup(epoch: 1, members: ["a", "b", "c", "d"], me: "a"))
        #expect(older.receive(vote, from: "b", epoch: 0, now: 5).replies.isEmpty)

        // A sender ahead makes the host ask for the end of its own epoch, once per timeout; a catch-up never does.
        let asked = host.receive(vote, from: "d", epoch: 2, now: 2_000)
        #expect(asked.replies.count == 1 && asked.replies[0].message == .catchUp && asked.replies[0].epoch == 1)
        #expect(host.receive(vote, from: "d", epoch: 2, now: 2_001).replies.isEmpty)
        #expect(host.receive(.catchUp, from: "b", epoch: 2, now: 9_000).replies.isEmpty)

        // Forward sync is served from storage, for the sender's epoch; unknown senders reach nothing.
        let sync = host.receive(.syncRequest(7), from: "b", epoch: 0, now: 3_000)
        #expect(sync.syncFrom == 7 && sync.effects.isEmpty && sync.replies.isEmpty)
        let stranger = host.receive(.fetch([9]), from: "zz", epoch: 1, now: 3_000)
        #expect(stranger.effects.isEmpty && stranger.fetchFromStorage == nil)
        // A fetch of a block the replica does not hold goes to storage, whatever the sender's epoch.
        #expect(host.receive(.fetch([9, 9]), from: "c", epoch: 0, now: 3_000).fetchFromStorage == [9, 9])
    }

    /// A leader whose commit others learn from its next proposal proposes one (an empty block) right after a commit
    /// with payload; a lone validator nobody follows has no one to tell, and stores one block fewer per transaction.
    /// A follower admitted later makes it publish again.
    @Test func aLoneValidatorProposesNoBlockJustToPublishACommit() {
        func run(_ host: inout EpochHost<String>, item: String, from now: UInt64) -> (proposed: Int, committed: Int) {
            _ = host.submit([Array(item.utf8)])
            var proposed = 0
            var committed = 0
            for tick in now..<(now + 5) {
                for effect in host.tick(now: tick) {
                    switch effect {
                    case .commit: committed += 1
                    case .broadcast(.proposal): proposed += 1
                    default: break
                    }
                }
            }
            return (proposed, committed)
        }
        var lone = EpochHost(me: "a", setup: Self.setup(epoch: 0, members: ["a"], me: "a"))
        _ = lone.start(now: 0)
        #expect(!lone.replica.publishesCommits)
        // The block with the item and the child whose certificate commits it: two proposals, one commit.
        let alone = run(&lone, item: "first", from: 1)
        #expect(alone.proposed == 2 && alone.committed == 1, "\(alone)")
        lone.addFollowers(["observer"])
        #expect(lone.replica.publishesCommits)
        // Now also the block that carries the commit's certificate to the follower.
        let followed = run(&lone, item: "second", from: 10)
        #expect(followed.proposed == 3, "\(followed)")

        let watched = EpochHost(me: "a", setup: Self.setup(epoch: 0, members: ["a"], others: ["observer"], me: "a"))
        #expect(watched.replica.publishesCommits)
        #expect(EpochHost(me: "a", setup: Self.setup(epoch: 0, members: ["a", "b", "c", "d"], me: "a")).replica.publishesCommits)
    }

    @Test func writesComeFirstAndMessagesOfAnUndurableBatchAreWithheld() throws {
        let commits = Self.commits()
        let first = try #require(commits.first)
        let host = EpochHost(me: "b", setup: Self.setup(epoch: 0, members: ["a", "b", "c"], others: ["f"], me: "b"), epochEnds: [:])
        let qc = first.evidence.childQC
        let effects: [ConsensusEffect] = [
            .persistBlock(first.block), .send(to: 0, .catchUp), .commit(first.block, certificate: qc, evidence: first.evidence),
            .broadcast(.catchUp), .persistBlock(first.block), .send(to: 9, .catchUp), .commit(first.block, certificate: qc, evidence: first.evidence),
        ]
        let (blocks, safety) = EpochHost<String>.writes(effects)
        #expect(blocks.count == 2 && safety == nil)
        let steps = host.steps(effects)
        #expect(steps.count == 4, "a send to an unknown replica id is dropped")
        if case .send(_, let to) = steps[0] { #expect(to == ["a"]) } else { Issue.record("first step \(steps[0])") }
        if case .commit(_, _, _, let beyond) = steps[1] { #expect(beyond.count == 1) } else { Issue.record("second step \(steps[1])") }
        if case .send(_, let to) = steps[2] { #expect(to == ["a", "c", "f"]) } else { Issue.record("third step \(steps[2])") }
        let withheld = host.steps(effects, durable: false)
        #expect(withheld.count == 2 && withheld.allSatisfy { if case .commit = $0 { true } else { false } })
    }

    @Test func theNextEpochInheritsThePoolAndRemembersHowThisOneEnded() throws {
        let ended = try #require(Self.commits().last)
        var host = EpochHost(me: "a", setup: Self.setup(epoch: 0, members: ["a", "b", "c", "d"], me: "a"))
        #expect(host.submit([[1], [2], [3]]) == [[1], [2], [3]])
        let next = Self.setup(epoch: 1, members: ["a", "c", "d", "e"], others: ["b"], me: "a")
        _ = host.endEpoch(EpochEnd(evidence: ended.evidence, beyond: []), next: next, now: 10)
        #expect(host.epoch == 1 && host.members == ["a", "c", "d", "e"] && host.others == ["b"])
        #expect(host.replica.mempoolItems == [[1], [2], [3]] && host.epochEnds[0] != nil)
        #expect(host.index(of: "b") == 4 && host.node(at: 4) == "b" && host.node(at: 5) == nil)
        host.addFollowers(["b", "g", "a"])
        #expect(host.others == ["b", "g"])
    }
}
