import Foundation
import GatewayNode
import GatewayWire
import Hummingbird

/// Citizens' view of who used their data. Departments (signed requests) issue their citizens' tokens and release
/// deferred accesses; nodes ask each other for a citizen's accesses (signed node to node); citizens read their list
/// and proofs with a bearer token at their home node.
struct CitizensController {
    let exchange: ExchangeService

    /// Routes behind the signature check.
    func register(on group: RouterGroup<GatewayContext>) {
        group.post("citizen/tokens") { _, context in
            let body = try await decodeBody(API.CitizenTokenRequest.self, from: context)
            return try jsonResponse(try await exchange.citizenTokens.issue(try context.requirePrincipal(), body), status: .created)
        }
        group.post("node/citizen-accesses") { _, context in
            let body = try await decodeBody(API.CitizenAccessQuery.self, from: context)
            return try jsonResponse(try await exchange.citizens.answer(try context.requirePrincipal(), body))
        }
        group.post("accesses/releases") { _, context in
            let body = try await decodeBody(API.ReleaseRequest.self, from: context)
            return try jsonResponse(try await exchange.releases.release(try context.requirePrincipal(), body), status: .created)
        }
    }

    /// Routes for citizens, under /v1/citizen, authenticated by `Authorization: Bearer <token>`.
    func registerCitizen(on group: RouterGroup<GatewayContext>) {
        group.get("accesses") { request, _ in
            let citizen = try await citizenID(request)
            return noStore(try jsonResponse(try await exchange.citizens.accesses(citizenID: citizen)))
        }
        group.get("proofs/:id") { request, context in
            _ = try await citizenID(request)
            let id = try pathParameter("id", context)
            return noStore(try jsonResponse(try await exchange.citizens.proof(eventID: id)))
        }
    }

    func citizenID(_ request: Request) async throws -> String {
        guard let authorization = request.headers[.authorization] else {
            throw ExchangeError(.invalidToken, "send Authorization: Bearer <token>, the token your department's login issued")
        }
        let prefix = "bearer "
        guard authorization.count > prefix.count, authorization.prefix(prefix.count).lowercased() == prefix else {
            throw ExchangeError(.invalidToken, "the Authorization header must be Bearer <token>")
        }
        return try await exchange.citizenTokens.verify(String(authorization.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces))
    }

    /// A citizen's list is personal: no cache keeps it.
    func noStore(_ response: Response) -> Response {
        var response = response
        response.headers[.cacheControl] = "no-store"
        return response
    }
}
