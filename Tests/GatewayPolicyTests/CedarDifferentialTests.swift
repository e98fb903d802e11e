import Foundation
import GatewayFiles
import GatewayPolicy
import GatewayTestSupport
import Testing

/// The repository's policies against the reference Cedar engine (`cedarpy`, in the test venv): every request of a
/// grid of departments × actions × resources × purposes must get the same decision and the same determining policies.
/// cedarpy names policies by position (`policy0`, …); ours by `@id`, so ours are mapped to their positions.
@Suite struct CedarDifferentialTests {
    struct Case: Codable {
        struct Context: Codable { let purpose: [String: [String: String]] }
        let principal: String
        let action: String
        let resource: String
        let context: Context
    }

    @Test func theRepositoryPoliciesDecideAsTheReferenceEngine() async throws {
        let bundle = try PolicyBundle.load(from: TestPaths.policies)
        let sources = bundle.sources.filter { $0.file.hasSuffix(".cedar") }
        let policySet = bundle.policySet
        let departments = ["civil_registry", "social_security", "housing", "statistics", "regulator", "health"]
        let groups = ["regulator": ["regulators"]]
        let actions = ["publish", "read", "aggregate", "audit", "grant", "record_consent", "erase"]
        let resources = [
            EntityUID(type: "Category", id: "citizen"), EntityUID(type: "Category", id: "vehicle"), EntityUID(type: "AccessLog", id: "chain"),
        ]
        let purposes = bundle.purposes.sorted()

        var store = bundle.entities
        // The bundle's entities (purpose hierarchy, groups, actions) go to cedarpy in its own JSON format.
        var entities =
            try JSONSerialization.jsonObject(
                with: Data(bundle.sources.first { $0.file == PolicyBundle.entitiesFile }!.text.utf8)) as! [[String: Any]]
        for department in departments {
            let parents = (groups[department] ?? []).map { EntityUID(type: "Group", id: $0) }
            store.insert(Entity(uid: EntityUID(type: "Department", id: department), attributes: ["id": .string(department)], parents: parents))
            entities.append([
                "uid": ["__entity": ["type": "Department", "id": department]], "attrs": ["id": department],
                "parents": parents.map { ["__entity": ["type": $0.type, "id": $0.id]] },
            ])
        }
        var cases: [Case] = []
        var ours: [(allow: Bool, policies: [String])] = []
        // Departments, and the roles the bundle declares within them.
        let roles = bundle.entities.entities.keys.filter { $0.type == "Role" }.map(\.id).sorted()
        #expect(!roles.isEmpty)
        let principals = departments.map { EntityUID(type: "Department", id: $0) } + roles.map { EntityUID(type: "Role", id: $0) }
        for principal in principals {
            for verb in actions {
                for resource in resources {
                    for purpose in purposes {
                        let request = AuthorizationRequest(
                            principal: principal, action: EntityUID(type: "Action", id: verb), resource: resource,
                            context: ["purpose": .entity(EntityUID(type: "Purpose", id: purpose))]
                        )
                        let decision = policySet.authorize(request, entities: store)
                        let positions = decision.determiningPolicies.map { id in "policy\(policySet.policies.firstIndex { $0.id == id }!)" }
                        ours.append((decision.effect == .allow, positions.sorted()))
                        cases.append(
                            Case(
                                principal: #"\#(principal.type)::"\#(principal.id)""#, action: #"Action::"\#(verb)""#,
                                resource: #"\#(resource.type)::"\#(resource.id)""#,
                                context: .init(purpose: ["__entity": ["type": "Purpose", "id": purpose]])))
                    }
                }
            }
        }
        let dir = try TestPaths.temporaryDirectory("cedar")
        let input = dir.appendingPathComponent("input.json")
        let payload: [String: Any] = [
            "policies": sources.map(\.1).joined(separator: "\n"),
            "entities": entities,
            "requests": try JSONSerialization.jsonObject(with: JSONEncoder().encode(cases)),
        ]
        try JSONSerialization.data(withJSONObject: payload).write(to: input)
        let result = try await runProcess(
            TestPaths.python,
            [
                "-c",
                """
                import json, sys, cedarpy
                data = json.load(open(sys.argv[1]))
                results = cedarpy.is_authorized_batch(data["requests"], data["policies"], data["entities"])
                print(json.dumps([{"allow": r.allowed, "policies": sorted(r.diagnostics.reasons), "errors": len(r.diagnostics.errors)} for r in results]))
                """, input.path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        struct Reference: Decodable { let allow: Bool; let policies: [String]; let errors: Int }
        let reference = try JSONDecoder().decode([Reference].self, from: Data(result.stdout.utf8))
        #expect(reference.count == cases.count)
        var mismatches = 0
        for (index, (mine, theirs)) in zip(ours, reference).enumerated() where mine.allow != theirs.allow || mine.policies != theirs.policies {
            mismatches += 1
            if mismatches <= 5 {
                Issue.record(
                    "request \(index) \(cases[index]): ours \(mine.allow ? "allow" : "deny") \(mine.policies), cedarpy \(theirs.allow ? "allow" : "deny") \(theirs.policies)"
                )
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(cases.count) requests decided differently")
        #expect(ours.contains { $0.allow } && ours.contains { !$0.allow })
    }

    /// Every case of the policy test files (`Policies/tests/`), with its records, grants and roles, decided by both
    /// engines: the same decision and the same determining policies (the test files' own expectations are checked
    /// by `gateway policy test`).
    @Test func thePolicyTestCasesDecideAsTheReferenceEngine() async throws {
        let bundle = try PolicyBundle.load(from: TestPaths.policies)
        let policySet = bundle.policySet
        let bundleEntities =
            try JSONSerialization.jsonObject(
                with: Data(bundle.sources.first { $0.file == PolicyBundle.entitiesFile }!.text.utf8)) as! [[String: Any]]
        let directory = TestPaths.policies.appendingPathComponent("tests")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(!files.isEmpty)
        var requests: [[String: Any]] = []
        var ours: [(allow: Bool, policies: [String])] = []
        for file in files {
            let data = try Data(contentsOf: directory.appendingPathComponent(file))
            let raw = (try JSONSerialization.jsonObject(with: data) as! [String: Any])["cases"] as! [[String: Any]]
            for (index, testCase) in try PolicyTestCase.load(data, file: file).enumerated() {
                var store = bundle.entities
                for entity in testCase.entities { store.insert(entity) }
                let decision = policySet.authorize(testCase.request, entities: store)
                ours.append(
                    (
                        decision.effect == .allow,
                        decision.determiningPolicies.map { id in "policy\(policySet.policies.firstIndex { $0.id == id }!)" }.sorted()
                    ))
                // cedarpy takes the whole store per request: the bundle's entities, then the case's own.
                requests.append(["request": raw[index]["request"]!, "entities": bundleEntities + (raw[index]["entities"] as? [Any] ?? [])])
            }
        }
        let input = try TestPaths.temporaryDirectory("cedar-tests").appendingPathComponent("input.json")
        let policies = bundle.sources.filter { $0.file.hasSuffix(".cedar") }.map(\.text).joined(separator: "\n")
        try JSONSerialization.data(withJSONObject: ["policies": policies, "cases": requests]).write(to: input)
        let result = try await runProcess(
            TestPaths.python,
            [
                "-c",
                """
                import json, sys, cedarpy
                data = json.load(open(sys.argv[1]))
                out = []
                for case in data["cases"]:
                    r = cedarpy.is_authorized(case["request"], data["policies"], case["entities"])
                    out.append({"allow": r.allowed, "policies": sorted(r.diagnostics.reasons), "errors": list(r.diagnostics.errors)})
                print(json.dumps(out))
                """, input.path,
            ])
        #expect(result.status == 0, "\(result.stderr)")
        struct Reference: Decodable { let allow: Bool; let policies: [String]; let errors: [String] }
        let reference = try JSONDecoder().decode([Reference].self, from: Data(result.stdout.utf8))
        #expect(reference.count == ours.count)
        for (index, (mine, theirs)) in zip(ours, reference).enumerated() {
            #expect(
                mine.allow == theirs.allow && mine.policies == theirs.policies,
                "case \(index): ours \(mine.allow ? "allow" : "deny") \(mine.policies), cedarpy \(theirs.allow ? "allow" : "deny") \(theirs.policies) \(theirs.errors)"
            )
        }
        #expect(ours.count >= 30 && ours.contains { $0.allow } && ours.contains { !$0.allow })
    }
}
