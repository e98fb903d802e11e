import Foundation
import GatewayCrypto
import GatewaySchema
import GatewayTestSupport
import Testing

/// JSON Schema patterns are ECMA-262 regular expressions. Ours must give the answers of Python `jsonschema` with an
/// ECMA-262 engine behind its `pattern` keyword (`regress`, a Rust implementation of ECMAScript regular expressions) on
/// the strings where engines differ: line terminators before the end, non-ASCII digits and letters, Unicode spaces,
/// astral characters. (Plain `jsonschema` uses Python's `re`, whose `$` and `\d` are not ECMA's: it is the oracle only
/// with that engine swapped in.)
@Suite struct ECMAPatternTests {
    static let patterns = [
        "^C[0-9]{7}$", "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$", "^\\+853 [0-9]{8}$", "^\\d+$", "^\\w+$", "^\\s*$",
        "^a.c$", "\\bword\\b", "^[\\d-]+$", "^[^\\d]+$", "^.{3}$", "x$", "^\\S+$", "^[A-Z][a-z]*(?: [A-Z][a-z]*)*$", "^(?:ab|cd)+$",
        "^[\\w.-]+@[\\w-]+\\.[a-z]{2,}$", "^\\D\\W$", "[]", "^[^]$",
    ]
    static let terminators = ["\n", "\r", "\u{2028}", "\u{2029}", "\u{85}", "\r\n", "\u{0B}", "\u{0C}"]
    static let subjects: [String] = {
        var out = [
            "C0000001", "1990-01-31", "+853 12345678", "123", "abc", "a_b", "   ", "", "word", "a word here", "1-2-3", "abc-def",
            "x", "Ana Lima", "abcd", "me@example.mo", "a!", "q",
        ]
        let digits = ["١٢٣", "１２３", "१२३", "߀", "𝟙𝟚𝟛", "C000000١", "C٠٠٠٠٠٠1"]
        let letters = ["é", "ß", "Ωmega", "naïve", "日本", "😀", "a😀c", "a\u{301}"]
        let spaces = ["\u{A0}", "\u{FEFF}", "\u{2003}", "\u{3000}", "\u{180E}", "\u{200B}"]
        for base in ["C0000001", "123", "abc", "x", "word", "a"] {
            for terminator in terminators { out += [base + terminator, terminator + base, base + terminator + base] }
        }
        out += digits + letters + spaces + spaces.map { "a\($0)c" } + letters.map { "a\($0)" }
        return out
    }()

    static let oracle = """
        import json, sys, regress, jsonschema
        from jsonschema import Draft202012Validator, ValidationError
        def ecma_pattern(validator, pattern, instance, schema):
            if validator.is_type(instance, "string") and regress.Regex(pattern).find(instance) is None:
                yield ValidationError(f"{instance!r} does not match {pattern!r}")
        Validator = jsonschema.validators.extend(Draft202012Validator, {"pattern": ecma_pattern})
        for line in open(sys.argv[1]):
            case = json.loads(line)
            validator = Validator({"type": "string", "pattern": case["pattern"]})
            print("".join("1" if validator.is_valid(s) else "0" for s in case["subjects"]))
        """

    @Test func patternsAnswerAsECMA262OnAdversarialStrings() async throws {
        // Seeded random strings over an alphabet of the characters engines disagree on, after the fixed ones.
        let seed: UInt64 = 262
        print("ECMAPatternTests seed \(seed)")
        var random = SplitMix64(seed: seed)
        let alphabet = Array("aC0159 -_.+@") + ["\n", "\r", "\u{2028}", "\u{85}", "\u{A0}", "١", "é", "😀", "\u{FEFF}", "\u{0B}"]
        var subjects = Self.subjects
        for _ in 0..<300 {
            subjects.append(String((0..<Int(random.next() % 10)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }))
        }
        struct Case: Encodable { let pattern: String; let subjects: [String] }
        let file = try TestPaths.temporaryDirectory("ecma").appendingPathComponent("cases.jsonl")
        let lines = try Self.patterns.map { String(decoding: try JSONEncoder().encode(Case(pattern: $0, subjects: subjects)), as: UTF8.self) }
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let result = try await runProcess(TestPaths.python, ["-c", Self.oracle, file.path])
        try #require(result.status == 0, "the oracle failed (run scripts/setup.sh): \(result.stderr)")
        let verdicts = result.stdout.split(separator: "\n").map { Array($0) }
        try #require(verdicts.count == Self.patterns.count)
        var compared = 0
        for (pattern, expected) in zip(Self.patterns, verdicts) {
            let schema = try JSONSchema(json: .object(["type": .string("string"), "pattern": .string(pattern)]))
            for (subject, verdict) in zip(subjects, expected) {
                let ours = schema.validate(.string(subject)).isEmpty
                #expect(
                    ours == (verdict == "1"),
                    "seed \(seed): pattern \(pattern) on \(subject.unicodeScalars.map { String(format: "U+%04X", $0.value) })")
                compared += 1
            }
        }
        #expect(compared == Self.patterns.count * subjects.count)
    }

    /// The example from the outside test, directly: a line terminator after an id no longer passes `^C[0-9]{7}$`.
    @Test func aTrailingLineTerminatorDoesNotMatchADollar() throws {
        let pattern = try ECMAPattern("^C[0-9]{7}$")
        #expect(pattern.matches("C0000001"))
        for terminator in Self.terminators { #expect(!pattern.matches("C0000001" + terminator)) }
        #expect(!(try ECMAPattern("^\\d{3}$")).matches("١٢٣"))
    }

    @Test(arguments: ["(?i)abc", "\\Aabc", "abc\\z", "a++", "(?>a)", "\\p{L}", "[abc"])
    func constructsWithoutAnECMA262MeaningAreRefusedAtLoad(pattern: String) {
        #expect(throws: (any Error).self) { try ECMAPattern(pattern) }
    }
}
