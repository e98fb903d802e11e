import GatewayChain

/// The simulator's omniscient view of consensus: every block proposed, every certificate and vote that travels, every
/// vote and timeout an honest replica signs, and every honest commit — checked against the Jolteon safety argument
/// (numbering of its mechanisation, `formal-jolteon`; see the README) with the checker's own arithmetic (its own quorum,
/// its own signature checks), never the replica's.
///
/// Outcomes:
/// - *At most one block is certified per round* — by a QC seen anywhere, or by 2f + 1 valid votes seen, assembled or
///   not (the base case of Lemma 3: quorum intersection with honest replicas voting once per round).
/// - *Every block certified in a later round extends a directly committed block* (Lemma 3), for blocks an honest
///   replica committed by the 2-chain rule and for blocks globally direct-committed (Definition 1: f + 1 honest votes
///   for a child in the next round) before anyone commits them.
///
/// Rules (off with `ruleChecks`):
/// - *Honest replicas sign at most one vote per round, and none in a round they timed out in.*
/// - *Every certificate an honest replica acts on has 2f + 1 distinct valid signatures* (a QC it votes or proposes on,
///   a TC it proposes or votes after).
/// - *An honest replica votes only for a block whose parent it holds.*
struct SafetyObserver {
    /// One epoch's validators (their signing secrets, by replica id) and root.
    struct Epoch {
        let secrets: [[UInt8]]
        let rootID: [UInt8]
        var quorum: Int { secrets.count - (secrets.count - 1) / 3 }
        var signer: SimulatedSigner { SimulatedSigner(replica: 0, secrets: secrets) }
    }

    struct Key: Hashable {
        let epoch: UInt64
        let round: UInt64
    }

    struct VoteKey: Hashable {
        let epoch: UInt64
        let round: UInt64
        let blockID: [UInt8]
    }

    struct NodeKey: Hashable {
        let node: Int
        let epoch: UInt64
        let round: UInt64
    }

    /// Whether the rule checks run (an honest replica's votes and the certificates it acts on); without them only the
    /// outcomes are checked (two certificates in a round, a certified block not extending a direct commit), which shows
    /// what a bug actually breaks.
    var ruleChecks = true
    private(set) var epochs: [UInt64: Epoch] = [:]
    /// Every block seen in a proposal, a fetch reply or a certified message, by id.
    private var blocks: [[UInt8]: ConsensusBlock] = [:]
    /// The block certified in each round (valid QCs only), and per epoch the certified rounds in order of discovery.
    private var certifiedIn: [Key: [UInt8]] = [:]
    private var certified: [UInt64: [(round: UInt64, blockID: [UInt8])]] = [:]
    private var judged: Set<Key> = []
    /// Distinct valid voters per block and round.
    private var voters: [VoteKey: Set<ReplicaID>] = [:]
    /// Direct commits per epoch, in height order (their rounds increase): blocks an honest replica committed by the
    /// 2-chain rule, and blocks *globally direct-committed* (Jolteon, Definition 1: f + 1 honest replicas voted for a
    /// child in the next round), which Lemma 3 protects whether or not any honest replica has committed them yet.
    private var committed: [UInt64: [Commit]] = [:]
    /// Honest voters of each block whose parent is one round older (candidates for Definition 1).
    private var childVoters: [[UInt8]: Set<Int>] = [:]

    struct Commit {
        let id: [UInt8]
        let round: UInt64
        let height: UInt64
    }
    private var committedIDs: Set<[UInt8]> = []
    private var votes: [NodeKey: [UInt8]] = [:]
    private var timedOut: Set<NodeKey> = []
    private(set) var violation: String?
    /// How often each lemma was checked (for the report: a checker that never runs proves nothing).
    private(set) var votesChecked = 0
    private(set) var certificatesChecked = 0
    private(set) var extensionsChecked = 0

    mutating func enter(epoch: UInt64, secrets: [[UInt8]], rootID: [UInt8]) {
        if epochs[epoch] == nil { epochs[epoch] = Epoch(secrets: secrets, rootID: rootID) }
    }

    func timedOut(node: Int, epoch: UInt64, round: UInt64) -> Bool { timedOut.contains(NodeKey(node: node, epoch: epoch, round: round)) }

    private mutating func fail(_ message: String) {
        if violation == nil { violation = "safety: " + message }
    }

    // MARK: What travels

    /// A replica's effects (honest or not): the blocks and certificates they carry; and for an honest one, its votes and
    /// timeouts against the voting rules. `holds` says whether the replica holds a block (by id and height) or has
    /// committed past it, after the step.
    mutating func observe(
        _ effects: [ConsensusEffect], of node: Int, replica: ReplicaID, epoch: UInt64, honest: Bool, holds: ([UInt8], UInt64) -> Bool
    ) {
        for effect in effects {
            switch effect {
            case .send(_, let message), .broadcast(let message):
                observe(message, epoch: epoch)
                if honest, case .timeout(let timeout) = message {
                    timedOut.insert(NodeKey(node: node, epoch: epoch, round: timeout.round))
                }
                if honest, ruleChecks, case .proposal(let block) = message {
                    actedOn(block, by: node, epoch: epoch, what: "proposed")
                }
            case .persistBlock(let block) where honest:
                // Persisted just before the replica signs its vote for it: this is the vote.
                votesChecked += 1
                let key = NodeKey(node: node, epoch: epoch, round: block.round)
                if ruleChecks, let earlier = votes[key], earlier != block.id {
                    fail("replica \(node) voted for two different blocks in round \(block.round) of epoch \(epoch)")
                } else if ruleChecks, timedOut.contains(key) {
                    fail("replica \(node) voted in round \(block.round) of epoch \(epoch) after timing out in it")
                }
                votes[key] = block.id
                observe(
                    vote: Vote(blockID: block.id, round: block.round, height: block.height, voter: replica, signature: []), epoch: epoch,
                    signed: false)
                if ruleChecks { actedOn(block, by: node, epoch: epoch, what: "voted for") }
                if block.justify.round > 0, block.justify.round + 1 == block.round, let info = epochs[epoch] {
                    childVoters[block.id, default: []].insert(node)
                    if childVoters[block.id]!.count == (info.secrets.count - 1) / 3 + 1 {
                        directlyCommitted(Commit(id: block.parentID, round: block.justify.round, height: block.height - 1), epoch: epoch)
                    }
                }
                if ruleChecks, block.justify.round > 0, !holds(block.parentID, block.height - 1) {
                    fail("replica \(node) voted for a block of round \(block.round) whose parent it does not hold")
                }
            case .persistBlock, .persist, .commit:
                break
            }
        }
    }

    mutating func observe(_ message: ConsensusMessage, epoch: UInt64) {
        switch message {
        case .proposal(let block):
            see(block, epoch: epoch)
        case .timeout(let timeout):
            observe(qc: timeout.highQC, epoch: epoch)
        case .blocks(let list):
            for block in list { see(block, epoch: epoch) }
        case .certified(let block, let qc):
            see(block, epoch: epoch)
            observe(qc: qc, epoch: epoch)
        case .vote(let vote):
            observe(vote: vote, epoch: epoch, signed: true)
        case .fetch, .transactions, .catchUp, .syncRequest, .syncBlocks:
            break
        }
    }

    private mutating func see(_ block: ConsensusBlock, epoch: UInt64) {
        if blocks[block.id] == nil { blocks[block.id] = block }
        observe(qc: block.justify, epoch: epoch)
    }

    /// A block an honest replica proposed or voted for: the certificates it rests on must be real.
    private mutating func actedOn(_ block: ConsensusBlock, by node: Int, epoch: UInt64, what: String) {
        guard let info = epochs[epoch] else { return }
        certificatesChecked += 1
        if block.justify.round > 0, signers(of: block.justify, epoch: epoch) < info.quorum {
            fail("replica \(node) \(what) a block of round \(block.round) on a QC with fewer than \(info.quorum) valid signatures")
        }
        if let tc = block.timeout {
            let valid = Set(
                tc.entries.filter {
                    info.signer.verify(
                        $0.signature, by: $0.replica,
                        for: TimeoutCertificate.timeoutMessage(root: info.rootID, round: tc.round, highQCRound: $0.highQCRound))
                }.map(\.replica)
            ).count
            if valid < info.quorum {
                fail("replica \(node) \(what) a block of round \(block.round) after a TC with \(valid) valid timeouts (quorum \(info.quorum))")
            }
        }
    }

    private func signers(of qc: QuorumCertificate, epoch: UInt64) -> Int {
        guard let info = epochs[epoch] else { return 0 }
        let message = QuorumCertificate.voteMessage(epoch: epoch, blockID: qc.blockID, round: qc.round, height: qc.height)
        return Set(qc.signatures.filter { info.signer.verify($0.signature, by: $0.replica, for: message) }.map(\.replica)).count
    }

    /// A QC seen anywhere: if it is valid (2f + 1 of the epoch's validators by the checker's count), it certifies its
    /// block — the only one of its round, and extending every block committed in an earlier round.
    mutating func observe(qc: QuorumCertificate, epoch: UInt64) {
        guard qc.round > 0 else { return }
        let key = Key(epoch: epoch, round: qc.round)
        if certifiedIn[key] == qc.blockID || judged.contains(key) { return }
        guard let info = epochs[epoch], signers(of: qc, epoch: epoch) >= info.quorum else { return }
        certify(qc.blockID, round: qc.round, epoch: epoch)
    }

    /// A vote seen anywhere (sent by any replica, or an honest replica's own, seen as the block it persisted to vote):
    /// 2f + 1 valid votes for a block certify it, whether or not anyone assembles them into a QC that travels.
    mutating func observe(vote: Vote, epoch: UInt64, signed: Bool) {
        guard vote.round > 0, let info = epochs[epoch] else { return }
        let key = Key(epoch: epoch, round: vote.round)
        if certifiedIn[key] == vote.blockID || judged.contains(key) { return }
        if signed {
            let message = QuorumCertificate.voteMessage(epoch: epoch, blockID: vote.blockID, round: vote.round, height: vote.height)
            guard info.signer.verify(vote.signature, by: vote.voter, for: message) else { return }
        }
        let voteKey = VoteKey(epoch: epoch, round: vote.round, blockID: vote.blockID)
        voters[voteKey, default: []].insert(vote.voter)
        if voters[voteKey]!.count >= info.quorum { certify(vote.blockID, round: vote.round, epoch: epoch) }
    }

    private mutating func certify(_ blockID: [UInt8], round: UInt64, epoch: UInt64) {
        let key = Key(epoch: epoch, round: round)
        if let known = certifiedIn[key] {
            if known != blockID, judged.insert(key).inserted {
                fail("two different blocks were certified in round \(round) of epoch \(epoch)")
            }
            return
        }
        certifiedIn[key] = blockID
        certified[epoch, default: []].append((round, blockID))
        // The newest commit of this epoch in an earlier round must be an ancestor.
        if let commit = committed[epoch]?.last(where: { $0.round < round }) {
            checkExtends(blockID, round: round, commit: commit, epoch: epoch)
        }
    }

    /// An honest commit. A direct one (the block a 2-chain commits; its ancestors are committed with it) must be extended
    /// by every block certified in a later round of its epoch. An ancestor need not be: a block certified between the
    /// ancestor's round and the direct commit's may conflict with the ancestor, and never be committed.
    mutating func committed(_ block: ConsensusBlock, epoch: UInt64, direct: Bool) {
        guard direct else { return }
        directlyCommitted(Commit(id: block.id, round: block.round, height: block.height), epoch: epoch)
    }

    private mutating func directlyCommitted(_ commit: Commit, epoch: UInt64) {
        guard committedIDs.insert(commit.id).inserted else { return }
        // Kept in round order (a global direct commit can be seen after a later honest commit).
        var list = committed[epoch] ?? []
        list.insert(commit, at: list.firstIndex { $0.round > commit.round } ?? list.count)
        committed[epoch] = list
        for entry in certified[epoch] ?? [] where entry.round > commit.round {
            checkExtends(entry.blockID, round: entry.round, commit: commit, epoch: epoch)
        }
    }

    /// Walks the certified block's ancestors down to the commit's round; a walk that ends elsewhere is a conflicting
    /// certified block. A gap in what was seen (a block never proposed in sight) leaves the question open.
    private mutating func checkExtends(_ blockID: [UInt8], round: UInt64, commit: Commit, epoch: UInt64) {
        extensionsChecked += 1
        var cursor = blocks[blockID]
        while let block = cursor {
            if block.parentID == commit.id { return }
            // Its parent is at or below the commit's round (the epoch's root included) without being the commit.
            if block.justify.round <= commit.round {
                var c = blocks[blockID]
                fail(
                    "a block certified in round \(round) of epoch \(epoch) does not extend the block committed at height \(commit.height) (round \(commit.round))"
                )
                return
            }
            cursor = blocks[block.parentID]
        }
    }
}
