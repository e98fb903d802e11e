/// Why a request got its decision, policy by policy: for `gateway policy explain` and for regulators reading a denial.
public struct Explanation: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// The scope rules the policy out (which of principal, action, resource).
        case outOfScope(String)
        /// In scope, but this condition decided against it: a `when` that is false or an `unless` that is true.
        /// `part` is the first conjunct of a `when` that is false (or disjunct of an `unless` that is true), when the
        /// condition is such a chain.
        case conditionFailed(kind: Condition.Kind, index: Int, text: String, location: SourceLocation, part: String?)
        /// Evaluation failed, so Cedar skips the policy.
        case error(String)
        case satisfied
    }

    public struct Trace: Sendable {
        public let policy: String
        public let effect: Policy.Effect
        public let outcome: Outcome
    }

    public let decision: Decision
    public let traces: [Trace]

    /// Human-readable lines: the decision, then every policy's outcome (satisfied first).
    public var lines: [String] {
        var out = ["decision: \(decision.effect.rawValue) — \(decision.reason)"]
        if let obligations = decision.obligations {
            out.append("obligations: \(obligations.summary)" + (decision.reliesOnGrant ? " (including context.grant's fields and expiry)" : ""))
        }
        let ordered = traces.filter { $0.outcome == .satisfied } + traces.filter { $0.outcome != .satisfied }
        for trace in ordered {
            let head = "  \(trace.policy) (\(trace.effect.rawValue)): "
            switch trace.outcome {
            case .satisfied: out.append(head + "satisfied")
            case .outOfScope(let part): out.append(head + "not applicable — the \(part) is out of its scope")
            case .error(let message): out.append(head + "skipped — evaluation error: \(message)")
            case .conditionFailed(let kind, let index, let text, let location, let part):
                let verdict = kind == .when ? "is false" : "is true"
                out.append(head + "\(kind.rawValue) #\(index + 1) \(verdict) (\(location)): \(text)")
                if let part { out.append("      because \(part) \(verdict)") }
            }
        }
        return out
    }
}

extension PolicySet {
    /// The decision, with every policy's outcome on this request.
    public func explain(_ request: AuthorizationRequest, entities: EntityStore) -> Explanation {
        let evaluator = Evaluator(request: request, entities: entities)
        var traces: [Explanation.Trace] = []
        for policy in policies {
            traces.append(Explanation.Trace(policy: policy.id, effect: policy.effect, outcome: Self.outcome(policy, evaluator)))
        }
        return Explanation(decision: authorize(request, entities: entities), traces: traces)
    }

    static func outcome(_ policy: Policy, _ evaluator: Evaluator) -> Explanation.Outcome {
        if let part = outOfScope(policy, evaluator) { return .outOfScope(part) }
        for (index, condition) in policy.conditions.enumerated() {
            do {
                if try evaluator.bool(condition.expression) != (condition.kind == .when) {
                    // Short-circuit order: the first `&&` operand that is false decided a `when`; the first `||` operand
                    // that is true decided an `unless`.
                    let parts = condition.expression.flattened(condition.kind == .when ? .and : .or)
                    let deciding =
                        parts.count > 1
                        ? parts.first { (try? evaluator.bool($0)) == (condition.kind == .unless) }.map(\.description) : nil
                    return .conditionFailed(kind: condition.kind, index: index, text: condition.text, location: condition.location, part: deciding)
                }
            } catch let failure as Evaluator.Failure {
                return .error(failure.message)
            } catch {
                return .error("\(error)")
            }
        }
        return .satisfied
    }
}

extension Obligations {
    /// One line, in annotation terms.
    public var summary: String {
        var parts: [String] = []
        parts.append("fields " + (fields.map { $0.sorted().joined(separator: ",") } ?? "all"))
        if !masks.isEmpty { parts.append("masks " + masks.keys.sorted().map { "\($0):\(masks[$0]!)" }.joined(separator: ",")) }
        if aggregateOnly { parts.append("aggregate only") }
        if minimumCohort > 1 { parts.append("min cohort \(minimumCohort)") }
        if let maximumRows { parts.append("max rows \(maximumRows)") }
        if let expiresAtMs { parts.append("expires at \(expiresAtMs) ms") }
        return parts.joined(separator: "; ")
    }
}

extension Expression: CustomStringConvertible {
    /// Cedar text for the expression, parenthesised where precedence needs it (for explanations).
    public var description: String { printed(0) }

    /// Precedence levels: 0 or/if, 1 and, 2 relation, 3 add, 4 multiply, 5 unary, 6 member/primary.
    func printed(_ context: Int) -> String {
        func wrap(_ level: Int, _ text: String) -> String { level < context ? "(\(text))" : text }
        switch self {
        case .literal(.long(let value)) where value < 0: return context >= 5 ? "(\(value))" : "\(value)"
        case .literal(let value): return value.description
        case .variable(let variable): return variable.rawValue
        case .entity(let uid): return uid.description
        case .set(let items): return "[" + items.map { $0.printed(0) }.joined(separator: ", ") + "]"
        case .record(let members): return "{" + members.map { "\"\($0.0)\": \($0.1.printed(0))" }.joined(separator: ", ") + "}"
        case .attribute(let base, let name):
            let simple = name.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0 == "_" || ("0"..."9").contains($0) }
            return base.printed(6) + (simple ? ".\(name)" : "[\"\(name)\"]")
        case .has(let base, let name): return wrap(2, "\(base.printed(3)) has \(name)")
        case .like(let base, let pattern):
            let text = pattern.map { element -> String in
                switch element {
                case .wildcard: return "*"
                case .literal(let c): return c == "*" ? "\\*" : String(c)
                }
            }.joined()
            return wrap(2, "\(base.printed(3)) like \"\(text)\"")
        case .isType(let base, let type, let container):
            return wrap(2, "\(base.printed(3)) is \(type)" + (container.map { " in \($0.printed(3))" } ?? ""))
        case .not(let inner): return wrap(5, "!" + inner.printed(5))
        case .negate(let inner): return wrap(5, "-" + inner.printed(5))
        case .ifThenElse(let c, let t, let e): return wrap(0, "if \(c.printed(0)) then \(t.printed(0)) else \(e.printed(0))")
        case .method(let base, let name, let arguments):
            return base.printed(6) + ".\(name)(" + arguments.map { $0.printed(0) }.joined(separator: ", ") + ")"
        case .binary(let op, let lhs, let rhs):
            let level: Int
            switch op {
            case .or: level = 0
            case .and: level = 1
            case .add, .subtract: level = 3
            case .multiply: level = 4
            default: level = 2
            }
            // Left-associative: the right operand of a same-level operator needs parentheses.
            let right = level == 2 ? 3 : level + 1
            return wrap(level, "\(lhs.printed(level == 2 ? 3 : level)) \(op.rawValue) \(rhs.printed(right))")
        }
    }

    /// The operands of a chain of `&&` (or `||`), left to right.
    func flattened(_ op: BinaryOperator) -> [Expression] {
        if case .binary(op, let lhs, let rhs) = self { return lhs.flattened(op) + rhs.flattened(op) }
        return [self]
    }
}
