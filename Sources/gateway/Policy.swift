import ArgumentParser
import Foundation
import GatewayCrypto
import GatewayFiles
import GatewayPolicy

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with the Cedar policy bundle: check it, explain a decision, run its tests.",
        subcommands: [Check.self, Explain.self, Test.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parse every policy file, validate it against the Cedar schema and its obligations; print located errors, exit 2 if any.",
            discussion: """
                Each *.cedar file of --policies is parsed on its own, so every broken file is reported (its first error, as \
                file:line:column), then every policy is validated against the Cedar schema (all errors listed, located \
                and quoted), then the whole bundle — policies, entities.json, schema — is loaded as a node loads it \
                (policy ids unique across files, obligation annotations valid). On success prints the policies and the \
                bundle hash under both suites, the hash governance approves (`gateway governance propose --approve-bundle`).
                """
        )

        @Option(help: "Directory of Cedar policy files.")
        var policies: String = "Policies"

        @Option(help: "Cedar schema to validate against (default: <policies>/../Schemas/\(PolicyBundle.schemaFile); 'none' to skip).")
        var schema: String?

        func run() throws {
            let directory = URL(fileURLWithPath: policies)
            let files: [URL]
            do {
                files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                    .filter { $0.pathExtension == "cedar" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
            } catch {
                throw CommandFailure("cannot read \(directory.path): give the policy directory with --policies")
            }
            guard !files.isEmpty else { throw CommandFailure("no .cedar files in \(directory.path)") }
            var failures = 0
            var sources: [(file: String, text: String)] = []
            for file in files {
                guard let text = try? String(contentsOf: file, encoding: .utf8) else {
                    note("\(file.lastPathComponent): not readable as UTF-8")
                    failures += 1
                    continue
                }
                do {
                    _ = try PolicySet(sources: [(file.lastPathComponent, text)])
                } catch {
                    note("\(error)")
                    failures += 1
                }
                sources.append((file.lastPathComponent, text))
            }
            guard failures == 0 else {
                note("\(failures) of \(files.count) policy files have errors")
                throw ExitCode.negative
            }
            let schemaText = try readSchema(schema, policies: directory.path)
            // Every schema error, not only the first the bundle load stops at.
            if let schemaText, let policySet = try? PolicySet(sources: sources),
                let parsed = try? CedarSchema(json: Data(schemaText.utf8), file: PolicyBundle.schemaFile)
            {
                let errors = PolicyValidator(schema: parsed).validate(policySet.policies)
                for error in errors { note("\(error)") }
                if !errors.isEmpty {
                    note("\(errors.count) schema error(s) against \((try? schemaPath(schema, policies: directory.path)) ?? PolicyBundle.schemaFile)")
                    throw ExitCode.negative
                }
            }
            let bundle: PolicyBundle
            do {
                let entitiesURL = directory.appendingPathComponent(PolicyBundle.entitiesFile)
                let entitiesText =
                    FileManager.default.fileExists(atPath: entitiesURL.path)
                    ? try String(contentsOf: entitiesURL, encoding: .utf8) : nil
                bundle = try PolicyBundle(sources: sources, entitiesText: entitiesText, schemaText: schemaText)
            } catch {
                note("\(error)")
                throw ExitCode.negative
            }
            for policy in bundle.policySet.policies { say("  \(policy.id) (\(policy.effect)) at \(policy.location)") }
            if !bundle.entities.entities.isEmpty {
                say("  \(PolicyBundle.entitiesFile): \(bundle.entities.entities.count) entities, \(bundle.purposes.count) purposes")
            }
            for name in SuiteName.allCases {
                say("bundle hash (\(name.rawValue)): \(Hex.encode(try name.makeSuite().hash(bundle.canonicalBytes)))")
            }
            if bundle.schema != nil { say("  validated against \((try? schemaPath(schema, policies: directory.path)) ?? PolicyBundle.schemaFile)") }
            say("\(bundle.policySet.policies.count) policies in \(files.count) file(s): OK")
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide requests and say why: the decision, determining policies, obligations, and every policy's outcome.",
            discussion: """
                The request file is JSON: {"request": {"principal": "Department::\\"housing\\"", "action": "Action::\\"read\\"", \
                "resource": "Record::\\"r1\\"", "context": {"purpose": {"__entity": {"type": "Purpose", "id": "housing_allocation"}}}}, \
                "entities": [Cedar entity JSON added to the bundle's entities.json]}. A test case of Policies/tests works too \
                (its "expect" is then checked), and so does a whole test file ({"cases": [...]}): every request in it is \
                explained. For a denial, each policy in scope shows the condition that failed, quoted with its location. \
                With --json, one JSON object per request (a JSON array for a file of cases) on standard output. \
                Exit status: 0 every request allowed (and every expectation met); 2 a request denied or an expectation \
                not met; 1 the bundle or the request file cannot be used.
                """
        )

        @Option(help: "Directory of Cedar policy files (and entities.json).")
        var policies: String = "Policies"

        @Option(help: "The request file (JSON, see above): one request, one test case, or a test file of cases.")
        var request: String

        @Option(help: "Cedar schema (default: <policies>/../Schemas/\(PolicyBundle.schemaFile); 'none' to skip).")
        var schema: String?

        @Flag(help: "Print JSON: the decision, determining policies, obligations, errors and explanation of each request.")
        var json = false

        func run() throws {
            let bundle = try loadBundle(policies, schema: schema)
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: request)) } catch {
                throw CommandFailure("cannot read \(request): give a JSON request file with --request")
            }
            let cases: [PolicyTestCase]
            let many = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["cases"] != nil
            do {
                cases = many ? try PolicyTestCase.load(data, file: request) : [try PolicyTestCase.loadRequest(data, file: request)]
            } catch {
                throw CommandFailure("\(error)")
            }
            var negative = false
            var reports: [[String: Any]] = []
            for testCase in cases {
                var store = bundle.entities
                for entity in testCase.entities { store.insert(entity) }
                let explanation = bundle.policySet.explain(testCase.request, entities: store)
                let mismatch = testCase.expectedEffect != nil ? testCase.check(against: bundle).mismatch : nil
                if explanation.decision.effect == .deny || mismatch != nil { negative = true }
                if json {
                    reports.append(PolicyReport.explanation(testCase, explanation, mismatch: mismatch))
                    continue
                }
                if many { say("case \(testCase.name):") }
                say(
                    "request: \(testCase.request.principal) \(testCase.request.action) \(testCase.request.resource), context \(Value.record(testCase.request.context))"
                )
                for line in explanation.lines { say(line) }
                for error in explanation.decision.errors { say("  evaluation error in \(error.policy): \(error.message)") }
                if let mismatch { note("expectation not met: \(mismatch)") }
            }
            if json { try PolicyReport.print(many ? reports as Any : reports[0] as Any) }
            if negative { throw ExitCode.negative }
        }
    }

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the policy tests of Policies/tests/*.json: each request's expected decision, policies, obligations and errors.",
            discussion: """
                A test file is {"cases": [{"name", "request", "entities", "expect": {"decision": "allow"|"deny", "policies": [...], \
                "obligations": {"fields": "a,b", "mask": "a:hash", "max_rows": "50", ...}, "errors": [...]}}]} (see `gateway \
                policy explain --help` for the request). "errors" lists the policies expected to report an evaluation error \
                (Cedar skips a policy whose condition errs); without it any evaluation error fails the case. Every case is \
                run against the bundle; a failing case prints what differed and the explanation. With --require-coverage \
                (the default) every policy of the bundle must determine the decision of at least one case, so that each \
                allow and deny a policy is meant to produce is tested; --no-require-coverage only reports untested policies. \
                --quiet prints failures and the summary only; --json prints one JSON report on standard output. \
                Exit status: 0 every case passed (and every policy is covered, when required); 2 a case failed or a policy \
                is untested; 1 the bundle or a test file cannot be used.
                """
        )

        @Option(help: "Directory of Cedar policy files (and entities.json).")
        var policies: String = "Policies"

        @Option(help: "Directory of test files (default: <policies>/tests).")
        var tests: String?

        @Option(help: "Cedar schema (default: <policies>/../Schemas/\(PolicyBundle.schemaFile); 'none' to skip).")
        var schema: String?

        @Flag(inversion: .prefixedNo, help: "Require every policy to determine the decision of at least one case.")
        var requireCoverage = true

        @Flag(name: .shortAndLong, help: "Print failures and the summary only.")
        var quiet = false

        @Flag(help: "Print one JSON report: every case's outcome, the counts and the untested policies.")
        var json = false

        func run() throws {
            let bundle = try loadBundle(policies, schema: schema)
            let directory = URL(fileURLWithPath: tests ?? (policies as NSString).appendingPathComponent("tests"))
            let files: [URL]
            do {
                files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                    .filter { $0.pathExtension == "json" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
            } catch {
                throw CommandFailure("cannot read \(directory.path): give the test directory with --tests")
            }
            guard !files.isEmpty else { throw CommandFailure("no .json test files in \(directory.path)") }
            var passed = 0
            var failed = 0
            var covered = Set<String>()
            var reports: [[String: Any]] = []
            for file in files {
                let cases: [PolicyTestCase]
                do { cases = try PolicyTestCase.load(try Data(contentsOf: file), file: file.lastPathComponent) } catch {
                    throw CommandFailure("\(error)")
                }
                for testCase in cases {
                    let (decision, mismatch) = testCase.check(against: bundle)
                    covered.formUnion(decision.determiningPolicies)
                    reports.append(PolicyReport.outcome(testCase, decision, mismatch: mismatch))
                    if let mismatch {
                        failed += 1
                        guard !json else { continue }
                        note("FAIL \(testCase.file): \(testCase.name): \(mismatch)")
                        var store = bundle.entities
                        for entity in testCase.entities { store.insert(entity) }
                        for line in bundle.policySet.explain(testCase.request, entities: store).lines { note("     \(line)") }
                    } else {
                        passed += 1
                        if !quiet && !json { say("ok   \(testCase.file): \(testCase.name) (\(decision.effect.rawValue))") }
                    }
                }
            }
            let untested = bundle.policySet.policies.map(\.id).filter { !covered.contains($0) }
            let total = bundle.policySet.policies.count
            if json {
                try PolicyReport.print([
                    "cases": reports, "passed": passed, "failed": failed, "policies": total, "covered": total - untested.count,
                    "untested": untested, "coverageRequired": requireCoverage,
                ])
            } else {
                for policy in untested {
                    note("\(requireCoverage ? "UNTESTED" : "untested") policy \(policy): no case has it among the determining policies")
                }
                say("\(passed) passed, \(failed) failed, \(total - untested.count) of \(total) policies covered")
            }
            if failed > 0 || (requireCoverage && !untested.isEmpty) { throw ExitCode.negative }
        }
    }
}

/// The JSON reports of `policy test --json` and `policy explain --json` (keys sorted, so the output is stable).
enum PolicyReport {
    static func decision(_ decision: Decision) -> [String: Any] {
        [
            "decision": decision.effect.rawValue, "policies": decision.determiningPolicies.sorted(),
            "errors": decision.errors.map { ["policy": $0.policy, "message": $0.message] },
            "obligations": decision.obligations?.summary ?? NSNull(),
        ]
    }

    static func outcome(_ testCase: PolicyTestCase, _ decision: Decision, mismatch: String?) -> [String: Any] {
        var out = self.decision(decision)
        out["file"] = testCase.file
        out["name"] = testCase.name
        out["passed"] = mismatch == nil
        out["mismatch"] = mismatch ?? NSNull()
        return out
    }

    static func explanation(_ testCase: PolicyTestCase, _ explanation: Explanation, mismatch: String?) -> [String: Any] {
        var out = decision(explanation.decision)
        out["name"] = testCase.name
        out["request"] = [
            "principal": testCase.request.principal.description, "action": testCase.request.action.description,
            "resource": testCase.request.resource.description, "context": Value.record(testCase.request.context).description,
        ]
        out["explanation"] = explanation.lines
        if testCase.expectedEffect != nil {
            out["expectationMet"] = mismatch == nil
            out["mismatch"] = mismatch ?? NSNull()
        }
        return out
    }

    static func print(_ value: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted])
        say(String(decoding: data, as: UTF8.self))
    }
}

/// The schema file to use: the one given; else the repository's beside the policies (`<policies>/../Schemas/…`), then
/// in the working directory; nil for 'none'. Never skipped silently: the schema is part of the bundle hash that
/// governance approves, so a missing one is an error that says how to give it.
func schemaPath(_ option: String?, policies: String? = nil) throws -> String? {
    if option == "none" { return nil }
    if let option { return option }
    var candidates: [String] = []
    if let policies {
        candidates.append(
            URL(fileURLWithPath: policies).standardizedFileURL.deletingLastPathComponent().appendingPathComponent("Schemas")
                .appendingPathComponent(PolicyBundle.schemaFile).path)
    }
    // Without --policies either: the default policy directory is Policies, so its schema is Schemas/… beside it.
    if candidates.isEmpty {
        candidates.append(URL(fileURLWithPath: "Schemas/\(PolicyBundle.schemaFile)").standardizedFileURL.path)
    }
    if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
    throw CommandFailure(
        "no Cedar schema at \(candidates.joined(separator: " or ")): give --schema FILE (the node's <schemas>/\(PolicyBundle.schemaFile); the bundle hash includes it), or --schema none for a bundle without one"
    )
}

func readSchema(_ option: String?, policies: String? = nil) throws -> String? {
    guard let path = try schemaPath(option, policies: policies) else { return nil }
    do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
        throw CommandFailure("cannot read the Cedar schema \(path): give it with --schema FILE (or --schema none)")
    }
}

/// Loads a policy directory as a node does (validated against the schema), or explains what is wrong with it.
func loadBundle(_ path: String, schema: String?) throws -> PolicyBundle {
    let schemaText = try readSchema(schema, policies: path)
    do {
        let bundle = try PolicyBundle.load(from: URL(fileURLWithPath: path))
        return try PolicyBundle(
            sources: bundle.sources.filter { $0.file.hasSuffix(".cedar") },
            entitiesText: bundle.sources.first { $0.file == PolicyBundle.entitiesFile }?.text, schemaText: schemaText
        )
    } catch {
        throw CommandFailure("\(error) (run `gateway policy check --policies \(path)` for every error)")
    }
}
