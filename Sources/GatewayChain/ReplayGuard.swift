/// No replay: each submitter's nonces may arrive out of order (they come from a database sequence and race into the
/// outbox), but never twice, and never older than a window behind the highest seen. Bounded per submitter;
/// derived from the chain alone, like the rest of the ledger state.
public struct ReplayGuard: Sendable, Equatable {
    /// How far behind its highest nonce a submitter's transaction may still arrive.
    public static let window: UInt64 = 65_536

    struct Submitter: Sendable, Equatable {
        var highest: UInt64 = 0
        var seen: Set<UInt64> = []
    }

    var submitters: [String: Submitter] = [:]

    public init() {}

    /// Records the nonce, or throws if it was used or is too old.
    public mutating func admit(submitter: String, nonce: UInt64) throws {
        var state = submitters[submitter] ?? Submitter()
        guard nonce + Self.window > state.highest else {
            throw ChainError(.invalidTransaction, "nonce \(nonce) of \(submitter) is older than the replay window")
        }
        guard state.seen.insert(nonce).inserted else {
            throw ChainError(.invalidTransaction, "nonce \(nonce) of \(submitter) was already used: replay")
        }
        state.highest = max(state.highest, nonce)
        if state.seen.count > 2 * Int(Self.window) {
            let floor = state.highest > Self.window ? state.highest - Self.window : 0
            state.seen = state.seen.filter { $0 >= floor }
        }
        submitters[submitter] = state
    }
}
