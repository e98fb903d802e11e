/// An authorization request: who (principal) does what (action) to what (resource), in which context.
public struct AuthorizationRequest: Sendable {
    public let principal: EntityUID
    public let action: EntityUID
    public let resource: EntityUID
    public let context: [String: Value]

    public init(principal: EntityUID, action: EntityUID, resource: EntityUID, context: [String: Value]) {
        self.principal = principal
        self.action = action
        self.resource = resource
        self.context = context
    }
}

/// Evaluates expressions with Cedar's semantics: strict typing, short-circuit `&&`/`||`, errors instead of guesses.
struct Evaluator {
    let request: AuthorizationRequest
    let entities: EntityStore
    /// The principal's and resource's entities, looked up once per request rather than once per attribute access.
    let principalEntity: Entity?
    let resourceEntity: Entity?

    init(request: AuthorizationRequest, entities: EntityStore) {
        self.request = request
        self.entities = entities
        self.principalEntity = entities[request.principal]
        self.resourceEntity = entities[request.resource]
    }

    struct Failure: Error {
        let message: String
    }

    func evaluate(_ expression: Expression) throws -> Value {
        switch expression {
        case .literal(let value):
            return value
        case .variable(let variable):
            switch variable {
            case .principal: return .entity(request.principal)
            case .action: return .entity(request.action)
            case .resource: return .entity(request.resource)
            case .context: return .record(request.context)
            }
        case .entity(let uid):
            return .entity(uid)
        case .set(let items):
            return .set(try items.map(evaluate))
        case .record(let members):
            var record: [String: Value] = [:]
            for (key, value) in members { record[key] = try evaluate(value) }
            return .record(record)
        case .attribute(.variable(let variable), let name) where variable != .action:
            // The common `principal.x`, `resource.x`, `context.x`, without building an intermediate value.
            switch variable {
            case .context:
                guard let value = Value.member(request.context, name) else { throw Failure(message: "record has no attribute '\(name)'") }
                return value
            default:
                let uid = variable == .principal ? request.principal : request.resource
                guard let entity = variable == .principal ? principalEntity : resourceEntity else {
                    throw Failure(message: "entity \(uid) does not exist")
                }
                guard let value = Value.member(entity.attributes, name) else { throw Failure(message: "\(uid) has no attribute '\(name)'") }
                return value
            }
        case .attribute(let base, let name):
            switch try evaluate(base) {
            case .record(let members):
                guard let value = Value.member(members, name) else { throw Failure(message: "record has no attribute '\(name)'") }
                return value
            case .entity(let uid):
                guard let entity = entities[uid] else { throw Failure(message: "entity \(uid) does not exist") }
                guard let value = Value.member(entity.attributes, name) else { throw Failure(message: "\(uid) has no attribute '\(name)'") }
                return value
            case let other:
                throw Failure(message: "cannot access attribute '\(name)' of a \(other.typeName)")
            }
        case .has(let base, let name):
            switch try evaluate(base) {
            case .record(let members): return .bool(Value.member(members, name) != nil)
            case .entity(let uid): return .bool(entities[uid].flatMap { Value.member($0.attributes, name) } != nil)
            case let other: throw Failure(message: "'has' needs a record or entity, found \(other.typeName)")
            }
        case .like(let base, let pattern):
            return .bool(Self.wildcardMatch(Array(try string(base).unicodeScalars), pattern[...]))
        case .isType(let base, let type, let container):
            let uid = try entity(base)
            guard uid.type == type else { return .bool(false) }
            guard let container else { return .bool(true) }
            return .bool(try isIn(uid, try evaluate(container)))
        case .not(let inner):
            return .bool(!(try bool(inner)))
        case .negate(let inner):
            let (value, overflow) = Int64(0).subtractingReportingOverflow(try long(inner))
            guard !overflow else { throw Failure(message: "integer overflow") }
            return .long(value)
        case .ifThenElse(let condition, let then, let otherwise):
            return try bool(condition) ? evaluate(then) : evaluate(otherwise)
        case .method(let base, let name, let arguments):
            guard case .set(let items) = try evaluate(base) else { throw Failure(message: "\(name)() needs a set") }
            guard arguments.count == 1 else { throw Failure(message: "\(name)() takes one argument") }
            let argument = try evaluate(arguments[0])
            switch name {
            case "contains":
                return .bool(items.contains { Value.equal($0, argument) })
            case "containsAll", "containsAny":
                guard case .set(let others) = argument else { throw Failure(message: "\(name)() needs a set argument") }
                let predicate: (Value) -> Bool = { other in items.contains { Value.equal($0, other) } }
                return .bool(name == "containsAll" ? others.allSatisfy(predicate) : others.contains(where: predicate))
            default:
                throw Failure(message: "unknown method \(name)()")
            }
        case .binary(let op, let lhs, let rhs):
            return try binary(op, lhs, rhs)
        }
    }

    func binary(_ op: Expression.BinaryOperator, _ lhs: Expression, _ rhs: Expression) throws -> Value {
        switch op {
        case .and:
            guard try bool(lhs) else { return .bool(false) }
            return .bool(try bool(rhs))
        case .or:
            if try bool(lhs) { return .bool(true) }
            return .bool(try bool(rhs))
        case .equal:
            return .bool(Value.equal(try evaluate(lhs), try evaluate(rhs)))
        case .notEqual:
            return .bool(!Value.equal(try evaluate(lhs), try evaluate(rhs)))
        case .less, .lessEqual, .greater, .greaterEqual:
            let a = try long(lhs)
            let b = try long(rhs)
            switch op {
            case .less: return .bool(a < b)
            case .lessEqual: return .bool(a <= b)
            case .greater: return .bool(a > b)
            default: return .bool(a >= b)
            }
        case .add, .subtract, .multiply:
            let a = try long(lhs)
            let b = try long(rhs)
            let (value, overflow): (Int64, Bool)
            switch op {
            case .add: (value, overflow) = a.addingReportingOverflow(b)
            case .subtract: (value, overflow) = a.subtractingReportingOverflow(b)
            default: (value, overflow) = a.multipliedReportingOverflow(by: b)
            }
            guard !overflow else { throw Failure(message: "integer overflow") }
            return .long(value)
        case .in:
            return .bool(try isIn(try entity(lhs), try evaluate(rhs)))
        }
    }

    func isIn(_ uid: EntityUID, _ container: Value) throws -> Bool {
        switch container {
        case .entity(let ancestor):
            return entities.isDescendant(uid, of: ancestor)
        case .set(let items):
            // As Cedar: every member must be an entity, even after one matched.
            let ancestors = try items.map { item in
                guard case .entity(let ancestor) = item else {
                    throw Failure(message: "'in' needs a set of entities, found a \(item.typeName) in it")
                }
                return ancestor
            }
            return ancestors.contains { entities.isDescendant(uid, of: $0) }
        default:
            throw Failure(message: "'in' needs an entity or a set of entities, found \(container.typeName)")
        }
    }

    func bool(_ expression: Expression) throws -> Bool {
        guard case .bool(let value) = try evaluate(expression) else { throw Failure(message: "expected a Bool") }
        return value
    }

    func long(_ expression: Expression) throws -> Int64 {
        let value = try evaluate(expression)
        guard case .long(let number) = value else { throw Failure(message: "expected a Long, found \(value.typeName)") }
        return number
    }

    func string(_ expression: Expression) throws -> String {
        let value = try evaluate(expression)
        guard case .string(let text) = value else { throw Failure(message: "expected a String, found \(value.typeName)") }
        return text
    }

    func entity(_ expression: Expression) throws -> EntityUID {
        let value = try evaluate(expression)
        guard case .entity(let uid) = value else { throw Failure(message: "expected an entity, found \(value.typeName)") }
        return uid
    }

    static func wildcardMatch(_ text: [Unicode.Scalar], _ pattern: ArraySlice<PatternElement>) -> Bool {
        // Iterative glob matching with backtracking to the last star: O(n·m) worst case, no recursion.
        var t = 0
        var p = pattern.startIndex
        var starPattern: Int? = nil
        var starText = 0
        while t < text.count {
            if p < pattern.endIndex, case .literal(let c) = pattern[p], c == text[t] {
                t += 1
                p += 1
            } else if p < pattern.endIndex, pattern[p] == .wildcard {
                starPattern = p
                starText = t
                p += 1
            } else if let star = starPattern {
                p = star + 1
                starText += 1
                t = starText
            } else {
                return false
            }
        }
        while p < pattern.endIndex, pattern[p] == .wildcard { p += 1 }
        return p == pattern.endIndex
    }
}
