import GatewayStore
import NIOConcurrencyHelpers

/// Hashes of transactions whose signatures this node has already checked (at admission, on gossip or in a
/// proposal), so that the ledger does not verify them again when their block commits. Bounded: the oldest are
/// forgotten first, and a forgotten one is simply verified again.
final class VerifiedTransactions: Sendable {
    struct State {
        var members: Set<[UInt8]> = []
        var order: [[UInt8]] = []
        var head = 0
    }

    let capacity: Int
    let state = NIOLockedValueBox(State())

    init(capacity: Int) { self.capacity = capacity }

    func contains(_ hash: [UInt8]) -> Bool { state.withLockedValue { $0.members.contains(hash) } }

    func insert(_ hash: [UInt8]) {
        state.withLockedValue { state in
            guard state.members.insert(hash).inserted else { return }
            if state.order.count < capacity {
                state.order.append(hash)
            } else {
                state.members.remove(state.order[state.head])
                state.order[state.head] = hash
                state.head = (state.head + 1) % capacity
            }
        }
    }
}

extension ConsensusStore: ConsensusPersistence {}
