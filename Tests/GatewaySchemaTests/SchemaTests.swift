import Foundation
import GatewayCrypto
import GatewayDemo
import GatewayFiles
import GatewaySchema
import GatewayTestSupport
import Testing

func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8)) }

@Suite struct JSONSchemaTests {
    let schema: JSONSchema

    init() throws {
        schema = try JSONSchema(
            json: json(
                """
                {"type": "object", "required": ["id", "n"], "additionalProperties": false,
                 "properties": {
                    "id": {"type": "string", "pattern": "^C[0-9]{3}$"},
                    "n": {"type": "integer", "minimum": 1, "maximum": 10},
                    "x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    "s": {"type": "string", "minLength": 2, "maxLength": 3},
                    "e": {"enum": ["a", "b", 3]},
                    "c": {"const": true},
                    "l": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
                    "o": {"type": ["string", "null"]}
                 }}
                """))
    }

    func errors(_ text: String) throws -> [String] { schema.validate(try json(text)).map(\.path) }

    @Test func validDocumentsHaveNoErrors() throws {
        #expect(try errors(#"{"id": "C123", "n": 1}"#).isEmpty)
        #expect(try errors(#"{"id": "C123", "n": 10.0, "x": 0.5, "s": "ab", "e": 3, "c": true, "l": [1, 2], "o": null}"#).isEmpty)
    }

    @Test func eachKeywordReportsTheOffendingField() throws {
        #expect(try errors(#"{"n": 1}"#) == ["/id"])
        #expect(try errors(#"{"id": "X123", "n": 1}"#) == ["/id"])
        #expect(try errors(#"{"id": "C123", "n": 11}"#) == ["/n"])
        #expect(try errors(#"{"id": "C123", "n": 1.5}"#) == ["/n"])
        #expect(try errors(#"{"id": "C123", "n": "1"}"#) == ["/n"])
        #expect(try errors(#"{"id": "C123", "n": 1, "x": 1}"#) == ["/x"])
        #expect(try errors(#"{"id": "C123", "n": 1, "s": "abcd"}"#) == ["/s"])
        #expect(try errors(#"{"id": "C123", "n": 1, "e": "z"}"#) == ["/e"])
        #expect(try errors(#"{"id": "C123", "n": 1, "c": false}"#) == ["/c"])
        #expect(try errors(#"{"id": "C123", "n": 1, "l": [1, "2"]}"#) == ["/l/1"])
        #expect(try errors(#"{"id": "C123", "n": 1, "l": []}"#) == ["/l"])
        #expect(try errors(#"{"id": "C123", "n": 1, "o": 5}"#) == ["/o"])
        #expect(try errors(#"{"id": "C123", "n": 1, "zzz": 5}"#) == ["/zzz"])
        #expect(try errors(#"[1]"#) == [""])
    }

    @Test func unsupportedKeywordsAreRejectedWhenTheSchemaLoads() {
        #expect(throws: SchemaError.self) { try JSONSchema(json: json(#"{"oneOf": [{}]}"#)) }
        #expect(throws: SchemaError.self) { try JSONSchema(json: json(#"{"type": "strng"}"#)) }
        #expect(throws: SchemaError.self) { try JSONSchema(json: json(#"{"pattern": "("}"#)) }
    }

    @Test func canonicalJSONSortsKeysAndIsStable() throws {
        let a = try json(#"{"b": 1, "a": [true, null, "x\"y\n"], "c": {"z": 1.5, "y": -2}}"#)
        #expect(a.canonicalString == #"{"a":[true,null,"x\"y\n"],"b":1,"c":{"y":-2,"z":1.5}}"#)
        #expect(try json(a.canonicalString) == a)
    }

    @Test func strictParsingKeepsIntegersExactAndDecodesEscapes() throws {
        #expect(try json("9007199254740993") == .integer(9_007_199_254_740_993))
        #expect(try json("-0.5e1") == .number(-5))
        #expect(try json(#""\u00e9\ud83d\ude00\n""#) == .string("é😀\n"))
        #expect(try json(" { } ") == .object([:]))
    }

    @Test func malformedJSONIsAnError() {
        for text in [
            "{", #"{"a": }"#, "", "nul", "[1,]", #"{"a": 1,}"#, "[01]", "[1] x", "\"a\u{1}b\"",
            #"{"a": 1, "a": 2}"#, "1e400", #""\ud800""#, String(repeating: "[", count: 200) + String(repeating: "]", count: 200),
        ] {
            #expect(throws: SchemaError.self, "\(text)") { try JSONValue.parse(Data(text.utf8)) }
        }
    }
}

@Suite struct RecordCategoryTests {
    @Test func theCitizenCategoryLoadsFromSchemas() throws {
        let categories = try RecordCategory.loadAll(from: TestPaths.schemas)
        let citizen = try #require(categories["citizen"])
        #expect(citizen.idField == "citizen_id")
        #expect(citizen.dimensions == ["district", "age_band"])
        #expect(citizen.aggregates == ["monthly_income", "household_size"])
    }

    @Test func syntheticCitizensAreValidAndReproducible() throws {
        let citizen = try #require(try RecordCategory.loadAll(from: TestPaths.schemas)["citizen"])
        let records = SyntheticCitizens.generate(count: 500, seed: 9)
        for record in records { #expect(citizen.schema.validate(record).isEmpty, "\(record.canonicalString)") }
        #expect(SyntheticCitizens.generate(count: 500, seed: 9) == records)
        #expect(Set(records.map { $0["citizen_id"]!.stringValue! }).count == 500)
    }
}

/// Differential test: our validator and the reference Python `jsonschema` must agree on every document.
@Suite struct JSONSchemaOracleTests {
    static let script = """
        import json, sys
        from jsonschema import Draft202012Validator
        schema = json.load(open(sys.argv[1]))
        validator = Draft202012Validator(schema)
        for line in open(sys.argv[2]):
            print("1" if validator.is_valid(json.loads(line)) else "0")
        """

    /// Breaks a valid record in one of many ways, chosen by `random`.
    static func mutate(_ record: JSONValue, _ random: inout SplitMix64) -> JSONValue {
        guard case .object(var members) = record else { return record }
        let fields = members.keys.sorted()
        let field = fields[Int(random.next() % UInt64(fields.count))]
        let replacements: [JSONValue] = [
            .null, .bool(true), .integer(-1), .integer(99_999_999), .number(2.5), .string(""), .string("C12"), .string("x' OR 1=1; --"),
            .string("1990-13-01"), .string("+853 1234567"), .array([]), .object([:]), .string("coloane"), .string("65+"), .integer(0),
            .number(3.0), .string(String(repeating: "a", count: 201)),
        ]
        switch random.next() % 4 {
        case 0: members[field] = nil
        case 1: members["unexpected_\(random.next() % 3)"] = .string("extra")
        default: members[field] = replacements[Int(random.next() % UInt64(replacements.count))]
        }
        return .object(members)
    }

    @Test func ourValidatorAgreesWithPythonJsonschemaOnTwoThousandDocuments() async throws {
        let schemaURL = TestPaths.schemas.appendingPathComponent("citizen.schema.json")
        let category = try #require(try RecordCategory.loadAll(from: TestPaths.schemas)["citizen"])
        var random = SplitMix64(seed: 424_242)
        var documents: [JSONValue] = []
        for record in SyntheticCitizens.generate(count: 1_000, seed: 11) {
            documents.append(record)
            var mutated = Self.mutate(record, &random)
            if random.next() % 2 == 0 { mutated = Self.mutate(mutated, &random) }
            documents.append(mutated)
        }
        let dir = try TestPaths.temporaryDirectory("oracle")
        let dataURL = dir.appendingPathComponent("docs.jsonl")
        try documents.map(\.canonicalString).joined(separator: "\n").write(to: dataURL, atomically: true, encoding: .utf8)
        let result = try await runProcess(TestPaths.python, ["-c", Self.script, schemaURL.path, dataURL.path])
        try #require(result.status == 0, "python jsonschema failed (run scripts/setup.sh to create .venv): \(result.stderr)")
        let verdicts = result.stdout.split(separator: "\n").map { $0 == "1" }
        try #require(verdicts.count == documents.count)
        var invalid = 0
        for (document, reference) in zip(documents, verdicts) {
            let ours = category.schema.validate(document).isEmpty
            #expect(ours == reference, "disagreement on \(document.canonicalString): ours \(ours), jsonschema \(reference)")
            if !reference { invalid += 1 }
        }
        // The mutations must actually produce invalid documents for the comparison to mean anything.
        #expect(invalid > 500)
    }
}
