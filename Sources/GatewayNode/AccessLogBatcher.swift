import GatewayChain
import GatewayCrypto
import NIOConcurrencyHelpers

/// Payload a consensus driver takes from this node just before its replica may propose (on each tick): everything
/// that arrived since the last tick, in as few transactions as possible.
package protocol PayloadSource: Sendable {
    /// At most `room` encoded transactions (the mempool's free places), taken now; called on the driver's executor.
    func take(room: Int) -> [[UInt8]]
    /// Fails what waited longer than `timeoutMs` without being taken (the chain stopped ticking).
    func expire(timeoutMs: Int64)
    /// Fails everything waiting and refuses what comes later (the node is stopping).
    func close(_ error: any Error)
    /// Asks to be told (`wake`) when payload starts waiting where none waited, so that an idle driver need not wait
    /// for its next tick. Optional: a source that never calls it is taken on ticks only.
    func onWaiting(_ wake: @escaping @Sendable () -> Void)
    /// Whether payload waits to be taken.
    var waiting: Bool { get }
}

extension PayloadSource {
    package func onWaiting(_ wake: @escaping @Sendable () -> Void) {}
    package var waiting: Bool { false }
}

/// Where a chain service's driver finds its payload source, attached after both exist (the source needs the chain).
package final class PayloadTap: PayloadSource {
    let source = NIOLockedValueBox<(any PayloadSource)?>(nil)
    let wake = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)

    package init() {}

    package func attach(_ source: any PayloadSource) {
        self.source.withLockedValue { $0 = source }
        if let wake = wake.withLockedValue({ $0 }) { source.onWaiting(wake) }
    }
    package func onWaiting(_ wake: @escaping @Sendable () -> Void) {
        self.wake.withLockedValue { $0 = wake }
        source.withLockedValue { $0 }?.onWaiting(wake)
    }
    package var waiting: Bool { source.withLockedValue { $0 }?.waiting ?? false }
    package func take(room: Int) -> [[UInt8]] { source.withLockedValue { $0 }?.take(room: room) ?? [] }
    package func expire(timeoutMs: Int64) { source.withLockedValue { $0 }?.expire(timeoutMs: timeoutMs) }
    package func close(_ error: any Error) { source.withLockedValue { $0 }?.close(error) }
}

/// The driver's view of this node's payload: what the tap holds, its signatures counted as checked (this node just made
/// them with the key the ledger holds for it, `ownKeyCurrent`), so the ledger does not verify them again at commit.
struct OwnPayload: PayloadSource {
    let tap: PayloadTap
    let verified: VerifiedTransactions
    let suite: any CryptoSuite
    let ownKeyCurrent: Bool

    func take(room: Int) -> [[UInt8]] {
        let items = tap.take(room: room)
        if ownKeyCurrent { for item in items { verified.insert(suite.hash(item)) } }
        return items
    }
    func expire(timeoutMs: Int64) { tap.expire(timeoutMs: timeoutMs) }
    func close(_ error: any Error) { tap.close(error) }
    func onWaiting(_ wake: @escaping @Sendable () -> Void) { tap.onWaiting(wake) }
    var waiting: Bool { tap.waiting }
}

/// Group commit for the access log, paced by the chain: events wait in memory until the replica's next tick takes
/// them all into one signed transaction (`take`) — one signature, one verification per validator and one mempool
/// entry per block's worth of events, however many requests arrived meanwhile. Nothing goes to the outbox: no
/// request is answered before its event is in a committed block, so a crash loses only events whose requests were
/// never answered. Nonces come from a reserve drawn from the database's sequence in advance (unused ones are simply
/// skipped; the replay guard needs uniqueness, not contiguity).
///
/// Bounded: `log` refuses (`busy`) when the chain's own back-pressure says so or when `queueMax` events already wait
/// (8,192 by default);
/// an event not taken within `ChainService.commitTimeoutMs` (no tick: the chain stopped) is failed by `expire`.
package final class AccessLogBatcher: PayloadSource, Sendable {
    package static let eventsMax = 512
    /// Transactions one tick takes at most (a backlog beyond that waits for the next tick).
    package static let transactionsPerTakeMax = 8
    /// Nonces drawn from the sequence at a time, and the reserve below which the next draw starts.
    package static let nonceDraw = 512
    package static let nonceLow = 128

    package struct Receipt: Sendable {
        package let transactionHash: [UInt8]
        package let location: TransactionLocation

        package init(transactionHash: [UInt8], location: TransactionLocation) {
            self.transactionHash = transactionHash
            self.location = location
        }
    }

    struct Waiting {
        let event: AccessEvent
        let sinceMs: Int64
        let continuation: CheckedContinuation<Receipt, any Error>
    }

    struct State {
        var queue: [Waiting] = []
        /// Told when an event arrives to an empty queue (the driver, to take it without waiting for its tick).
        var wake: (@Sendable () -> Void)?
        var nonces: [UInt64] = []
        var drawing = false
        var closed: (any Error)?
    }

    let chain: any AccessLogChain
    let metrics: NodeMetrics?
    let now: @Sendable () -> Int64
    let queueMax: Int
    let state = NIOLockedValueBox(State())

    package init(chain: any AccessLogChain, metrics: NodeMetrics? = nil, queueMax: Int = 8_192, now: @escaping @Sendable () -> Int64) {
        self.chain = chain
        self.queueMax = queueMax
        self.metrics = metrics
        self.now = now
    }

    /// Returns once the event is in a committed block; `busy` if too much already waits for the chain.
    package func log(_ event: AccessEvent) async throws -> Receipt {
        try await chain.admit()
        return try await withCheckedThrowingContinuation { continuation in
            let (refused, wake): ((any Error)?, (@Sendable () -> Void)?) = state.withLockedValue { state in
                if let closed = state.closed { return (closed, nil) }
                guard state.queue.count < queueMax else {
                    return (ChainServiceError(.busy, "\(state.queue.count) access events are waiting for the chain; retry shortly"), nil)
                }
                state.queue.append(Waiting(event: event, sinceMs: now(), continuation: continuation))
                return (nil, state.queue.count == 1 ? state.wake : nil)
            }
            if let refused { continuation.resume(throwing: refused) } else { drawNoncesIfLow() }
            wake?()
        }
    }

    /// The driver's tick: the waiting events in signed transactions of up to `eventsMax` events — one transaction
    /// unless more than `eventsMax` wait, then as many as the waiting events, the mempool's room, the nonces in
    /// reserve and `transactionsPerTakeMax` allow. Nothing while no nonce is in reserve (a draw is under way) or the
    /// mempool has no room: the events wait for the next tick.
    package func take(room: Int) -> [[UInt8]] {
        guard room > 0 else { return [] }
        let taken: [(batch: [Waiting], nonce: UInt64)] = state.withLockedValue { state in
            var taken: [(batch: [Waiting], nonce: UInt64)] = []
            while taken.count < min(room, Self.transactionsPerTakeMax), !state.queue.isEmpty, let nonce = state.nonces.popLast() {
                let batch = Array(state.queue.prefix(Self.eventsMax))
                state.queue.removeFirst(batch.count)
                taken.append((batch, nonce))
            }
            return taken
        }
        drawNoncesIfLow()
        return taken.compactMap { sign($0.batch, nonce: $0.nonce) }
    }

    /// Signs one transaction of the batch's events and answers them once its block commits; nil (and the events
    /// failed) if it cannot be signed.
    private func sign(_ batch: [Waiting], nonce: UInt64) -> [UInt8]? {
        let events = batch.map(\.event)
        let (kind, payload) =
            events.count == 1 ? (Transaction.Kind.accessLog, events[0].encoded) : (.accessLogBatch, AccessLogBatch(events: events).encoded)
        let signed: (encoded: [UInt8], hash: [UInt8])
        do {
            signed = try chain.signed(kind, payload: payload, nonce: nonce, timestampMs: events.map(\.timestampMs).max()!)
        } catch {
            for entry in batch { entry.continuation.resume(throwing: error) }
            return nil
        }
        // Wait for the block without holding up the driver; a block that commits first leaves its location behind.
        Task { [chain, metrics] in
            do {
                let location = try await chain.awaitCommit(signed.hash, known: true)
                for entry in batch { metrics?.decision(entry.event.decision.rawValue) }
                for entry in batch { entry.continuation.resume(returning: Receipt(transactionHash: signed.hash, location: location)) }
            } catch {
                for entry in batch { entry.continuation.resume(throwing: error) }
            }
        }
        return signed.encoded
    }

    package func onWaiting(_ wake: @escaping @Sendable () -> Void) { state.withLockedValue { $0.wake = wake } }
    package var waiting: Bool { state.withLockedValue { !$0.queue.isEmpty } }

    /// Events waiting to be taken.
    package var waitingCount: Int { state.withLockedValue { $0.queue.count } }

    package func expire(timeoutMs: Int64) {
        let cutoff = now() - timeoutMs
        let expired: [Waiting] = state.withLockedValue { state in
            guard let first = state.queue.first, first.sinceMs <= cutoff else { return [] }
            let count = state.queue.prefix { $0.sinceMs <= cutoff }.count
            defer { state.queue.removeFirst(count) }
            return Array(state.queue.prefix(count))
        }
        for entry in expired {
            entry.continuation.resume(
                throwing: ChainServiceError(.commitTimedOut, "the access event was not committed in time; too few validators reachable?"))
        }
    }

    package func close(_ error: any Error) {
        let waiting: [Waiting] = state.withLockedValue { state in
            state.closed = error
            defer { state.queue = [] }
            return state.queue
        }
        for entry in waiting { entry.continuation.resume(throwing: error) }
    }

    /// Starts a draw from the nonce sequence when the reserve is low and none is under way. A failed draw is retried by
    /// the next event or tick.
    func drawNoncesIfLow() {
        let start = state.withLockedValue { state in
            guard state.nonces.count < Self.nonceLow, !state.drawing, state.closed == nil else { return false }
            state.drawing = true
            return true
        }
        guard start else { return }
        Task { [chain, state] in
            let drawn = try? await chain.reserveNonces(Self.nonceDraw)
            state.withLockedValue { state in
                // Taken from the end: the lowest first.
                if let drawn { state.nonces = drawn.sorted(by: >) + state.nonces }
                state.drawing = false
            }
        }
    }
}

/// What the access log's group commit needs of the chain: admission (back-pressure), nonces drawn in advance, a
/// signature, and the wait for a block (`TransactionSubmitter` in a node).
package protocol AccessLogChain: Sendable {
    func admit() async throws
    func reserveNonces(_ count: Int) async throws -> [UInt64]
    func signed(_ kind: Transaction.Kind, payload: [UInt8], nonce: UInt64, timestampMs: Int64) throws -> (encoded: [UInt8], hash: [UInt8])
    func awaitCommit(_ hash: [UInt8], known: Bool) async throws -> TransactionLocation
}

extension TransactionSubmitter: AccessLogChain {
    package func reserveNonces(_ count: Int) async throws -> [UInt64] { try await store.reserveNonces(count) }

    package func signed(_ kind: Transaction.Kind, payload: [UInt8], nonce: UInt64, timestampMs: Int64) throws -> (encoded: [UInt8], hash: [UInt8]) {
        let transaction = try sign(kind, payload: payload, nonce: nonce, timestampMs: timestampMs)
        return (transaction.encoded, hash(transaction))
    }
}
