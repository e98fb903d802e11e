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
    /// For queries by citizen: the node's categories and salted record keys.
    var categories: Categories? = nil
    var vault: RecordVault? = nil

    package static let pageMax = 1_000
    package static let chainBlocksMax = 256

    package func events(
        _ principal: Principal, after cursor: API.AuditCursor?, limit: Int, query: API.AuditQuery = API.AuditQuery()
    ) async throws -> API.AuditPage {
        try await admission.admit(principal)
        guard (1...Self.pageMax).contains(limit) else { throw ExchangeError(.invalidRequest, "limit must be 1 to \(Self.pageMax)") }
        let after = cursor ?? API.AuditCursor(height: 0, eventID: "")
        if cursor != nil { try RequestChecks.checkIdentifier(after.eventID, "the event id in after") }
        let filter = try self.filter(query)
        // A query about one citizen names that citizen's records in its own access event: the citizen sees it.
        let permit = try await passAudit(principal, recordKeys: filter.recordKeys ?? [])
        if let reason = await ledger.derivedFault(.accessEvents) { throw ExchangeError(.derivedStateMismatch, reason) }
        if filter.recordKeys != nil, let reason = await ledger.derivedFault(.accessRecords) {
            throw ExchangeError(.derivedStateMismatch, reason)
        }
        let rows = try await store.accessEvents(
            afterHeight: after.height, afterEventID: after.eventID, afterTransaction: after.transaction, limit: limit, filter: filter)
        let next =
            rows.count == limit ? rows.last.map { API.AuditCursor(height: $0.height, eventID: $0.eventID, transaction: $0.transactionHash) } : nil
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

    /// This node's signed head of the access log. Heads, consistency and inclusion proofs carry counts and hashes
    /// only — no event, no personal data — so any authenticated department may ask, and the asking is not logged
    /// (logging it would be an event per comparison, and a regulator compares often).
    package func logHead(_ principal: Principal) async throws -> API.AccessLogHeadBody {
        try await admission.admit(principal)
        return API.AccessLogHeadBody(try await ledger.accessLogHead())
    }

    package func logConsistency(_ principal: Principal, from: UInt64, to: UInt64) async throws -> API.AccessLogConsistency {
        try await admission.admit(principal)
        guard let proof = await ledger.accessLogConsistency(from: from, to: to) else {
            let size = try await ledger.accessLogHead().size
            throw ExchangeError(.invalidRequest, "from and to must satisfy 1 ≤ from ≤ to ≤ \(size), the log's size at this node")
        }
        return API.AccessLogConsistency(from: from, to: to, proof: proof.map(Hex.encode))
    }

    package func logInclusion(_ principal: Principal, index: UInt64, size: UInt64) async throws -> API.AccessLogInclusion {
        try await admission.admit(principal)
        guard let found = await ledger.accessLogInclusion(index: index, size: size) else {
            let current = try await ledger.accessLogHead().size
            throw ExchangeError(.invalidRequest, "index and size must satisfy index < size ≤ \(current), the log's size at this node")
        }
        return API.AccessLogInclusion(index: index, size: size, leafHash: Hex.encode(found.leafHash), proof: found.proof.map(Hex.encode))
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
    func passAudit(_ principal: Principal, recordKeys: [[UInt8]] = []) async throws -> AccessGate.Permit {
        try await gate.pass(
            principal, action: "audit", category: "access_log", recordKeys: recordKeys, purpose: "audit",
            decision: decisions.authorizeAudit(principal)
        )
    }

    /// The query's filter, each field checked as a request's fields are (bad input is 400, an impossible date 422).
    func filter(_ query: API.AuditQuery) throws -> ChainStore.AccessEventFilter {
        var filter = ChainStore.AccessEventFilter()
        if let department = query.department {
            try RequestChecks.checkIdentifier(department, "department")
            filter.requester = department
        }
        if let role = query.role {
            guard RequestSigning.isValidRole(role) else {
                throw ExchangeError(.invalidRequest, "role must be 1 to 64 characters of a-z, 0-9, _ and -")
            }
            filter.role = role
        }
        if let purpose = query.purpose {
            try RequestChecks.checkPurpose(purpose)
            filter.purpose = purpose
        }
        if let decision = query.decision {
            guard decision == "allow" || decision == "deny" else { throw ExchangeError(.invalidRequest, "decision must be allow or deny") }
            filter.decision = decision
        }
        if let from = query.from { filter.fromMs = try RequestChecks.instant(from, "from") }
        if let to = query.to { filter.toMs = try RequestChecks.instant(to, "to") }
        if let citizen = query.citizen {
            try RequestChecks.checkIdentifier(citizen, "citizen")
            guard let categories, let vault else { throw ExchangeError(.invalidRequest, "this node holds no records to query by citizen") }
            filter.recordKeys = categories.byName.keys.sorted().map { vault.recordKey(category: $0, id: citizen) }
        }
        return filter
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
