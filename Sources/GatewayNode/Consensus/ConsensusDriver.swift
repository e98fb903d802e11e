import Foundation
import GatewayChain
import Logging
import NIOCore
import NIOPosix

/// Where a driver makes its replica's state durable before any vote or timeout leaves the process.
///
/// Its methods, and the driver's `onCommit` and `onCommitsDone`, are `nonisolated(nonsending)`: they run on the
/// driver's executor (the chain's event loop) and go from there to the chain service's actor, on the same loop. A plain
/// nonisolated async function would first hop to Swift's shared task pool and back, and under load each hop waited
/// behind request work: a solo validator's batch made five such hops, about 3 ms of its 8–10 at half of bench/http's
/// maximum (a batch took 5.4–6 ms without them).
package protocol ConsensusPersistence: Sendable {
    /// Writes the blocks and the safety state (if any) of one epoch in one durable step.
    nonisolated(nonsending) func save(blocks: [ConsensusBlock], safety: SafetyState?, epoch: UInt64) async throws
    /// Records how an epoch ended.
    nonisolated(nonsending) func save(_ end: EpochEnd, epoch: UInt64) async throws
}

/// One epoch's replica and who its replica ids are (the node's `EpochHost` hosts it).
package typealias EpochSetup = EpochHost<String>.Setup

/// Runs one replica for real: peers' messages, submitted payload and a tick every `tickMs` go in, one batch at a
/// time; each batch's commits are handed over in order to `onCommit` (decided in memory), then its `persist` effects
/// are made durable (one PostgreSQL transaction, which may store the decided blocks too) before any of its messages
/// are sent. The replica's code is the one the simulator runs.
///
/// Epochs, as in the simulator: `onCommit` answers whether the block changed the validator set. If it did, the rest
/// of the old replica's effects are dropped (nothing above the boundary is committed by the old set), how the epoch
/// ended is recorded, and `nextEpoch` builds the replica of the new set. Messages carry their sender's epoch: those
/// of another epoch reach the replica only if they are fetches, blocks or gossip; a sender in an older epoch is sent
/// how that epoch ended, and a sender in a newer one is asked for how ours did.
///
/// The replica's clock is wall-clock milliseconds (its timeouts are configured in milliseconds, and a block's
/// timestamp is its proposer's clock).
package actor ConsensusDriver {
    /// The event loop this actor runs on: a node's chain loop (`Database.chainLoop`), shared with its chain service.
    nonisolated let executorLoop: any EventLoop
    nonisolated package var unownedExecutor: UnownedSerialExecutor { executorLoop.executor.asUnownedSerialExecutor() }
    package static let tickMs = 10
    /// A tick asked for by payload (`poke`, on a solo validator) comes no sooner than this after the previous tick: an
    /// idle replica takes a request's event at once instead of up to `tickMs` later, and a busy one starts its next
    /// batch as soon as the last is done, while the blocks a second stay bounded (each costs signatures and a durable
    /// write).
    package static let pokeGapMs = 4
    var lastTick = ContinuousClock.now
    /// A poke waits for `pokeGapMs` after the last tick to pass.
    var pokeWaiting = false
    /// Whether this node is the only validator: pokes are for it alone. With others, the leader's proposals wait for
    /// their votes anyway, and early ticks made the rounds slower (four validators on two cores: p50 at half load
    /// 175–185 ms with pokes, 82–89 ms without).
    var solo: Bool { host.members == [me] }
    /// Peer messages waiting for the replica beyond which new ones are dropped (the protocol tolerates loss; a peer
    /// that floods cannot grow this node's memory). Ticks are never dropped, and never queued twice.
    package static let inboxMessagesMax = 4_096

    enum Input {
        case start
        case message(ConsensusMessage, from: String, epoch: UInt64)
        case tick
    }

    let me: String
    /// The replica of the current epoch, its nodes, how past epochs ended, and the cross-epoch rules (shared with the
    /// simulator).
    var host: EpochHost<String>
    package var epoch: UInt64 { host.epoch }
    var transport: ConsensusTransport?
    let persistence: (any ConsensusPersistence)?
    let onCommit: nonisolated(nonsending) @Sendable (ConsensusBlock, QuorumCertificate, CommitEvidence, _ epoch: UInt64) async -> Bool
    /// After the commits of one batch were handed over (`onCommit`, block by block): they can be stored together.
    let onCommitsDone: (nonisolated(nonsending) @Sendable () async -> Void)?
    let nextEpoch: (@Sendable (_ committed: [ConsensusBlock]) async throws -> EpochSetup)?
    /// Answers a peer's fetch for a block the replica no longer holds in memory (older committed blocks).
    let serveFetch: (@Sendable ([UInt8]) async -> [ConsensusBlock])?
    /// Answers a forward-sync request from storage (height, the requester's epoch).
    let serveSync: (@Sendable (UInt64, UInt64) async -> SyncBatch?)?
    /// This node's own payload, taken on each tick just before the replica may propose (the access log's group commit).
    let payload: (any PayloadSource)?
    var lastSynced: [String: UInt64] = [:]
    let logger: Logger
    var inbox: [Input] = []
    var inboxMessages = 0
    var tickQueued = false
    /// Peer messages dropped because the inbox was full.
    package private(set) var droppedMessages = 0
    var draining = false
    var ticker: Task<Void, Never>?
    /// Peers' requests for stored blocks (forward sync, fetches of blocks no longer in memory), answered one at a time
    /// by one worker from storage. Bounded: beyond `storageRequestsMax` waiting, the oldest are dropped (the protocol
    /// tolerates loss; the peer asks again). No task per request.
    let storageRequests: AsyncStream<StorageRequest>
    let storageContinuation: AsyncStream<StorageRequest>.Continuation
    var storageWorker: Task<Void, Never>?
    package static let storageRequestsMax = 64

    enum StorageRequest: Sendable {
        case sync(from: UInt64, epoch: UInt64, to: String)
        case fetch([UInt8], epoch: UInt64, to: String)
    }
    var stopped = false

    /// A replica restored from a backup may have voted, before the restore, in rounds its restored safety state does
    /// not remember. Until `restoredHold` is cleared it sends no vote, timeout or proposal for a round at or below the
    /// horizon: unknown (no round) until the network shows where it is — a quorum certificate on a block whose
    /// proposal this node received after it started, which 2f + 1 replicas formed in a round at least as late as any
    /// this node reached before (a quorum at an earlier round would need an honest replica to go back) — then that
    /// certificate's round + 1, and the replica's round at that moment. `onRestoredSettled` hears when the hold ends.
    var restoredHold: (horizon: UInt64, settled: Bool)?
    var freshProposals: Set<[UInt8]> = []
    let onRestoredSettled: (@Sendable () async -> Void)?

    package init(
        me: String, setup: EpochSetup, persistence: (any ConsensusPersistence)? = nil, epochEnds: [UInt64: EpochEnd] = [:],
        serveFetch: (@Sendable ([UInt8]) async -> [ConsensusBlock])? = nil, serveSync: (@Sendable (UInt64, UInt64) async -> SyncBatch?)? = nil,
        logger: Logger = Logger(label: "consensus"),
        nextEpoch: (@Sendable (_ committed: [ConsensusBlock]) async throws -> EpochSetup)? = nil,
        restored: Bool = false, onRestoredSettled: (@Sendable () async -> Void)? = nil, payload: (any PayloadSource)? = nil,
        executor: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(),
        onCommitsDone: (nonisolated(nonsending) @Sendable () async -> Void)? = nil,
        onCommit: nonisolated(nonsending) @escaping @Sendable (ConsensusBlock, QuorumCertificate, CommitEvidence, _ epoch: UInt64) async -> Bool
    ) {
        self.me = me
        self.executorLoop = executor
        self.restoredHold = restored ? (UInt64.max, false) : nil
        self.onRestoredSettled = onRestoredSettled
        self.host = EpochHost(me: me, setup: setup, epochEnds: epochEnds)
        (storageRequests, storageContinuation) = AsyncStream.makeStream(
            of: StorageRequest.self, bufferingPolicy: .bufferingNewest(Self.storageRequestsMax)
        )
        self.persistence = persistence
        self.serveFetch = serveFetch
        self.serveSync = serveSync
        self.payload = payload
        self.logger = logger
        self.nextEpoch = nextEpoch
        self.onCommit = onCommit
        self.onCommitsDone = onCommitsDone
    }

    static var now: UInt64 { UInt64(max(0, Date().timeIntervalSince1970 * 1_000)) }

    package func attach(_ transport: ConsensusTransport) {
        self.transport = transport
    }

    package func start() async {
        storageWorker = Task { [storageRequests, serveSync, serveFetch, weak self] in
            for await request in storageRequests {
                guard let transport = await self?.transport else { continue }
                switch request {
                case .sync(let height, let epoch, let sender):
                    if let batch = await serveSync?(height, epoch) { transport.send(.syncBlocks(batch), epoch: epoch, to: [sender]) }
                case .fetch(let id, let epoch, let sender):
                    if let blocks = await serveFetch?(id), !blocks.isEmpty { transport.send(.blocks(blocks), epoch: epoch, to: [sender]) }
                }
            }
        }
        await enqueue(.start)
        ticker = Task { await self.tickUntilStopped() }
    }

    /// The ticker, isolated to this actor: after each sleep it resumes on the driver's own executor, not behind the
    /// requests queued in the shared task pool (where a tick waited tens of milliseconds under load). Ticks keep a fixed
    /// schedule: the time a tick's batch took (the replica's work, the durable write, the commits) counts against the
    /// wait for the next one, so a tick comes every `tickMs`, not every `tickMs` plus the batch; a batch longer than
    /// that is followed at once by the next tick (never by a burst of missed ones). Ends with `stop`.
    func tickUntilStopped() async {
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isCancelled, !stopped {
            next = max(next + .milliseconds(Self.tickMs), clock.now)
            try? await Task.sleep(until: next, clock: clock)
            await enqueue(.tick)
        }
    }

    /// Payload started waiting (see `PayloadSource.onWaiting`): an early tick — at once, or `pokeGapMs` after the
    /// last tick if that was more recent — unless a batch is under way (its end looks again) or a tick came meanwhile.
    package nonisolated func poke() {
        Task { await self.pokeTick() }
    }

    func pokeTick() async {
        guard solo, !draining, !pokeWaiting else { return }
        let due = lastTick + .milliseconds(Self.pokeGapMs)
        if ContinuousClock.now < due {
            pokeWaiting = true
            try? await Task.sleep(until: due, clock: .continuous)
            pokeWaiting = false
            guard !draining, lastTick + .milliseconds(Self.pokeGapMs) <= due else { return }
        }
        await enqueue(.tick)
    }

    /// Stops ticking and ignores everything that arrives afterwards (the node is shutting down).
    package func stop() {
        stopped = true
        ticker?.cancel()
        ticker = nil
        storageContinuation.finish()
        storageWorker = nil
    }

    package func deliver(_ message: ConsensusMessage, from sender: String, epoch: UInt64) async {
        switch message {
        case .proposal(let block), .certified(let block, _): heardHeight = max(heardHeight, block.height)
        case .blocks(let blocks): heardHeight = max(heardHeight, blocks.map(\.height).max() ?? 0)
        case .syncBlocks(let batch): heardHeight = max(heardHeight, batch.blocks.last?.height ?? 0)
        default: break
        }
        await enqueue(.message(message, from: sender, epoch: epoch))
    }

    /// The height of the highest block this replica holds a (verified) quorum certificate for: the chain's tip as far
    /// as this node knows, which storage may lag behind while it catches up.
    package var certifiedHeight: UInt64 { host.replica.safety.highQC.height }

    /// The highest block height a member's signed message mentioned (a proposal, blocks, a sync batch), verified or
    /// not yet (a message of an epoch this replica has not reached): where the chain is, as far as members say.
    /// Informational only — it decides nothing — so a member that claims too much can only make this node report that
    /// it is catching up.
    package private(set) var heardHeight: UInt64 = 0

    /// Nodes governance admitted without changing the validator set (observers): followers from now on.
    package func addFollowers(_ nodes: [String]) { host.addFollowers(nodes) }

    /// Offers payload items to the replica's bounded mempool and to the validators' (any leader may order them).
    /// Returns how many were taken; fewer than offered means the pool is full (busy).
    package func submit(_ items: [[UInt8]]) -> Int {
        let accepted = host.submit(items)
        let validators = host.members.filter { $0 != me }
        let chunkMax = host.replica.configuration.blockPayloadMax
        if !accepted.isEmpty, !validators.isEmpty {
            for start in stride(from: 0, to: accepted.count, by: chunkMax) {
                let chunk = Array(accepted[start..<min(start + chunkMax, accepted.count)])
                transport?.send(.transactions(chunk), epoch: epoch, to: validators)
            }
        }
        return accepted.count
    }

    package var committedHeight: UInt64 { host.replica.committedHeight }
    package var committed: [ConsensusBlock] { host.replica.committed }
    package var mempoolCount: Int { host.replica.mempoolCount }
    package var stateSummary: String { "epoch \(host.epoch), " + host.replica.stateSummary }
    package var validators: [String] { host.members }

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
            let now = Self.now
            for input in batch {
                switch input {
                case .start: effects += host.start(now: now)
                case .tick:
                    lastTick = .now
                    takePayload()
                    effects += host.tick(now: now)
                case .message(let message, let sender, let senderEpoch):
                    if restoredHold != nil, case .proposal(let block) = message, freshProposals.count < 4_096 { freshProposals.insert(block.id) }
                    let routed = host.receive(message, from: sender, epoch: senderEpoch, now: now)
                    for reply in routed.replies { transport?.send(reply.message, epoch: reply.epoch, to: [sender]) }
                    if let height = routed.syncFrom { answerSync(from: height, epoch: senderEpoch, to: sender) }
                    if let id = routed.fetchFromStorage { answerFromStorage(id, to: sender) }
                    effects += routed.effects
                }
            }
            await settleRestoredHold()
            await perform(effects)
            // Payload arrived during the batch: the next one starts now (or once `pokeGapMs` passed since the last
            // tick), not at the next scheduled tick.
            if solo, inbox.isEmpty, !stopped, payload?.waiting ?? false {
                if ContinuousClock.now - lastTick >= .milliseconds(Self.pokeGapMs) {
                    inbox.append(.tick)
                    tickQueued = true
                } else {
                    poke()
                }
            }
        }
        draining = false
    }

    /// Moves this node's waiting payload into the pool (and to the other validators), as much as the pool has room for.
    func takePayload() {
        guard let payload else { return }
        let items = payload.take(room: host.replica.configuration.mempoolMax - host.replica.mempoolCount)
        if !items.isEmpty { _ = submit(items) }
    }

    /// Ends the restored hold's unknown phase once a certificate formed on a proposal received since the start shows the
    /// network's round; ends the hold once the replica's round is past the horizon.
    func settleRestoredHold() async {
        guard var hold = restoredHold else { return }
        let replica = host.replica
        if !hold.settled, freshProposals.contains(replica.safety.highQC.blockID) {
            hold = (max(replica.safety.highQC.round + 1, replica.round), true)
            freshProposals = []
            logger.notice("restored from a backup: the network is at round \(hold.horizon); this node votes in later rounds")
        }
        restoredHold = hold
        if hold.settled, replica.round > hold.horizon {
            restoredHold = nil
            await onRestoredSettled?()
        }
    }

    /// Whether a message would speak for this replica in a round the restored hold covers.
    func heldByRestore(_ message: ConsensusMessage) -> Bool {
        guard let hold = restoredHold else { return false }
        switch message {
        case .vote(let vote): return vote.round <= hold.horizon
        case .timeout(let timeout): return timeout.round <= hold.horizon
        case .proposal(let block): return block.round <= hold.horizon
        default: return false
        }
    }

    /// The batch's commits are decided first (in memory, in order, up to one that ends the epoch); then durability:
    /// blocks and the latest safety state of the batch in one write — with the blocks just decided, when the
    /// persistence stores them too (a node's `ChainService`: one flush to disk for both); only then the messages,
    /// and the rest of what was decided is handed over for storage (`onCommitsDone`).
    func perform(_ effects: [ConsensusEffect]) async {
        let (blocks, safety) = EpochHost<String>.writes(effects)
        let steps = host.steps(effects, durable: true)
        var committed = false
        /// The commit that changed the validator set, if any: the messages after it belong to the old set's replica.
        var ending: (position: Int, end: EpochEnd)?
        for (position, step) in steps.enumerated() {
            guard case .commit(let block, let certificate, let evidence, let beyond) = step else { continue }
            committed = true
            if await onCommit(block, certificate, evidence, host.epoch) {
                ending = (position, EpochEnd(evidence: evidence, beyond: beyond))
                break
            }
        }
        var durable = true
        if let persistence, !blocks.isEmpty || safety != nil {
            do {
                try await persistence.save(blocks: blocks, safety: safety, epoch: host.epoch)
            } catch {
                durable = false
                logger.error("could not persist consensus state; withholding this batch's messages", metadata: ["error": "\(error)"])
            }
        }
        for step in steps[..<(ending?.position ?? steps.count)] {
            guard durable, case .send(let message, let nodes) = step, !heldByRestore(message) else { continue }
            transport?.send(message, epoch: host.epoch, to: nodes)
        }
        if committed { await onCommitsDone?() }
        if let ending { await endEpoch(ending.end) }
    }

    /// The block just committed changed the validator set: record how this epoch ended and start the next one's
    /// replica (the host carries the pool over).
    func endEpoch(_ end: EpochEnd) async {
        let ended = host.epoch
        do {
            try await persistence?.save(end, epoch: ended)
        } catch {
            // Only our help to laggards needs it, and other nodes keep it too.
            logger.error("could not record how the epoch ended", metadata: ["epoch": "\(ended)", "error": "\(error)"])
        }
        guard let nextEpoch else {
            host.remember(end, of: ended)
            logger.critical("the validator set changed but this driver cannot change epochs; it stops")
            stop()
            return
        }
        let setup: EpochSetup
        do {
            setup = try await nextEpoch(host.replica.committed)
        } catch {
            host.remember(end, of: ended)
            logger.critical("could not start the next epoch's replica; consensus stops", metadata: ["error": "\(error)"])
            stop()
            return
        }
        let started = host.endEpoch(end, next: setup, now: Self.now)
        logger.notice(
            "epoch changed",
            metadata: [
                "epoch": "\(setup.epoch)", "validators": "\(setup.members.joined(separator: ","))", "height": "\(host.replica.committedHeight)",
            ])
        await perform(started)
    }

    /// Forward sync, from storage: committed blocks from `height`, never past the end of the requester's epoch.
    func answerSync(from height: UInt64, epoch senderEpoch: UInt64, to sender: String) {
        guard serveSync != nil else { return }
        if let last = lastSynced[sender], Self.now < last + 20 { return }  // one batch per peer in flight, roughly
        lastSynced[sender] = Self.now
        storageContinuation.yield(.sync(from: height, epoch: senderEpoch, to: sender))
    }

    func answerFromStorage(_ id: [UInt8], to sender: String) {
        guard serveFetch != nil else { return }
        storageContinuation.yield(.fetch(id, epoch: host.epoch, to: sender))
    }
}
