import Foundation
import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewayWire

/// Grants: a data holder lets another department use a category for a purpose until an expiry, optionally only
/// some fields. Issued and revoked by the holder's own node; they apply from the block that commits them.
package struct Grants: Sendable {
    let admission: Admission
    let decisions: DecisionMaker
    let gate: AccessGate
    let categories: Categories
    let departments: DepartmentDirectory
    let ledger: any LedgerReading
    let writer: any ChainWriting
    let nodeID: String
    let now: @Sendable () -> Int64

    /// Longest grant the gateway records: ten years.
    package static let durationMaxMs: Int64 = 10 * 366 * 86_400_000

    /// Records a grant on chain. The holder needs a permit for `Action::"grant"` on the category (decided under the
    /// grant's purpose, so a forbidden purpose cannot be granted). The decision is logged.
    package func issue(_ principal: Principal, _ request: API.GrantRequest) async throws -> API.GrantResponse {
        try await admission.admit(principal)
        let category = try categories.named(request.category)
        try RequestChecks.checkPurpose(request.purpose)
        try RequestChecks.checkIdentifier(request.grantee, "grantee")
        let expiresAtMs = try expiry(request.expiresAt)
        let fields = request.fields ?? []
        guard Set(fields).count == fields.count else { throw ExchangeError(.invalidRequest, "fields must not repeat a field") }
        if let unknown = fields.first(where: { !category.fields.contains($0) }) {
            throw ExchangeError(.unknownField, "\(unknown) is not a field of \(category.name); use some of \(category.fields)")
        }
        try decisions.checkKnownPurpose(request.purpose)
        guard departments.departments[request.grantee] != nil else {
            let known = departments.departments.keys.sorted().joined(separator: ", ")
            throw ExchangeError(.unknownGrantee, "grantee '\(request.grantee)' is not a registered department; known: \(known)")
        }
        let holder = try await requireHolder(principal, to: "grant")
        guard request.grantee != holder else { throw ExchangeError(.invalidRequest, "a department does not grant to itself") }
        let decision = decisions.authorize(principal, action: "grant", category: category.name, purpose: request.purpose)
        let permit = try await gate.pass(principal, action: "grant", category: category.name, purpose: request.purpose, decision: decision)
        let grant = Grant(
            grantID: "grant-" + UUID().uuidString.lowercased(), grantee: request.grantee, category: category.name, purpose: request.purpose,
            fields: fields, expiresAtMs: expiresAtMs
        )
        let (hash, location) = try await writer.submit(.grant, payload: grant.encoded)
        guard let entry = await ledger.grant(id: grant.grantID) else {
            throw ExchangeError(.internalError, "the committed grant is not in the ledger")
        }
        return API.GrantResponse(grant: view(entry), transaction: Hex.encode(hash), height: location.height, receipt: permit.receipt)
    }

    /// `expiresAt` as Unix milliseconds: an RFC 3339 instant in the future, at most ten years ahead.
    func expiry(_ text: String) throws -> Int64 {
        let expiresAtMs = try RequestChecks.instant(text, "expiresAt")
        let current = now()
        guard expiresAtMs > current, expiresAtMs - current <= Self.durationMaxMs else {
            throw ExchangeError(.invalidRequest, "expiresAt must be in the future and at most ten years ahead")
        }
        return expiresAtMs
    }

    /// Revokes a grant this node's department gave; the next request no longer finds it. Withdrawing access needs
    /// no permit — a bundle that no longer lets the holder grant must not keep it from revoking — but it is logged.
    package func revoke(_ principal: Principal, id: String) async throws -> API.GrantResponse {
        try await admission.admit(principal)
        let holder = try await requireHolder(principal, to: "revoke")
        try RequestChecks.checkIdentifier(id, "the grant id")
        guard let entry = await ledger.grant(id: id), entry.grantor == holder else {
            throw ExchangeError(.notFound, "\(holder) gave no grant \(id); the grant list shows those it gave")
        }
        guard !entry.revoked else { throw ExchangeError(.grantRevoked, "grant \(id) is already revoked") }
        let decision = EffectiveDecision(
            effect: .allow, policies: [], reason: "the grantor revokes its own grant", obligations: nil, grantID: entry.grant.grantID
        )
        let permit = try await gate.pass(
            principal, action: "revoke", category: entry.grant.category, purpose: entry.grant.purpose, decision: decision
        )
        let (hash, location) = try await writer.submit(.revoke, payload: Revocation(grantID: id).encoded)
        guard let revoked = await ledger.grant(id: id) else {
            throw ExchangeError(.internalError, "the revoked grant is not in the ledger")
        }
        return API.GrantResponse(grant: view(revoked), transaction: Hex.encode(hash), height: location.height, receipt: permit.receipt)
    }

    /// The grants the caller's department gave or received, as the chain records them (grant metadata names
    /// departments, categories and purposes only, so listing one's own grants needs no permit and is not logged).
    package func list(_ principal: Principal) async throws -> API.GrantList {
        try await admission.admit(principal)
        return API.GrantList(grants: await ledger.grants(involving: principal.department).map(view))
    }

    /// Grants are the data holder's: issued and revoked by its own department, on its own node.
    func requireHolder(_ principal: Principal, to verb: String) async throws -> String {
        guard let holder = await ledger.department(ofNode: nodeID) else {
            throw ExchangeError(.notDataHolder, "this node (\(nodeID)) is not a member of the chain, so it holds no data to \(verb) grants on")
        }
        guard principal.department == holder else {
            throw ExchangeError(.notDataHolder, "grants on this node are \(holder)'s to \(verb); \(principal.department) does so on its own node")
        }
        return holder
    }

    func view(_ entry: GrantRegistry.Entry) -> API.GrantView {
        let grant = entry.grant
        return API.GrantView(
            grantId: grant.grantID, grantor: entry.grantor, grantee: grant.grantee, category: grant.category, purpose: grant.purpose,
            fields: grant.fields, expiresAtMs: grant.expiresAtMs, revoked: entry.revoked, live: !entry.revoked && grant.expiresAtMs > now()
        )
    }
}
