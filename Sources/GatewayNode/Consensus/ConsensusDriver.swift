import Foundation
import GatewayChain
import Logging

/// Where a driver makes its replica's state durable before any vote or timeout leaves the process.
public protocol ConsensusPersistence: Sendable {
    /// Writes the blocks and the safety state (if any) of one epoch in one durable step.
    func save(blocks: [ConsensusBlock], safety: SafetyState?, epoch: UInt64) async throws
    /// Records how an epoch ended.
    func save(_ end: EpochEnd, epoch: UInt64) async throws
}

/// One epoch's replica and who its replica ids are: the validators in governance order, then every other node this
/// one knows of (followers), so that fetches from any of them can be answered.
public struct EpochSetup: Sendable {
    public let epoch: UInt64
    public let members: [String]
    public let others: [String]
    public let replica: Replica

    public init(epoch: UInt64, members: [String], others: [String], replica: Replica) {
        self.epoch = epoch
        self.members = members
        self.others = others
        self.replica = replica
    }
}

/// Runs one replica for real: peers' messages, submitted payload and a tick every `tickMs` go in, one batch at a
/// time; each batch's `persist` effects are made durable (one PostgreSQL transaction) before any of its messages
/// are sent; commits are handed over in order to `onCommit`. The replica's code is the one the simulator runs.
///
/// Epochs, as in the simulator: `onCommit` answers whether the block changed the validator set. If it did, the rest
/// of the old replica's effects are dropped (nothing above the boundary is committed by the old set), how the epoch
/// ended is recorded, and `nextEpoch` builds the replica of the new set. Messages carry their sender's epoch: those
/// of another epoch reach the replica only if they are fetches, blocks or gossip; a sender in an older epoch is sent
/// how that epoch ended, and a sender in a newer one is asked for how ours did.
///
/// The replica's clock is wall-clock milliseconds (its timeouts are configured in milliseconds, and a block's
/// timestamp is its proposer's clock).
public actor ConsensusDriver {
    public static let tickMs = 10
    /// Peer messages waiting for the replica beyond which new ones are dropped (the protocol tolerates loss; a peer
    /// that floods cannot grow this node's memory). Ticks are never dropped, and never queued twice.
    public static let inboxMessagesMax = 4_096

    enum Input {
        case start
        case message(ConsensusMessage, from: String, epoch: UInt64)
        case tick
    }

    let me: String
    var replica: Replica
    public private(set) var epoch: UInt64
    var members: [String]
    var others: [String]
    var epochEnds: [UInt64: EpochEnd]
    var transport: ConsensusTransport?
    let persistence: (any ConsensusPersistence)?
    let onCommit: @Sendable (ConsensusBlock, QuorumCertificate, CommitEvidence, _ epoch: UInt64) async -> Bool
    let nextEpoch: (@Sendable (_ committed: [ConsensusBlock]) async throws -> EpochSetup)?
    /// Answers a peer's fetch for a block the replica no longer holds in memory (older committed blocks).
    let serveFetch: (@Sendable ([UInt8]) async -> [ConsensusBlock])?
    /// Answers a forward-sync request from storage (height, the requester's epoch).
    let serveSync: (@Sendable (UInt64, UInt64) async -> SyncBatch?)?
    var lastSynced: [String: UInt64] = [:]
    let logger: Logger
    var inbox: [Input] = []
    var inboxMessages = 0
    var tickQueued = false
    /// Peer messages dropped because the inbox was full.
    public private(set) var droppedMessages = 0
    var draining = false
    var ticker: Task<Void, Never>?
    var stopped = false
    var lastHelped: [String: UInt64] = [:]
    var lastAsked: [String: UInt64] = [:]

    public init(
        me: String, setup: EpochSetup, persistence: (any ConsensusPersistence)? = nil, epochEnds: [UInt64: EpochEnd] = [:],
        serveFetch: (@Sendable ([UInt8]) async -> [ConsensusBlock])? = nil, serveSync: (@Sendable (UInt64, UInt64) async -> SyncBatch?)? = nil,
        logger: Logger = Logger(label: "consensus"),
        nextEpoch: (@Sendable (_ committed: [ConsensusBlock]) async throws -> EpochSetup)? = nil,
        onCommit: @escaping @Sendable (ConsensusBlock, QuorumCertificate, CommitEvidence, _ epoch: UInt64) async -> Bool
    ) {
        self.me = me
        self.replica = setup.replica
        self.epoch = setup.epoch
        self.members = setup.members
        self.others = setup.others
        self.epochEnds = epochEnds
        self.persistence = persistence
        self.serveFetch = serveFetch
        self.serveSync = serveSync
        self.logger = logger
        self.nextEpoch = nextEpoch
        self.onCommit = onCommit
    }

    static var now: UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1_000)) }

    public func attach(_ transport: ConsensusTransport) {
        self.transport = transport
    }

    public func start() async {
        await enqueue(.start)
        ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Self.tickMs))
                await self?.enqueue(.tick)
            }
        }
    }

    /// Stops ticking and ignores everything that arrives afterwards (the node is shutting down).
    public func stop() {
        stopped = true
        ticker?.cancel()
        ticker = nil
    }

    public func deliver(_ message: ConsensusMessage, from sender: String, epoch: UInt64) async {
        await enqueue(.message(message, from: sender, epoch: epoch))
    }

    /// Nodes governance admitted without changing the validator set (observers): followers from now on.
    public func addFollowers(_ nodes: [String]) {
        for node in nodes where node != me && !members.contains(node) && !others.contains(node) { others.append(node) }
    }

    /// Offers payload items to the replica's bounded mempool and to the validators' (any leader may order them).
    /// Returns how many were taken; fewer than offered means the pool is full (busy).
    public func submit(_ items: [[UInt8]]) -> Int {
        var accepted: [[UInt8]] = []
        for item in items {
            guard replica.submit(item) else { break }
            accepted.append(item)
        }
        let validators = members.filter { $0 != me }
        if !accepted.isEmpty, !validators.isEmpty {
            for start in stride(from: 0, to: accepted.count, by: replica.configuration.blockPayloadMax) {
                let chunk = Array(accepted[start..<min(start + replica.configuration.blockPayloadMax, accepted.count)])
                transport?.send(.transactions(chunk), epoch: epoch, to: validators)
            }
        }
        return accepted.count
    }

    public var committedHeight: UInt64 { replica.committedHeight }
    public var committed: [ConsensusBlock] { replica.committed }
    public var mempoolCount: Int { replica.mempoolCount }
    public var stateSummary: String { "epoch \(epoch), " + replica.stateSummary }
    public var validators: [String] { members }

    func index(of node: String) -> ReplicaID? {
        if let index = members.firstIndex(of: node) { return index }
        return others.firstIndex(of: node).map { members.count + $0 }
    }

    func node(at index: ReplicaID) -> String? {
        index < members.count ? members[index] : others.indices.contains(index - members.count) ? others[index - members.count] : nil
    }

    var everyone: [String] { (members + others).filter { $0 != me } }

    func enqueue(_ input: Input) async {
        guard !stopped else { return }
        switch input {
        case .message:
            guard inboxMessages < Self.inboxMessagesMax else {
                droppedMessages += 1
                if droppedMessages.isMultiple(of: 1_024) || droppedMessages == 1 {
                    logger.warning("consensus inbox full: dropping peer messages", metadata: ["dropped": "\(droppedMessages)"])
                }
                return
            }
            inboxMessages += 1
        case .tick:
            guard !tickQueued else { return }
            tickQueued = true
        case .start: break
        }
        inbox.append(input)
        guard !draining else { return }
        draining = true
        while !inbox.isEmpty, !stopped {
            let batch = inbox
            inbox = []
            inboxMessages = 0
            tickQueued = false
            var effects: [ConsensusEffect] = []
            var fetches: [(String, [UInt8])] = []
            let now = Self.now
            for input in batch {
                switch input {
                case .start: effects += replica.start(now: now)
                case .tick: effects += replica.tick(now: now)
                case .message(let message, let sender, let senderEpoch):
                    let produced = route(message, from: sender, epoch: senderEpoch, now: now)
                    if case .fetch(let id) = message, !produced.contains(where: { if case .send(_, .blocks) = $0 { true } else { false } }) {
                        fetches.append((sender, id))
                    }
                    effects += produced
                }
            }
            await perform(effects)
            for (sender, id) in fetches { answerFromStorage(id, to: sender) }
        }
        draining = false
    }

    /// Which messages the replica sees, and what a node in another epoch is told.
    func route(_ message: ConsensusMessage, from sender: String, epoch senderEpoch: UInt64, now: UInt64) -> [ConsensusEffect] {
        let anyEpoch: Bool
        switch message {
        case .fetch, .blocks, .transactions: anyEpoch = true
        case .proposal, .vote, .timeout, .certified, .catchUp, .syncBlocks: anyEpoch = false
        case .syncRequest(let height):
            answerSync(from: height, epoch: senderEpoch, to: sender)
            return []
        }
        let resendMs = replica.configuration.roundTimeoutTicks
        if senderEpoch == epoch || anyEpoch {
            guard let index = index(of: sender) else { return [] }
            return replica.receive(message, from: index, now: now)
        }
        if senderEpoch < epoch {
            // The sender is still in an epoch we have left: send it how that epoch ended (once per round timeout).
            guard let end = epochEnds[senderEpoch], now >= (lastHelped[sender] ?? 0) + resendMs else { return [] }
            lastHelped[sender] = now
            for help in end.messages { transport?.send(help, epoch: senderEpoch, to: [sender]) }
        } else if message != .catchUp, now >= (lastAsked[sender] ?? 0) + resendMs {
            // The sender is ahead: ask it for how our epoch ended.
            lastAsked[sender] = now
            transport?.send(.catchUp, epoch: epoch, to: [sender])
        }
        return []
    }

    /// Durability first: blocks and the latest safety state of the batch in one write; only then the messages.
    func perform(_ effects: [ConsensusEffect]) async {
        var blocks: [ConsensusBlock] = []
        var safety: SafetyState?
        for effect in effects {
            switch effect {
            case .persistBlock(let block): blocks.append(block)
            case .persist(let state): safety = state
            default: break
            }
        }
        var durable = true
        if let persistence, !blocks.isEmpty || safety != nil {
            do {
                try await persistence.save(blocks: blocks, safety: safety, epoch: epoch)
            } catch {
                // Not durable: behave as if this batch's messages were lost (the protocol tolerates loss); never send
                // a vote whose round is not on disk.
                durable = false
                logger.error("could not persist consensus state; withholding this batch's messages", metadata: ["error": "\(error)"])
            }
        }
        for (position, effect) in effects.enumerated() {
            switch effect {
            case .persist, .persistBlock: break
            case .commit(let block, let certificate, let evidence):
                guard await onCommit(block, certificate, evidence, epoch) else { continue }
                let beyond = effects[(position + 1)...].compactMap { if case .commit(let above, _, _) = $0 { above } else { nil } }
                await endEpoch(EpochEnd(evidence: evidence, beyond: beyond))
                return
            case .send(let to, let message): if durable, let node = node(at: to) { transport?.send(message, epoch: epoch, to: [node]) }
            case .broadcast(let message): if durable { transport?.send(message, epoch: epoch, to: everyone) }
            }
        }
    }

    /// The block just committed changed the validator set: record how this epoch ended and start the next one's
    /// replica, carrying over the pool.
    func endEpoch(_ end: EpochEnd) async {
        epochEnds[epoch] = end
        do {
            try await persistence?.save(end, epoch: epoch)
        } catch {
            // Only our help to laggards needs it, and other nodes keep it too.
            logger.error("could not record how the epoch ended", metadata: ["epoch": "\(epoch)", "error": "\(error)"])
        }
        guard let nextEpoch else {
            logger.critical("the validator set changed but this driver cannot change epochs; it stops")
            stop()
            return
        }
        let carried = replica.mempoolItems
        let setup: EpochSetup
        do {
            setup = try await nextEpoch(replica.committed)
        } catch {
            logger.critical("could not start the next epoch's replica; consensus stops", metadata: ["error": "\(error)"])
            stop()
            return
        }
        logger.notice("epoch changed", metadata: [
            "epoch": "\(setup.epoch)", "validators": "\(setup.members.joined(separator: ","))", "height": "\(replica.committedHeight)",
        ])
        replica = setup.replica
        epoch = setup.epoch
        members = setup.members
        others = setup.others
        for item in carried { _ = replica.submit(item) }
        await perform(replica.start(now: Self.now))
    }

    /// Forward sync, from storage: committed blocks from `height`, never past the end of the requester's epoch.
    func answerSync(from height: UInt64, epoch senderEpoch: UInt64, to sender: String) {
        guard let serveSync, let transport else { return }
        if let last = lastSynced[sender], Self.now < last + 20 { return }  // one batch per peer in flight, roughly
        lastSynced[sender] = Self.now
        Task {
            if let batch = await serveSync(height, senderEpoch) { transport.send(.syncBlocks(batch), epoch: senderEpoch, to: [sender]) }
        }
    }

    func answerFromStorage(_ id: [UInt8], to sender: String) {
        guard let serveFetch, let transport else { return }
        let epoch = self.epoch
        Task {
            let blocks = await serveFetch(id)
            if !blocks.isEmpty { transport.send(.blocks(blocks), epoch: epoch, to: [sender]) }
        }
    }
}
