import Foundation
import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewaySchema
import GatewayStore
import GatewayWire

/// Statistics over encrypted values: each input checked against its anchor, summed homomorphically per group, and
/// only groups with at least the permit's minimum cohort of distinct citizens are ever decrypted.
package struct Aggregates: Sendable {
    let admission: Admission
    let decisions: DecisionMaker
    let gate: AccessGate
    let categories: Categories
    let store: any RecordStoring
    let ledger: any LedgerReading
    let integrity: RecordIntegrity
    let paillier: PaillierPrivateKey

    package func aggregate(_ principal: Principal, _ request: API.AggregateRequest) async throws -> API.AggregateResponse {
        try await admission.admit(principal)
        let category = try categories.named(request.category)
        try RequestChecks.checkPurpose(request.purpose)
        guard category.aggregates.contains(request.field) else {
            throw ExchangeError(.unknownField, "\(request.field) is not an aggregate field of \(category.name); use one of \(category.aggregates)")
        }
        guard request.groupBy.allSatisfy(category.dimensions.contains), Set(request.groupBy).count == request.groupBy.count else {
            throw ExchangeError(.unknownField, "groupBy may only name dimensions of \(category.name), each once: \(category.dimensions)")
        }
        try decisions.checkKnownPurpose(request.purpose)
        let grant = await decisions.applicableGrant(principal, category: category.name, purpose: request.purpose)
        var decision = decisions.authorize(
            principal, action: "aggregate", resource: EntityUID(type: "Category", id: category.name), purpose: request.purpose, grant: grant
        )
        // A field projection (from @fields or a grant) bounds aggregates too: the summed field and the dimensions.
        if decision.effect == .allow, let fields = decision.obligations?.fields,
            let outside = ([request.field] + request.groupBy).first(where: { !fields.contains($0) })
        {
            decision = .init(refusing: decision, because: "the permit does not cover the field \(outside)")
        }
        let permit = try await gate.pass(
            principal, action: "aggregate", category: category.name, purpose: request.purpose, decision: decision
        )
        let obligations = try permit.obligations()

        if let reason = await ledger.derivedFault(.anchoredRecords) { throw ExchangeError(.derivedStateMismatch, reason) }
        let rows = try await store.aggregateRows(category: category.name, field: request.field)
        let groups = try group(rows, by: request.groupBy, category: category.name)
        var result: [API.AggregateGroup] = []
        for groupID in groups.keys.sorted() {
            guard let group = groups[groupID] else { continue }
            // A group below the minimum cohort is never decrypted at all.
            guard group.citizens.count >= obligations.minimumCohort else {
                result.append(API.AggregateGroup(key: group.key, cohort: nil, count: nil, sum: nil, mean: nil, suppressed: true))
                continue
            }
            let total = try paillier.decrypt(paillier.publicKey.sum(group.ciphertexts))
            guard let sum = total.intValue else { throw ExchangeError(.internalError, "aggregate exceeds 64 bits") }
            result.append(
                API.AggregateGroup(
                    key: group.key, cohort: group.citizens.count, count: group.ciphertexts.count, sum: Int64(sum),
                    mean: Double(sum) / Double(group.ciphertexts.count), suppressed: false
                ))
        }
        return API.AggregateResponse(
            category: category.name, field: request.field, groupBy: request.groupBy, minimumCohort: obligations.minimumCohort,
            policies: decision.policies, groups: result, grant: decision.grantID, receipt: permit.receipt
        )
    }

    struct Group {
        var key: [String: JSONValue]
        var ciphertexts: [PaillierCiphertext] = []
        var citizens = Set<[UInt8]>()
    }

    /// Checks every input against its anchor, then groups the ciphertexts by the canonical JSON of their dimensions.
    func group(_ rows: [AggregateRow], by dimensions: [String], category: String) throws -> [String: Group] {
        var groups: [String: Group] = [:]
        for row in rows {
            try integrity.check(row, category: category)
            let stored = (try? JSONValue.parse(Data(row.dimensionsJSON.utf8)))?.objectValue ?? [:]
            var key: [String: JSONValue] = [:]
            for field in dimensions { key[field] = stored[field] ?? .null }
            let groupID = JSONValue.object(key).canonicalString
            groups[groupID, default: Group(key: key)].ciphertexts.append(PaillierCiphertext(serialized: row.ciphertext))
            groups[groupID]?.citizens.insert(row.citizenKey)
        }
        return groups
    }
}
