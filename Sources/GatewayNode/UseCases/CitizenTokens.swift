import Foundation
import GatewayWire
import JWTKit

/// The claims of a citizen's token: issued by one node (`iss` = `node:<id>`), for one citizen (`sub`), to be presented
/// to that node's citizen routes only (`aud`), for a short time.
struct CitizenClaims: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var jti: IDClaim

    /// Expiry and the other claims are checked by `CitizenTokens.verify` against the node's clock.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Citizens sign in at their home department's node: the department's own login (an eID, a counter) establishes who
/// the citizen is and asks its node for a short-lived token bound to that citizen — a JWT (RFC 7519) signed with
/// HS256 under a key derived from the node's salt, so that only the issuing node accepts it. Tests issue tokens the
/// same way.
package struct CitizenTokens: Sendable {
    let key: [UInt8]
    let nodeID: String
    let department: String
    let now: @Sendable () -> Int64

    package static let audience = "datagateway-citizen"
    package static let ttlSecondsDefault = 900
    package static let ttlSeconds = 60...3_600
    /// A token longer than this is refused before it is parsed.
    package static let tokenBytesMax = 4_096
    /// Clock difference tolerated on `iat`.
    static let skewSeconds: Int64 = 60

    package init(key: [UInt8], nodeID: String, department: String, now: @escaping @Sendable () -> Int64) {
        self.key = key
        self.nodeID = nodeID
        self.department = department
        self.now = now
    }

    var issuer: String { "node:\(nodeID)" }

    func keys() async -> JWTKeyCollection {
        await JWTKeyCollection().add(hmac: HMACKey(from: key), digestAlgorithm: .sha256)
    }

    /// Issues a token for a citizen, asked by this node's own department (its login service).
    package func issue(_ principal: Principal, _ request: API.CitizenTokenRequest) async throws -> API.CitizenToken {
        guard principal.node == nil, principal.department == department else {
            throw ExchangeError(.notOwnNode, "citizens sign in at their home department's node: this node issues tokens for \(department) only")
        }
        try RequestChecks.checkIdentifier(request.citizenId, "citizenId")
        let ttl = request.ttlSeconds ?? Self.ttlSecondsDefault
        guard Self.ttlSeconds.contains(ttl) else {
            throw ExchangeError(.invalidRequest, "ttlSeconds must be \(Self.ttlSeconds.lowerBound) to \(Self.ttlSeconds.upperBound)")
        }
        let issuedS = now() / 1_000
        let claims = CitizenClaims(
            iss: IssuerClaim(value: issuer), sub: SubjectClaim(value: request.citizenId), aud: AudienceClaim(value: Self.audience),
            iat: IssuedAtClaim(value: Date(timeIntervalSince1970: TimeInterval(issuedS))),
            exp: ExpirationClaim(value: Date(timeIntervalSince1970: TimeInterval(issuedS + Int64(ttl)))),
            jti: IDClaim(value: UUID().uuidString.lowercased()))
        let token = try await keys().sign(claims)
        return API.CitizenToken(token: token, expiresAtMs: (issuedS + Int64(ttl)) * 1_000, page: "/citizen")
    }

    /// The citizen a bearer token speaks for, or 401 `invalid_token` saying why not.
    package func verify(_ token: String) async throws -> String {
        func invalid(_ why: String) -> ExchangeError { ExchangeError(.invalidToken, "\(why); sign in again at your department") }
        guard !token.isEmpty, token.utf8.count <= Self.tokenBytesMax else { throw invalid("the token is empty or too long") }
        let claims: CitizenClaims
        do {
            claims = try await keys().verify(token, as: CitizenClaims.self)
        } catch {
            throw invalid("the token is not one this node issued")
        }
        let nowS = now() / 1_000
        // Dates decoded from the token's JSON: converted only within ±10^12 s (Int64(_:) traps outside its range).
        func seconds(_ date: Date) throws -> Int64 {
            let value = date.timeIntervalSince1970
            guard value.isFinite, abs(value) <= 1e12 else { throw invalid("the token's times are not ones this node issues") }
            return Int64(value)
        }
        let issued = try seconds(claims.iat.value)
        let expires = try seconds(claims.exp.value)
        guard claims.iss.value == issuer, claims.aud.value.contains(Self.audience) else { throw invalid("the token is for another node") }
        guard issued <= nowS + Self.skewSeconds, expires > issued, expires - issued <= Int64(Self.ttlSeconds.upperBound) else {
            throw invalid("the token's times are not ones this node issues")
        }
        guard nowS < expires else { throw invalid("the token expired") }
        try RequestChecks.checkIdentifier(claims.sub.value, "the token's subject")
        return claims.sub.value
    }
}
