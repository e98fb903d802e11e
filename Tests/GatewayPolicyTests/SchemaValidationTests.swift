import Foundation
import GatewayFiles
import GatewayPolicy
import GatewayTestSupport
import Testing

/// Policies validated against the repository's Cedar schema by our validator and by Cedar's (`cedarpy`
/// `validate_policies`): each policy must pass or fail alike, and our errors must be located and say what is wrong.
@Suite struct SchemaValidationTests {
    static var schemaURL: URL { TestPaths.schemas.appendingPathComponent("policies.cedarschema.json") }

    static let conditions: [String] = [
        #"true"#, #"principal == Group::"g""#, #"principal == resource"#, #"[] == []"#, #"[1, "a"] == [1]"#,
        #"[principal, Group::"g"].contains(principal)"#, #"context.purpose in [Purpose::"a", Purpose::"b"]"#, #"principal in resource"#,
        #"if true then 1 else "a""#, #"if context.purpose in Purpose::"x" then 1 > 0 else false"#, #"{a: 1} == {a: 1}"#,
        #"context.nothing"#, #"context has nothing"#, #"principal has nothing"#, #"resource.consents.containsAny([Purpose::"a"])"#,
        #"resource.consents.contains(1)"#, #"principal is Group"#, #"principal is Foo"#, #"Action::"read" == action"#,
        #"Action::"nope" == action"#, #"1 + "a" > 0"#, #"principal.id like "a*""#, #""a" < "b""#, #"true && 1"#, #"!1"#,
        #"-"a" == 1"#, #"principal in Purpose::"x""#, #"context.purpose == Purpose::"x""#, #"context.purpose == "x""#,
        #"context.purpose like "x""#, #"principal.age > 3"#, #"principal.id > 3"#, #"resource in Category::"citizen""#,
        #"resource.consents.containsAll(["a"])"#, #"principal.id.contains("a")"#, #"principal in [Group::"a", Department::"b"]"#,
        #"principal in [1]"#, #"resource has consents && resource.consents.contains(context.purpose)"#, #"principal.id == 3"#,
        #"context.purpose.id == "x""#, #"Foo::"x" == principal"#, #"if principal has id then principal.id == "a" else false"#,
        #"principal is Department in Group::"g""#, #"1 in principal"#, #"(principal.id like "a*") || 3"#,
    ]

    static let scopes: [String] = [
        #"permit (principal, action, resource);"#,
        #"permit (principal == Dept::"x", action, resource);"#,
        #"permit (principal, action == Action::"delete", resource);"#,
        #"permit (principal, action == Action::"audit", resource == Category::"citizen");"#,
        #"permit (principal, action in Action::"access", resource in Category::"citizen");"#,
        #"permit (principal in Group::"regulators", action == Action::"audit", resource == AccessLog::"chain");"#,
        #"permit (principal is Purpose, action, resource);"#,
        #"permit (principal, action in [Action::"read", Action::"publish"], resource in Category::"citizen");"#,
        #"forbid (principal, action, resource is Record);"#,
    ]

    func cases() -> [String] {
        Self.scopes + Self.conditions.map { #"permit (principal, action == Action::"read", resource) when { \#($0) };"# }
    }

    @Test func validityMatchesCedarsValidator() async throws {
        let schema = try CedarSchema(json: try Data(contentsOf: Self.schemaURL), file: "policies.cedarschema.json")
        let validator = PolicyValidator(schema: schema)
        let cases = cases()
        let ours = try cases.map { try validator.validate(PolicySet(sources: [("case.cedar", $0)]).policies).isEmpty }
        let dir = try TestPaths.temporaryDirectory("cedar_validate")
        let input = dir.appendingPathComponent("cases.json")
        try JSONSerialization.data(withJSONObject: cases).write(to: input)
        let result = try await runProcess(
            TestPaths.python,
            [
                "-c",
                """
                import json, sys, cedarpy
                schema = open(sys.argv[2]).read()
                print(json.dumps([cedarpy.validate_policies(p, schema).validation_passed for p in json.load(open(sys.argv[1]))]))
                """, input.path, Self.schemaURL.path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        let reference = try JSONDecoder().decode([Bool].self, from: Data(result.stdout.utf8))
        #expect(reference.count == cases.count)
        for (index, (mine, theirs)) in zip(ours, reference).enumerated() where mine != theirs {
            let errors = try validator.validate(PolicySet(sources: [("case.cedar", cases[index])]).policies)
            Issue.record("\(cases[index]): ours \(mine ? "valid" : "invalid \(errors)"), Cedar \(theirs ? "valid" : "invalid")")
        }
        #expect(ours.contains(true) && ours.contains(false))
    }

    @Test func theRepositoryPoliciesValidateAndErrorsAreLocated() throws {
        let bundle = try PolicyBundle.load(from: TestPaths.policies, schemas: TestPaths.schemas)
        #expect(bundle.schema != nil)
        let validator = PolicyValidator(schema: bundle.schema!)
        #expect(validator.validate(bundle.policySet.policies).isEmpty)
        let source = """
            permit (principal, action == Action::"read", resource)
            when { context.purpose in Purpose::"x" }
            unless {
              principal.age > 3
            };
            """
        let errors = validator.validate(try PolicySet(sources: [("bad.cedar", source)]).policies)
        // One error per request environment the scope admits: principals are departments or roles.
        #expect(errors.count == 2)
        #expect(errors.allSatisfy { $0.location == SourceLocation(file: "bad.cedar", line: 4, column: 3) })
        #expect(errors.first?.description.contains("attribute `age` on entity type `Department` not found (in `principal.age`)") == true, "\(errors)")
        #expect(errors.last?.description.contains("attribute `age` on entity type `Role` not found (in `principal.age`)") == true, "\(errors)")
        #expect(errors.first?.code == .schema)
        // Loading a bundle refuses a policy the schema rejects, with its location.
        do {
            _ = try PolicyBundle(sources: [("bad.cedar", source)], schemaText: try String(contentsOf: Self.schemaURL, encoding: .utf8))
            Issue.record("a bundle with a schema error loaded")
        } catch let error as PolicyError {
            #expect(error.location?.line == 4)
        }
    }

    @Test func malformedSchemasAreRefused() {
        let bad = [
            #"[]"#, #"{"Gov": {"entityTypes": {}, "actions": {}}}"#,
            #"{"": {"entityTypes": {"A": {"memberOfTypes": ["B"]}}, "actions": {}}}"#,
            #"{"": {"entityTypes": {"A": {"shape": {"type": "Record", "attributes": {"x": {"type": "Decimal"}}}}}, "actions": {}}}"#,
            #"{"": {"entityTypes": {}, "actions": {"read": {"appliesTo": {"principalTypes": ["Nobody"], "resourceTypes": []}}}}}"#,
            #"{"": {"entityTypes": {"A": {"tags": {"type": "String"}}}, "actions": {}}}"#,
            #"{"": {"entityTypes": {}, "actions": {}, "commonTypes": {}}}"#,
        ]
        for text in bad {
            #expect(throws: CedarSchema.Failure.self, "\(text)") { try CedarSchema(json: Data(text.utf8), file: "s.json") }
        }
    }
}

/// The random policies of the differential test (CedarRandomDifferentialTests), validated against a schema of their
/// vocabulary by our validator and by Cedar's: each must pass or fail alike. A mismatch prints the seed and policy.
@Suite struct RandomSchemaValidationTests {
    static let context =
        #"{"type": "Record", "attributes": {"purpose": {"type": "String"}, "rows": {"type": "Long"}, "flag": {"type": "Boolean", "required": false}, "tags": {"type": "Set", "element": {"type": "String"}}}}"#
    static let schema = """
        {"": {"entityTypes": {
          "Department": {"memberOfTypes": ["Group"], "shape": {"type": "Record", "attributes": {
            "level": {"type": "Long"}, "name": {"type": "String"}, "active": {"type": "Boolean"},
            "tags": {"type": "Set", "element": {"type": "String"}},
            "info": {"type": "Record", "attributes": {"n": {"type": "Long"}, "s": {"type": "String"}}},
            "boss": {"type": "Entity", "name": "Department"}}}},
          "Group": {"memberOfTypes": ["Group"], "shape": {"type": "Record", "attributes": {"level": {"type": "Long", "required": false}}}},
          "Category": {"shape": {"type": "Record", "attributes": {"owner": {"type": "Entity", "name": "Department"},
            "sensitivity": {"type": "Long"}, "fields": {"type": "Set", "element": {"type": "String"}}}}}},
         "actions": {
          "reading": {},
          "read": {"memberOf": [{"id": "reading"}], "appliesTo": {"principalTypes": ["Department"], "resourceTypes": ["Category", "Department"], "context": \(context)}},
          "aggregate": {"memberOf": [{"id": "reading"}], "appliesTo": {"principalTypes": ["Department"], "resourceTypes": ["Category"], "context": \(context)}},
          "publish": {"appliesTo": {"principalTypes": ["Department"], "resourceTypes": ["Category"], "context": \(context)}},
          "audit": {"appliesTo": {"principalTypes": ["Department"], "resourceTypes": ["Department"], "context": \(context)}}}}}
        """

    @Test func randomPoliciesValidateAsCedarValidates() async throws {
        let validator = PolicyValidator(schema: try CedarSchema(json: Data(Self.schema.utf8), file: "random.cedarschema.json"))
        let baseSeed = ProcessInfo.processInfo.environment["DATAGATEWAY_CEDAR_SEED"].flatMap(UInt64.init) ?? 20_261_126
        var texts: [String] = []
        var seeds: [UInt64] = []
        for offset in 0..<40 {
            let round = try Round(seed: baseSeed &+ UInt64(offset))
            texts += round.policyTexts
            seeds += Array(repeating: round.seed, count: round.policyTexts.count)
        }
        let ours = try texts.map { try validator.validate(PolicySet(sources: [("p.cedar", $0)]).policies).isEmpty }
        let dir = try TestPaths.temporaryDirectory("cedar_random_validate")
        try JSONSerialization.data(withJSONObject: texts).write(to: dir.appendingPathComponent("policies.json"))
        try Self.schema.write(to: dir.appendingPathComponent("schema.json"), atomically: true, encoding: .utf8)
        let result = try await runProcess(
            TestPaths.python,
            [
                "-c",
                """
                import json, sys, cedarpy
                schema = open(sys.argv[2]).read()
                out = []
                for p in json.load(open(sys.argv[1])):
                    r = cedarpy.validate_policies(p, schema)
                    out.append({"valid": r.validation_passed, "errors": [str(e) for e in r.errors][:3]})
                print(json.dumps(out))
                """, dir.appendingPathComponent("policies.json").path, dir.appendingPathComponent("schema.json").path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        struct Reference: Decodable { let valid: Bool; let errors: [String] }
        let reference = try JSONDecoder().decode([Reference].self, from: Data(result.stdout.utf8))
        #expect(reference.count == texts.count)
        var mismatches = 0
        for (index, (mine, theirs)) in zip(ours, reference).enumerated() where mine != theirs.valid {
            mismatches += 1
            if mismatches <= 3 {
                let errors = try validator.validate(PolicySet(sources: [("p.cedar", texts[index])]).policies)
                Issue.record(
                    "seed \(seeds[index]): \(texts[index])\nours: \(mine ? "valid" : "\(errors)")\nCedar: \(theirs.valid ? "valid" : "\(theirs.errors)")"
                )
            }
        }
        let valid = ours.filter { $0 }.count
        print("random schema validation: \(texts.count) policies, \(valid) valid, \(mismatches) mismatches")
        #expect(mismatches == 0)
        #expect(valid > texts.count / 10 && valid < texts.count * 9 / 10, "valid \(valid) of \(texts.count)")
    }
}
