/// Recursive-descent parser for the Cedar subset described in README.md ("Policy language").
/// Anything outside the subset is a located error, never silently ignored.
public struct PolicyParser {
    let file: String
    var tokens: [Token]
    var position = 0
    /// Guards against stack exhaustion on hostile input.
    static let nestingMax = 64
    var depth = 0

    /// Parses a whole file. `firstIndex` is the positional number of its first policy within the policy set.
    public static func parse(_ source: String, file: String, firstIndex: Int = 0) throws -> [Policy] {
        var lexer = Lexer(source: source, file: file)
        var parser = PolicyParser(file: file, tokens: try lexer.tokenize())
        parser.lines = source.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
        var policies: [Policy] = []
        while !parser.atEnd {
            policies.append(try parser.parsePolicy(index: firstIndex + policies.count))
        }
        return policies
    }

    /// Source lines, to quote conditions in explanations.
    var lines: [[Unicode.Scalar]] = []

    /// The source text from `first` up to (not including) `end`, whitespace runs collapsed.
    func text(from first: Token, upTo end: Token) -> String {
        guard first.line >= 1, end.line <= lines.count || end.line == lines.count + 1 else { return "" }
        var scalars: [Unicode.Scalar] = []
        for line in first.line...min(end.line, lines.count) {
            let content = lines[line - 1]
            let from = line == first.line ? first.column - 1 : 0
            let to = line == end.line ? min(end.column - 1, content.count) : content.count
            if from < to { scalars += content[from..<to] }
            if line != end.line { scalars.append(" ") }
        }
        var out = ""
        out.unicodeScalars.append(contentsOf: scalars)
        return out.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
    }

    var atEnd: Bool { if case .end = tokens[position].kind { return true } else { return false } }
    var current: Token { tokens[position] }

    func location(_ token: Token) -> SourceLocation { SourceLocation(file: file, line: token.line, column: token.column) }

    func error(_ message: String, _ token: Token? = nil) -> PolicyError {
        PolicyError(.syntax, message, at: location(token ?? current))
    }

    func describe(_ token: Token) -> String {
        switch token.kind {
        case .identifier(let name): return "'\(name)'"
        case .string(let s): return "string \"\(s)\""
        case .integer(let i): return "integer \(i)"
        case .symbol(let s): return "'\(s)'"
        case .end: return "end of file"
        }
    }

    mutating func next() -> Token {
        let token = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return token
    }

    func check(_ symbol: String) -> Bool { current.kind == .symbol(symbol) }
    func checkKeyword(_ word: String) -> Bool { current.kind == .identifier(word) }

    mutating func accept(_ symbol: String) -> Bool {
        if check(symbol) { _ = next(); return true }
        return false
    }

    mutating func acceptKeyword(_ word: String) -> Bool {
        if checkKeyword(word) { _ = next(); return true }
        return false
    }

    mutating func expect(_ symbol: String) throws {
        guard accept(symbol) else { throw error("expected '\(symbol)', found \(describe(current))") }
    }

    mutating func expectKeyword(_ word: String) throws {
        guard acceptKeyword(word) else { throw error("expected '\(word)', found \(describe(current))") }
    }

    mutating func identifier() throws -> String {
        guard case .identifier(let name) = current.kind else { throw error("expected an identifier, found \(describe(current))") }
        _ = next()
        return name
    }

    mutating func string() throws -> String {
        guard case .string(let value) = current.kind else { throw error("expected a string, found \(describe(current))") }
        try checkPlain(current)
        _ = next()
        return value
    }

    /// A string read as a string (not as a `like` pattern) may not hold `\*`, as in Cedar.
    func checkPlain(_ token: Token) throws {
        if token.starEscape { throw error("\\* is an escape of like patterns only; write * (or \\\\* for a backslash and a star)", token) }
    }

    /// Words Cedar reserves: never an attribute name after `.` or `has`, nor an unquoted record key.
    static let reserved: Set<String> = ["true", "false", "if", "then", "else", "in", "is", "like", "has", "__cedar"]

    /// An unquoted attribute name or record key: an identifier that is not reserved.
    mutating func attributeName() throws -> String {
        let token = current
        let name = try identifier()
        guard !Self.reserved.contains(name) else {
            throw error("'\(name)' is reserved in Cedar: write it quoted (\"\(name)\") where a string is allowed", token)
        }
        return name
    }

    /// Methods of the supported subset and how many arguments each takes (Cedar refuses another count when parsing).
    static let methodArity: [String: Int] = ["contains": 1, "containsAll": 1, "containsAny": 1]

    // MARK: Policies

    mutating func parsePolicy(index: Int) throws -> Policy {
        let start = current
        var annotations: [String: String] = [:]
        while accept("@") {
            let keyToken = current
            let key = try identifier()
            try expect("(")
            let value = try string()
            try expect(")")
            guard annotations[key] == nil else { throw error("duplicate annotation @\(key)", keyToken) }
            annotations[key] = value
        }
        let effectToken = current
        let effect: Policy.Effect
        if acceptKeyword("permit") {
            effect = .permit
        } else if acceptKeyword("forbid") {
            effect = .forbid
        } else {
            throw error("expected 'permit' or 'forbid', found \(describe(effectToken))")
        }
        try expect("(")
        try expectKeyword("principal")
        let principal = try parseScope(variable: "principal")
        try expect(",")
        try expectKeyword("action")
        let action = try parseActionScope()
        try expect(",")
        try expectKeyword("resource")
        let resource = try parseScope(variable: "resource")
        try expect(")")
        var conditions: [Condition] = []
        while true {
            let kind: Condition.Kind
            if acceptKeyword("when") { kind = .when } else if acceptKeyword("unless") { kind = .unless } else { break }
            try expect("{")
            let first = current
            let expression = try parseExpression()
            let last = current
            try expect("}")
            conditions.append(Condition(kind: kind, expression: expression, text: text(from: first, upTo: last), location: location(first)))
        }
        try expect(";")
        return Policy(
            id: annotations["id"] ?? "policy\(index)", effect: effect, annotations: annotations, principal: principal,
            action: action, resource: resource, conditions: conditions, location: location(start)
        )
    }

    mutating func parseScope(variable: String) throws -> ScopeConstraint {
        if accept("==") {
            return .equals(try parseEntityUID())
        }
        if acceptKeyword("in") { return .isIn(try parseEntityUID()) }
        if acceptKeyword("is") {
            let type = try parsePath()
            if acceptKeyword("in") { return .isTypeIn(type, try parseEntityUID()) }
            return .isType(type)
        }
        return .any
    }

    mutating func parseActionScope() throws -> ActionConstraint {
        if accept("==") { return .equals(try parseEntityUID()) }
        if acceptKeyword("in") {
            if accept("[") {
                var uids: [EntityUID] = []
                if !check("]") {
                    repeat { uids.append(try parseEntityUID()) } while accept(",")
                }
                try expect("]")
                return .isIn(uids)
            }
            return .isIn([try parseEntityUID()])
        }
        return .any
    }

    /// `Path::"id"`
    mutating func parseEntityUID() throws -> EntityUID {
        let start = current
        var parts = [try identifier()]
        while accept("::") {
            if case .string(let id) = current.kind {
                try checkPlain(current)
                _ = next()
                return EntityUID(type: parts.joined(separator: "::"), id: id)
            }
            parts.append(try identifier())
        }
        throw error("expected an entity reference like Type::\"id\"", start)
    }

    /// A type path `A::B` (no trailing string).
    mutating func parsePath() throws -> String {
        var parts = [try identifier()]
        while check("::") {
            if case .string = tokens[position + 1].kind { break }
            _ = next()
            parts.append(try identifier())
        }
        return parts.joined(separator: "::")
    }

    // MARK: Expressions

    mutating func nested<T>(_ body: (inout PolicyParser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.nestingMax else { throw error("expression nested too deeply") }
        return try body(&self)
    }

    mutating func parseExpression() throws -> Expression {
        try nested { parser in
            if parser.acceptKeyword("if") {
                let condition = try parser.parseExpression()
                try parser.expectKeyword("then")
                let then = try parser.parseExpression()
                try parser.expectKeyword("else")
                let otherwise = try parser.parseExpression()
                return .ifThenElse(condition, then, otherwise)
            }
            return try parser.parseOr()
        }
    }

    mutating func parseOr() throws -> Expression {
        var lhs = try parseAnd()
        while accept("||") { lhs = .binary(.or, lhs, try parseAnd()) }
        return lhs
    }

    mutating func parseAnd() throws -> Expression {
        var lhs = try parseRelation()
        while accept("&&") { lhs = .binary(.and, lhs, try parseRelation()) }
        return lhs
    }

    mutating func parseRelation() throws -> Expression {
        let lhs = try parseAdd()
        let relations: [(String, Expression.BinaryOperator)] = [
            ("==", .equal), ("!=", .notEqual), ("<=", .lessEqual), (">=", .greaterEqual), ("<", .less), (">", .greater),
        ]
        for (symbol, op) in relations where accept(symbol) {
            return .binary(op, lhs, try parseAdd())
        }
        if acceptKeyword("in") { return .binary(.in, lhs, try parseAdd()) }
        if acceptKeyword("has") {
            if case .string(let name) = current.kind {
                try checkPlain(current)
                _ = next()
                return .has(lhs, name)
            }
            return .has(lhs, try attributeName())
        }
        if acceptKeyword("like") {
            guard case .string = current.kind, let pattern = current.pattern else {
                throw error("expected a pattern string after like, found \(describe(current))")
            }
            _ = next()
            return .like(lhs, pattern)
        }
        if acceptKeyword("is") {
            let type = try parsePath()
            if acceptKeyword("in") { return .isType(lhs, type, in: try parseAdd()) }
            return .isType(lhs, type, in: nil)
        }
        return lhs
    }

    mutating func parseAdd() throws -> Expression {
        var lhs = try parseMultiply()
        while true {
            if accept("+") {
                lhs = .binary(.add, lhs, try parseMultiply())
            } else if accept("-") {
                lhs = .binary(.subtract, lhs, try parseMultiply())
            } else {
                return lhs
            }
        }
    }

    mutating func parseMultiply() throws -> Expression {
        var lhs = try parseUnary()
        while accept("*") { lhs = .binary(.multiply, lhs, try parseUnary()) }
        return lhs
    }

    mutating func parseUnary() throws -> Expression {
        try nested { parser in
            if parser.accept("!") { return .not(try parser.parseUnary()) }
            if parser.accept("-") {
                // Cedar folds a minus into a bare integer literal (so Int64.min is writable); with an accessor
                // after the literal, the minus applies to the access instead.
                if case .integer(let magnitude) = parser.current.kind, !parser.followedByAccessor {
                    _ = parser.next()
                    return .literal(.long(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)))
                }
                return .negate(try parser.parseUnary())
            }
            return try parser.parseMember()
        }
    }

    /// True if the token after the current one starts a member access.
    var followedByAccessor: Bool {
        let following = tokens[min(position + 1, tokens.count - 1)].kind
        return following == .symbol(".") || following == .symbol("[")
    }

    mutating func parseMember() throws -> Expression {
        try parseAccessors(try parsePrimary())
    }

    mutating func parseAccessors(_ base: Expression) throws -> Expression {
        var expression = base
        while true {
            if accept(".") {
                let nameToken = current
                let name = try identifier()
                if accept("(") {
                    var arguments: [Expression] = []
                    if !check(")") {
                        repeat { arguments.append(try parseExpression()) } while accept(",")
                    }
                    try expect(")")
                    guard let arity = Self.methodArity[name] else {
                        throw PolicyError(.unsupported, "method \(name)() is outside the supported subset", at: location(nameToken))
                    }
                    guard arguments.count == arity else {
                        throw error("\(name)() takes \(arity) argument\(arity == 1 ? "" : "s"), not \(arguments.count)", nameToken)
                    }
                    expression = .method(expression, name, arguments)
                } else {
                    guard !Self.reserved.contains(name) else {
                        throw error("'\(name)' is reserved in Cedar: write [\"\(name)\"] to read that attribute", nameToken)
                    }
                    expression = .attribute(expression, name)
                }
            } else if check("[") {
                _ = next()
                let key = try string()
                try expect("]")
                expression = .attribute(expression, key)
            } else {
                return expression
            }
        }
    }

    mutating func parsePrimary() throws -> Expression {
        let token = current
        switch token.kind {
        case .integer(let magnitude):
            guard let value = Int64(exactly: magnitude) else { throw error("integer literal \(magnitude) is too large for a Long", token) }
            _ = next()
            return .literal(.long(value))
        case .string(let value):
            try checkPlain(token)
            _ = next()
            return .literal(.string(value))
        case .identifier(let name):
            switch name {
            case "true": _ = next(); return .literal(.bool(true))
            case "false": _ = next(); return .literal(.bool(false))
            case "principal", "action", "resource", "context":
                _ = next()
                return .variable(Expression.Variable(rawValue: name)!)
            default:
                if case .symbol("::") = tokens[position + 1].kind { return .entity(try parseEntityUID()) }
                if case .symbol("(") = tokens[position + 1].kind {
                    throw PolicyError(.unsupported, "extension function \(name)() is outside the supported subset", at: location(token))
                }
                throw error("unknown identifier '\(name)'", token)
            }
        case .symbol("("):
            _ = next()
            let inner = try parseExpression()
            try expect(")")
            return inner
        case .symbol("["):
            _ = next()
            var items: [Expression] = []
            // Elements separated by commas, one trailing comma allowed after the last ([1, 2,]), as in Cedar.
            while !check("]") {
                items.append(try parseExpression())
                guard accept(",") else { break }
            }
            try expect("]")
            return .set(items)
        case .symbol("{"):
            _ = next()
            var members: [(String, Expression)] = []
            var keys = Set<[UInt8]>()
            // Members separated by commas, one trailing comma allowed; a key twice is an error, as in Cedar (keys
            // compare byte for byte).
            while !check("}") {
                let keyToken = current
                let key: String
                if case .string(let s) = current.kind {
                    try checkPlain(current)
                    _ = next()
                    key = s
                } else {
                    key = try attributeName()
                }
                guard keys.insert(Array(key.utf8)).inserted else { throw error("duplicate key \"\(key)\" in a record literal", keyToken) }
                // Records are held in Swift dictionaries, whose string keys compare by canonical equivalence: two keys
                // that differ only in Unicode normalization would share a slot, where Cedar keeps both. Refused.
                guard !members.contains(where: { $0.0 == key }) else {
                    throw PolicyError(
                        .unsupported, "record keys that differ only in Unicode normalization are outside the supported subset",
                        at: location(keyToken))
                }
                try expect(":")
                members.append((key, try parseExpression()))
                guard accept(",") else { break }
            }
            try expect("}")
            return .record(members)
        default:
            throw error("expected an expression, found \(describe(token))", token)
        }
    }
}
