import Foundation
import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewayPrivacy
import GatewaySchema
import GatewayStore
import GatewayWire

/// Statistics over encrypted values, decrypted only by the consortium. The holder's node decides under its policies,
/// sums each group homomorphically (every input checked against its anchor), adds its share of the noise under
/// encryption when the permit requires differential privacy, logs the decision with the digest of exactly those
/// groups, and puts them before the consortium in a decryption request. Share holders check the request on their own
/// and post partial decryptions; t valid ones give the (noisy) sums. Groups below the minimum cohort are never
/// decrypted, and no node — this one included — can decrypt anything alone unless the key is 1 of 1.
package struct Aggregates: Sendable {
    let admission: Admission
    let decisions: DecisionMaker
    let gate: AccessGate
    let categories: Categories
    let store: any RecordStoring
    let ledger: any LedgerReading
    let writer: any ChainWriting
    let integrity: RecordIntegrity
    let aggregation: ConsortiumKey
    let waiter: DecryptionWaiter
    let privacy: PrivateRelease
    let suite: any CryptoSuite
    let nodeID: String
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
        guard decision.effect == .allow else {
            _ = try await gate.pass(principal, action: "aggregate", category: category.name, purpose: request.purpose, decision: decision)
            throw ExchangeError(.accessDenied, "access denied: \(decision.reason)")
        }
        // Without differential privacy the statistic is exact (only the cohort protects it).
        guard let epsilon = decision.obligations?.epsilonMicros else {
            return try await release(principal, request, category: category, decision: decision, privacy: nil)
        }
        // With it, the statistic spends ε from the requester's monthly budget: checked here against the chain for a
        // clear answer, spent by the chain when the decryption request commits, and checked again by every share holder.
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
            var response = try await release(
                principal, request, category: category, decision: allowed,
                privacy: .init(epsilonMicros: epsilon, budgetMicros: budget, sensitivity: sensitivity))
            response.epsilonRemaining = PrivateRelease.decimal(left - epsilon)
            return response
        }
    }

    struct PrivacyTerms {
        let epsilonMicros: Int64
        let budgetMicros: Int64
        let sensitivity: Int64
    }

    /// Sums the groups, logs the decision with their digest, and has the consortium decrypt the groups at or above the
    /// cohort.
    func release(
        _ principal: Principal, _ request: API.AggregateRequest, category: RecordCategory, decision: EffectiveDecision, privacy terms: PrivacyTerms?
    ) async throws -> API.AggregateResponse {
        guard let obligations = decision.obligations else { throw ExchangeError(.accessDenied, "access denied: the permit carries no obligations") }
        if let reason = await ledger.derivedFault(.anchoredRecords) { throw ExchangeError(.derivedStateMismatch, reason) }
        let rows = try await store.aggregateRows(category: category.name, field: request.field)
        let groups = try group(rows, by: request.groupBy, category: category.name)
        let mechanism = try terms.map { terms in
            try DiscreteLaplace(epsilon: Double(terms.epsilonMicros) / Double(PrivacyBudget.microsPerEpsilon), sensitivity: terms.sensitivity)
        }
        let query = DecryptionRequest.Query(
            statisticID: UUID().uuidString.lowercased(), requester: principal.department, category: category.name, field: request.field,
            purpose: request.purpose, epsilonMicros: terms?.epsilonMicros ?? 0, budgetMicros: terms?.budgetMicros ?? 0,
            minimumCohort: UInt64(obligations.minimumCohort), holders: 1)
        // Labels are salted per statistic: the chain sees which groups match, never what they are.
        let salt = SystemRandom().bytes(count: 32)
        var keys: [[UInt8]: [String: JSONValue]] = [:]
        var contributed: [DecryptionRequest.Group] = []
        let publicKey = aggregation.publicKey
        for groupID in groups.keys.sorted() {
            guard let group = groups[groupID] else { continue }
            let label = suite.hash(salt + Array(groupID.utf8))
            keys[label] = group.key
            // Every sum leaves with fresh randomness: this holder's noise share (or 0), encrypted, is multiplied in.
            let noise = try mechanism.map { try privacy.noise.share($0, of: 1) } ?? 0
            let sum = publicKey.add(publicKey.sum(group.ciphertexts), try publicKey.encrypt(GMPInteger(Int(noise))))
            contributed.append(
                .init(
                    label: label, cohort: UInt64(group.citizens.count), count: UInt64(group.ciphertexts.count),
                    sum: sum.value.bigEndianBytes(width: (publicKey.nSquared.bitWidth + 7) / 8)))
        }
        let digest = DecryptionRequest.Contribution(holder: nodeID, eventID: "", groups: contributed).digest(query: query, suite: suite)
        let permit = try await gate.pass(
            principal, action: "aggregate", category: category.name, purpose: request.purpose, decision: decision,
            epsilonMicros: terms?.epsilonMicros, resultDigest: digest)
        let contributions = [DecryptionRequest.Contribution(holder: nodeID, eventID: permit.receipt.eventId ?? "", groups: contributed)]
        let decryption = DecryptionRequest(
            query: query, contributions: contributions,
            slotBits: Self.slotBits(contributions, field: request.field, in: category, private: terms != nil))
        var response = API.AggregateResponse(
            category: category.name, field: request.field, groupBy: request.groupBy, minimumCohort: obligations.minimumCohort,
            policies: permit.decision.policies, groups: [], grant: permit.decision.grantID, receipt: permit.receipt
        )
        let released = try await decrypt(decryption, eventID: permit.receipt.eventId)
        response.decryption = released.decryption
        response.groups = try released.combined.sorted { canonical(keys[$0.label]) < canonical(keys[$1.label]) }.map { group in
            try Self.released(group, key: keys[group.label] ?? [:], value: released.values[group.label], private: terms != nil)
        }
        if let terms, let mechanism {
            response.epsilon = PrivateRelease.decimal(terms.epsilonMicros)
            response.noiseScale = mechanism.scale
        }
        return response
    }

    func canonical(_ key: [String: JSONValue]?) -> String { JSONValue.object(key ?? [:]).canonicalString }

    /// What the consortium decrypted of a statistic: every combined group, the decrypted sums by label (the groups at
    /// the cohort), and how.
    struct Released {
        let combined: [DecryptionRequest.CombinedGroup]
        let values: [[UInt8]: GMPInteger]
        let decryption: API.Decryption?
    }

    /// Puts a statistic before the consortium, when any group meets the cohort, and waits for t share holders: refused
    /// when the chain counts it beyond the budget it states. Nothing is submitted when no group would be decrypted.
    func decrypt(_ request: DecryptionRequest, eventID: String? = nil) async throws -> Released {
        let combined = request.combined(modulusSquared: aggregation.publicKey.nSquared)
        let decryptable = combined.filter { $0.cohort >= request.query.minimumCohort }
        guard !decryptable.isEmpty else { return Released(combined: combined, values: [:], decryption: nil) }
        let (hash, location) = try await writer.submit(.decryptionRequest, payload: request.encoded)
        let id = Hex.encode(hash)
        if request.query.epsilonMicros > 0, let entry = await ledger.decryption(id), !entry.withinBudget {
            throw ExchangeError(
                .privacyBudgetExhausted, "the chain counted this statistic beyond \(request.query.requester)'s budget for \(request.query.category)",
                eventID: eventID)
        }
        // Packed several groups to a ciphertext, as every share holder packs them.
        let packing = request.packing(aggregation.publicKey)
        let result = try await waiter.plaintexts(requestID: id, groups: packing.pack(decryptable.map { $0.sum }), from: location.height)
        let unpacked: [GMPInteger]
        do { unpacked = try packing.unpack(result.values, count: decryptable.count) } catch {
            throw ExchangeError(.internalError, "the consortium's decryption does not unpack into \(decryptable.count) groups: \(error)")
        }
        var values: [[UInt8]: GMPInteger] = [:]
        for (group, value) in zip(decryptable, unpacked) { values[group.label] = value }
        return Released(
            combined: combined, values: values,
            decryption: API.Decryption(request: id, height: location.height, threshold: aggregation.summary, shareHolders: result.holders))
    }

    /// The slot width that holds any group's sum when groups are packed for decryption: every record of the
    /// statistic at the field's bound (a 64-bit integer when the schema gives none), plus every holder's noise share
    /// (a 64-bit integer each) when the statistic is private.
    static func slotBits(_ contributions: [DecryptionRequest.Contribution], field: String, in category: RecordCategory, private isPrivate: Bool)
        -> UInt64
    {
        let records = contributions.flatMap(\.groups).reduce(GMPInteger(0)) { $0 + GMPInteger(UInt($1.count)) }
        let bound = (try? PrivateRelease.sensitivity(of: field, in: category)).map { GMPInteger(Int($0)) } ?? GMPInteger.powerOfTwo(63)
        let noise = isPrivate ? GMPInteger(contributions.count) * GMPInteger.powerOfTwo(63) : GMPInteger(0)
        return UInt64(PaillierPacking.slotBits(magnitude: records * bound + noise))
    }

    /// One released group: suppressed when it was not decrypted; a private statistic does not state the exact cohort.
    static func released(_ group: DecryptionRequest.CombinedGroup?, key: [String: JSONValue], value: GMPInteger?, private isPrivate: Bool) throws
        -> API.AggregateGroup
    {
        guard let group, let value else { return API.AggregateGroup(key: key, cohort: nil, count: nil, sum: nil, mean: nil, suppressed: true) }
        guard let sum = value.intValue else { throw ExchangeError(.internalError, "aggregate exceeds 64 bits") }
        return API.AggregateGroup(
            key: key, cohort: isPrivate ? nil : Int(group.cohort), count: Int(group.count), sum: Int64(sum),
            mean: group.count > 0 ? Double(sum) / Double(group.count) : nil, suppressed: false)
    }

    /// A group as the running sums give it: the product of its rows' ciphertexts, its records and its cohort.
    struct SumGroup {
        var key: [String: JSONValue]
        var sum: PaillierCiphertext
        var records: Int
        var cohort: Int
    }

    /// The requested grouping from the running sums: every row's tag checked, rows combined by their finest group
    /// projected onto `dimensions`. Touches groups, not records. (A citizen with records in two finest groups of one
    /// requested group counts in each; the citizen category has one record per citizen.)
    func groupsFromRunningSums(category: String, field: String, by dimensions: [String]) async throws -> [String: SumGroup] {
        let rows = try await store.runningSums(category: category, field: field)
        let publicKey = aggregation.publicKey
        var projected: [String: (id: String, key: [String: JSONValue])] = [:]
        var factors: [String: [PaillierCiphertext]] = [:]
        var groups: [String: SumGroup] = [:]
        for row in rows {
            try integrity.check(row)
            if projected[row.groupKey] == nil {
                let stored = (try? JSONValue.parse(Data(row.groupKey.utf8)))?.objectValue ?? [:]
                var key: [String: JSONValue] = [:]
                for dimension in dimensions { key[dimension] = stored[dimension] ?? .null }
                projected[row.groupKey] = (JSONValue.object(key).canonicalString, key)
            }
            let (id, key) = projected[row.groupKey]!
            factors[id, default: []].append(PaillierCiphertext(serialized: row.ciphertext))
            groups[id, default: SumGroup(key: key, sum: PaillierCiphertext(value: GMPInteger(1)), records: 0, cohort: 0)].records += row.records
            groups[id]?.cohort += row.cohort
        }
        for (id, list) in factors { groups[id]?.sum = publicKey.sum(list) }
        return groups
    }

    /// The recomputation check: the running sums of a field against the records themselves (each checked against its
    /// anchor) — per finest group the same product of ciphertexts, the same number of records and of citizens. Returns
    /// how many groups agree; throws an integrity failure naming the first group that does not.
    package func verifyRunningSums(category: String, field: String) async throws -> Int {
        let rows = try await store.aggregateRows(category: category, field: field)
        var recomputed: [String: (ciphertexts: [PaillierCiphertext], citizens: Set<[UInt8]>)] = [:]
        for row in rows {
            try integrity.check(row, category: category)
            let key = (try? JSONValue.parse(Data(row.dimensionsJSON.utf8)))?.canonicalString ?? row.dimensionsJSON
            recomputed[key, default: ([], [])].ciphertexts.append(PaillierCiphertext(serialized: row.ciphertext))
            recomputed[key]?.citizens.insert(row.citizenKey)
        }
        let sums = try await store.runningSums(category: category, field: field)
        var running: [String: (rows: [RunningSum], records: Int, cohort: Int)] = [:]
        for row in sums {
            try integrity.check(row)
            let key = (try? JSONValue.parse(Data(row.groupKey.utf8)))?.canonicalString ?? row.groupKey
            running[key, default: ([], 0, 0)].rows.append(row)
            running[key]?.records += row.records
            running[key]?.cohort += row.cohort
        }
        let publicKey = aggregation.publicKey
        for key in Set(recomputed.keys).union(running.keys).sorted() {
            let truth = recomputed[key]
            let kept = running[key]
            // A group whose records were all erased has no records and compensated sums of zero records, zero citizens.
            let agrees =
                (truth?.ciphertexts.count ?? 0) == (kept?.records ?? 0) && (truth?.citizens.count ?? 0) == (kept?.cohort ?? 0)
                && publicKey.sum(truth?.ciphertexts ?? []) == publicKey.sum((kept?.rows ?? []).map { PaillierCiphertext(serialized: $0.ciphertext) })
            guard agrees else {
                let row =
                    kept?.rows.first
                    ?? RunningSum(id: 0, category: category, field: field, groupKey: key, ciphertext: [], records: 0, cohort: 0, tag: [])
                throw integrity.sumFailure(row, problem: "differs from the records it should sum (group \(key.prefix(120)))")
            }
        }
        return Set(recomputed.keys).union(running.keys).count
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
