/// A parsed policy.
public struct Policy: Sendable {
    public enum Effect: String, Sendable { case permit, forbid }

    /// `@id` annotation, or the positional id `policyN` (N counts policies across the whole set, as cedarpy does).
    public let id: String
    public let effect: Effect
    public let annotations: [String: String]
    public let principal: ScopeConstraint
    public let action: ActionConstraint
    public let resource: ScopeConstraint
    public let conditions: [Condition]
    public let location: SourceLocation
}

public enum ScopeConstraint: Sendable {
    case any
    case equals(EntityUID)
    case isIn(EntityUID)
    case isType(String)
    case isTypeIn(String, EntityUID)
}

public enum ActionConstraint: Sendable {
    case any
    case equals(EntityUID)
    case isIn([EntityUID])
}

public struct Condition: Sendable {
    public enum Kind: String, Sendable { case when, unless }
    public let kind: Kind
    public let expression: Expression
    /// The condition's source text, for explanations.
    public let text: String
    public let location: SourceLocation
}

public indirect enum Expression: Sendable {
    public enum Variable: String, Sendable { case principal, action, resource, context }
    public enum BinaryOperator: String, Sendable {
        case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
        case and = "&&", or = "||", add = "+", subtract = "-", multiply = "*", `in` = "in"
    }

    case literal(Value)
    case variable(Variable)
    case entity(EntityUID)
    case set([Expression])
    case record([(String, Expression)])
    case attribute(Expression, String)
    case has(Expression, String)
    case like(Expression, [PatternElement])
    case isType(Expression, String, in: Expression?)
    case not(Expression)
    case negate(Expression)
    case binary(BinaryOperator, Expression, Expression)
    case ifThenElse(Expression, Expression, Expression)
    case method(Expression, String, [Expression])
}

/// An element of a `like` pattern. Matching is by Unicode scalar, as Cedar matches (no canonical equivalence).
public enum PatternElement: Sendable, Equatable {
    case literal(Unicode.Scalar)
    case wildcard
}

extension Expression {
    /// True if the expression reads `context.<name>` anywhere, or tests it with `has`.
    func reads(contextAttribute name: String) -> Bool {
        switch self {
        case .attribute(.variable(.context), let attribute) where attribute == name, .has(.variable(.context), let attribute) where attribute == name:
            return true
        case .literal, .variable, .entity:
            return false
        case .set(let items):
            return items.contains { $0.reads(contextAttribute: name) }
        case .record(let members):
            return members.contains { $0.1.reads(contextAttribute: name) }
        case .attribute(let base, _), .has(let base, _), .like(let base, _), .not(let base), .negate(let base):
            return base.reads(contextAttribute: name)
        case .isType(let base, _, let scope):
            return base.reads(contextAttribute: name) || (scope?.reads(contextAttribute: name) ?? false)
        case .binary(_, let lhs, let rhs):
            return lhs.reads(contextAttribute: name) || rhs.reads(contextAttribute: name)
        case .ifThenElse(let test, let then, let otherwise):
            return test.reads(contextAttribute: name) || then.reads(contextAttribute: name) || otherwise.reads(contextAttribute: name)
        case .method(let base, _, let arguments):
            return base.reads(contextAttribute: name) || arguments.contains { $0.reads(contextAttribute: name) }
        }
    }
}
