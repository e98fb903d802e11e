/// Why the chain could not take, or did not commit, a transaction of this node. The chain service knows nothing of
/// HTTP: the edge maps each code to a problem (GatewayHTTP's `ProblemError.from`).
package struct ChainServiceError: Error, CustomStringConvertible, Sendable, Equatable {
    package enum Code: String, Sendable {
        /// Too many transactions wait for the chain: back-pressure, retry shortly.
        case busy
        /// The transaction was not committed within `ChainService.commitTimeoutMs` (too few validators reachable?).
        case commitTimedOut
        /// A block committed the transaction but the ledger rules skipped it (a concurrent step got there first).
        case skipped
        /// The node is shutting down: what waits for the chain is released.
        case shuttingDown
    }

    package let code: Code
    package let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(code.rawValue): \(message)" }
}
