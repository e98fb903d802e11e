/// Cedar tokens with their positions.
struct Token: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case identifier(String)
        case string(String)
        case integer(UInt64)
        case symbol(String)
        case end
    }

    let kind: Kind
    let line: Int
    let column: Int
    /// For a string: its reading as a `like` pattern (an unescaped `*` is a wildcard, `\*` a literal star).
    var pattern: [PatternElement]? = nil
    /// For a string: whether it holds `\*`, an escape of `like` patterns only (any other string with it is an error).
    var starEscape = false
}

/// Splits Cedar source into tokens; `//` comments and whitespace are skipped.
struct Lexer {
    let file: String
    let scalars: [Unicode.Scalar]
    var index = 0
    var line = 1
    var column = 1

    init(source: String, file: String) {
        self.file = file
        self.scalars = Array(source.unicodeScalars)
    }

    static let symbols: [String] = [
        "==", "!=", "<=", ">=", "&&", "||", "::", "(", ")", "{", "}", "[", "]", ",", ";", ".", "<", ">",
        "!", "@", "-", "+", "*", ":", "=",
    ]

    mutating func tokenize() throws -> [Token] {
        var tokens: [Token] = []
        while true {
            skipTrivia()
            guard index < scalars.count else {
                tokens.append(Token(kind: .end, line: line, column: column))
                return tokens
            }
            let startLine = line
            let startColumn = column
            let c = scalars[index]
            if c == "\"" {
                let literal = try readString()
                tokens.append(
                    Token(
                        kind: .string(literal.value), line: startLine, column: startColumn, pattern: literal.pattern,
                        starEscape: literal.starEscape))
            } else if Self.isIdentifierStart(c) {
                var name = ""
                // Cedar identifiers are ASCII: [_a-zA-Z][_a-zA-Z0-9]*.
                while index < scalars.count, Self.isIdentifierStart(scalars[index]) || ("0"..."9").contains(scalars[index]) {
                    name.unicodeScalars.append(scalars[index])
                    advance()
                }
                tokens.append(Token(kind: .identifier(name), line: startLine, column: startColumn))
            } else if ("0"..."9").contains(c) {
                var digits = ""
                while index < scalars.count, ("0"..."9").contains(scalars[index]) {
                    digits.unicodeScalars.append(scalars[index])
                    advance()
                }
                // Magnitudes up to 2^63 lex; the parser allows 2^63 only right after a minus sign (Int64.min), as Cedar does.
                guard let value = UInt64(digits), value <= UInt64(Int64.max) + 1 else {
                    throw PolicyError(.syntax, "integer literal \(digits) is too large for a Long", at: location(startLine, startColumn))
                }
                tokens.append(Token(kind: .integer(value), line: startLine, column: startColumn))
            } else if let symbol = Self.symbols.first(where: { matches($0) }) {
                for _ in symbol.unicodeScalars { advance() }
                tokens.append(Token(kind: .symbol(symbol), line: startLine, column: startColumn))
            } else {
                throw PolicyError(.syntax, "unexpected character '\(c)'", at: location(startLine, startColumn))
            }
        }
    }

    func location(_ line: Int, _ column: Int) -> SourceLocation { SourceLocation(file: file, line: line, column: column) }

    func matches(_ symbol: String) -> Bool {
        var offset = index
        for s in symbol.unicodeScalars {
            guard offset < scalars.count, scalars[offset] == s else { return false }
            offset += 1
        }
        return true
    }

    mutating func advance() {
        if scalars[index] == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    mutating func skipTrivia() {
        while index < scalars.count {
            if scalars[index].properties.isWhitespace {
                advance()
            } else if matches("//") {
                while index < scalars.count, scalars[index] != "\n" { advance() }
            } else {
                return
            }
        }
    }

    static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" }

    /// A string literal, read as Cedar reads it (Rust's escapes): `\n \r \t \0 \\ \" \'`, `\xHH` (two hex digits,
    /// at most 7F), `\u{H…}` (one to six hex digits, a Unicode scalar value), and `\*` (a literal star, in `like`
    /// patterns only). Its value, its reading as a pattern, and whether it holds `\*`.
    mutating func readString() throws -> (value: String, pattern: [PatternElement], starEscape: Bool) {
        let startLine = line
        let startColumn = column
        advance()
        var out = String.UnicodeScalarView()
        var pattern: [PatternElement] = []
        var starEscape = false
        func hexDigit(_ scalar: Unicode.Scalar) -> UInt32? {
            switch scalar {
            case "0"..."9": return scalar.value - 48
            case "a"..."f": return scalar.value - 87
            case "A"..."F": return scalar.value - 55
            default: return nil
            }
        }
        while index < scalars.count {
            let c = scalars[index]
            if c == "\"" {
                advance()
                return (String(out), pattern, starEscape)
            }
            if c == "\\" {
                let escapeLine = line
                let escapeColumn = column
                func bad(_ why: String) -> PolicyError { PolicyError(.syntax, why, at: location(escapeLine, escapeColumn)) }
                advance()
                guard index < scalars.count else { break }
                let e = scalars[index]
                let unescaped: Unicode.Scalar
                switch e {
                case "n": unescaped = "\n"
                case "r": unescaped = "\r"
                case "t": unescaped = "\t"
                case "0": unescaped = "\0"
                case "\\", "\"", "'": unescaped = e
                case "*":
                    unescaped = "*"
                    starEscape = true
                case "x":
                    guard index + 2 < scalars.count, let high = hexDigit(scalars[index + 1]), let low = hexDigit(scalars[index + 2]),
                        high * 16 + low <= 0x7f, let scalar = Unicode.Scalar(high * 16 + low)
                    else { throw bad("\\x takes two hex digits, at most 7F") }
                    advance()
                    advance()
                    unescaped = scalar
                case "u":
                    advance()
                    guard index < scalars.count, scalars[index] == "{" else { throw bad("\\u takes {…}: one to six hex digits") }
                    advance()
                    var value: UInt32 = 0
                    var digits = 0
                    while index < scalars.count, let digit = hexDigit(scalars[index]), digits < 6 {
                        value = value * 16 + digit
                        digits += 1
                        advance()
                    }
                    guard digits >= 1, index < scalars.count, scalars[index] == "}" else { throw bad("\\u takes {…}: one to six hex digits") }
                    guard let scalar = Unicode.Scalar(value) else { throw bad("\\u{\(String(value, radix: 16))} is not a Unicode scalar value") }
                    unescaped = scalar
                default:
                    throw bad("unknown escape \\\(e)")
                }
                out.append(unescaped)
                pattern.append(.literal(unescaped))
                advance()
                continue
            }
            out.append(c)
            pattern.append(c == "*" ? .wildcard : .literal(c))
            advance()
        }
        throw PolicyError(.syntax, "unterminated string", at: location(startLine, startColumn))
    }
}
