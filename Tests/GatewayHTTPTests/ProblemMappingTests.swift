@testable import GatewayHTTP
import GatewayNode
import GatewayStore
import Testing

/// Every error type the node raises maps to a problem on purpose (issue 13): the chain service's own errors become
/// the same codes the API documents, with Retry-After where waiting cures them; nothing of theirs is a 500.
@Suite struct ProblemMappingTests {
    @Test func chainServiceErrorsMapToDocumentedProblems() {
        let busy = ProblemError.from(ChainServiceError(.busy, "20000 transactions are waiting"))
        #expect(busy.status == .serviceUnavailable && busy.code == "busy" && busy.retryAfterSeconds == 1)
        let timedOut = ProblemError.from(ChainServiceError(.commitTimedOut, "not committed in time"))
        #expect(timedOut.status == .serviceUnavailable && timedOut.code == "chain_unavailable")
        let stopping = ProblemError.from(ChainServiceError(.shuttingDown, "shutting down"))
        #expect(stopping.status == .serviceUnavailable && stopping.code == "chain_unavailable")
        let skipped = ProblemError.from(ChainServiceError(.skipped, "nonce used"))
        #expect(skipped.status == .conflict && skipped.code == "conflict")
    }

    @Test func storeCorruptionAndUnknownErrorsRevealNothing() {
        struct Unexpected: Error {}
        let unknown = ProblemError.from(Unexpected())
        #expect(unknown.status == .internalServerError && unknown.code == "internal_error")
        #expect(!unknown.detail.contains("Unexpected"))
        let conflict = ProblemError.from(StoreError(.uniqueViolation, "raced"))
        #expect(conflict.status == .conflict && conflict.code == "conflict")
    }
}
