import Foundation
@testable import GatewayHTTP
import GatewayNode
import GatewaySchema
import GatewayStore
import GatewayTestSupport
import GatewayWire
import Hummingbird
import Testing
import _ConnectionPoolModule

/// Every error type the node raises maps to a problem on purpose (issue 13): one catalogue of codes (`ProblemCode`,
/// GatewayWire) for the node, the HTTP layer and the client, equal to the codes Schemas/openapi.yaml documents.
@Suite struct ProblemMappingTests {
    @Test func chainServiceErrorsMapToDocumentedProblems() {
        let busy = ProblemError.from(ChainServiceError(.busy, "20000 transactions are waiting"))
        #expect(busy.status == .serviceUnavailable && busy.code == .busy && busy.retryAfterSeconds == 1)
        let timedOut = ProblemError.from(ChainServiceError(.commitTimedOut, "not committed in time"))
        #expect(timedOut.status == .serviceUnavailable && timedOut.code == .chainUnavailable && timedOut.retryAfterSeconds == nil)
        let stopping = ProblemError.from(ChainServiceError(.shuttingDown, "shutting down"))
        #expect(stopping.status == .serviceUnavailable && stopping.code == .chainUnavailable)
        let skipped = ProblemError.from(ChainServiceError(.skipped, "nonce used"))
        #expect(skipped.status == .conflict && skipped.code == .conflict)
    }

    @Test func storeCorruptionAndUnknownErrorsRevealNothing() {
        struct Unexpected: Error {}
        let unknown = ProblemError.from(Unexpected())
        #expect(unknown.status == .internalServerError && unknown.code == .internalError)
        #expect(!unknown.detail.contains("Unexpected"))
        let conflict = ProblemError.from(StoreError(.uniqueViolation, "raced"))
        #expect(conflict.status == .conflict && conflict.code == .conflict)
        let corrupt = ProblemError.from(StoreError(.corrupt, "blocks.height is -1"))
        #expect(corrupt.status == .internalServerError && !corrupt.detail.contains("blocks"))
        // An unreachable database is a wait (503, Retry-After), not a fault.
        let down = ProblemError.from(ConnectionPoolError.connectionCreationCircuitBreakerTripped)
        #expect(down.status == .serviceUnavailable && down.code == .storageUnavailable && down.retryAfterSeconds == 1)
        let unavailable = ProblemError.from(StoreError(.unavailable, "no connection"))
        #expect(unavailable.code == .storageUnavailable && !unavailable.detail.contains("no connection"))
        // The framework's own HTTP errors: 405 keeps its code, any other status passes through as http_error.
        let method = ProblemError.from(HTTPError(.methodNotAllowed))
        #expect(method.status == .methodNotAllowed && method.code == .methodNotAllowed)
        let teapot = ProblemError.from(HTTPError(.misdirectedRequest))
        #expect(teapot.status == .misdirectedRequest && teapot.code == .httpError)
        let tooDeep = ProblemError.from(SchemaError(.tooComplex, path: "", message: "nesting"))
        #expect(tooDeep.code == .payloadTooLarge && tooDeep.status == .contentTooLarge)
    }

    /// Every code of the catalogue is answered with its own status, and only the waits that cure get Retry-After.
    @Test(arguments: ProblemCode.all)
    func everyCatalogueCodeIsAnsweredWithItsStatus(_ code: ProblemCode) {
        let problem = ProblemError.from(ExchangeError(code, "detail"))
        #expect(problem.code == code && Int(problem.status.code) == code.status)
        #expect((problem.retryAfterSeconds != nil) == [.busy, .nodeStarting, .storageUnavailable].contains(code))
        #expect(ProblemCode.named(code.rawValue) == code)
    }

    /// The catalogue and the contract list the same codes, each once.
    @Test func theCatalogueIsTheCodesTheContractDocuments() throws {
        let yaml = try String(contentsOf: TestPaths.schemas.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        let start = try #require(yaml.range(of: "enum: [malformed_json"))
        let end = try #require(yaml.range(of: "]", range: start.upperBound..<yaml.endIndex))
        let listed = yaml[start.lowerBound..<end.lowerBound].dropFirst("enum: [".count)
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        let catalogue = ProblemCode.all.map(\.rawValue)
        #expect(Set(catalogue).count == catalogue.count)
        #expect(Set(listed) == Set(catalogue), "openapi.yaml: \(Set(listed).symmetricDifference(catalogue).sorted())")
    }
}
