/// One node's consensus across epochs, as a pure state machine: the replica of the current epoch and who its replica
/// ids are, how each ended epoch ended, and the rules for messages that cross epochs. `ConsensusDriver` (a node, over
/// TCP and PostgreSQL) and `Simulation` (every seeded run) both host their replicas in it, so the simulator runs the
/// node's own routing, epoch ends, replica hand-over and persist-before-send ordering. It does no I/O and reads no
/// clock: callers pass `now`, perform what it returns, and answer sync and fetch requests from their storage.
///
/// Replica ids are per epoch: the validators in governance order, then every other node the host knows (followers),
/// so that fetches from any of them can be answered.
public struct EpochHost<Node: Hashable & Sendable>: Sendable {
    /// One epoch's replica and its nodes.
    public struct Setup: Sendable {
        public let epoch: UInt64
        public let members: [Node]
        public let others: [Node]
        public let replica: Replica

        public init(epoch: UInt64, members: [Node], others: [Node], replica: Replica) {
            self.epoch = epoch
            self.members = members
            self.others = others
            self.replica = replica
        }
    }

    /// What a received message asks of the caller besides performing the replica's effects.
    public struct Routed: Sendable {
        /// The replica's effects: perform them with `steps` after making `writes` durable.
        public var effects: [ConsensusEffect] = []
        /// Messages for the sender that need no durability (how an epoch it is still in ended; a catch-up request),
        /// each with the epoch to stamp it with.
        public var replies: [(message: ConsensusMessage, epoch: UInt64)] = []
        /// The sender asks for committed blocks from this height, for its epoch: serve them from storage.
        public var syncFrom: UInt64?
        /// The sender fetched a block the replica no longer holds in memory: serve it from storage if there.
        public var fetchFromStorage: [UInt8]?
    }

    /// One thing to do, in order, once a batch's writes are durable.
    public enum Step: Sendable {
        /// Hand the block to the chain; if it changed the validator set, call `endEpoch` and drop the remaining steps
        /// (nothing above the boundary is committed by the old set). `beyond`: the old replica's commits above it.
        case commit(ConsensusBlock, certificate: QuorumCertificate, evidence: CommitEvidence, beyond: [ConsensusBlock])
        case send(ConsensusMessage, to: [Node])
    }

    public let me: Node
    public private(set) var epoch: UInt64
    public private(set) var members: [Node]
    public private(set) var others: [Node]
    public private(set) var replica: Replica
    /// How each epoch this node saw end ended (sent to nodes still in it).
    public private(set) var epochEnds: [UInt64: EpochEnd]
    var lastHelped: [Node: UInt64] = [:]
    var lastAsked: [Node: UInt64] = [:]

    public init(me: Node, setup: Setup, epochEnds: [UInt64: EpochEnd] = [:]) {
        self.me = me
        epoch = setup.epoch
        members = setup.members
        others = setup.others
        replica = setup.replica
        self.epochEnds = epochEnds
        replica.publishesCommits = !everyone.isEmpty
    }

    public var everyone: [Node] { (members + others).filter { $0 != me } }

    public func index(of node: Node) -> ReplicaID? {
        if let index = members.firstIndex(of: node) { return index }
        return others.firstIndex(of: node).map { members.count + $0 }
    }

    public func node(at index: ReplicaID) -> Node? {
        if index < members.count { return members[index] }
        return others.indices.contains(index - members.count) ? others[index - members.count] : nil
    }

    /// Nodes governance admitted without changing the validator set (observers): followers from now on.
    public mutating func addFollowers(_ nodes: [Node]) {
        for node in nodes where node != me && !members.contains(node) && !others.contains(node) { others.append(node) }
        replica.publishesCommits = !everyone.isEmpty
    }

    public mutating func start(now: UInt64) -> [ConsensusEffect] { replica.start(now: now) }
    public mutating func tick(now: UInt64) -> [ConsensusEffect] { replica.tick(now: now) }

    /// Offers items to the replica's bounded pool; returns those taken (stops at the first refused: the pool is full).
    public mutating func submit(_ items: [[UInt8]]) -> [[UInt8]] {
        var accepted: [[UInt8]] = []
        for item in items {
            guard replica.submit(item) else { break }
            accepted.append(item)
        }
        return accepted
    }

    /// Which messages the replica sees, and what a node in another epoch is told. Fetches, blocks and gossip reach
    /// the replica whatever the sender's epoch; consensus messages only within one epoch. A sender in an older epoch
    /// is sent how that epoch ended, and one in a newer epoch is asked for how ours did (each at most once per round
    /// timeout per sender).
    public mutating func receive(_ message: ConsensusMessage, from sender: Node, epoch senderEpoch: UInt64, now: UInt64) -> Routed {
        var routed = Routed()
        let anyEpoch: Bool
        switch message {
        case .fetch, .blocks, .transactions: anyEpoch = true
        case .proposal, .vote, .timeout, .certified, .catchUp, .syncBlocks: anyEpoch = false
        case .syncRequest(let height):
            routed.syncFrom = height
            return routed
        }
        let resend = replica.configuration.roundTimeoutTicks
        if senderEpoch == epoch || anyEpoch {
            guard let index = index(of: sender) else { return routed }
            routed.effects = replica.receive(message, from: index, now: now)
            if case .fetch(let id) = message, !routed.effects.contains(where: { if case .send(_, .blocks) = $0 { true } else { false } }) {
                routed.fetchFromStorage = id
            }
        } else if senderEpoch < epoch {
            guard let end = epochEnds[senderEpoch] else { return routed }
            if let last = lastHelped[sender], now < last + resend { return routed }
            lastHelped[sender] = now
            routed.replies = end.messages.map { ($0, senderEpoch) }
        } else if message != .catchUp {
            if let last = lastAsked[sender], now < last + resend { return routed }
            lastAsked[sender] = now
            routed.replies = [(.catchUp, epoch)]
        }
        return routed
    }

    /// What must be durable before any of the batch's messages leave: its blocks and its latest safety state.
    public static func writes(_ effects: [ConsensusEffect]) -> (blocks: [ConsensusBlock], safety: SafetyState?) {
        var blocks: [ConsensusBlock] = []
        var safety: SafetyState?
        for effect in effects {
            switch effect {
            case .persistBlock(let block): blocks.append(block)
            case .persist(let state): safety = state
            case .send, .broadcast, .commit: break
            }
        }
        return (blocks, safety)
    }

    /// The batch's commits and messages, in order, with replica ids resolved to nodes. `durable`: whether the
    /// batch's writes were made durable; if not, its messages are withheld (as if lost: the protocol tolerates loss;
    /// a vote whose round is not on disk is never sent), and its commits still go to the chain.
    public func steps(_ effects: [ConsensusEffect], durable: Bool = true) -> [Step] {
        var steps: [Step] = []
        for (position, effect) in effects.enumerated() {
            switch effect {
            case .persist, .persistBlock: break
            case .commit(let block, let certificate, let evidence):
                let beyond = effects[(position + 1)...].compactMap { if case .commit(let above, _, _) = $0 { above } else { nil } }
                steps.append(.commit(block, certificate: certificate, evidence: evidence, beyond: beyond))
            case .send(let to, let message):
                if durable, let node = node(at: to) { steps.append(.send(message, to: [node])) }
            case .broadcast(let message):
                if durable { steps.append(.send(message, to: everyone)) }
            }
        }
        return steps
    }

    /// The block just committed changed the validator set: records how this epoch ended, hands over to the next
    /// epoch's replica (carrying the pool over) and returns its start effects.
    public mutating func endEpoch(_ end: EpochEnd, next: Setup, now: UInt64) -> [ConsensusEffect] {
        epochEnds[epoch] = end
        let carried = replica.mempoolItems
        replica = next.replica
        epoch = next.epoch
        members = next.members
        others = next.others
        replica.publishesCommits = !everyone.isEmpty
        for item in carried { _ = replica.submit(item) }
        return replica.start(now: now)
    }

    /// Records how an epoch ended without changing replica (a restart that learnt it from storage).
    public mutating func remember(_ end: EpochEnd, of epoch: UInt64) { epochEnds[epoch] = end }
}
