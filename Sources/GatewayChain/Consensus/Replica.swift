/// A Jolteon (DiemBFT v4, HotStuff family) replica as a pure state machine: messages and ticks in, effects out.
/// No I/O, clock or randomness of its own — the node performs the effects over TCP and PostgreSQL, the simulator in
/// memory under a seeded scheduler, with the same code.
///
/// Rules (n = 3f + 1, quorum 2f + 1, leader of round r is r mod n unless leader reputation skips a validator that failed
/// its recent rounds — see `leader(_:after:)`):
/// - Vote for a block of the current round at most once per round, and only if it directly extends the QC of the
///   previous round, or — after a timeout — extends a QC at least as high as every QC reported in the TC.
/// - A QC or TC for round r moves a replica to round r + 1; the leader of r + 1 proposes on its highest QC.
/// - 2-chain commit: a QC for block B whose parent P has round(P) + 1 = round(B) commits P and its ancestors.
/// - A round that does not progress times out; timeouts carry the sender's highest QC; 2f + 1 form a TC;
///   f + 1 timeouts for a round make a replica time out too. Timeouts back off exponentially while rounds keep failing.
///
/// Epochs: a replica serves one validator set. Its root is the committed block the epoch starts from (the genesis, or
/// the block whose governance change ended the previous epoch); rounds restart at 1 and timeouts are bound to the
/// root. The host ends the epoch — it stops applying this replica's commits after the boundary block and starts a
/// replica for the next set. An id outside `0..<replicas` makes a follower: it verifies and commits what the
/// validators certify but never votes, proposes or times out (a joining validator, a removed one, an observer).
public struct Replica: Sendable {
    public struct Configuration: Sendable {
        public var replicas: Int
        /// Ticks before a round times out (doubles with each consecutive failed round, up to `timeoutBackoffMax`).
        public var roundTimeoutTicks: UInt64 = 40
        public var timeoutBackoffMax: UInt64 = 8
        /// Payload items per block, and the mempool bound beyond which `submit` answers busy.
        public var blockPayloadMax: Int = 256
        public var mempoolMax: Int = 10_000
        /// Uncommitted blocks kept; beyond it the oldest are dropped (they can be fetched again).
        public var pendingBlocksMax: Int = 4_096
        /// Committed blocks kept in memory to answer peers' fetches; older ones are served from storage by the driver.
        public var committedKeep: Int = 1_024
        /// Whether an idle leader proposes an empty block at half the round timeout. With it an idle chain grows by
        /// empty blocks; without it idle rounds end by timeout certificates instead and nothing is stored.
        public var emptyBlocksWhenIdle: Bool = true
        /// Blocks behind the highest certified height beyond which a replica syncs forward (committed blocks from a
        /// peer's storage, with proof) instead of fetching ancestors backwards.
        public var syncGap: UInt64 = 32
        /// The validator set's generation: 0 for the genesis set, one more after each change governance commits.
        public var epoch: UInt64 = 0
        /// The chain id every block must carry (a block of another chain is invalid).
        public var chainID: String = "simulation"
        /// Leader reputation: validators that failed their recent rounds are skipped as leaders (see `leader(_:after:)`).
        public var leaderReputation: Bool = true
        /// How many certified ancestors of a proposal's parent the reputation looks at (0: 50 per validator, at most
        /// `committedKeep` − 64, so the window is in memory). A failed leader is skipped until its failure leaves the
        /// window: under load blocks come fast, and a short window retried a dead validator every few seconds, each
        /// retry costing two timed-out rounds.
        public var reputationWindowBlocks: Int = 0
        /// Checks one payload item of a peer's proposal before the replica votes for it (the node: a transaction that
        /// decodes, belongs to this chain and is signed by a member). Stateless; nil accepts any item.
        public var validatePayloadItem: (@Sendable ([UInt8]) -> Bool)?
        /// A bug planted for mutation testing (the simulator only; see `PlantedBug`). Nil everywhere else.
        package var plantedBug: PlantedBug?

        public init(replicas: Int) { self.replicas = replicas }

        public var faults: Int { (replicas - 1) / 3 }
        public var quorum: Int { replicas - faults - (plantedBug == .quorumOfTwoF ? 1 : 0) }
        /// Timeouts that form a TC: the quorum.
        var timeoutQuorum: Int { quorum - (plantedBug == .timeoutCertificateOfTwoF ? 1 : 0) }
    }

    public let id: ReplicaID
    public let configuration: Configuration
    let signer: any ConsensusSigner
    let hash: @Sendable ([UInt8]) -> [UInt8]

    public internal(set) var round: UInt64 = 1
    public internal(set) var safety: SafetyState
    var highTC: TimeoutCertificate?
    var blocks = BlockTable()
    /// The leader last computed for the current round and anchor (see `leadsCurrentRound`).
    var leaderMemo: (round: UInt64, anchor: [UInt8], leader: ReplicaID)?
    /// The most recent committed blocks in height order (at most `committedKeep`; genesis while nothing is
    /// committed). Kept so peers can fetch them from us.
    public internal(set) var committed: [ConsensusBlock]
    /// The epoch's root block (id and height): what round 0's certificate certifies.
    public let rootID: [UInt8]
    public let rootHeight: UInt64
    public var isMember: Bool { id < configuration.replicas }
    /// The latest direct 2-chain commit this replica made: a certified block and the QC on its child in the next round.
    /// A host sends it to replicas still in an epoch this one has left, so they can commit the boundary block.
    public internal(set) var lastCommitEvidence: CommitEvidence?
    /// Votes being collected, by block: the block's round and the signatures so far.
    var votes: [[UInt8]: (round: UInt64, signatures: [ReplicaID: [UInt8]])] = [:]
    var timeouts: [UInt64: [ReplicaID: (highQCRound: UInt64, signature: [UInt8])]] = [:]
    var mempool: [[UInt8]] = []
    var mempoolSet: Set<PayloadKey> = []
    /// Payload committed recently (at most `mempoolMax`, oldest forgotten first): a copy that arrives late — gossip
    /// delayed past its commit, an outbox re-offered after a restart — is not pooled and proposed again.
    var recentlyCommitted: Set<PayloadKey> = []
    /// When the pool was last offered to the others (see `tick`).
    var lastGossip: UInt64 = 0
    var recentlyCommittedOrder: [PayloadKey] = []
    var deadline: UInt64 = 0
    var enteredAt: UInt64 = 0
    var failedRounds: UInt64 = 0
    var proposedRound: UInt64 = 0
    var timedOutRound: UInt64 = 0
    var pendingCommit: QuorumCertificate?
    /// The current round's proposal, valid and safe to vote for, but whose parent this replica does not hold yet.
    var awaitingParent: ConsensusBlock?
    /// Set when a QC this replica formed as the next leader committed blocks with payload: the others learn of that
    /// commit only from the QC, so it must go out in a proposal now, even an empty one, not at the next timeout.
    var publishCommit = false
    /// Whether any other node learns this replica's commits from its next proposal (which carries the certificate
    /// that commits). A lone validator nobody follows has no one to tell: it proposes no block just for that.
    public var publishesCommits = true
    /// Our latest timeout message, re-sent to replicas that are behind; and the round we last answered each of them.
    var lastTimeout: TimeoutVote?
    var answeredRound: [ReplicaID: UInt64] = [:]
    /// The highest round each peer has (verifiably) timed out in.
    var peerTimeoutRound: [ReplicaID: UInt64] = [:]
    var requested: [[UInt8]: UInt64] = [:]
    var now: UInt64 = 0
    /// The last peer heard from, and when forward sync was last asked for.
    var lastSender: ReplicaID = 0
    var syncRequestedAt: UInt64?
    /// Set if this replica ever sees a certified chain that does not extend what it committed: a safety violation.
    public internal(set) var safetyViolation: String?
    /// Work this replica gives itself — its own proposal to process, its own vote to count, a proposal to make in the
    /// round it just entered — done in a loop after each input, never by calling back into the handlers (a solo
    /// validator would otherwise recurse propose → vote → QC → next round → propose without bound). At most
    /// `stepsPerInputMax` steps run per input; the rest waits for the next input or tick.
    var agenda: [Step] = []
    public static let stepsPerInputMax = 64

    enum Step {
        case propose
        case ownProposal(ConsensusBlock)
        case ownVote(Vote)
    }

    /// The genesis block every replica starts from (height 0, round 0).
    public static func genesis(hash: ([UInt8]) -> [UInt8]) -> ConsensusBlock { ConsensusBlock.genesis(hash: hash) }

    /// A fresh replica, or one restarting from what it persisted: its safety state, the most recent blocks it
    /// committed (any contiguous run ending at its committed tip, in height order; empty for none), and the
    /// uncommitted blocks it had persisted before voting. `rootID` is the epoch's root (default: the simulator's fixed
    /// genesis) at `rootHeight`; `committed`, when given, ends at or above it.
    public init(
        id: ReplicaID, configuration: Configuration, signer: any ConsensusSigner, hash: @escaping @Sendable ([UInt8]) -> [UInt8],
        rootID: [UInt8]? = nil, rootHeight: UInt64 = 0, restoring persisted: SafetyState? = nil, committed: [ConsensusBlock] = [],
        pendingBlocks: [ConsensusBlock] = []
    ) {
        precondition(configuration.replicas >= 1 && id >= 0, "no validators, or a negative replica id")
        precondition(signer.replica == id, "signer belongs to another replica")
        self.id = id
        self.configuration = configuration
        self.signer = signer
        self.hash = hash
        let genesis = rootID.map { ConsensusBlock.genesis(id: $0, chainID: configuration.chainID) } ?? Self.genesis(hash: hash)
        self.rootID = genesis.id
        self.rootHeight = rootHeight
        precondition(
            zip(committed, committed.dropFirst()).allSatisfy { $0.height + 1 == $1.height && $1.parentID == $0.id },
            "committed chain has gaps")
        precondition(committed.isEmpty ? rootHeight == 0 : committed.last!.height >= rootHeight, "committed chain ends below the epoch root")
        self.committed = committed.isEmpty ? [genesis] : Array(committed.suffix(max(1, configuration.committedKeep)))
        let genesisQC = QuorumCertificate(blockID: genesis.id, round: 0, height: rootHeight, signatures: [])
        self.safety = persisted ?? SafetyState(lastVotedRound: 0, highQC: genesisQC)
        if configuration.plantedBug == .lastVotedRoundNotRestored { safety.lastVotedRound = 0 }
        for block in self.committed { blocks[block.id] = block }
        let tip = self.committed.last!.height
        for block in pendingBlocks where block.height > tip { blocks[block.id] = block }
        // Resume where we were: the round after our highest QC, or the round we last voted or timed out in (we cannot
        // vote there again, but we can time out again). Never further: a round advance needs a certificate.
        round = max(self.safety.highQC.round + 1, self.safety.lastVotedRound)
    }

    public var committedHeight: UInt64 { committed.last!.height }

    /// One line of state for failure reports.
    public var stateSummary: String {
        "replica \(id)\(isMember ? "" : " (follower)"): round \(round), last voted \(safety.lastVotedRound), high QC r\(safety.highQC.round)/h\(safety.highQC.height), "
            + "high TC r\(highTC?.round ?? 0), committed h\(committedHeight), blocks \(blocks.count), mempool \(mempool.count), "
            + "proposed r\(proposedRound), pending commit \(pendingCommit.map { "r\($0.round)" } ?? "none"), fetching \(requested.count)"
    }
    public var mempoolCount: Int { mempool.count }
    /// Blocks held in memory (committed ones kept for the leader rule and fetches, and those above the committed height).
    package var heldBlocks: Int { blocks.count }
    /// The pooled payload, in arrival order: a host hands it to the next epoch's replica.
    public var mempoolItems: [[UInt8]] { mempool }
    /// The round-robin leader of a round, before reputation.
    func baseLeader(_ round: UInt64) -> ReplicaID { Int(round % UInt64(configuration.replicas)) }

    /// The leader of `round` for a proposal extending the block `anchorID` (the block its QC certifies), with leader
    /// reputation (in the spirit of DiemBFT v4 / Aptos). Walking the last `reputationWindowBlocks` certified ancestors
    /// of the anchor from the newest, each validator is judged by the most recent evidence about it: a block it
    /// proposed, or a round it led by rotation that was the last of the rounds between a block's and its parent's
    /// (the round that failed). A validator whose latest evidence is a failed round is suspect, and the leader is the first
    /// validator from the round-robin one on that is not. Every replica computes it from the same certified chain, so
    /// they agree. A validator that dies is skipped from its first failed round on (whatever it proposed before), and
    /// tried again once that failure leaves the window: one failed round per window instead of two per rotation.
    /// More than n + 1 rounds after the anchor's, the round-robin leader leads whatever the window says.
    /// Nil when the anchor's window is not all in memory (the caller decides).
    func leader(_ round: UInt64, after anchorID: [UInt8]) -> ReplicaID? {
        let n = configuration.replicas
        let base = baseLeader(round)
        guard n > 1, configuration.leaderReputation else { return base }
        // Reputation is read from the certified chain, which does not change while no QC forms. After a full rotation of
        // failed rounds since the anchor, plain rotation decides: otherwise a chain whose only unsuspected validator is
        // dead or silent would wait for it forever (the simulator found this: three honest validators suspect after
        // rounds the network made fail, the fourth Byzantine and not proposing).
        if let anchorRound = anchorID == rootID ? 0 : blocks[anchorID]?.round, round > anchorRound + UInt64(n) + 1 { return base }
        let window = configuration.reputationWindowBlocks > 0 ? configuration.reputationWindowBlocks : min(50 * n, configuration.committedKeep - 64)
        // nil: no evidence yet; true: latest evidence is a failed round; false: latest is a block it proposed.
        var suspect = [Bool?](repeating: nil, count: n)
        var undecided = n
        func judge(_ validator: ReplicaID, failed: Bool) {
            guard validator >= 0, validator < n, suspect[validator] == nil else { return }
            suspect[validator] = failed
            undecided -= 1
        }
        var cursor = blocks[anchorID]
        var walked = 0
        while walked < window, undecided > 0 {
            guard let block = cursor else { return nil }  // a gap in memory: the window is unknown
            if block.height <= rootHeight || block.id == rootID { break }
            judge(block.proposer, failed: false)
            // Rounds between the parent's (its justify's) and this block's left no block in this chain. The last of them is
            // the one that failed for its leader: the rounds before it failed with it (their votes went to that
            // leader, so their blocks were never certified), not through their own leaders.
            if block.round > block.justify.round + 1 { judge(baseLeader(block.round - 1), failed: true) }
            walked += 1
            // The epoch's first block: its parent is the root, which a restarted replica does not hold in memory.
            if block.height == rootHeight + 1 { break }
            cursor = blocks[block.parentID]
        }
        for step in 0..<n {
            let candidate = (base + step) % n
            if suspect[candidate] != true { return candidate }
        }
        return base
    }

    /// Whether this replica leads `round` when it proposes on its highest QC. Asked on every tick: the answer is kept
    /// for the (round, anchor) it was computed for. Blocks only arrive in between (a walk that found its whole window
    /// finds it again); removing blocks forgets the answer (both places that remove do), so it is always what `leader` says.
    mutating func leadsCurrentRound() -> Bool {
        let anchor = safety.highQC.blockID
        if let memo = leaderMemo, memo.round == round, memo.anchor == anchor { return memo.leader == id }
        guard let leader = leader(round, after: anchor) else { return baseLeader(round) == id }
        leaderMemo = (round, anchor, leader)
        return leader == id
    }

    // MARK: Inputs

    /// Starts the first round (and proposes if this replica leads it).
    public mutating func start(now: UInt64) -> [ConsensusEffect] {
        self.now = now
        var effects: [ConsensusEffect] = []
        enter(round: round, effects: &effects)
        runAgenda(effects: &effects)
        return effects
    }

    /// Does the work queued by the handlers, in order, at most `stepsPerInputMax` steps.
    mutating func runAgenda(effects: inout [ConsensusEffect]) {
        var steps = 0
        while !agenda.isEmpty, steps < Self.stepsPerInputMax {
            steps += 1
            switch agenda.removeFirst() {
            case .propose:
                if leadsCurrentRound() { propose(heartbeat: false, effects: &effects) }
            case .ownProposal(let block):
                onProposal(block, from: id, effects: &effects)
            case .ownVote(let vote):
                onVote(vote, from: id, effects: &effects)
            }
        }
    }

    /// Steps waiting for the next input (for tests and diagnostics).
    public var agendaCount: Int { agenda.count }

    /// Adds a payload item to the mempool; false means busy (the pool is full), never unbounded growth.
    public mutating func submit(_ item: [UInt8]) -> Bool {
        guard !mempoolSet.contains(PayloadKey(item)), !recentlyCommitted.contains(PayloadKey(item)) else { return true }
        guard mempool.count < configuration.mempoolMax else { return false }
        mempool.append(item)
        mempoolSet.insert(PayloadKey(item))
        return true
    }

    public mutating func tick(now: UInt64) -> [ConsensusEffect] {
        self.now = now
        var effects: [ConsensusEffect] = []
        if now >= deadline, isMember { localTimeout(effects: &effects) }
        // A leader with nothing urgent proposes late: as soon as payload arrives, or an empty heartbeat at half time.
        if leadsCurrentRound(), proposedRound < round {
            propose(heartbeat: configuration.emptyBlocksWhenIdle && now >= enteredAt + configuration.roundTimeoutTicks / 2, effects: &effects)
        }
        // Payload still pooled a round timeout on is offered to the others again (at most a block's worth, oldest
        // first): the first offer may have been lost (a peer connection not yet up after a restart), and with leader
        // reputation a validator that failed recently may not lead again soon enough to propose what only it holds.
        if !mempool.isEmpty, now >= lastGossip + configuration.roundTimeoutTicks {
            lastGossip = now
            effects.append(.broadcast(.transactions(Array(mempool.prefix(configuration.blockPayloadMax)))))
        }
        // Re-ask for blocks we still miss.
        // Sorted: dictionary order changes per process and must not leak into the effects (replayable simulation).
        for blockID in requested.keys.sorted(by: { $0.lexicographicallyPrecedes($1) })
        where now >= requested[blockID]! + configuration.roundTimeoutTicks {
            requested[blockID] = now
            effects.append(.broadcast(.fetch(blockID)))
        }
        runAgenda(effects: &effects)
        return effects
    }

    public mutating func receive(_ message: ConsensusMessage, from sender: ReplicaID, now: UInt64) -> [ConsensusEffect] {
        self.now = now
        guard sender >= 0, sender != id else { return [] }
        var effects: [ConsensusEffect] = []
        switch message {
        case .proposal, .vote, .timeout:
            // Only validators take part in consensus; anyone (followers too) may fetch, gossip and relay certificates.
            guard sender < configuration.replicas else { return [] }
        case .fetch, .blocks, .transactions, .certified, .catchUp, .syncRequest, .syncBlocks:
            break
        }
        lastSender = sender
        switch message {
        case .proposal(let block): onProposal(block, from: sender, effects: &effects)
        case .vote(let vote): onVote(vote, from: sender, effects: &effects)
        case .timeout(let timeout): onTimeout(timeout, from: sender, effects: &effects)
        case .fetch(let blockID):
            // The block and up to 15 ancestors, so a replica that was away catches up 16 blocks per round trip.
            var reply: [ConsensusBlock] = []
            var cursor = blocks[blockID]
            while let block = cursor, reply.count < 16, block.height > 0 {
                reply.append(block)
                cursor = blocks[block.parentID]
            }
            if !reply.isEmpty { effects.append(.send(to: sender, .blocks(reply))) }
        case .transactions(let items):
            // A peer's clients' transactions: checked like a proposal's payload, then pooled (never beyond the bound).
            for item in items.prefix(configuration.blockPayloadMax) where configuration.validatePayloadItem?(item) ?? true {
                guard submit(item) else { break }
            }
        case .blocks(let list):
            for block in list.prefix(16).sorted(by: { $0.height < $1.height }) where blocks[block.id] == nil && validBlock(block) {
                insert(block, effects: &effects)
            }
            retryCommit(effects: &effects)
        case .certified(let block, let qc):
            // A certified block and its QC (a peer's commit evidence): self-authenticating, from anyone.
            guard qc.blockID == block.id, qc.height == block.height, qc.round == block.round, validQC(qc) else { break }
            if blocks[block.id] == nil, block.height > committedHeight {
                guard validBlock(block) else { break }
                insert(block, effects: &effects)
            }
            process(qc: qc, effects: &effects)
        case .catchUp, .syncRequest:
            break  // For the host: it answers from storage (how an epoch ended; committed blocks).
        case .syncBlocks(let batch):
            adopt(batch, from: sender, effects: &effects)
        }
        // Far behind what the others have certified: fetching ancestors backwards would not keep up (or would not fit
        // in memory), so sync forward from the peer that showed it.
        if safety.highQC.height > committedHeight + configuration.syncGap || (pendingCommit?.height ?? 0) > committedHeight + configuration.syncGap {
            requestSync(from: sender, effects: &effects)
        }
        // Blocks that arrived (fetched, certified, synced) may be the parent a proposal of this round waits for.
        voteOnceParentArrived(effects: &effects)
        runAgenda(effects: &effects)
        return effects
    }
}

// MARK: For the simulator's adversaries and checkers (package only)
extension Replica {
    /// A block this replica holds (uncommitted, or committed and still in memory).
    package func block(_ id: [UInt8]) -> ConsensusBlock? { blocks[id] }
    /// The leader of `round` for a proposal extending `anchorID`, as this replica computes it.
    package func leaderOf(_ round: UInt64, after anchorID: [UInt8]) -> ReplicaID { leader(round, after: anchorID) ?? baseLeader(round) }
    package var highTimeoutCertificate: TimeoutCertificate? { highTC }
    package var signing: any ConsensusSigner { signer }
}
