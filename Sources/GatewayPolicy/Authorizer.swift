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

    public init(policies: [Policy]) throws {
        var seen = Set<String>()
        for policy in policies {
            guard seen.insert(policy.id).inserted else {
                throw PolicyError(.syntax, "duplicate policy id \(policy.id)", at: policy.location)
            }
            if policy.effect == .permit { _ = try Obligations(annotations: policy.annotations, location: policy.location) }
        }
        self.policies = policies
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
        for policy in policies {
            do {
                guard try Self.satisfied(policy, evaluator: evaluator) else { continue }
                if policy.effect == .forbid { forbids.append(policy.id) } else { permits.append(policy) }
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
        // Annotations were validated at load, so this cannot fail.
        let obligations = permits
            .map { try! Obligations(annotations: $0.annotations, location: $0.location) }
            .reduce(Obligations.unrestricted) { $0.combined(with: $1) }
        return Decision(effect: .allow, determiningPolicies: permits.map(\.id), errors: errors, obligations: obligations)
    }

    static func satisfied(_ policy: Policy, evaluator: Evaluator) throws -> Bool {
        let request = evaluator.request
        guard scopeMatches(policy.principal, request.principal, evaluator.entities),
              scopeMatches(policy.resource, request.resource, evaluator.entities)
        else { return false }
        switch policy.action {
        case .any: break
        case .equals(let uid): guard request.action == uid else { return false }
        case .isIn(let uids):
            guard uids.contains(where: { evaluator.entities.isDescendant(request.action, of: $0) }) else { return false }
        }
        for condition in policy.conditions {
            let value = try evaluator.bool(condition.expression)
            if value != (condition.kind == .when) { return false }
        }
        return true
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
