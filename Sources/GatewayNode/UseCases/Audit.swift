import GatewayChain
import GatewayCrypto
import GatewayStore
import GatewayWire

/// Regulators' reads: the access log in commit order, inclusion proofs, and committed blocks. Reads of the log are
/// accesses too: each is decided (`Action::"audit"`) and logged before anything is returned.
package struct Audit: Sendable {
    let admission: Admission
    let decisions: DecisionMaker
    let gate: AccessGate
    let ledger: any LedgerReading
    let store: any AuditStoring

    package static let pageMax = 1_000
    package static let chainBlocksMax = 256

    package func events(_ principal: Principal, after cursor: API.AuditCursor?, limit: Int) async throws -> API.AuditPage {
        try await admission.admit(principal)
        guard (1...Self.pageMax).contains(limit) else { throw ExchangeError(.invalidRequest, "limit must be 1 to \(Self.pageMax)") }
        let after = cursor ?? API.AuditCursor(height: 0, eventID: "")
        if cursor != nil { try RequestChecks.checkIdentifier(after.eventID, "the event id in after") }
        let permit = try await passAudit(principal)
        if let reason = await ledger.derivedFault(.accessEvents) { throw ExchangeError(.derivedStateMismatch, reason) }
        let rows = try await store.accessEvents(afterHeight: after.height, afterEventID: after.eventID, limit: limit)
        let next = rows.count == limit ? rows.last.map { API.AuditCursor(height: $0.height, eventID: $0.eventID) } : nil
        return API.AuditPage(events: rows.map(Self.event), next: next?.text, receipt: permit.receipt)
    }

    package func proof(_ principal: Principal, eventID: String) async throws -> API.ProofResponse {
        try await admission.admit(principal)
        try RequestChecks.checkIdentifier(eventID, "the event id")
        let permit = try await passAudit(principal)
        if let reason = await ledger.derivedFault(.accessEvents) { throw ExchangeError(.derivedStateMismatch, reason) }
        guard let row = try await store.accessEvent(id: eventID), let proof = try await ledger.proof(for: row.transactionHash) else {
            throw ExchangeError(.notFound, "no committed access event \(eventID)")
        }
        return API.ProofResponse(eventId: eventID, height: row.height, proof: proof, receipt: permit.receipt)
    }

    /// Committed blocks from `from` on, for observers (regulators) that verify and keep the chain themselves.
    package func blocks(_ principal: Principal, from: UInt64, limit: Int) async throws -> API.ChainBlocks {
        try await admission.admit(principal)
        guard from >= 1 else { throw ExchangeError(.invalidRequest, "from must be a height ≥ 1") }
        guard (1...Self.chainBlocksMax).contains(limit) else {
            throw ExchangeError(.invalidRequest, "limit must be 1 to \(Self.chainBlocksMax)")
        }
        let permit = try await passAudit(principal)
        let blocks = try await store.blocks(from: from, limit: limit)
        var commitment: InclusionProof.Commitment?
        if let last = blocks.last { commitment = try await ledger.commitment(atHeight: last.header.height) }
        return API.ChainBlocks(blocks: blocks.map(API.ChainBlock.init), commitment: commitment, receipt: permit.receipt)
    }

    /// A regulator's read is logged, allowed or denied, before anything is returned.
    func passAudit(_ principal: Principal) async throws -> AccessGate.Permit {
        try await gate.pass(
            principal, action: "audit", category: "access_log", purpose: "audit", decision: decisions.authorizeAudit(principal)
        )
    }

    static func event(_ row: ChainStore.AccessEventRow) -> API.AuditEvent {
        API.AuditEvent(
            eventId: row.eventID, height: row.height, transaction: Hex.encode(row.transactionHash), requester: row.requester,
            action: row.action, category: row.category, purpose: row.purpose, decision: row.decision, policies: row.policies,
            recordCount: row.recordCount, policyBundle: Hex.encode(row.bundleHash), timestampMs: row.timestampMs, role: row.role,
            grant: row.grantID, disclosure: row.discloseAtMs.map { API.Disclosure(discloseAtMs: $0, releasedAtHeight: row.releasedAtHeight) }
        )
    }
}
