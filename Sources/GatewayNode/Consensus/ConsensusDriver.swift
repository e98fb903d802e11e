import Foundation
import GatewayChain
import Logging

/// Runs one replica for real: messages from the transport and a tick every `tickMs` go in; its effects are
/// performed — sends over TCP, persistence through `persist`, commits to `onCommit`. The replica's code is the same
/// one the simulator runs.
public actor ConsensusDriver {
    public static let tickMs = 10
    var replica: Replica
    var transport: ConsensusTransport?
    let peers: [ReplicaID]
    let persist: @Sendable (ConsensusEffect) -> Void
    let onCommit: @Sendable (ConsensusBlock, QuorumCertificate) -> Void
    let started = ContinuousClock.now
    var ticker: Task<Void, Never>?

    public init(
        replica: Replica, persist: @escaping @Sendable (ConsensusEffect) -> Void = { _ in },
        onCommit: @escaping @Sendable (ConsensusBlock, QuorumCertificate) -> Void
    ) {
        self.replica = replica
        self.peers = Array(0..<replica.configuration.replicas)
        self.persist = persist
        self.onCommit = onCommit
    }

    /// Ticks since the driver started (monotonic clock).
    var now: UInt64 {
        let elapsed = (ContinuousClock.now - started).components
        let milliseconds = elapsed.seconds * 1_000 + elapsed.attoseconds / 1_000_000_000_000_000
        return UInt64(max(0, milliseconds)) / UInt64(Self.tickMs)
    }

    public func attach(_ transport: ConsensusTransport) {
        self.transport = transport
    }

    public func start() {
        perform(replica.start(now: now))
        ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Self.tickMs))
                await self?.tick()
            }
        }
    }

    public func stop() {
        ticker?.cancel()
        ticker = nil
    }

    func tick() { perform(replica.tick(now: now)) }

    public func deliver(_ message: ConsensusMessage, from sender: ReplicaID) {
        perform(replica.receive(message, from: sender, now: now))
    }

    /// Offers a payload item; false means the mempool is full (busy).
    public func submit(_ item: [UInt8]) -> Bool { replica.submit(item) }

    public var committedHeight: UInt64 { replica.committedHeight }
    public var committed: [ConsensusBlock] { replica.committed }

    func perform(_ effects: [ConsensusEffect]) {
        for effect in effects {
            switch effect {
            case .persist, .persistBlock: persist(effect)
            case .commit(let block, let certificate): onCommit(block, certificate)
            case .send(let to, let message): transport?.send(message, to: [to])
            case .broadcast(let message): transport?.send(message, to: peers)
            }
        }
    }
}
