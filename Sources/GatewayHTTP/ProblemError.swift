import Foundation
import GatewayNode
import GatewaySchema
import GatewayStore
import GatewayWire
import Hummingbird
import Logging
import NIOCore

/// An RFC 9457 problem: `application/problem+json` with `type`, `title`, `status`, `detail` and our stable `code`, one
/// of the catalogue's (`ProblemCode`, GatewayWire), answered with that code's status.
package struct ProblemError: Error, HTTPResponseError, Sendable {
    package let code: ProblemCode
    package let status: HTTPResponse.Status
    package let detail: String
    package var errors: [ExchangeError.FieldError] = []
    package var eventId: String? = nil
    package var transaction: String? = nil
    /// Sent as `Retry-After` (RFC 9110 §10.2.3) on answers that a short wait cures (`node_starting`, `busy`).
    package var retryAfterSeconds: Int? = nil

    /// A problem with its code's status (`status` only for `http_error`, which carries the framework's).
    package init(_ code: ProblemCode, _ detail: String, status: HTTPResponse.Status? = nil) {
        self.code = code
        self.status = status ?? HTTPResponse.Status(code: code.status)
        self.detail = detail
        if code.retryable { retryAfterSeconds = 1 }
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = API.Problem(
            code: code, status: status.code, title: status.reasonPhrase, detail: detail, errors: errors.isEmpty ? nil : errors, eventId: eventId,
            transaction: transaction
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(body)
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        // RFC 6750 §3: a refused bearer token names the scheme and the error.
        if code == .invalidToken { headers[.wwwAuthenticate] = "Bearer realm=\"datagateway-citizen\", error=\"invalid_token\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The one place that maps every error type to a problem, each on purpose. Unknown errors become a 500 that
    /// reveals nothing.
    static func from(_ error: any Error) -> ProblemError {
        switch error {
        case let problem as ProblemError:
            return problem
        case let error as ExchangeError:
            var problem = ProblemError(error.code, error.message)
            problem.errors = error.fieldErrors
            problem.eventId = error.eventID
            problem.transaction = error.transaction
            return problem
        case let error as ChainServiceError:
            switch error.code {
            case .busy:
                return ProblemError(.busy, error.message)
            case .commitTimedOut, .shuttingDown:
                return ProblemError(.chainUnavailable, error.message)
            case .skipped:
                return ProblemError(.conflict, "a concurrent request changed the same data; retry: \(error.message)")
            }
        case let error where StoreError.classify(error) != nil:
            // Storage: a concurrent writer is a conflict to retry, an unreachable database a wait; corruption and bad
            // configuration are faults (500, nothing revealed).
            let store = StoreError.classify(error)!
            switch store.code {
            case .conflict, .uniqueViolation:
                return ProblemError(.conflict, "a concurrent request changed the same data; retry: \(store.message)")
            case .unavailable:
                return ProblemError(.storageUnavailable, "the node's database cannot be reached; retry shortly")
            default:
                return ProblemError(.internalError, "the server could not complete the request")
            }
        case let error as SchemaError where error.code == .tooComplex:
            return ProblemError(.payloadTooLarge, "request body is too complex: \(error.message)")
        case let error as SchemaError where error.code == .malformedJSON:
            return ProblemError(.malformedJSON, "request body is not valid JSON: \(error.message)")
        case let error as HTTPError:
            switch error.status {
            case .notFound: return ProblemError(.notFound, "no such resource")
            case .methodNotAllowed: return ProblemError(.methodNotAllowed, "method not allowed here")
            case .contentTooLarge: return ProblemError(.payloadTooLarge, "request body is too large")
            default: return ProblemError(.httpError, error.body ?? error.status.reasonPhrase, status: error.status)
            }
        default:
            return ProblemError(.internalError, "the server could not complete the request")
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
                context.logger.log(
                    level: level, "request failed",
                    metadata: [
                        "error": "\(error)", "method": "\(request.method)", "route": "\(context.endpointPath ?? "unmatched")",
                    ])
            }
            return try problem.response(from: request, context: context)
        }
    }
}
