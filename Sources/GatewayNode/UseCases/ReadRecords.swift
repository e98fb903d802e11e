import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewaySchema
import GatewayStore
import GatewayWire

/// Reading records: decided record by record (consents, grant) and logged; each record is decrypted and checked
/// against its anchor (while the access event commits, when permitted) and released, once the permit is there,
/// projected and masked as its obligations say.
package struct ReadRecords: Sendable {
    let admission: Admission
    let decisions: DecisionMaker
    let gate: AccessGate
    let categories: Categories
    let store: any RecordStoring
    let ledger: any LedgerReading
    let integrity: RecordIntegrity
    let vault: RecordVault
    /// This node: the submitter of its records' anchors and erasures.
    let nodeID: String

    /// At most this many ids per request.
    package static let idsMax = 1_000

    package func request(_ principal: Principal, _ request: API.RecordsRequest) async throws -> API.RecordsResponse {
        try await admission.admit(principal)
        let category = try categories.named(request.category)
        try RequestChecks.checkPurpose(request.purpose)
        guard !request.ids.isEmpty, request.ids.count <= Self.idsMax else {
            throw ExchangeError(.invalidRequest, "ids must hold between 1 and \(Self.idsMax) record ids")
        }
        for (index, id) in request.ids.enumerated() {
            try RequestChecks.checkIdentifier(id, "ids[\(index)]")
        }
        try decisions.checkKnownPurpose(request.purpose)
        let discloseAfterMs = try request.discloseAfter.map { try RequestChecks.instant($0, "discloseAfter") }
        // Duplicates removed, first occurrence kept, so the response follows the request's order.
        var seenIDs = Set<String>()
        let ids = request.ids.filter { seenIDs.insert($0).inserted }
        let grant = await decisions.applicableGrant(principal, category: category.name, purpose: request.purpose)
        var decision = await decisions.authorizeRecords(principal, category: category.name, ids: ids, purpose: request.purpose, grant: grant)
        // An obligation the request cannot meet turns the permit into a denial, and is logged as such.
        if decision.effect == .allow, let obligations = decision.obligations {
            if obligations.aggregateOnly {
                decision = .init(refusing: decision, because: "the permit allows aggregates only")
            } else if let rows = obligations.maximumRows, ids.count > rows {
                decision = .init(refusing: decision, because: "the permit allows at most \(rows) records per request")
            }
        }
        let recordKeys = ids.map { vault.recordKey(category: category.name, id: $0) }
        // A permitted read is fetched, decrypted and checked while its access event commits; nothing of it is
        // released before the permit (and not at all if the permit fails). Not while derived state is known bad.
        let derivedFault = await ledger.derivedFault(.anchoredRecords)
        let readAhead = decision.effect == .allow && derivedFault == nil
        async let early = readAhead ? try await fetch(category: category.name, ids: ids, recordKeys: recordKeys) : nil
        let permit = try await gate.pass(
            principal, action: "read", category: category.name, recordKeys: recordKeys, purpose: request.purpose, decision: decision,
            discloseAfterMs: discloseAfterMs
        )
        let obligations = try permit.obligations()

        if let reason = await ledger.derivedFault(.anchoredRecords) { throw ExchangeError(.derivedStateMismatch, reason) }
        let fetched: Fetched
        if let ahead = try await early {
            fetched = ahead
        } else {
            fetched = try await fetch(category: category.name, ids: ids, recordKeys: recordKeys)
        }
        let released = fetched.plaintexts.map { Self.apply(obligations, to: $0, vault: vault) }
        let erasedIDs = Set(fetched.erased.map(\.id))
        let fields = category.fields.filter { obligations.fields?.contains($0) ?? true }
        var response = API.RecordsResponse(
            decision: "allow", policies: decision.policies, fields: fields,
            masks: obligations.masks.filter { fields.contains($0.key) }.mapValues(\.description),
            records: released, missing: fetched.absent.filter { !erasedIDs.contains($0) }, grant: decision.grantID,
            receipt: permit.receipt
        )
        if !fetched.erased.isEmpty { response.erased = fetched.erased }
        return response
    }

    /// The stored records of a request, decrypted and checked against their anchors, in the store's order; the ids
    /// not found, in the request's order, and which of those their holder erased.
    struct Fetched: Sendable {
        var plaintexts: [JSONValue]
        var absent: [String]
        var erased: [API.ErasedRecord]
    }

    func fetch(category: String, ids: [String], recordKeys: [[UInt8]]) async throws -> Fetched {
        let stored = try await store.records(category: category, ids: ids)
        let positions = Dictionary(ids.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var plaintexts: [JSONValue] = []
        plaintexts.reserveCapacity(stored.count)
        for record in stored {
            plaintexts.append(try integrity.verified(record, position: positions[record.recordID] ?? 0))
        }
        let found = Set(stored.map(\.recordID))
        let absent = ids.enumerated().filter { !found.contains($0.element) }
        // An absent record its holder erased is named with its erasure transaction, apart from the never published.
        let erasures = try await store.erasures(recordKeys: absent.map { recordKeys[$0.offset] }, by: nodeID)
        let erased = absent.compactMap { entry in
            erasures[recordKeys[entry.offset]].map { API.ErasedRecord(id: entry.element, transaction: Hex.encode($0.hash), height: $0.height) }
        }
        return Fetched(plaintexts: plaintexts, absent: absent.map(\.element), erased: erased)
    }

    /// Projects to the permitted fields and applies each field's mask.
    static func apply(_ obligations: Obligations, to record: JSONValue, vault: RecordVault) -> JSONValue {
        guard case .object(let members) = record else { return record }
        var out: [String: JSONValue] = [:]
        for (field, value) in members where obligations.fields?.contains(field) ?? true {
            guard let mask = obligations.masks[field] else {
                out[field] = value
                continue
            }
            out[field] = mask.apply(to: value, field: field, vault: vault)
        }
        return .object(out)
    }
}

extension Obligations.Mask {
    /// The masked value: redacted, a salted hash (stable per deployment, so masked values still join), the year of
    /// a date, or the last characters with the rest starred.
    func apply(to value: JSONValue, field: String, vault: RecordVault) -> JSONValue {
        let text: String
        switch value {
        case .string(let s): text = s
        case .integer(let i): text = String(i)
        case .null: return .null
        default: text = value.canonicalString
        }
        switch self {
        case .redact:
            return .null
        case .saltedHash:
            return .string(vault.maskHash(field: field, value: text))
        case .yearOnly:
            let year = text.prefix(4)
            return year.count == 4 && year.allSatisfy(\.isNumber) ? .string(String(year)) : .null
        case .lastCharacters(let n):
            let kept = text.suffix(n)
            return .string(String(repeating: "*", count: max(0, text.count - kept.count)) + kept)
        }
    }
}
