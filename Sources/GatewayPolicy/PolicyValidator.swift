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

    /// Types as Cedar's typechecker sees them: booleans with the singleton types True and False (so `false && e`
    /// and `if true then a else e` leave `e` unchecked, as Cedar does), records with known attributes.
    indirect enum VType: Equatable, CustomStringConvertible {
        case bool, `true`, `false`, long, string, unknown
        case entity(String)
        case set(VType?)
        case record([String: Field])

        struct Field: Equatable {
            let type: VType
            let required: Bool
        }

        var isBool: Bool { self == .bool || self == .true || self == .false }

        var description: String {
            switch self {
            case .bool, .true, .false: return "Bool"
            case .long: return "Long"
            case .string: return "String"
            case .unknown: return "unknown"
            case .entity(let name): return name
            case .set(let element): return "Set<\(element.map(\.description) ?? "?")>"
            case .record(let fields): return "{" + fields.keys.sorted().map { "\($0): \(fields[$0]!.type)" }.joined(separator: ", ") + "}"
            }
        }

        init(_ type: CedarSchema.AttributeType) {
            switch type {
            case .bool: self = .bool
            case .long: self = .long
            case .string: self = .string
            case .entity(let name): self = .entity(name)
            case .set(let element): self = .set(VType(element))
            case .record(let attributes): self = .record(VType.fields(attributes))
            }
        }

        static func fields(_ attributes: [String: CedarSchema.Attribute]) -> [String: Field] {
            attributes.mapValues { Field(type: VType($0.type), required: $0.required) }
        }

        /// Cedar's strict least upper bound: equal kinds; entities of one type; sets of a common element type;
        /// records with the same attributes of common types. nil: no bound (the types are not compatible).
        static func lub(_ a: VType, _ b: VType) -> VType? {
            switch (a, b) {
            case (.unknown, let other), (let other, .unknown): return other
            case _ where a.isBool && b.isBool: return a == b ? a : .bool
            case (.entity(let x), .entity(let y)): return x == y ? a : nil
            case (.set(let x), .set(let y)):
                guard let x else { return b }
                guard let y else { return a }
                return lub(x, y).map { .set($0) }
            case (.record(let x), .record(let y)):
                guard Set(x.keys) == Set(y.keys) else { return nil }
                var out: [String: Field] = [:]
                for (key, field) in x {
                    guard let other = y[key], let type = lub(field.type, other.type) else { return nil }
                    out[key] = Field(type: type, required: field.required && other.required)
                }
                return .record(out)
            default: return a == b ? a : nil
            }
        }

        /// `==` also accepts entities of different types (an equality that is simply false).
        static func comparable(_ a: VType, _ b: VType) -> Bool {
            if case .entity = a, case .entity = b { return true }
            return lub(a, b) != nil
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
        for uid in actionUIDs where uid.type != "Action" || schema.actions[uid.id] == nil {
            report("unrecognized action `\(uid)`", at: policy.location)
        }
        let environments = self.environments(policy)
        if environments.isEmpty {
            report("unable to find an applicable action given the policy scope constraints", at: policy.location)
            return errors
        }
        for environment in environments {
            // The conditions are one conjunction (`when` c, `unless` !c): a condition whose type is False ends it,
            // leaving the rest unchecked, and `has` tests of a `when` guard the conditions after it — as in Cedar.
            var facts = Checker.Facts()
            for condition in policy.conditions {
                var checker = Checker(schema: schema, environment: environment)
                let type = checker.boolean(condition.expression, facts: facts)
                for message in checker.errors { report(message, at: condition.location) }
                let holds: VType? = condition.kind == .when ? type : (type == .true ? .false : type == .false ? .true : type)
                if holds == .false { break }
                if condition.kind == .when { facts.formUnion(checker.facts(of: condition.expression, given: facts)) }
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
        var probeDepth = 0

        mutating func fail(_ message: String, _ expression: Expression) {
            let text = "\(message) (in `\(expression)`)"
            if !errors.contains(text) { errors.append(text) }
        }

        /// `(printed base, attribute)` pairs a `has` has established on this path.
        typealias Facts = Set<String>

        static func fact(_ base: Expression, _ name: String) -> String { "\(base)\u{0}\(name)" }

        /// What is known to be present when `expression` is true: its `has` tests, through `&&`, through `||` (both
        /// sides, or the side that is not False) and through `if` (as Cedar's typechecker tracks them).
        func facts(of expression: Expression, given known: Facts = []) -> Facts {
            switch expression {
            case .has(let base, let name): return [Self.fact(base, name)]
            case .binary(.and, let lhs, let rhs):
                let left = facts(of: lhs, given: known)
                return left.union(facts(of: rhs, given: known.union(left)))
            case .binary(.or, let lhs, let rhs):
                if constant(lhs, known) == false { return facts(of: rhs, given: known) }
                if constant(rhs, known) == false { return facts(of: lhs, given: known) }
                return facts(of: lhs, given: known).intersection(facts(of: rhs, given: known))
            case .ifThenElse(let condition, let then, let otherwise):
                let test = facts(of: condition, given: known)
                let thenFacts = test.union(facts(of: then, given: known.union(test)))
                switch constant(condition, known) {
                case true?: return thenFacts
                case false?: return facts(of: otherwise, given: known)
                case nil: return thenFacts.intersection(facts(of: otherwise, given: known))
                }
            default: return []
            }
        }

        /// True or False when the expression has that singleton type, without reporting anything.
        /// (Probes nest at most a few levels deep, so hostile nesting cannot make validation exponential; past
        /// that the answer is "not known", which only makes validation stricter.)
        func constant(_ expression: Expression, _ known: Facts) -> Bool? {
            guard probeDepth < 3 else { return nil }
            var probe = self
            probe.probeDepth += 1
            switch probe.check(expression, facts: known) {
            case .true: return true
            case .false: return false
            default: return nil
            }
        }

        /// Checks a boolean operand; returns its type (True, False or Bool), or nil after reporting an error.
        mutating func boolean(_ expression: Expression, facts: Facts) -> VType? {
            let type = check(expression, facts: facts)
            if type.isBool { return type }
            if type == .unknown { return .bool }
            fail("expected Bool but saw \(type)", expression)
            return nil
        }

        mutating func expect(_ wanted: VType, _ expression: Expression, facts: Facts) {
            let type = check(expression, facts: facts)
            if type != wanted && type != .unknown { fail("expected \(wanted) but saw \(type)", expression) }
        }

        mutating func check(_ expression: Expression, facts: Facts) -> VType {
            switch expression {
            case .literal(let value):
                switch value {
                case .bool(let b): return b ? .true : .false
                case .long: return .long
                case .string: return .string
                default: return .unknown
                }
            case .variable(let variable):
                switch variable {
                case .principal: return .entity(environment.principal)
                case .resource: return .entity(environment.resource)
                case .action: return .entity("Action")
                case .context: return .record(VType.fields(environment.context))
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
                var element = VType.unknown
                for item in items {
                    let type = check(item, facts: facts)
                    guard let bound = VType.lub(element, type) else {
                        fail("the types \(element) and \(type) are not compatible", expression)
                        return .unknown
                    }
                    element = bound
                }
                return .set(element)
            case .record(let members):
                var fields: [String: VType.Field] = [:]
                for (key, value) in members { fields[key] = VType.Field(type: check(value, facts: facts), required: true) }
                return .record(fields)
            case .attribute(let base, let name):
                let type = check(base, facts: facts)
                let fields: [String: VType.Field]
                let owner: String
                switch type {
                case .unknown: return .unknown
                case .entity(let entityType):
                    guard entityType != "Action", let declared = schema.entityTypes[entityType] else {
                        fail("attribute `\(name)` on entity type `\(entityType)` not found", expression)
                        return .unknown
                    }
                    fields = VType.fields(declared.attributes)
                    owner = "on entity type `\(entityType)`"
                case .record(let declared):
                    fields = declared
                    let isContext: Bool
                    if case .variable(.context) = base { isContext = true } else { isContext = false }
                    owner = isContext ? "in context for Action::\"\(environment.action)\"" : "in record"
                default:
                    fail("expected an entity or a record but saw \(type)", expression)
                    return .unknown
                }
                guard let field = fields[name] else {
                    fail("attribute `\(name)` \(owner) not found", expression)
                    return .unknown
                }
                if !field.required && !facts.contains(Self.fact(base, name)) {
                    fail("attribute `\(name)` \(owner) is optional: test it with `has` first", expression)
                }
                return field.type
            case .has(let base, let name):
                // As Cedar: an attribute the type cannot have makes `has` False; a required one makes it True.
                let type = check(base, facts: facts)
                let fields: [String: VType.Field]
                switch type {
                case .unknown: return .bool
                case .entity(let entityType):
                    guard let declared = schema.entityTypes[entityType] else { return .false }
                    fields = VType.fields(declared.attributes)
                case .record(let declared): fields = declared
                default:
                    fail("expected an entity or a record but saw \(type)", expression)
                    return .bool
                }
                guard let field = fields[name] else { return .false }
                if facts.contains(Self.fact(base, name)) { return .true }
                // A record's required attribute is always there; an entity's only if the entity exists.
                if case .record = type, field.required { return .true }
                return .bool
            case .like(let base, _):
                expect(.string, base, facts: facts)
                return .bool
            case .isType(let base, let typeName, let container):
                // As Cedar: an entity of another type is never `is` this one (False); `is T in X` is False too when
                // a T can never be in an X.
                if schema.entityTypes[typeName] == nil && typeName != "Action" { fail("unrecognized entity type `\(typeName)`", expression) }
                let baseType = checkEntity(base, facts: facts)
                // `e is T in X` is `e is T && e in X`: when the `is` is False, the `in` is not checked.
                if case .entity(let actual)? = baseType, actual != typeName { return .false }
                var containerType: VType?
                if let container { containerType = checkEntityOrSet(container, facts: facts) }
                if let containerType, let ancestors = Self.entityTypes(containerType), !ancestors.contains(where: { schema.canBeIn(typeName, $0) }) {
                    return .false
                }
                if case .entity? = baseType, container == nil { return .true }
                return .bool
            case .not(let inner):
                switch boolean(inner, facts: facts) {
                case .true?: return .false
                case .false?: return .true
                default: return .bool
                }
            case .negate(let inner):
                expect(.long, inner, facts: facts)
                return .long
            case .ifThenElse(let condition, let then, let otherwise):
                let test = boolean(condition, facts: facts)
                if test == .true { return check(then, facts: facts.union(self.facts(of: condition, given: facts))) }
                if test == .false { return check(otherwise, facts: facts) }
                let a = check(then, facts: facts.union(self.facts(of: condition, given: facts)))
                let b = check(otherwise, facts: facts)
                guard let bound = VType.lub(a, b) else {
                    fail("the types \(a) and \(b) are not compatible", expression)
                    return .unknown
                }
                return bound
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
                    if let element, VType.lub(element, argumentType) == nil {
                        fail("the types \(element) and \(argumentType) are not compatible", expression)
                    }
                } else if case .set = argumentType {
                    if VType.lub(type, argumentType) == nil { fail("the types \(type) and \(argumentType) are not compatible", expression) }
                } else if argumentType != .unknown {
                    fail("expected a Set but saw \(argumentType)", argument)
                }
                return .bool
            case .binary(let op, let lhs, let rhs):
                switch op {
                case .and:
                    let left = boolean(lhs, facts: facts)
                    if left == .false { return .false }
                    let right = boolean(rhs, facts: facts.union(self.facts(of: lhs, given: facts)))
                    if right == .false { return .false }
                    return left == .true && right == .true ? .true : .bool
                case .or:
                    let left = boolean(lhs, facts: facts)
                    if left == .true { return .true }
                    let right = boolean(rhs, facts: facts)
                    if right == .true { return .true }
                    return left == .false && right == .false ? .false : .bool
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
                    // As Cedar: two literals (the environment's action counts as one) compare to True or False,
                    // whatever their types.
                    if let x = literalValue(lhs), let y = literalValue(rhs) {
                        return (x == y) == (op == .equal) ? .true : .false
                    }
                    if !VType.comparable(a, b) { fail("the types \(a) and \(b) are not compatible", expression) }
                    // Entities of different types are never equal.
                    if case .entity(let x) = a, case .entity(let y) = b, x != y { return op == .equal ? .false : .true }
                    return .bool
                case .in:
                    let left = checkEntity(lhs, facts: facts)
                    let right = checkEntityOrSet(rhs, facts: facts)
                    // Actions are known to the schema: an action literal `in` action literals is decided statically.
                    if case .entity(let uid)? = literalValue(lhs), uid.type == "Action", let targets = actionLiterals(rhs) {
                        return schema.actionAncestors(uid.id).isDisjoint(with: targets) ? .false : .true
                    }
                    // An entity whose type can never be in the other's is not in it: False, as Cedar types it.
                    if case .entity(let type)? = left, let right, let ancestors = Self.entityTypes(right),
                        !ancestors.contains(where: { schema.canBeIn(type, $0) })
                    {
                        return .false
                    }
                    return .bool
                }
            }
        }

        /// The value of a literal operand: a bool, long or string literal, an entity reference, or `action`.
        func literalValue(_ expression: Expression) -> Value? {
            switch expression {
            case .literal(let value): return value
            case .entity(let uid): return .entity(uid)
            case .variable(.action): return .entity(EntityUID(type: "Action", id: environment.action))
            default: return nil
            }
        }

        /// The action ids of an action literal, or of a set literal of them (nil: anything else).
        func actionLiterals(_ expression: Expression) -> Set<String>? {
            let items: [Expression]
            if case .set(let members) = expression { items = members } else { items = [expression] }
            var ids = Set<String>()
            for item in items {
                guard case .entity(let uid)? = literalValue(item), uid.type == "Action" else { return nil }
                ids.insert(uid.id)
            }
            return ids
        }

        /// The entity types an `in` right-hand side can be (nil: not known).
        static func entityTypes(_ type: VType) -> [String]? {
            switch type {
            case .entity(let name): return [name]
            case .set(.entity(let name)?): return [name]
            default: return nil
            }
        }

        /// Checks an entity operand; its type, or nil after an error.
        @discardableResult
        mutating func checkEntity(_ expression: Expression, facts: Facts) -> VType? {
            let type = check(expression, facts: facts)
            switch type {
            case .entity, .unknown: return type
            default:
                fail("expected an entity but saw \(type)", expression)
                return nil
            }
        }

        @discardableResult
        mutating func checkEntityOrSet(_ expression: Expression, facts: Facts) -> VType? {
            let type = check(expression, facts: facts)
            switch type {
            case .entity, .unknown, .set(nil), .set(.entity?), .set(.unknown?): return type
            default:
                fail("expected an entity or a set of entities but saw \(type)", expression)
                return nil
            }
        }
    }
}
