import Foundation
import GatewayPolicy
import GatewayTestSupport
import Testing

/// The parser accepts what Cedar accepts and refuses what it refuses at the edges a comparison with Cedar's parser
/// found — string escapes (`\u{…}`, `\x..`, `\*` outside `like`), trailing commas, duplicate record keys, method
/// arity, reserved words as attributes, non-ASCII identifiers — and strings compare scalar for scalar, as in Cedar
/// (no Unicode canonical equivalence in `==`, `like`, `contains`, entity ids or record keys). Each condition is run
/// through both engines: `cedarpy` (the reference) parses it and decides one request; ours must agree on both.
@Suite struct CedarEdgeTests {
    static let conditions: [String] = [
        #""\u{1F600}" == "😀""#, #""\u{110000}" == "x""#, #""\u{}" == "x""#, #""\u{D800}" == "x""#, #""\u{0000041}" == "A""#,
        #""\u{41}" == "A""#, #""\x41" == "A""#, #""\x80" == "A""#, #""\x4" == "A""#, #""\xG1" == "A""#, #""a\qb" == "a""#,
        #""a\*b" == "a*b""#, #""a*b" like "a\*b""#, #""axb" like "a\*b""#, #""a\\b" like "a\\*""#, #""a\\b" == "a\\b""#,
        #"[1, 2,].contains(1)"#, #"[,].contains(1)"#, #"[1,,].contains(1)"#, #"{a: 1,}.a == 1"#, #"{a: 1, a: 2}.a == 1"#,
        #"{a: 1, "a": 2}.a == 1"#, #"{"b": 1, b: 1}.b == 1"#, #"[1].contains()"#, #"[1].contains(1, 2)"#, #"[1].containsAll()"#,
        #"[1].containsAny([1], [2])"#, #"context.if == 1"#, #"context.in == 1"#, #"context.true == 1"#, #"context.then == 1"#,
        #"context.like == 1"#, #"context.is == 1"#, #"context.has == 1"#, #"context.__cedar == 1"#, #"context has if"#,
        #"context has "if""#, #"context["if"] == 1"#, #"{if: 1}["if"] == 1"#, #"{"if": 1}["if"] == 1"#, #"context.permit == 1"#,
        #"context.when == 1"#, #"context has unless"#, #"{principal: 1}.principal == 1"#, #"context.é == 1"#,
        // Scalar-for-scalar comparison: é precomposed (U+00E9) against e + combining acute (U+0065 U+0301).
        "\"\u{E9}\" == \"e\u{301}\"", "\"\u{E9}\" like \"e\u{301}\"", "\"e\u{301}\" like \"e*\"", "\"e\u{301}\" like \"e\"",
        "[\"\u{E9}\"].contains(\"e\u{301}\")", "User::\"\u{E9}\" == User::\"e\u{301}\"", "{\"\u{E9}\": 1} == {\"e\u{301}\": 1}",
        "{\"\u{E9}\": 1}[\"e\u{301}\"] == 1", "{\"\u{E9}\": 1} has \"e\u{301}\"", "\"\u{E9}\" == \"\u{E9}\"",
    ]

    @Test func conditionsParseAndDecideAsTheReferenceEngine() async throws {
        let request = AuthorizationRequest(
            principal: EntityUID(type: "User", id: "a"), action: EntityUID(type: "Action", id: "b"), resource: EntityUID(type: "R", id: "c"),
            context: [:])
        var ours: [String] = []
        for condition in Self.conditions {
            let text = "@id(\"p\")\npermit (principal, action, resource) when { \(condition) };\n"
            do {
                let set = try PolicySet(sources: [(file: "edge.cedar", text: text)])
                let decision = set.authorize(request, entities: EntityStore())
                ours.append(decision.effect == .allow ? "allow" : "deny")
            } catch let error as PolicyError {
                ours.append(error.code == .unsupported ? "unsupported" : "refused")
            }
        }
        // Outside the supported subset, refused rather than decided differently: record keys that differ only in
        // Unicode normalization (Cedar keeps both).
        #expect(throws: PolicyError.self) {
            try PolicySet(sources: [
                (file: "edge.cedar", text: "permit (principal, action, resource) when { {\"\u{E9}\": 1, \"e\u{301}\": 2} == {} };")
            ])
        }
        let dir = try TestPaths.temporaryDirectory("cedar-edges")
        let input = dir.appendingPathComponent("conditions.json")
        try JSONSerialization.data(withJSONObject: Self.conditions).write(to: input)
        let result = try await runProcess(
            TestPaths.python,
            [
                "-c",
                """
                import json, sys, cedarpy
                request = {"principal": 'User::"a"', "action": 'Action::"b"', "resource": 'R::"c"', "context": {}}
                out = []
                for condition in json.load(open(sys.argv[1])):
                    text = 'permit (principal, action, resource) when { ' + condition + ' };'
                    try:
                        cedarpy.format_policies(text)
                    except Exception:
                        out.append("refused")
                        continue
                    out.append("allow" if cedarpy.is_authorized(request, text, []).allowed else "deny")
                print(json.dumps(out))
                """, input.path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        let reference = try JSONDecoder().decode([String].self, from: Data(result.stdout.utf8))
        #expect(reference.count == Self.conditions.count)
        for (index, condition) in Self.conditions.enumerated() {
            #expect(ours[index] == reference[index], "\(condition): ours \(ours[index]), cedarpy \(reference[index])")
        }
        #expect(reference.filter { $0 == "refused" }.count >= 20 && reference.contains("allow") && reference.contains("deny"))
    }
}
