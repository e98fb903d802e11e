import Foundation
import GatewayNode
import GatewaySchema
import GatewayStore
import Hummingbird
import Logging
import NIOCore

/// An RFC 9457 problem: `application/problem+json` with `type`, `title`, `status`, `detail` and our stable `code`.
public struct ProblemError: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let detail: String
    public var errors: [ExchangeError.FieldError] = []
    public var eventId: String? = nil
    /// Sent as `Retry-After` (RFC 9110 §10.2.3) on answers that a short wait cures (`node_starting`, `busy`).
    public var retryAfterSeconds: Int? = nil

    public init(status: HTTPResponse.Status, code: String, detail: String) {
        self.status = status
        self.code = code
        self.detail = detail
    }

    struct Body: Encodable {
        let type: String
        let title: String
        let status: Int
        let detail: String
        let code: String
        let errors: [ExchangeError.FieldError]?
        let eventId: String?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = Body(
            type: "urn:datagateway:problem:\(code)", title: status.reasonPhrase, status: status.code, detail: detail, code: code,
            errors: errors.isEmpty ? nil : errors, eventId: eventId
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(body)
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The one place that maps every error type to a problem. Unknown errors become a 500 that reveals nothing.
    static func from(_ error: any Error) -> ProblemError {
        switch error {
        case let problem as ProblemError:
            return problem
        case let error as ExchangeError:
            var problem = ProblemError(status: status(for: error.code), code: error.code.rawValue, detail: error.message)
            problem.errors = error.fieldErrors
            problem.eventId = error.eventID
            if error.code == .nodeStarting || error.code == .busy { problem.retryAfterSeconds = 1 }
            return problem
        case let error as ChainServiceError:
            switch error.code {
            case .busy:
                var problem = ProblemError(status: .serviceUnavailable, code: ExchangeError.Code.busy.rawValue, detail: error.message)
                problem.retryAfterSeconds = 1
                return problem
            case .commitTimedOut, .shuttingDown:
                return ProblemError(status: .serviceUnavailable, code: ExchangeError.Code.chainUnavailable.rawValue, detail: error.message)
            case .skipped:
                return ProblemError(status: .conflict, code: "conflict", detail: "a concurrent request changed the same data; retry: \(error.message)")
            }
        case let error as StoreError where error.code == .conflict || error.code == .uniqueViolation:
            return ProblemError(status: .conflict, code: "conflict", detail: "a concurrent request changed the same data; retry: \(error.message)")
        case let error as SchemaError where error.code == .tooComplex:
            return ProblemError(status: .contentTooLarge, code: "payload_too_large", detail: "request body is too complex: \(error.message)")
        case let error as SchemaError where error.code == .malformedJSON:
            return ProblemError(status: .badRequest, code: "malformed_json", detail: "request body is not valid JSON: \(error.message)")
        case let error as HTTPError:
            switch error.status {
            case .notFound: return ProblemError(status: .notFound, code: "not_found", detail: "no such resource")
            case .methodNotAllowed: return ProblemError(status: .methodNotAllowed, code: "method_not_allowed", detail: "method not allowed here")
            case .contentTooLarge: return ProblemError(status: .contentTooLarge, code: "payload_too_large", detail: "request body is too large")
            default: return ProblemError(status: error.status, code: "http_error", detail: error.body ?? error.status.reasonPhrase)
            }
        default:
            return ProblemError(status: .internalServerError, code: "internal_error", detail: "the server could not complete the request")
        }
    }

    static func status(for code: ExchangeError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidRequest: return .badRequest
        case .unknownCategory, .notFound: return .notFound
        case .unknownField, .invalidRecord, .unknownPurpose, .unknownRole, .unknownGrantee, .invalidDate: return .unprocessableContent
        case .recordConflict, .governanceRejected, .grantRevoked: return .conflict
        case .accessDenied, .notDataHolder: return .forbidden
        case .chainUnavailable, .busy, .bundleNotApproved, .derivedStateMismatch, .nodeStarting: return .serviceUnavailable
        default: return .internalServerError
        }
    }
}

/// Outermost middleware: turns every error into problem+json and logs server faults.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = ProblemError.from(error)
            if problem.status.code >= 500 {
                // A fault of the server is an error; a refusal the node chose (starting, busy, chain stalled, data not
                // served until a rebuild) was logged where it was decided, and is only noted here.
                let level: Logger.Level = problem.status == .internalServerError ? .error : .debug
                // The route pattern, never the path: paths carry record and citizen ids (personal data).
                context.logger.log(level: level, "request failed", metadata: [
                    "error": "\(error)", "method": "\(request.method)", "route": "\(context.endpointPath ?? "unmatched")",
                ])
            }
            return try problem.response(from: request, context: context)
        }
    }
}
