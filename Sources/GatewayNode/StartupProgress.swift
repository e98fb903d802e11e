import Synchronization

/// How far a node's start has come. The HTTP server listens at once; until the chain is loaded, verified and its
/// derived tables proven, `/v1/health` says `starting` and data requests are refused (503 `node_starting`). It is read
/// on every request, so it is a lock-protected value rather than state of the chain actor (which is busy loading).
package final class StartupProgress: Sendable {
    package enum Phase: Sendable, Equatable {
        /// Applying database migrations.
        case migrating
        /// Verifying stored blocks: `verified` of `stored` so far.
        case verifying(verified: UInt64, stored: UInt64)
        /// Proving the derived tables against the blocks.
        case proving
        /// Starting the replica and its peer transport; loading the outbox.
        case connecting
        case ready
        case failed(String)
    }

    private let state = Mutex<Phase>(.migrating)

    package init() {}

    package var phase: Phase { state.withLock { $0 } }

    package var isReady: Bool { phase == .ready }

    package func set(_ phase: Phase) { state.withLock { $0 = phase } }

    /// What is happening, in a sentence for a 503's detail and the readiness reasons.
    package var summary: String {
        switch phase {
        case .migrating: return "the node is starting: applying database migrations"
        case .verifying(let verified, let stored):
            return "the node is starting: verifying stored blocks (\(verified) of \(stored))"
        case .proving: return "the node is starting: checking the tables derived from the chain against the blocks"
        case .connecting: return "the node is starting: connecting to its peers and loading its outbox"
        case .ready: return "the node is ready"
        case .failed(let reason): return "the node failed to start: \(reason)"
        }
    }
}
