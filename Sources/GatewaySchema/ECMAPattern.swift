import Foundation

/// A JSON Schema `pattern`: an ECMA-262 regular expression (JSON Schema 2020-12, section 6.3.3), run on ICU by
/// rewriting the constructs whose meaning differs between the two, so that a value matches exactly when a
/// JavaScript `RegExp` without flags would say it does:
///
/// | ECMA-262 | meaning there | ICU alone would | rewritten as |
/// |---|---|---|---|
/// | `$` | end of input only | also match before a final line terminator (`"C0000001\n"`, `"…\u{2028}"`) | `(?![\s\S])` |
/// | `^` | start of input only | (the same without multiline) | `(?<![\s\S])` |
/// | `.` | any code unit but `\n \r \u2028 \u2029` | also refuse `\u0085` | `[^\n\r\u2028\u2029]` |
/// | `\d` `\w` `\b` | ASCII only | match every script's digits and letters (`"١٢٣"`) | explicit ASCII classes |
/// | `\s` | ECMA's white space and line terminators | differ on `\v` and `\uFEFF` | ECMA's list |
///
/// Constructs ECMA-262 has no meaning for (inline flags `(?i)`, atomic groups, possessive quantifiers, `\A \z \Z \G
/// \Q \h \R \X \p`) are refused when the schema loads, rather than given ICU's meaning.
public struct ECMAPattern: Sendable {
    public let source: String
    let expression: NSRegularExpression

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(_ source: String) throws {
        self.source = source
        let translated = try Self.translate(source)
        do {
            expression = try NSRegularExpression(pattern: translated)
        } catch {
            throw Invalid(description: "pattern is not a valid regular expression")
        }
    }

    /// Whether the pattern matches anywhere in `text` (JSON Schema patterns are not implicitly anchored).
    public func matches(_ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    static let word = "A-Za-z0-9_"
    static let space = "\\t\\n\\u000B\\f\\r \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF"
    static let escapesOutside: [Character: String] = [
        "d": "[0-9]", "D": "[^0-9]", "w": "[\(word)]", "W": "[^\(word)]", "s": "[\(space)]", "S": "[^\(space)]",
        "b": "(?:(?<=[\(word)])(?![\(word)])|(?<![\(word)])(?=[\(word)]))",
        "B": "(?:(?<=[\(word)])(?=[\(word)])|(?<![\(word)])(?![\(word)]))",
    ]
    static let escapesInside: [Character: String] = [
        "d": "0-9", "D": "[^0-9]", "w": word, "W": "[^\(word)]", "s": space, "S": "[^\(space)]", "b": "\\x08",
    ]
    /// Escapes that mean something else (or nothing) in ECMA-262 without the `u` flag: refused.
    static let foreignEscapes: Set<Character> = ["A", "z", "Z", "G", "Q", "E", "h", "H", "R", "X", "p", "P", "N", "K", "e", "a"]

    static func translate(_ source: String) throws -> String {
        var out = ""
        var inClass = false
        let iterator = Array(source)
        var index = 0
        func fail(_ why: String) -> Invalid { Invalid(description: "pattern is not an ECMA-262 regular expression: \(why)") }
        while index < iterator.count {
            let character = iterator[index]
            index += 1
            switch character {
            case "\\":
                guard index < iterator.count else { throw fail("it ends with a lone backslash") }
                let escaped = iterator[index]
                index += 1
                if foreignEscapes.contains(escaped) { throw fail("\\\(escaped) has no ECMA-262 meaning here") }
                if let replacement = (inClass ? escapesInside : escapesOutside)[escaped] {
                    out += replacement
                } else {
                    out.append("\\")
                    out.append(escaped)
                }
            case "[" where !inClass:
                inClass = true
                out.append("[")
                // A leading ^ or ] belongs to the class syntax; copy it as is.
                if index < iterator.count, iterator[index] == "^" {
                    out.append("^")
                    index += 1
                }
                if index < iterator.count, iterator[index] == "]" {
                    // ECMA: "[]" matches nothing and "[^]" anything; ICU would read the ] as a member.
                    if out.hasSuffix("[^") { out.removeLast(2); out += "[\\s\\S]" } else { out += "^\\s\\S]" }
                    index += 1
                    inClass = false
                }
            case "[" where inClass:
                out += "\\["  // a literal in ECMA; a nested set in ICU
            case "]" where inClass:
                inClass = false
                out.append("]")
            case "&" where inClass, "-" where inClass && index < iterator.count && iterator[index] == "-":
                out += "\\\(character)"  // ICU set operators (&&, --) are literals in ECMA
            case "^" where !inClass:
                out += "(?<![\\s\\S])"
            case "$" where !inClass:
                out += "(?![\\s\\S])"
            case "." where !inClass:
                out += "[^\\n\\r\\u2028\\u2029]"
            case "(" where !inClass:
                if index < iterator.count, iterator[index] == "?" {
                    let rest = String(iterator[(index + 1)...].prefix(2))
                    guard
                        rest.hasPrefix(":") || rest.hasPrefix("=") || rest.hasPrefix("!") || rest.hasPrefix("<=") || rest.hasPrefix("<!")
                            || (rest.hasPrefix("<") && rest.count == 2 && rest.last!.isLetter)
                    else { throw fail("'(?' must start a group ?:, a lookaround or a named group") }
                }
                out.append("(")
            case "+" where !inClass && index < iterator.count && iterator[index] == "+",
                "*" where !inClass && index < iterator.count && iterator[index] == "+",
                "?" where !inClass && index < iterator.count && iterator[index] == "+",
                "}" where !inClass && index < iterator.count && iterator[index] == "+":
                throw fail("possessive quantifiers are not ECMA-262")
            default:
                out.append(character)
            }
        }
        if inClass { throw fail("a character class is not closed") }
        return out
    }
}
