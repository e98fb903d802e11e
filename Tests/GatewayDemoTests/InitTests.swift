import Foundation
import GatewayChain
import GatewayDemo
import GatewayFiles
import GatewayNode
import GatewaySchema
import GatewayTestSupport
import Testing

/// A department's node from nothing, as the README's "Running a node" does it: `gateway init`, then `gateway serve
/// --config` from an unrelated working directory, then the data API through `gateway client` with the profile.
@Suite(.timeLimit(.minutes(5))) struct InitTests {
    func gateway(_ arguments: [String], in directory: URL) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await runProcess(TestPaths.gatewayBinary.path, arguments, directory: directory)
    }

    @Test func initWritesANodeThatServesFromAnyDirectoryAndTheClientCommandsUseIt() async throws {
        let work = try TestPaths.temporaryDirectory("init")
        let elsewhere = try TestPaths.temporaryDirectory("init-elsewhere")
        let node = work.appendingPathComponent("registry")
        let database = try await TestDatabase.fresh("init_node")
        let initArguments = [
            "init", "--department", "civil_registry", "--name", "Civil Registry", "--group", "government", "--dir", node.path, "--database-url",
            database, "--policies",
            TestPaths.policies.path, "--schemas", TestPaths.schemas.path, "--port", "18443",
        ]
        // Bad inputs are refused before anything is written.
        for (bad, message) in [
            (["--port", "70000"], "--port"), (["--department", "Civil Registry"], "--department"),
            (["--database-url", "mysql://x/y"], "--database-url"), (["--policies", "/no/such/policies"], "cannot load the policy bundle"),
        ] {
            let refused = try await gateway(initArguments + bad, in: elsewhere)
            #expect(refused.status != 0 && refused.stderr.contains(message), "\(bad): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: node.path), "\(bad) wrote files")
        }
        let made = try await gateway(initArguments, in: elsewhere)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("policy bundle"))
        for secret in ["data/node-key.pem", "data/tls-key.pem", "civil_registry/civil_registry-key.pem", "civil_registry/civil_registry-tls-key.pem"]
        {
            let mode = try FileManager.default.attributesOfItem(atPath: node.appendingPathComponent(secret).path)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(secret) has mode \(String(mode ?? 0, radix: 8))")
        }
        let entry = try #require(try JSONValue.parse(Data(contentsOf: node.appendingPathComponent("entry.json"))).objectValue)
        #expect(entry["department"]?["id"]?.stringValue == "civil_registry" && entry["member"]?["nodeID"]?.stringValue == "civil-registry-node")
        #expect(entry["department"]?["groups"] == .array([.string("government")]))
        #expect(entry["member"]?["tlsCertificate"]?.stringValue?.contains("BEGIN CERTIFICATE") == true)
        // A second init into the same directory replaces nothing.
        let keyBefore = try Data(contentsOf: node.appendingPathComponent("data/node-key.pem"))
        let again = try await gateway(initArguments, in: elsewhere)
        #expect(again.status == 1 && again.stderr.contains("--force"), "\(again.stderr)")
        #expect(try Data(contentsOf: node.appendingPathComponent("data/node-key.pem")) == keyBefore)

        // The consortium's directory adds a regulator (keys made the way any department makes them).
        let regulator = work.appendingPathComponent("regulator")
        #expect(try await gateway(["keys", "generate", "--out", regulator.path], in: elsewhere).status == 0)
        #expect(try await gateway(["keys", "tls", "--name", "regulator", "--out", regulator.path], in: elsewhere).status == 0)
        let departmentsFile = node.appendingPathComponent("departments.json")
        let listed = try JSONDecoder().decode(DirectoryFile.self, from: Data(contentsOf: departmentsFile)).departments
        try DepartmentDirectory.write(
            listed + [
                .init(
                    id: "regulator", name: "Regulator", groups: ["regulators"],
                    publicKey: try String(contentsOfFile: regulator.path + "-pub.pem", encoding: .utf8),
                    tlsCertificate: try String(contentsOfFile: regulator.path + "-tls-cert.pem", encoding: .utf8))
            ], to: departmentsFile)

        // The node runs from another working directory with nothing but its configuration file (the port is chosen
        // by the flag, which wins over the file).
        let config = node.appendingPathComponent("datagateway.json").path
        let server = try ServerProcess(arguments: ["serve", "--config", config, "--port", "0", "--log-level", "error"], directory: elsewhere)
        let port = try await server.waitForPort()
        let profile = ["--profile", node.appendingPathComponent("client.json").path, "--url", "https://127.0.0.1:\(port)"]
        let health = try await gateway(["client", "health"] + profile, in: elsewhere)
        #expect(health.status == 0 && health.stdout.contains("\"status\":\"ok\""), "\(health.stderr)")

        let records = work.appendingPathComponent("records.json")
        let citizens = SyntheticCitizens.generate(count: 3, seed: 15)
        try Data(JSONValue.array(citizens).canonicalString.utf8).write(to: records)
        let id = try #require(citizens[0]["citizen_id"]?.stringValue)
        let published = try await gateway(["client", "publish", "citizen", records.path] + profile, in: elsewhere)
        #expect(published.status == 0 && published.stdout.contains("transaction"), "\(published.stderr)")
        let read = try await gateway(["client", "read", "citizen", id, "--purpose", "benefit_eligibility"] + profile, in: elsewhere)
        #expect(read.status == 0 && read.stdout.contains(id), "\(read.stderr)")
        let requested = try await gateway(
            ["client", "request", "citizen", id, try #require(citizens[1]["citizen_id"]?.stringValue), "--purpose", "benefit_eligibility"] + profile,
            in: elsewhere)
        #expect(requested.status == 0, "\(requested.stderr)")
        let consent = try await gateway(["client", "consent", id, "--purpose", "research"] + profile, in: elsewhere)
        #expect(consent.status == 0, "\(consent.stderr)")
        let aggregate = try await gateway(
            ["client", "aggregate", "citizen", "--field", "monthly_income", "--group-by", "district", "--purpose", "official_statistics"] + profile,
            in: elsewhere)
        #expect(aggregate.status == 0 || aggregate.stderr.contains("HTTP 403"), "\(aggregate.stderr)")
        // A refusal is one line with the problem's code, exit 1.
        let refused = try await gateway(["client", "read", "citizen", "C9999999", "--purpose", "marketing"] + profile, in: elsewhere)
        #expect(refused.status == 1 && refused.stderr.contains("HTTP 403"), "\(refused.stderr)")
        // The holder erases a record; a read of it is then 410, naming the erasure.
        let erasedID = try #require(citizens[2]["citizen_id"]?.stringValue)
        let erased = try await gateway(["client", "erase", "citizen", erasedID] + profile, in: elsewhere)
        #expect(erased.status == 0 && erased.stdout.contains("\"erasure\""), "\(erased.stderr)")
        let gone = try await gateway(["client", "read", "citizen", erasedID, "--purpose", "benefit_eligibility"] + profile, in: elsewhere)
        #expect(gone.status == 1 && gone.stderr.contains("HTTP 410") && gone.stderr.contains("record_erased"), "\(gone.stderr)")

        let asRegulator = [
            "--url", "https://127.0.0.1:\(port)", "--department", "regulator", "--key", regulator.path + "-key.pem", "--client-certificate",
            regulator.path + "-tls-cert.pem", "--client-key", regulator.path + "-tls-key.pem", "--server-certificate",
            node.appendingPathComponent("data/tls-cert.pem").path,
        ]
        let events = try await gateway(["client", "events", "--limit", "5"] + asRegulator, in: elsewhere)
        #expect(events.status == 0, "\(events.stderr)")
        let eventID = try #require(
            try JSONValue.parse(Data(events.stdout.utf8))["events"]?.arrayValue?.first?["eventId"]?.stringValue, "\(events.stdout)")
        let proof = try await gateway(["client", "proof", eventID] + asRegulator, in: elsewhere)
        #expect(proof.status == 0, "\(proof.stderr)")
        let proofFile = work.appendingPathComponent("proof.json")
        try Data(proof.stdout.utf8).write(to: proofFile)
        let verified = try await gateway(
            ["verify-proof", "--genesis", node.appendingPathComponent("data/genesis.json").path, proofFile.path], in: elsewhere)
        #expect(verified.status == 0 && verified.stdout.contains(eventID), "\(verified.stdout) \(verified.stderr)")

        server.signal(SIGTERM)
        #expect(try await server.waitForExit(timeoutSeconds: 60) == 0)
    }

    /// deploy/datagateway@.service runs the node `gateway init` wrote: systemd accepts the unit, and its ExecStart, with
    /// the paths of this test in place of /var/lib and /usr/local/bin, serves and stops on SIGTERM.
    @Test func theSystemdUnitRunsTheNodeInitWrote() async throws {
        let root = try TestPaths.temporaryDirectory("systemd")
        let state = root.appendingPathComponent("var/lib/datagateway")
        let node = state.appendingPathComponent("civil_registry")
        let made = try await gateway(
            [
                "init", "--department", "civil_registry", "--dir", node.path, "--database-url", try await TestDatabase.fresh("systemd"),
                "--policies", TestPaths.policies.path, "--schemas", TestPaths.schemas.path,
            ], in: root)
        #expect(made.status == 0, "\(made.stderr)")
        let template = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("deploy/datagateway@.service"), encoding: .utf8)
        let unit = template.replacingOccurrences(of: "/var/lib/datagateway", with: state.path)
            .replacingOccurrences(of: "/usr/local/bin/gateway", with: TestPaths.gatewayBinary.path)
        let unitFile = root.appendingPathComponent("datagateway@civil_registry.service")
        try Data(unit.utf8).write(to: unitFile)
        let verified = try await runProcess("/usr/bin/env", ["systemd-analyze", "verify", unitFile.path])
        #expect(verified.status == 0 && !verified.stderr.contains("datagateway@"), "systemd-analyze: \(verified.stderr)")

        func setting(_ key: String) throws -> String {
            let line = try #require(unit.split(separator: "\n").first { $0.hasPrefix(key + "=") }, "no \(key)= in the unit")
            return String(line.dropFirst(key.count + 1)).replacingOccurrences(of: "%i", with: "civil_registry")
        }
        let command = try setting("ExecStart").split(separator: " ").map(String.init)
        #expect(command.first == TestPaths.gatewayBinary.path)
        // The port comes from the environment (it wins over the file), as a drop-in's Environment= would set it.
        let server = try ServerProcess(
            arguments: Array(command.dropFirst()), directory: URL(fileURLWithPath: try setting("WorkingDirectory")),
            environment: ["DATAGATEWAY_PORT": "0", "DATAGATEWAY_LOG_LEVEL": "error"])
        _ = try await server.waitForPort()
        server.signal(SIGTERM)
        #expect(try await server.waitForExit(timeoutSeconds: 60) == 0)
    }

    /// The README's "Running a node" block, run by bash as written — with this test's database name and port, from a
    /// directory holding only the policies, the schemas and the built binary.
    @Test func theReadmesRunningANodeBlockRunsAsWritten() async throws {
        let readme = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Running a node\n"))
        let rest = readme[section.upperBound...]
        let open = try #require(rest.range(of: "```bash\n"))
        let close = try #require(rest[open.upperBound...].range(of: "\n```"))
        var block = String(rest[open.upperBound..<close.lowerBound])
        let database = String(try #require(URLComponents(string: TestDatabase.uniqueURL("readme"))?.path.dropFirst()))
        let port = Int(getpid() % 630) * 20 + 20_019
        #expect(block.contains("datagateway_housing") && block.contains("--port 8443"), "the README's block changed: update this test")
        block = block.replacingOccurrences(of: "datagateway_housing", with: database).replacingOccurrences(of: "--port 8443", with: "--port \(port)")
        let work = try TestPaths.temporaryDirectory("readme")
        for directory in ["Policies", "Schemas"] {
            try FileManager.default.copyItem(at: TestPaths.packageRoot.appendingPathComponent(directory), to: work.appendingPathComponent(directory))
        }
        try FileManager.default.createDirectory(at: work.appendingPathComponent(".build/debug"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: work.appendingPathComponent(".build/debug/gateway"), withDestinationURL: TestPaths.gatewayBinary)
        let script = work.appendingPathComponent("block.sh")
        try Data(("set -e\n" + block + "\nwait\n").utf8).write(to: script)
        let run = try await runProcess("/bin/bash", [script.path], directory: work)
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr.suffix(2_000))")
        #expect(run.stdout.contains("\"status\":\"ok\""), "\(run.stdout)")
    }

    struct DirectoryFile: Decodable { let departments: [DepartmentDirectory.Department] }

    @Test func aConfigurationFileWithAnUnknownKeyOrAWrongValueIsOneClearLine() async throws {
        let work = try TestPaths.temporaryDirectory("config-errors")
        for (content, message) in [
            (#"{"databaseUrl": "postgres://x/y"}"#, #"unknown key "databaseUrl""#), (#"{"port": "8080"}"#, #""port" must be a whole number"#),
            (#"{"insecureHTTP": 1}"#, #""insecureHTTP" must be true or false"#), (#"[1, 2]"#, "is not a JSON object"),
            (#"{"port": 70000, "dataDir": "d"}"#, "port"),
        ] {
            let file = work.appendingPathComponent("config.json")
            try Data(content.utf8).write(to: file)
            let result = try await gateway(["serve", "--config", file.path], in: work)
            #expect(result.status == 1 && result.stderr.contains(message) && !result.stderr.contains("USAGE"), "\(content): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("d").path))
    }
}
