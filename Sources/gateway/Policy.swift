import ArgumentParser
import Foundation
import GatewayCrypto
import GatewayPolicy

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with the Cedar policy bundle: check it (more tools follow).",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parse every policy file and validate its obligations; print located errors and exit 1 if any.",
            discussion: """
            Each *.cedar file of --policies is parsed on its own, so every broken file is reported (its first error, as \\
            file:line:column), then the whole bundle is loaded as a node loads it (policy ids unique across files, \\
            obligation annotations valid). On success prints the policies and the bundle hash under both suites, the \\
            hash governance approves (`gateway governance propose --approve-bundle`).
            """
        )

        @Option(help: "Directory of Cedar policy files.")
        var policies: String = "Policies"

        func run() throws {
            let directory = URL(fileURLWithPath: policies)
            let files: [URL]
            do {
                files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                    .filter { $0.pathExtension == "cedar" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
            } catch {
                throw ValidationError("cannot read \(directory.path): give the policy directory with --policies")
            }
            guard !files.isEmpty else { throw ValidationError("no .cedar files in \(directory.path)") }
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
                throw ExitCode(1)
            }
            let bundle: PolicyBundle
            do {
                let entitiesURL = directory.appendingPathComponent(PolicyBundle.entitiesFile)
                let entitiesText = FileManager.default.fileExists(atPath: entitiesURL.path)
                    ? try String(contentsOf: entitiesURL, encoding: .utf8) : nil
                bundle = try PolicyBundle(sources: sources, entitiesText: entitiesText)
            } catch {
                note("\(error)")
                throw ExitCode(1)
            }
            for policy in bundle.policySet.policies { say("  \(policy.id) (\(policy.effect)) at \(policy.location)") }
            if !bundle.entities.entities.isEmpty {
                say("  \(PolicyBundle.entitiesFile): \(bundle.entities.entities.count) entities, \(bundle.purposes.count) purposes")
            }
            for name in SuiteName.allCases {
                say("bundle hash (\(name.rawValue)): \(Hex.encode(try name.makeSuite().hash(bundle.canonicalBytes)))")
            }
            say("\(bundle.policySet.policies.count) policies in \(files.count) file(s): OK")
        }
    }
}
