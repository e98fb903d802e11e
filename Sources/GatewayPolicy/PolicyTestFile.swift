import Foundation

/// Policy test files (`Policies/tests/*.json`): requests with the decision, determining policies and obligations the
/// bundle must produce. Shape:
///
///     {"cases": [{"name": "…",
///                 "request": {"principal": "Department::\"housing\"", "action": "Action::\"read\"",
///                             "resource": "Record::\"r1\"", "context": {"purpose": {"__entity": {…}}}},
///                 "entities": [ Cedar entity JSON, added to the bundle's entities.json ],
///                 "expect": {"decision": "allow" | "deny", "policies": ["…"],
///                            "obligations": {"fields": "a,b", "mask": "a:hash", "max_rows": "50", …},
///                            "errors": ["policy-id", …]}}]}
///
/// `expect.obligations` uses the annotation vocabulary and is compared with the combined obligations of the
/// determining permits; `expect.errors` names the policies expected to report an evaluation error (Cedar skips them);
/// without it, any evaluation error fails the case. `policies`, `obligations` and `errors` are optional.
public struct PolicyTestCase: Sendable {
    public let file: String
    public let name: String
    public let request: AuthorizationRequest
    public let entities: [Entity]
    public let expectedEffect: Decision.Effect?
    public let expectedPolicies: [String]?
    public let expectedObligations: Obligations?
    /// The policies expected to report an evaluation error (nil: none may).
    public let expectedErrors: [String]?

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    /// Every case of one test file.
    public static func load(_ data: Data, file: String) throws -> [PolicyTestCase] {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let cases = root["cases"] as? [Any] else {
            throw Failure(message: "\(file): not a policy test file (a JSON object with a \"cases\" array)")
        }
        return try cases.enumerated().map { try PolicyTestCase(json: $1, file: file, path: "cases[\($0)]") }
    }

    /// One request (`{"request": …, "entities": […]}`, `expect` optional), as `gateway policy explain` reads it.
    public static func loadRequest(_ data: Data, file: String) throws -> PolicyTestCase {
        guard let root = try? JSONSerialization.jsonObject(with: data) else { throw Failure(message: "\(file): not valid JSON") }
        return try PolicyTestCase(json: root, file: file, path: "request file")
    }

    init(json: Any, file: String, path: String) throws {
        func fail(_ message: String) -> Failure { Failure(message: "\(file): \(path): \(message)") }
        guard let object = json as? [String: Any] else { throw fail("must be an object") }
        self.file = file
        name = object["name"] as? String ?? path
        guard let requestJSON = object["request"] else { throw fail("has no request") }
        do {
            request = try CedarJSON.request(requestJSON, at: "request")
            entities = try (object["entities"] as? [Any] ?? []).enumerated().map { try CedarJSON.entity($1, at: "entities[\($0)]") }
        } catch {
            throw fail("\(error)")
        }
        guard let expect = object["expect"] else {
            expectedEffect = nil
            expectedPolicies = nil
            expectedObligations = nil
            expectedErrors = nil
            return
        }
        guard let expectation = expect as? [String: Any], let decision = expectation["decision"] as? String,
            let effect = Decision.Effect(rawValue: decision)
        else { throw fail("expect.decision must be \"allow\" or \"deny\"") }
        expectedEffect = effect
        if let policies = expectation["policies"] {
            guard let names = policies as? [String] else { throw fail("expect.policies must be an array of policy ids") }
            expectedPolicies = names
        } else {
            expectedPolicies = nil
        }
        if let obligations = expectation["obligations"] {
            guard let annotations = obligations as? [String: String] else {
                throw fail("expect.obligations must map annotation names (fields, mask, max_rows, …) to strings")
            }
            do { expectedObligations = try Obligations(annotations: annotations) } catch { throw fail("expect.obligations: \(error)") }
        } else {
            expectedObligations = nil
        }
        if let errors = expectation["errors"] {
            guard let names = errors as? [String] else { throw fail("expect.errors must be an array of policy ids") }
            expectedErrors = names
        } else {
            expectedErrors = nil
        }
    }

    /// Runs the case against a bundle: nil if it passes, else what differed.
    public func check(against bundle: PolicyBundle) -> (decision: Decision, mismatch: String?) {
        var store = bundle.entities
        for entity in entities { store.insert(entity) }
        let decision = bundle.policySet.authorize(request, entities: store)
        var problems: [String] = []
        if let expectedEffect, decision.effect != expectedEffect {
            problems.append("expected \(expectedEffect.rawValue), got \(decision.effect.rawValue) (\(decision.reason))")
        }
        if let expectedPolicies, expectedPolicies.sorted() != decision.determiningPolicies.sorted() {
            problems.append("expected determining policies \(expectedPolicies.sorted()), got \(decision.determiningPolicies.sorted())")
        }
        if let expectedObligations, decision.obligations != expectedObligations {
            problems.append("expected obligations [\(expectedObligations.summary)], got [\(decision.obligations?.summary ?? "none")]")
        }
        let erring = decision.errors.map(\.policy).sorted()
        if let expectedErrors {
            if expectedErrors.sorted() != erring {
                problems.append(
                    "expected evaluation errors in \(expectedErrors.sorted()), got \(erring)"
                        + (decision.errors.isEmpty ? "" : ": " + decision.errors.map { "\($0.policy): \($0.message)" }.joined(separator: "; ")))
            }
        } else if !decision.errors.isEmpty {
            problems.append(
                "evaluation errors: " + decision.errors.map { "\($0.policy): \($0.message)" }.joined(separator: "; ")
                    + " (list the policies under expect.errors if the case means them)")
        }
        return (decision, problems.isEmpty ? nil : problems.joined(separator: "; "))
    }
}
