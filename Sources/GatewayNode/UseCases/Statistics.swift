import Foundation
import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewayPrivacy
import GatewaySchema
import GatewayWire

/// How a requester's node reaches the holders' nodes: a signed node-to-node request (`PeerStatisticsClient` in a
/// node; the holders' use cases directly in tests).
package protocol StatisticsPeering: Sendable {
    func contribution(from node: String, _ request: API.ContributionRequest) async throws -> API.ContributionResponse
}

/// Statistics across departments that no single node can decrypt (issue 14). The requester asks once, at its own
/// department's node. That node fixes the query under the consortium's policies (cohort, ε, budget) and asks every
/// holder's node with a signed node-to-node request. Each holder decides under its own policies, logs the decision
/// on chain with the digest of what it returns, and returns per group an encrypted sum (its noise share included)
/// and a count; the requester's node never sees an individual value. It combines the holders' groups in a decryption
/// request on chain and waits for t share holders to decrypt what meets the cohort.
package struct Statistics: Sendable {
    let aggregates: Aggregates
    let peers: any StatisticsPeering
    /// This node's department: the only one it asks for.
    let department: String
    /// The largest group universe a statistic may span (the product of its dimensions' enums).
    static let groupsMax = 256

    // MARK: The requester's node

    package func statistics(_ principal: Principal, _ request: API.StatisticsRequest) async throws -> API.StatisticsResponse {
        let a = aggregates
        try await a.admission.admit(principal)
        guard principal.node == nil, principal.department == department else {
            throw ExchangeError(
                .accessDenied, "ask for statistics at your own department's node: this node serves \(department), not \(principal.department)")
        }
        let category = try a.categories.named(request.category)
        let universe = try Self.universe(category, field: request.field, groupBy: request.groupBy)
        try RequestChecks.checkPurpose(request.purpose)
        try a.decisions.checkKnownPurpose(request.purpose)
        // The consortium's policies (this node's copy of the approved bundle) fix the query for every holder alike;
        // each holder checks its own permit allows it.
        let decision = a.decisions.authorize(
            principal, action: "aggregate", resource: EntityUID(type: "Category", id: category.name), purpose: request.purpose, grant: nil)
        guard decision.effect == .allow, let obligations = decision.obligations else {
            _ = try await a.gate.pass(principal, action: "aggregate", category: category.name, purpose: request.purpose, decision: decision)
            throw ExchangeError(.accessDenied, "access denied: \(decision.reason)")
        }
        let epsilon = obligations.epsilonMicros ?? 0
        let budget = obligations.epsilonMicros == nil ? 0 : obligations.budgetMicros ?? Obligations.defaultBudgetMicros
        let holders = try await holderNodes(request.holders)
        let ask = API.ContributionRequest(
            statisticID: UUID().uuidString.lowercased(), requester: principal.department, role: principal.role, category: category.name,
            field: request.field, groupBy: request.groupBy, purpose: request.purpose, epsilonMicros: epsilon, budgetMicros: budget,
            minimumCohort: obligations.minimumCohort, holders: holders.map(\.node), salt: Hex.encode(SystemRandom().bytes(count: 32)))
        guard epsilon > 0 else { return try await run(ask, holders: holders, universe: universe, category: category) }
        let key = PrivacySpending.Key(requester: principal.department, category: category.name, month: PrivacySpending.month(ofUnixMs: a.now()))
        return try await a.privacy.budgets.withLock(key) {
            let left = budget - (await a.ledger.privacySpent(key))
            guard epsilon <= left else {
                throw ExchangeError(
                    .privacyBudgetExhausted,
                    "this statistic needs ε \(PrivateRelease.decimal(epsilon)); \(principal.department) has ε \(PrivateRelease.decimal(max(0, left))) left for \(category.name) in \(key.month)"
                )
            }
            var response = try await run(ask, holders: holders, universe: universe, category: category)
            response.epsilonRemaining = PrivateRelease.decimal(left - epsilon)
            return response
        }
    }

    /// The member nodes of the named departments (default: every member node), sorted by node id.
    func holderNodes(_ departments: [String]?) async throws -> [(node: String, department: String)] {
        let members = await aggregates.ledger.decidedGovernance().state.members.map { (node: $0.nodeID, department: $0.department) }
        guard let departments else { return members.sorted { $0.node < $1.node } }
        guard !departments.isEmpty, departments.count <= DecryptionRequest.contributionsMax, Set(departments).count == departments.count else {
            throw ExchangeError(.invalidRequest, "holders names 1 to \(DecryptionRequest.contributionsMax) departments, each once")
        }
        let chosen = members.filter { departments.contains($0.department) }
        if let missing = departments.first(where: { name in !chosen.contains { $0.department == name } }) {
            throw ExchangeError(.unknownDepartment, "no member node of the consortium belongs to \(missing.prefix(64))")
        }
        return chosen.sorted { $0.node < $1.node }
    }

    /// Asks every holder, combines their groups on chain, and has the consortium decrypt what meets the cohort.
    func run(
        _ ask: API.ContributionRequest, holders: [(node: String, department: String)], universe: [[String: JSONValue]], category: RecordCategory
    ) async throws -> API.StatisticsResponse {
        let a = aggregates
        guard holders.count <= DecryptionRequest.contributionsMax else {
            throw ExchangeError(.invalidRequest, "a statistic spans at most \(DecryptionRequest.contributionsMax) holders; name them in holders")
        }
        let outcomes = await withTaskGroup(of: HolderOutcome.self) { group in
            for position in holders.indices {
                let node = holders[position].node
                group.addTask {
                    // This node's own part is asked of itself directly; the others' over the network.
                    let principal = Principal(department: department, node: a.nodeID, requestDigest: SystemRandom().bytes(count: 32))
                    do {
                        let contribution = try await node == a.nodeID ? contribute(principal, ask) : peers.contribution(from: node, ask)
                        return HolderOutcome(position: position, result: .success(contribution))
                    } catch {
                        return HolderOutcome(position: position, result: .failure(error))
                    }
                }
            }
            // In the holders' order, whatever order they answer in.
            var byPosition = [Result<API.ContributionResponse, any Error>?](repeating: nil, count: holders.count)
            for await outcome in group where byPosition.indices.contains(outcome.position) { byPosition[outcome.position] = outcome.result }
            return byPosition.map { $0 ?? .failure(ExchangeError(.internalError, "a holder's answer went missing")) }
        }
        var answers: [API.HolderAnswer] = []
        var failures: [ExchangeError.Code] = []
        var contributions: [DecryptionRequest.Contribution] = []
        let salt = Hex.decode(ask.salt) ?? []
        let labels = universe.map { a.suite.hash(salt + Array(JSONValue.object($0).canonicalString.utf8)) }
        for (holder, outcome) in zip(holders, outcomes) {
            switch outcome {
            case .success(let contribution):
                let groups = contribution.groups.compactMap { group -> DecryptionRequest.Group? in
                    // A holder's answer is input from the network: each sum must be a ciphertext under the consortium key.
                    guard let label = Hex.decode(group.label), label.count == DecryptionRequest.labelBytes,
                        group.sum.utf8.count <= 2 * DecryptionRequest.ciphertextBytesMax, let sum = Hex.decode(group.sum),
                        (try? a.aggregation.publicKey.validate(PaillierCiphertext(value: GMPInteger(bigEndian: sum)))) != nil,
                        (0...Int(Int32.max)).contains(group.cohort), (0...Int(Int32.max)).contains(group.count)
                    else {
                        return nil
                    }
                    return .init(label: label, cohort: UInt64(group.cohort), count: UInt64(group.count), sum: sum)
                }
                guard contribution.holder == holder.node, groups.count == contribution.groups.count, groups.count == labels.count,
                    Set(groups.map { $0.label }) == Set(labels)
                else {
                    let reason =
                        "malformed contribution from \(contribution.holder): \(contribution.groups.count) groups, \(groups.count) well formed, \(Set(groups.map { $0.label }).intersection(labels).count) of the \(labels.count) expected"
                    failures.append(.internalError)
                    answers.append(.init(department: holder.department, node: holder.node, decision: "error", eventId: nil, reason: reason))
                    continue
                }
                answers.append(.init(department: holder.department, node: holder.node, decision: "allow", eventId: contribution.eventId, reason: nil))
                contributions.append(.init(holder: holder.node, eventID: contribution.eventId, groups: groups))
            case .failure(let error as ExchangeError):
                failures.append(error.code)
                answers.append(
                    .init(
                        department: holder.department, node: holder.node, decision: error.code == .accessDenied ? "deny" : "error",
                        eventId: error.eventID, reason: error.message))
            case .failure(let error):
                failures.append(.internalError)
                answers.append(.init(department: holder.department, node: holder.node, decision: "error", eventId: nil, reason: "\(error)"))
            }
        }
        guard contributions.count == holders.count else {
            let refused = answers.filter { $0.decision != "allow" }.map { "\($0.department) (\($0.node)): \($0.reason ?? $0.decision)" }
            // Denials answer 403; a holder that failed otherwise (unreachable, tampered data) gives its own code.
            throw ExchangeError(
                failures.first { $0 != .accessDenied } ?? .accessDenied,
                "not every holder contributed, so nothing is decrypted: \(refused.joined(separator: "; "))")
        }
        let query = DecryptionRequest.Query(
            statisticID: ask.statisticID, requester: ask.requester, category: ask.category, field: ask.field, purpose: ask.purpose,
            epsilonMicros: ask.epsilonMicros, budgetMicros: ask.budgetMicros, minimumCohort: UInt64(ask.minimumCohort),
            holders: UInt64(holders.count))
        let decryption = DecryptionRequest(
            query: query, contributions: contributions,
            slotBits: Aggregates.slotBits(contributions, field: ask.field, in: category, private: ask.epsilonMicros > 0))
        var response = API.StatisticsResponse(
            category: ask.category, field: ask.field, groupBy: ask.groupBy, minimumCohort: ask.minimumCohort, groups: [], holders: answers)
        let released = try await a.decrypt(decryption)
        response.decryption = released.decryption
        let byLabel = Dictionary(uniqueKeysWithValues: released.combined.map { ($0.label, $0) })
        response.groups = try zip(universe, labels).map { key, label in
            try Aggregates.released(byLabel[label], key: key, value: released.values[label], private: ask.epsilonMicros > 0)
        }
        if ask.epsilonMicros > 0 {
            response.epsilon = PrivateRelease.decimal(ask.epsilonMicros)
            let sensitivity = try PrivateRelease.sensitivity(of: ask.field, in: category)
            response.noiseScale = Double(sensitivity) / (Double(ask.epsilonMicros) / Double(PrivacyBudget.microsPerEpsilon))
        }
        return response
    }

    /// Every group a statistic spans: the product of its dimensions' enums (in enum order), so that every holder
    /// contributes — and adds its noise share to — every group, whatever records it holds.
    static func universe(_ category: RecordCategory, field: String, groupBy: [String]) throws -> [[String: JSONValue]] {
        guard category.aggregates.contains(field) else {
            throw ExchangeError(.unknownField, "\(field) is not an aggregate field of \(category.name); use one of \(category.aggregates)")
        }
        guard groupBy.allSatisfy(category.dimensions.contains), Set(groupBy).count == groupBy.count else {
            throw ExchangeError(.unknownField, "groupBy may only name dimensions of \(category.name), each once: \(category.dimensions)")
        }
        var keys: [[String: JSONValue]] = [[:]]
        for dimension in groupBy {
            guard let values = category.schema.properties[dimension]?.enumValues, !values.isEmpty else {
                throw ExchangeError(
                    .invalidRequest,
                    "\(dimension) has no enum in the \(category.name) schema: a statistic across departments groups only by enumerated dimensions")
            }
            keys = keys.flatMap { key in values.map { value in key.merging([dimension: value]) { $1 } } }
            guard keys.count <= groupsMax else {
                throw ExchangeError(.invalidRequest, "this grouping spans more than \(groupsMax) groups; group by fewer dimensions")
            }
        }
        return keys
    }

    // MARK: A holder's node

    /// A holder's part of a statistic, asked by the requester's node (`principal.node`) for its own department.
    package func contribute(_ principal: Principal, _ ask: API.ContributionRequest) async throws -> API.ContributionResponse {
        let a = aggregates
        guard let node = principal.node, principal.department == ask.requester else {
            throw ExchangeError(.accessDenied, "contributions are asked node to node, by the requester's own department's node")
        }
        let requester = Principal(department: ask.requester, role: ask.role, requestDigest: principal.requestDigest)
        try await a.admission.admit(requester)
        let category = try a.categories.named(ask.category)
        let universe = try Self.universe(category, field: ask.field, groupBy: ask.groupBy)
        try RequestChecks.checkPurpose(ask.purpose)
        try a.decisions.checkKnownPurpose(ask.purpose)
        guard (1...DecryptionRequest.contributionsMax).contains(ask.holders.count), ask.holders.contains(a.nodeID),
            (1...1_000_000).contains(ask.minimumCohort), (0...AccessEvent.epsilonMicrosMax).contains(ask.epsilonMicros), ask.budgetMicros >= 0,
            let salt = Hex.decode(ask.salt), salt.count == 32, !ask.statisticID.isEmpty, ask.statisticID.utf8.count <= 128
        else { throw ExchangeError(.invalidRequest, "malformed contribution request from \(node)") }
        let grant = await a.decisions.applicableGrant(requester, category: category.name, purpose: ask.purpose)
        var decision = a.decisions.authorize(
            requester, action: "aggregate", resource: EntityUID(type: "Category", id: category.name), purpose: ask.purpose, grant: grant)
        if decision.effect == .allow, let obligations = decision.obligations {
            if let reason = Self.incompatibility(obligations, ask) { decision = .init(refusing: decision, because: reason) }
        }
        guard decision.effect == .allow else {
            _ = try await a.gate.pass(requester, action: "aggregate", category: category.name, purpose: ask.purpose, decision: decision)
            throw ExchangeError(.accessDenied, "access denied: \(decision.reason)")
        }
        if ask.epsilonMicros > 0 {
            let key = PrivacySpending.Key(requester: ask.requester, category: category.name, month: PrivacySpending.month(ofUnixMs: a.now()))
            let left = ask.budgetMicros - (await a.ledger.privacySpent(key))
            guard ask.epsilonMicros <= left else {
                let refused = EffectiveDecision(refusing: decision, because: "the privacy budget of \(category.name) is spent this month")
                let receipt = try await a.gate.record(
                    requester, action: "aggregate", category: category.name, recordKeys: [], purpose: ask.purpose, decision: refused)
                throw ExchangeError(
                    .privacyBudgetExhausted, "\(ask.requester) has ε \(PrivateRelease.decimal(max(0, left))) left", eventID: receipt.eventId)
            }
        }
        if let reason = await a.ledger.derivedFault(.anchoredRecords) { throw ExchangeError(.derivedStateMismatch, reason) }
        // Running sums: the query touches groups, not records.
        let groups = try await a.groupsFromRunningSums(category: category.name, field: ask.field, by: ask.groupBy)
        let mechanism =
            ask.epsilonMicros > 0
            ? try DiscreteLaplace(
                epsilon: Double(ask.epsilonMicros) / Double(PrivacyBudget.microsPerEpsilon),
                sensitivity: try PrivateRelease.sensitivity(of: ask.field, in: category)) : nil
        let publicKey = a.aggregation.publicKey
        let width = (publicKey.nSquared.bitWidth + 7) / 8
        var contributed: [DecryptionRequest.Group] = []
        for key in universe {
            let groupID = JSONValue.object(key).canonicalString
            let group = groups[groupID]
            let noise = try mechanism.map { try a.privacy.noise.share($0, of: ask.holders.count) } ?? 0
            let encrypted = try publicKey.encrypt(GMPInteger(Int(noise)))
            let sum = group.map { publicKey.add($0.sum, encrypted) } ?? encrypted
            contributed.append(
                .init(
                    label: a.suite.hash(salt + Array(groupID.utf8)), cohort: UInt64(group?.cohort ?? 0), count: UInt64(group?.records ?? 0),
                    sum: sum.value.bigEndianBytes(width: width)))
        }
        let query = DecryptionRequest.Query(
            statisticID: ask.statisticID, requester: ask.requester, category: category.name, field: ask.field, purpose: ask.purpose,
            epsilonMicros: ask.epsilonMicros, budgetMicros: ask.budgetMicros, minimumCohort: UInt64(ask.minimumCohort),
            holders: UInt64(ask.holders.count))
        let digest = DecryptionRequest.Contribution(holder: a.nodeID, eventID: "", groups: contributed).digest(query: query, suite: a.suite)
        let permit = try await a.gate.pass(
            requester, action: "aggregate", category: category.name, purpose: ask.purpose, decision: decision,
            epsilonMicros: ask.epsilonMicros > 0 ? ask.epsilonMicros : nil, resultDigest: digest)
        return API.ContributionResponse(
            holder: a.nodeID, eventId: permit.receipt.eventId ?? "",
            groups: contributed.map { .init(label: Hex.encode($0.label), cohort: Int($0.cohort), count: Int($0.count), sum: Hex.encode($0.sum)) })
    }

    /// Why this holder's permit does not allow the query as the requester's node fixed it, or nil.
    static func incompatibility(_ obligations: Obligations, _ ask: API.ContributionRequest) -> String? {
        if obligations.minimumCohort > ask.minimumCohort {
            return "this holder's permit needs a minimum cohort of \(obligations.minimumCohort), the statistic asks \(ask.minimumCohort)"
        }
        if let epsilon = obligations.epsilonMicros {
            if ask.epsilonMicros == 0 || ask.epsilonMicros > epsilon {
                return "this holder's permit needs differential privacy with ε ≤ \(PrivateRelease.decimal(epsilon))"
            }
            if ask.budgetMicros > obligations.budgetMicros ?? Obligations.defaultBudgetMicros {
                return
                    "this holder's permit allows a budget of ε \(PrivateRelease.decimal(obligations.budgetMicros ?? Obligations.defaultBudgetMicros))"
            }
        }
        if let fields = obligations.fields, let outside = ([ask.field] + ask.groupBy).first(where: { !fields.contains($0) }) {
            return "the permit does not cover the field \(outside)"
        }
        return nil
    }
}

/// One holder's answer, with its position among the holders asked.
struct HolderOutcome: Sendable {
    let position: Int
    let result: Result<API.ContributionResponse, any Error>
}

/// No other node to ask: a node assembled without peers' addresses (tests of one node) answers only for itself.
package struct NoStatisticsPeers: StatisticsPeering {
    package init() {}

    package func contribution(from node: String, _ request: API.ContributionRequest) async throws -> API.ContributionResponse {
        throw ExchangeError(.chainUnavailable, "this node knows no other node's API address, so it cannot ask \(node)")
    }
}
