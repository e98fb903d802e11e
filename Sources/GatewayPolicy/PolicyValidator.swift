/// Validates policies against a Cedar schema, as Cedar's strict validator does for the supported subset: unknown
/// entity types and actions, scopes no action applies to, unknown or unguarded optional attributes, and type errors
/// (operands of the wrong type, incompatible comparisons, heterogeneous or empty set literals). Each policy is
/// checked in every request environment its scope allows (principal type × action × resource type); errors carry
/// the policy's or the condition's location and quote the offending expression.
public struct PolicyValidator: Sendable {
    public let schema: CedarSchema

    public init(schema: CedarSchema) { self.schema = schema }

    struct Environment {
        let principal: String
        let action: String
        let resource: String
        let context: [String: CedarSchema.Attribute]
    }

    indirect enum VType: Equatable, CustomStringConvertible {
        case bool, long, string, unknown
        case entity(String)
        case set(VType?)
        case record([String: CedarSchema.Attribute]?)

        var description: String {
            switch self {
            case .bool: return "Bool"
            case .long: return "Long"
            case .string: return "String"
            case .unknown: return "unknown"
            case .entity(let name): return name
            case .set(let element): return "Set<\(element.map(\.description) ?? "?")>"
            case .record: return "Record"
            }
        }

        init(_ type: CedarSchema.AttributeType) {
            switch type {
            case .bool: self = .bool
            case .long: self = .long
            case .string: self = .string
            case .entity(let name): self = .entity(name)
            case .set(let element): self = .set(VType(element))
            case .record(let attributes): self = .record(attributes)
            }
        }
    }

    /// Every error of every policy, in policy order.
    public func validate(_ policies: [Policy]) -> [PolicyError] {
        policies.flatMap(validate)
    }

    public func validate(_ policy: Policy) -> [PolicyError] {
        var errors: [PolicyError] = []
        func report(_ message: String, at location: SourceLocation) {
            let error = PolicyError(.schema, "policy \(policy.id): \(message)", at: location)
            if !errors.contains(error) { errors.append(error) }
        }
        var scopeUIDs: [EntityUID] = []
        var scopeTypes: [String] = []
        for scope in [policy.principal, policy.resource] {
            switch scope {
            case .any: break
            case .equals(let uid), .isIn(let uid): scopeUIDs.append(uid)
            case .isType(let type): scopeTypes.append(type)
            case .isTypeIn(let type, let uid): scopeTypes.append(type); scopeUIDs.append(uid)
            }
        }
        for uid in scopeUIDs where schema.entityTypes[uid.type] == nil { report("unrecognized entity type `\(uid.type)`", at: policy.location) }
        for type in scopeTypes where schema.entityTypes[type] == nil { report("unrecognized entity type `\(type)`", at: policy.location) }
        var actionUIDs: [EntityUID] = []
        switch policy.action {
        case .any: break
        case .equals(let uid): actionUIDs = [uid]
        case .isIn(let uids): actionUIDs = uids
        }
        for uid in actionUIDs where uid.type != "Action" || schema.actions[uid.id] == nil { report("unrecognized action `\(uid)`", at: policy.location) }
        let environments = self.environments(policy)
        if environments.isEmpty {
            report("unable to find an applicable action given the policy scope constraints", at: policy.location)
            return errors
        }
        for environment in environments {
            for condition in policy.conditions {
                var checker = Checker(schema: schema, environment: environment)
                let type = checker.check(condition.expression, facts: [])
                if type != .bool && type != .unknown { checker.fail("expected Bool but saw \(type)", condition.expression) }
                for message in checker.errors { report(message, at: condition.location) }
            }
        }
        return errors
    }

    func environments(_ policy: Policy) -> [Environment] {
        let actionNames: [String]
        switch policy.action {
        case .any: actionNames = schema.actions.keys.sorted()
        case .equals(let uid): actionNames = [uid.id]
        case .isIn(let uids):
            let wanted = Set(uids.filter { $0.type == "Action" }.map(\.id))
            actionNames = schema.actions.keys.sorted().filter { !schema.actionAncestors($0).isDisjoint(with: wanted) }
        }
        var out: [Environment] = []
        for name in actionNames {
            guard let action = schema.actions[name], action.applies else { continue }
            for principal in action.principalTypes where admits(policy.principal, principal) {
                for resource in action.resourceTypes where admits(policy.resource, resource) {
                    out.append(Environment(principal: principal, action: name, resource: resource, context: action.context))
                }
            }
        }
        return out
    }

    func admits(_ scope: ScopeConstraint, _ type: String) -> Bool {
        switch scope {
        case .any: return true
        case .equals(let uid): return uid.type == type
        case .isIn(let uid): return schema.canBeIn(type, uid.type)
        case .isType(let wanted): return wanted == type
        case .isTypeIn(let wanted, let uid): return wanted == type && schema.canBeIn(type, uid.type)
        }
    }

    /// Type inference over one condition in one environment.
    struct Checker {
        let schema: CedarSchema
        let environment: Environment
        var errors: [String] = []

        mutating func fail(_ message: String, _ expression: Expression) {
            let text = "\(message) (in `\(expression)`)"
            if !errors.contains(text) { errors.append(text) }
        }

        /// `(printed base, attribute)` pairs a `has` has established on this path.
        typealias Facts = Set<String>

        static func fact(_ base: Expression, _ name: String) -> String { "\(base)\u{0}\(name)" }

        static func facts(of expression: Expression) -> Facts {
            switch expression {
            case .has(let base, let name): return [fact(base, name)]
            case .binary(.and, let lhs, let rhs): return facts(of: lhs).union(facts(of: rhs))
            default: return []
            }
        }

        mutating func expect(_ wanted: VType, _ expression: Expression, facts: Facts) {
            let type = check(expression, facts: facts)
            if type != wanted && type != .unknown { fail("expected \(wanted) but saw \(type)", expression) }
        }

        static func compatible(_ a: VType, _ b: VType) -> Bool {
            switch (a, b) {
            case (.unknown, _), (_, .unknown): return true
            case (.entity, .entity), (.record, .record): return true
            case (.set(let x), .set(let y)):
                guard let x, let y else { return true }
                return compatible(x, y)
            default: return a == b
            }
        }

        /// Set literal members must have one type; entity members one entity type.
        static func sameType(_ a: VType, _ b: VType) -> Bool {
            if case .entity(let x) = a, case .entity(let y) = b { return x == y }
            return compatible(a, b)
        }

        mutating func check(_ expression: Expression, facts: Facts) -> VType {
            switch expression {
            case .literal(let value):
                switch value {
                case .bool: return .bool
                case .long: return .long
                case .string: return .string
                default: return .unknown
                }
            case .variable(let variable):
                switch variable {
                case .principal: return .entity(environment.principal)
                case .resource: return .entity(environment.resource)
                case .action: return .entity("Action")
                case .context: return .record(environment.context)
                }
            case .entity(let uid):
                if uid.type == "Action" {
                    if schema.actions[uid.id] == nil { fail("unrecognized action `\(uid)`", expression) }
                } else if schema.entityTypes[uid.type] == nil {
                    fail("unrecognized entity type `\(uid.type)`", expression)
                    return .unknown
                }
                return .entity(uid.type)
            case .set(let items):
                guard !items.isEmpty else {
                    fail("empty set literals are forbidden in policies", expression)
                    return .set(nil)
                }
                let types = items.map { check($0, facts: facts) }
                for type in types.dropFirst() where !Self.sameType(types[0], type) {
                    fail("the types \(types[0]) and \(type) are not compatible", expression)
                    return .set(nil)
                }
                return .set(types.first { $0 != .unknown } ?? .unknown)
            case .record(let members):
                for (_, value) in members { _ = check(value, facts: facts) }
                return .record(nil)
            case .attribute(let base, let name):
                let type = check(base, facts: facts)
                let attributes: [String: CedarSchema.Attribute]
                let owner: String
                switch type {
                case .unknown, .record(nil): return .unknown
                case .entity(let entityType):
                    guard entityType != "Action", let declared = schema.entityTypes[entityType] else {
                        fail("attribute `\(name)` on entity type `\(entityType)` not found", expression)
                        return .unknown
                    }
                    attributes = declared.attributes
                    owner = "on entity type `\(entityType)`"
                case .record(let declared?):
                    attributes = declared
                    let isContext: Bool
                    if case .variable(.context) = base { isContext = true } else { isContext = false }
                    owner = isContext ? "in context for Action::\"\(environment.action)\"" : "in record"
                default:
                    fail("expected an entity or a record but saw \(type)", expression)
                    return .unknown
                }
                guard let attribute = attributes[name] else {
                    fail("attribute `\(name)` \(owner) not found", expression)
                    return .unknown
                }
                if !attribute.required && !facts.contains(Self.fact(base, name)) {
                    fail("attribute `\(name)` \(owner) is optional: test it with `has` first", expression)
                }
                return VType(attribute.type)
            case .has(let base, _):
                let type = check(base, facts: facts)
                switch type {
                case .unknown, .entity, .record: break
                default: fail("expected an entity or a record but saw \(type)", expression)
                }
                return .bool
            case .like(let base, _):
                expect(.string, base, facts: facts)
                return .bool
            case .isType(let base, let typeName, let container):
                if schema.entityTypes[typeName] == nil && typeName != "Action" { fail("unrecognized entity type `\(typeName)`", expression) }
                checkEntity(base, facts: facts)
                if let container { checkEntityOrSet(container, facts: facts) }
                return .bool
            case .not(let inner):
                expect(.bool, inner, facts: facts)
                return .bool
            case .negate(let inner):
                expect(.long, inner, facts: facts)
                return .long
            case .ifThenElse(let condition, let then, let otherwise):
                expect(.bool, condition, facts: facts)
                let a = check(then, facts: facts.union(Self.facts(of: condition)))
                let b = check(otherwise, facts: facts)
                guard Self.compatible(a, b) else {
                    fail("the types \(a) and \(b) are not compatible", expression)
                    return .unknown
                }
                return a == b ? a : .unknown
            case .method(let base, let name, let arguments):
                let type = check(base, facts: facts)
                let element: VType?
                switch type {
                case .set(let e): element = e
                case .unknown: element = nil
                default:
                    fail("expected a Set but saw \(type)", expression)
                    return .bool
                }
                guard let argument = arguments.first else { return .bool }
                let argumentType = check(argument, facts: facts)
                if name == "contains" {
                    if let element, !Self.compatible(element, argumentType) {
                        fail("the types \(argumentType) and \(element) are not compatible", expression)
                    }
                } else if case .set(let other) = argumentType {
                    if let element, let other, !Self.compatible(element, other) {
                        fail("the types \(other) and \(element) are not compatible", expression)
                    }
                } else if argumentType != .unknown {
                    fail("expected a Set but saw \(argumentType)", argument)
                }
                return .bool
            case .binary(let op, let lhs, let rhs):
                switch op {
                case .and:
                    expect(.bool, lhs, facts: facts)
                    expect(.bool, rhs, facts: facts.union(Self.facts(of: lhs)))
                    return .bool
                case .or:
                    expect(.bool, lhs, facts: facts)
                    expect(.bool, rhs, facts: facts)
                    return .bool
                case .less, .lessEqual, .greater, .greaterEqual:
                    expect(.long, lhs, facts: facts)
                    expect(.long, rhs, facts: facts)
                    return .bool
                case .add, .subtract, .multiply:
                    expect(.long, lhs, facts: facts)
                    expect(.long, rhs, facts: facts)
                    return .long
                case .equal, .notEqual:
                    let a = check(lhs, facts: facts)
                    let b = check(rhs, facts: facts)
                    if !Self.compatible(a, b) { fail("the types \(a) and \(b) are not compatible", expression) }
                    return .bool
                case .in:
                    checkEntity(lhs, facts: facts)
                    checkEntityOrSet(rhs, facts: facts)
                    return .bool
                }
            }
        }

        mutating func checkEntity(_ expression: Expression, facts: Facts) {
            let type = check(expression, facts: facts)
            switch type {
            case .entity, .unknown: break
            default: fail("expected an entity but saw \(type)", expression)
            }
        }

        mutating func checkEntityOrSet(_ expression: Expression, facts: Facts) {
            let type = check(expression, facts: facts)
            switch type {
            case .entity, .unknown, .set(nil), .set(.entity?), .set(.unknown?): break
            default: fail("expected an entity or a set of entities but saw \(type)", expression)
            }
        }
    }
}
