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
                tokens.append(Token(kind: .string(try readString()), line: startLine, column: startColumn))
            } else if c.properties.isAlphabetic || c == "_" {
                var name = ""
                while index < scalars.count,
                    scalars[index].properties.isAlphabetic || scalars[index] == "_"
                        || ("0"..."9").contains(scalars[index])
                {
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

    mutating func readString() throws -> String {
        let startLine = line
        let startColumn = column
        advance()
        var out = ""
        while index < scalars.count {
            let c = scalars[index]
            if c == "\"" {
                advance()
                return out
            }
            if c == "\\" {
                advance()
                guard index < scalars.count else { break }
                let e = scalars[index]
                switch e {
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "0": out.append("\0")
                case "\\", "\"", "'": out.unicodeScalars.append(e)
                case "*": out.append("\\*")  // kept escaped for `like` patterns
                default:
                    throw PolicyError(.syntax, "unknown escape \\\(e)", at: location(line, column))
                }
                advance()
                continue
            }
            out.unicodeScalars.append(c)
            advance()
        }
        throw PolicyError(.syntax, "unterminated string", at: location(startLine, startColumn))
    }
}
