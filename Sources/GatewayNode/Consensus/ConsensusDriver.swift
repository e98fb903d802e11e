import Foundation
import GatewayChain
import Logging

/// Where a driver makes its replica's state durable before any vote or timeout leaves the process.
public protocol ConsensusPersistence: Sendable {
    /// Writes the blocks and the safety state (if any) in one durable step.
    func save(blocks: [ConsensusBlock], safety: SafetyState?) async throws
}

/// Runs one replica for real: peers' messages, submitted payload and a tick every `tickMs` go in, one batch at a
/// time; each batch's `persist` effects are made durable (one PostgreSQL transaction) before any of its messages
/// are sent; commits are handed over in order to `onCommit`. The replica's code is the one the simulator runs.
///
/// The replica's clock is wall-clock milliseconds (its timeouts are configured in milliseconds, and a block's
/// timestamp is its proposer's clock).
public actor ConsensusDriver {
    public static let tickMs = 10

    enum Input {
        case start
        case message(ConsensusMessage, from: ReplicaID)
        case tick
    }

    var replica: Replica
    var transport: ConsensusTransport?
    let peers: [ReplicaID]
    let persistence: (any ConsensusPersistence)?
    let onCommit: @Sendable (ConsensusBlock, QuorumCertificate) -> Void
    /// Answers a peer's fetch for a block the replica no longer holds in memory (older committed blocks).
    let serveFetch: (@Sendable ([UInt8]) async -> [ConsensusBlock])?
    let logger: Logger
    var inbox: [Input] = []
    var draining = false
    var ticker: Task<Void, Never>?
    var stopped = false

    public init(
        replica: Replica, persistence: (any ConsensusPersistence)? = nil,
        serveFetch: (@Sendable ([UInt8]) async -> [ConsensusBlock])? = nil, logger: Logger = Logger(label: "consensus"),
        onCommit: @escaping @Sendable (ConsensusBlock, QuorumCertificate) -> Void
    ) {
        self.replica = replica
        self.peers = Array(0..<replica.configuration.replicas)
        self.persistence = persistence
        self.serveFetch = serveFetch
        self.logger = logger
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

    public func deliver(_ message: ConsensusMessage, from sender: ReplicaID) async {
        await enqueue(.message(message, from: sender))
    }

    /// Offers payload items to the replica's bounded mempool and to the peers' (any leader may order them).
    /// Returns how many were taken; fewer than offered means the pool is full (busy).
    public func submit(_ items: [[UInt8]]) -> Int {
        var accepted: [[UInt8]] = []
        for item in items {
            guard replica.submit(item) else { break }
            accepted.append(item)
        }
        if !accepted.isEmpty, peers.count > 1 {
            for start in stride(from: 0, to: accepted.count, by: replica.configuration.blockPayloadMax) {
                transport?.send(.transactions(Array(accepted[start..<min(start + replica.configuration.blockPayloadMax, accepted.count)])), to: peers)
            }
        }
        return accepted.count
    }

    public var committedHeight: UInt64 { replica.committedHeight }
    public var committed: [ConsensusBlock] { replica.committed }
    public var mempoolCount: Int { replica.mempoolCount }
    public var stateSummary: String { replica.stateSummary }

    func enqueue(_ input: Input) async {
        guard !stopped else { return }
        inbox.append(input)
        guard !draining else { return }
        draining = true
        while !inbox.isEmpty, !stopped {
            let batch = inbox
            inbox = []
            var effects: [ConsensusEffect] = []
            var fetches: [(ReplicaID, [UInt8])] = []
            let now = Self.now
            for input in batch {
                switch input {
                case .start: effects += replica.start(now: now)
                case .tick: effects += replica.tick(now: now)
                case .message(let message, let sender):
                    let produced = replica.receive(message, from: sender, now: now)
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
                try await persistence.save(blocks: blocks, safety: safety)
            } catch {
                // Not durable: behave as if this batch's messages were lost (the protocol tolerates loss); never send
                // a vote whose round is not on disk.
                durable = false
                logger.error("could not persist consensus state; withholding this batch's messages", metadata: ["error": "\(error)"])
            }
        }
        for effect in effects {
            switch effect {
            case .persist, .persistBlock: break
            case .commit(let block, let certificate): onCommit(block, certificate)
            case .send(let to, let message): if durable { transport?.send(message, to: [to]) }
            case .broadcast(let message): if durable { transport?.send(message, to: peers) }
            }
        }
    }

    func answerFromStorage(_ id: [UInt8], to sender: ReplicaID) {
        guard let serveFetch, let transport else { return }
        Task {
            let blocks = await serveFetch(id)
            if !blocks.isEmpty { transport.send(.blocks(blocks), to: [sender]) }
        }
    }
}
