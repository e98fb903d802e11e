import Foundation
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewaySchema
import GatewayTLS
import NIOCore
import NIOPosix
import GatewayTestSupport
import Testing

/// What an operator meets first: a version, key material that is never replaced without `--force` and never readable
/// by others, and runtime errors that are one sentence without the usage text, with their own exit code.
@Suite struct OperatorCommandTests {
    func gateway(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await runProcess(TestPaths.gatewayBinary.path, arguments)
    }

    func mode(_ path: String) throws -> Int? { try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int }

    @Test func theVersionIsPrinted() async throws {
        let version = try await gateway(["--version"])
        #expect(version.status == 0 && version.stdout.hasPrefix("0."), "\(version)")
    }

    @Test func keysAreNeverReplacedWithoutForceAndPrivateOnesAreOwnerOnly() async throws {
        let prefix = try TestPaths.temporaryDirectory("keys-cli").appendingPathComponent("housing").path
        let first = try await gateway(["keys", "generate", "--suite", "sm", "--out", prefix])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try mode(prefix + "-key.pem") == 0o600)
        let original = try String(contentsOfFile: prefix + "-key.pem", encoding: .utf8)
        let again = try await gateway(["keys", "generate", "--suite", "sm", "--out", prefix])
        #expect(again.status == 1, "a runtime refusal exits 1, not 64 (usage)")
        #expect(again.stderr.contains("refusing") && again.stderr.contains("--force") && !again.stderr.contains("USAGE"), "\(again.stderr)")
        #expect(try String(contentsOfFile: prefix + "-key.pem", encoding: .utf8) == original)
        let forced = try await gateway(["keys", "generate", "--suite", "sm", "--out", prefix, "--force"])
        let replaced = try String(contentsOfFile: prefix + "-key.pem", encoding: .utf8)
        #expect(forced.status == 0 && replaced != original)
        #expect(try mode(prefix + "-key.pem") == 0o600)

        let tls = try await gateway(["keys", "tls", "--name", "housing", "--out", prefix])
        #expect(tls.status == 0 && tls.stdout.contains("pin sha256/"), "\(tls.stderr)")
        #expect(try mode(prefix + "-tls-key.pem") == 0o600)
        let pin = try TLSIdentity.load(
            certificate: URL(fileURLWithPath: prefix + "-tls-cert.pem"), key: URL(fileURLWithPath: prefix + "-tls-key.pem")
        ).pin
        #expect(tls.stdout.contains(pin))
        let tlsAgain = try await gateway(["keys", "tls", "--name", "housing", "--out", prefix])
        #expect(tlsAgain.status == 1 && tlsAgain.stderr.contains("--force"), "\(tlsAgain.stderr)")
        // A command line that does not parse still gets the usage text, and 64.
        let wrong = try await gateway(["keys", "tls", "--name", "housing", "--out", prefix, "--days", "0"])
        #expect(wrong.status == 64 && wrong.stderr.contains("--days must be"), "\(wrong.stderr)")
    }
}

/// A node that cannot start says why in one line and exits 1 within seconds, before it generates any key material.
@Suite(.timeLimit(.minutes(3))) struct StartupFailureTests {
    func serve(_ extra: [String], data: URL, departments: URL) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await runProcess(
            TestPaths.gatewayBinary.path,
            [
                "serve", "--data-dir", data.path, "--departments", departments.path, "--policies", TestPaths.policies.path,
                "--schemas", TestPaths.schemas.path, "--log-level", "error",
            ] + extra)
    }

    @Test func aMissingDatabaseAnUnreachableServerABusyPortAndMissingInputsAreOneLineEach() async throws {
        let work = try TestPaths.temporaryDirectory("startup-failures")
        let departments = work.appendingPathComponent("departments.json")
        try Data(#"{"departments": []}"#.utf8).write(to: departments)
        let listed = work.appendingPathComponent("listed.json")
        try DepartmentDirectory.write(
            [.init(id: "civil_registry", name: "Civil registry", publicKey: NationalSuite().generateSigningKey().publicKey.pemRepresentation)],
            to: listed)
        let data = work.appendingPathComponent("data")
        let base = try #require(URLComponents(string: TestDatabase.baseURL))
        func url(port: Int? = nil, database: String) -> String {
            var components = base
            if let port { components.port = port }
            components.path = "/" + database
            return components.string!
        }
        let missing = try await serve(
            ["--port", "0", "--database-url", url(database: "no_such_database_here")], data: data, departments: listed)
        #expect(missing.status == 1 && missing.stderr.contains("database no_such_database_here does not exist"), "\(missing.stderr)")
        let unlisted = try await serve(["--port", "0", "--database-url", TestDatabase.baseURL], data: data, departments: departments)
        #expect(
            unlisted.status == 1 && unlisted.stderr.contains("department civil_registry is not in the departments file"), "\(unlisted.stderr)")
        let unreachable = try await serve(["--port", "0", "--database-url", url(port: 1, database: "x")], data: data, departments: listed)
        #expect(unreachable.status == 1 && unreachable.stderr.contains("not reachable"), "\(unreachable.stderr)")
        let noDepartments = try await serve(
            ["--port", "0", "--database-url", TestDatabase.baseURL], data: data, departments: work.appendingPathComponent("none.json"))
        #expect(noDepartments.status == 1 && noDepartments.stderr.contains("no departments file"), "\(noDepartments.stderr)")
        // A port another process listens on.
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        let busy = try await serve(["--port", "\(port)", "--database-url", TestDatabase.baseURL], data: data, departments: listed)
        try await listener.close()
        #expect(busy.status == 1 && busy.stderr.contains("address is in use"), "\(busy.stderr)")
        // A data directory that cannot be created: the path and what to check, not a Foundation error dump.
        let unwritable = try await serve(
            ["--port", "0", "--database-url", TestDatabase.baseURL], data: URL(fileURLWithPath: "/proc/no-such-dir/data"), departments: listed)
        #expect(
            unwritable.status == 1 && unwritable.stderr.contains("/proc/no-such-dir") && !unwritable.stderr.contains("Domain="),
            "\(unwritable.stderr)")
        for result in [missing, unlisted, unreachable, noDepartments, busy, unwritable] {
            #expect(!result.stderr.contains("USAGE") && result.stderr.split(separator: "\n").count <= 2, "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: data.path), "nothing was generated for a node that cannot start")
    }

    /// A database that stops answering — while the node starts (its pool cannot connect, so it never verifies its
    /// chain) or while it serves — must not hold the node hostage: SIGTERM stops it within its shutdown deadline.
    @Test(.timeLimit(.minutes(4))) func sigtermStopsANodeWhoseDatabaseStallsWhileStartingOrWhileServing() async throws {
        let work = try TestPaths.temporaryDirectory("sigterm-stalled")
        let consortium = try DemoConsortium.create(in: work.appendingPathComponent("departments"), suite: NationalSuite())
        let url = try await TestDatabase.fresh("sigterm_stalled")
        var components = try #require(URLComponents(string: url))
        let upstream = (host: components.host ?? "127.0.0.1", port: components.port ?? 5432)
        func start(_ label: String, through proxy: StallingProxy) throws -> ServerProcess {
            components.host = "127.0.0.1"
            components.port = proxy.port
            return try ServerProcess(arguments: [
                "serve", "--port", "0", "--database-url", components.string!, "--data-dir", work.appendingPathComponent(label).path,
                "--departments", consortium.departmentsFile.path, "--policies", TestPaths.policies.path, "--schemas", TestPaths.schemas.path,
                "--log-level", "critical", "--shutdown-timeout", "3",
            ])
        }
        // Serving: the node is ready, then its database stalls, then SIGTERM.
        let serving = try await StallingProxy(upstreamHost: upstream.host, upstreamPort: upstream.port)
        let ready = try start("serving", through: serving)
        _ = try await ready.waitForPort()
        serving.stall()
        ready.signal(SIGTERM)
        let servingExit = try await ready.waitForExit(timeoutSeconds: 90)
        #expect(servingExit != nil, "a node whose database stalled while it served ignored SIGTERM")
        // Starting: the start-up probe gets through, every connection after it stalls, so the node listens but never
        // verifies its chain; SIGTERM then.
        let starting = try await StallingProxy(upstreamHost: upstream.host, upstreamPort: upstream.port, passing: 1)
        let stuck = try start("starting", through: starting)
        _ = try await stuck.waitForListening()
        stuck.signal(SIGTERM)
        let startingExit = try await stuck.waitForExit(timeoutSeconds: 90)
        #expect(startingExit != nil, "a node stuck verifying its chain ignored SIGTERM")
        try await serving.close()
        try await starting.close()
    }

    /// `gateway cluster` reports its nodes running only once each is READY; one that cannot start (here, its HTTP port
    /// is taken) fails the cluster's start with that node's reason, and the others are stopped.
    @Test(.timeLimit(.minutes(3))) func aClusterWhoseNodeCannotStartSaysWhichAndWhyAndStopsTheOthers() async throws {
        let work = try TestPaths.temporaryDirectory("cluster-busy")
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let busy = try #require(listener.localAddress?.port)
        // node-2's HTTP port is the one taken.
        let result = try await runProcess(
            TestPaths.gatewayBinary.path,
            [
                "cluster", "--validators", "2", "--dir", work.appendingPathComponent("cluster").path, "--http-base-port", "\(busy - 1)",
                "--peer-base-port", "\(Int(getpid() % 630) * 20 + 20_017)", "--database-url", TestDatabase.uniqueURL("cluster_busy"),
                "--aggregation-bits", "1024", "--log-level", "error", "--policies", TestPaths.policies.path, "--schemas", TestPaths.schemas.path,
            ])
        try await listener.close()
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("node-2 exited while the cluster started") && result.stderr.contains("in use"), "\(result.stderr)")
        #expect(!result.stderr.contains("nodes ready"), "\(result.stderr)")
    }

    /// `serve --log-format json`: every line on standard error is one JSON object with time, level, logger and message —
    /// the node's log and the command's own notes alike.
    @Test func jsonLogsAreOneObjectPerLine() async throws {
        let work = try TestPaths.temporaryDirectory("json-logs")
        let consortium = try DemoConsortium.create(in: work.appendingPathComponent("departments"), suite: NationalSuite())
        let server = try ServerProcess(arguments: [
            "serve", "--port", "0", "--database-url", try await TestDatabase.fresh("json_logs"), "--data-dir",
            work.appendingPathComponent("node").path, "--departments", consortium.departmentsFile.path, "--policies", TestPaths.policies.path,
            "--schemas", TestPaths.schemas.path, "--log-level", "info", "--log-format", "json",
        ])
        _ = try await server.waitForPort()
        server.signal(SIGTERM)
        #expect(try await server.waitForExit(timeoutSeconds: 60) == 0)
        var lines = server.standardErrorTail.split(separator: "\n").map(String.init)
        if server.standardErrorTail.utf8.count >= 4_000 { lines.removeFirst() }  // the tail's first line may be cut
        #expect(lines.count >= 3, "\(lines)")
        for line in lines {
            let object = try #require(try? JSONValue.parse(Data(line.utf8)).objectValue, "not a JSON object: \(line)")
            for key in ["time", "level", "logger", "message"] { #expect(object[key]?.stringValue != nil, "\(key) missing: \(line)") }
        }
        #expect(lines.contains { $0.contains("listening") })
    }
}
