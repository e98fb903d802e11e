/// The outcome of one authorization.
public struct Decision: Sendable {
    public enum Effect: String, Sendable { case allow, deny }

    public let effect: Effect
    /// Satisfied forbids when denied by a forbid; satisfied permits when allowed; empty for default deny.
    public let determiningPolicies: [String]
    /// Policies skipped because evaluating them failed, with the reason.
    public let errors: [(policy: String, message: String)]
    /// Obligations combined from the determining permits (nil when denied).
    public let obligations: Obligations?
    /// True when an allow rests on a permit that read `context.grant` (and so is bound by that grant).
    public var reliesOnGrant = false

    init(effect: Effect, determiningPolicies: [String], errors: [(policy: String, message: String)], obligations: Obligations?) {
        self.effect = effect
        self.determiningPolicies = determiningPolicies
        self.errors = errors
        self.obligations = obligations
    }

    /// One sentence for the requester and the access log.
    public var reason: String {
        switch effect {
        case .allow:
            return "permitted by \(determiningPolicies.joined(separator: ", "))"
        case .deny where determiningPolicies.isEmpty:
            return "no policy permits this request (default deny)"
        case .deny:
            return "forbidden by \(determiningPolicies.joined(separator: ", "))"
        }
    }
}

/// A loaded, immutable set of policies, and the authorizer over it.
public struct PolicySet: Sendable {
    public let policies: [Policy]
    /// Each permit's obligations, parsed once at load (nil for forbids).
    let obligations: [Obligations?]
    /// For each permit, whether its conditions read `context.grant`: such a permit is bound by the grant
    /// (`Obligations.grantBound(by:entities:)`).
    let readsGrant: [Bool]
    let index: ScopeIndex

    public init(policies: [Policy]) throws {
        var seen = Set<String>()
        var obligations: [Obligations?] = []
        for policy in policies {
            guard seen.insert(policy.id).inserted else {
                throw PolicyError(.syntax, "duplicate policy id \(policy.id)", at: policy.location)
            }
            obligations.append(policy.effect == .permit ? try Obligations(annotations: policy.annotations, location: policy.location) : nil)
        }
        self.policies = policies
        self.obligations = obligations
        self.readsGrant = policies.map { policy in
            policy.effect == .permit && policy.conditions.contains { $0.expression.reads(contextAttribute: Obligations.grantAttribute) }
        }
        self.index = ScopeIndex(policies)
    }

    /// Parses several sources as one set, in the given order; positional ids count across all of them.
    public init(sources: [(file: String, text: String)]) throws {
        var policies: [Policy] = []
        for source in sources {
            policies += try PolicyParser.parse(source.text, file: source.file, firstIndex: policies.count)
        }
        try self.init(policies: policies)
    }

    /// Cedar's rule: any satisfied forbid denies; otherwise any satisfied permit allows; otherwise deny.
    public func authorize(_ request: AuthorizationRequest, entities: EntityStore) -> Decision {
        let evaluator = Evaluator(request: request, entities: entities)
        var permits: [Policy] = []
        var forbids: [String] = []
        var errors: [(policy: String, message: String)] = []
        var permitObligations = Obligations.unrestricted
        var reliesOnGrant = false
        for position in index.candidates(for: request) {
            let policy = policies[position]
            do {
                guard try Self.satisfied(policy, evaluator: evaluator) else { continue }
                if policy.effect == .forbid {
                    forbids.append(policy.id)
                } else {
                    var granted = obligations[position]!
                    if readsGrant[position] {
                        granted = granted.combined(
                            with: try Obligations.grantBound(by: request.context[Obligations.grantAttribute], entities: entities))
                        reliesOnGrant = true
                    }
                    permits.append(policy)
                    permitObligations = permitObligations.combined(with: granted)
                }
            } catch let failure as Evaluator.Failure {
                errors.append((policy.id, failure.message))
            } catch {
                errors.append((policy.id, "\(error)"))
            }
        }
        if !forbids.isEmpty {
            return Decision(effect: .deny, determiningPolicies: forbids, errors: errors, obligations: nil)
        }
        guard !permits.isEmpty else {
            return Decision(effect: .deny, determiningPolicies: [], errors: errors, obligations: nil)
        }
        var decision = Decision(effect: .allow, determiningPolicies: permits.map(\.id), errors: errors, obligations: permitObligations)
        decision.reliesOnGrant = reliesOnGrant
        return decision
    }

    static func satisfied(_ policy: Policy, evaluator: Evaluator) throws -> Bool {
        guard outOfScope(policy, evaluator) == nil else { return false }
        for condition in policy.conditions {
            let value = try evaluator.bool(condition.expression)
            if value != (condition.kind == .when) { return false }
        }
        return true
    }

    /// Which part of the request the policy's scope rules out ("principal", "action", "resource"), or nil if in scope.
    static func outOfScope(_ policy: Policy, _ evaluator: Evaluator) -> String? {
        let request = evaluator.request
        if !scopeMatches(policy.principal, request.principal, evaluator.entities) { return "principal" }
        switch policy.action {
        case .any: break
        case .equals(let uid): if request.action != uid { return "action" }
        case .isIn(let uids):
            if !uids.contains(where: { evaluator.entities.isDescendant(request.action, of: $0) }) { return "action" }
        }
        if !scopeMatches(policy.resource, request.resource, evaluator.entities) { return "resource" }
        return nil
    }

    static func scopeMatches(_ constraint: ScopeConstraint, _ uid: EntityUID, _ entities: EntityStore) -> Bool {
        switch constraint {
        case .any: return true
        case .equals(let expected): return uid == expected
        case .isIn(let ancestor): return entities.isDescendant(uid, of: ancestor)
        case .isType(let type): return uid.type == type
        case .isTypeIn(let type, let ancestor): return uid.type == type && entities.isDescendant(uid, of: ancestor)
        }
    }
}

/// Which policies can apply to a request, judged by their scope alone: a policy whose scope fixes the principal (or
/// else the resource, or else the action) to one entity is filed under it; the rest are always candidates. Candidates
/// come back in policy order, so answers name policies in the order they were written.
struct ScopeIndex: Sendable {
    var byPrincipal: [EntityUID: [Int]] = [:]
    var byResource: [EntityUID: [Int]] = [:]
    var byAction: [EntityUID: [Int]] = [:]
    var always: [Int] = []

    init(_ policies: [Policy]) {
        for (position, policy) in policies.enumerated() {
            if case .equals(let uid) = policy.principal {
                byPrincipal[uid, default: []].append(position)
            } else if case .equals(let uid) = policy.resource {
                byResource[uid, default: []].append(position)
            } else if case .equals(let uid) = policy.action {
                byAction[uid, default: []].append(position)
            } else {
                always.append(position)
            }
        }
    }

    func candidates(for request: AuthorizationRequest) -> [Int] {
        var out = always
        if let list = byPrincipal[request.principal] { out += list }
        if let list = byResource[request.resource] { out += list }
        if let list = byAction[request.action] { out += list }
        // Each policy is filed once, so the lists are disjoint; sorting restores policy order.
        if out.count != always.count { out.sort() }
        return out
    }
}
