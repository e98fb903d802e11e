import Foundation
import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewayPrivacy
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
    let aggregation: ConsortiumKey
    let privacy: PrivateRelease
    let now: @Sendable () -> Int64

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
        // A permit that requires differential privacy spends ε from the requester's monthly budget, checked against the
        // chain and spent under the budget's lock; without one, the statistic is exact.
        guard decision.effect == .allow, let epsilon = decision.obligations?.epsilonMicros else {
            let permit = try await gate.pass(
                principal, action: "aggregate", category: category.name, purpose: request.purpose, decision: decision
            )
            return try await release(request, category: category, permit: permit, epsilonMicros: nil)
        }
        let sensitivity = try PrivateRelease.sensitivity(of: request.field, in: category)
        let key = PrivacySpending.Key(requester: principal.department, category: category.name, month: PrivacySpending.month(ofUnixMs: now()))
        let budget = decision.obligations?.budgetMicros ?? Obligations.defaultBudgetMicros
        let allowed = decision
        return try await privacy.budgets.withLock(key) {
            let left = budget - (await ledger.privacySpent(key))
            guard epsilon <= left else {
                let refused = EffectiveDecision(
                    refusing: allowed, because: "the privacy budget of \(category.name) has ε \(PrivateRelease.decimal(max(0, left))) left this month"
                )
                let receipt = try await gate.record(
                    principal, action: "aggregate", category: category.name, recordKeys: [], purpose: request.purpose, decision: refused)
                throw ExchangeError(
                    .privacyBudgetExhausted,
                    "this statistic needs ε \(PrivateRelease.decimal(epsilon)); \(principal.department) has ε \(PrivateRelease.decimal(max(0, left))) left for \(category.name) in \(key.month)",
                    eventID: receipt.eventId)
            }
            let permit = try await gate.pass(
                principal, action: "aggregate", category: category.name, purpose: request.purpose, decision: allowed, epsilonMicros: epsilon
            )
            var response = try await release(request, category: category, permit: permit, epsilonMicros: epsilon, sensitivity: sensitivity)
            response.epsilonRemaining = PrivateRelease.decimal(left - epsilon)
            return response
        }
    }

    /// Decrypts the groups at or above the cohort (each input checked against its anchor first), with noise when the
    /// statistic is differentially private.
    func release(
        _ request: API.AggregateRequest, category: RecordCategory, permit: AccessGate.Permit, epsilonMicros: Int64?, sensitivity: Int64 = 1
    ) async throws -> API.AggregateResponse {
        let obligations = try permit.obligations()
        if let reason = await ledger.derivedFault(.anchoredRecords) { throw ExchangeError(.derivedStateMismatch, reason) }
        let rows = try await store.aggregateRows(category: category.name, field: request.field)
        let groups = try group(rows, by: request.groupBy, category: category.name)
        let mechanisms = try epsilonMicros.map { micros in
            let half = Double(micros) / Double(2 * PrivacyBudget.microsPerEpsilon)
            return (sum: try DiscreteLaplace(epsilon: half, sensitivity: sensitivity), count: try DiscreteLaplace(epsilon: half, sensitivity: 1))
        }
        var result: [API.AggregateGroup] = []
        for groupID in groups.keys.sorted() {
            guard let group = groups[groupID] else { continue }
            // A group below the minimum cohort is never decrypted at all.
            guard group.citizens.count >= obligations.minimumCohort else {
                result.append(API.AggregateGroup(key: group.key, cohort: nil, count: nil, sum: nil, mean: nil, suppressed: true))
                continue
            }
            let total = try decrypt(aggregation.publicKey.sum(group.ciphertexts))
            guard let sum = total.intValue else { throw ExchangeError(.internalError, "aggregate exceeds 64 bits") }
            let exact = API.AggregateGroup(
                key: group.key, cohort: group.citizens.count, count: group.ciphertexts.count, sum: Int64(sum),
                mean: Double(sum) / Double(group.ciphertexts.count), suppressed: false
            )
            result.append(mechanisms.map { privacy.release(exact, sum: $0.sum, count: $0.count) } ?? exact)
        }
        var response = API.AggregateResponse(
            category: category.name, field: request.field, groupBy: request.groupBy, minimumCohort: obligations.minimumCohort,
            policies: permit.decision.policies, groups: result, grant: permit.decision.grantID, receipt: permit.receipt
        )
        if let epsilonMicros, let mechanisms {
            response.epsilon = PrivateRelease.decimal(epsilonMicros)
            response.noiseScale = mechanisms.sum.scale
        }
        return response
    }

    /// Decrypts with this node's share when it alone is the threshold (a solo node, 1 of 1).
    func decrypt(_ ciphertext: PaillierCiphertext) throws -> GMPInteger {
        guard aggregation.threshold == 1, let share = aggregation.share else {
            throw ExchangeError(.internalError, "this node cannot decrypt alone: the aggregation key is \(aggregation.summary)")
        }
        return try aggregation.scheme.combine([try aggregation.scheme.partialDecrypt(ciphertext, share: share)], for: ciphertext)
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
