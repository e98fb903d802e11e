import Foundation
import GatewayTLS
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewayStore
import Logging
import PostgresNIO

/// Where things are, for tests that need files of the repository or the built `gateway` binary.
package enum TestPaths {
    /// The package root, derived from this file's location.
    package static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `../shared/vectors` beside the repository (CI lays `shared/` next to the clone).
    package static var vectors: URL {
        let candidates = [
            packageRoot.deletingLastPathComponent().appendingPathComponent("shared/vectors"),
            packageRoot.appendingPathComponent("../shared/vectors").standardized,
        ]
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) } ?? candidates[0]
    }

    package static var policies: URL { packageRoot.appendingPathComponent("Policies") }
    package static var schemas: URL { packageRoot.appendingPathComponent("Schemas") }

    /// The `gateway` executable built alongside the tests.
    package static var gatewayBinary: URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            beside.appendingPathComponent("gateway"),
            beside.deletingLastPathComponent().appendingPathComponent("gateway"),
            packageRoot.appendingPathComponent(".build/debug/gateway"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates.last!
    }

    /// The Python of the oracle venv (`scripts/setup.sh` creates it).
    package static var python: String {
        ProcessInfo.processInfo.environment["DATAGATEWAY_PYTHON"] ?? packageRoot.appendingPathComponent(".venv/bin/python").path
    }

    package static func temporaryDirectory(_ label: String) throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("dg-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Fresh PostgreSQL databases for integration tests (a real server: `scripts/test.sh` starts it).
package enum TestDatabase {
    /// Drops every foreign key of the database's tables: what an insider with the node's own role could do, and what
    /// a test needs to write derived rows without their blocks.
    package static func dropForeignKeys(_ database: Database) async throws {
        try await database.client.query(
            PostgresQuery(
                unsafeSQL: """
                    DO $$ DECLARE r record; BEGIN
                      FOR r IN SELECT conname, conrelid::regclass AS t FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace LOOP
                        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname);
                      END LOOP;
                    END $$
                    """))
    }

    package static var baseURL: String {
        ProcessInfo.processInfo.environment["DATAGATEWAY_TEST_DATABASE_URL"]
            ?? "postgres://datagateway:datagateway@127.0.0.1:5432/datagateway"
    }

    package static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return logger
    }()

    /// Tags every database of one test run (`scripts/test.sh` sets it and drops `dg_test_<run>_*` when the run
    /// ends); "local" when the tests run without the script.
    package static var runTag: String {
        let tag = ProcessInfo.processInfo.environment["DATAGATEWAY_TEST_RUN"] ?? ""
        let valid = (1...8).contains(tag.utf8.count) && tag.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) }
        return valid ? tag : "local"
    }

    /// A database URL with a unique name, not yet created.
    package static func uniqueURL(_ label: String) -> String {
        var components = URLComponents(string: baseURL)!
        components.path = "/dg_test_\(runTag)_\(label)_\(UUID().uuidString.prefix(8).lowercased())"
        return components.string!
    }

    /// Creates an empty database with a unique name and returns its URL.
    package static func fresh(_ label: String) async throws -> String {
        let url = uniqueURL(label)
        try await Database.recreate(url: url, logger: logger)
        return url
    }
}

/// Runs a command to completion and returns its exit status and output.
///
/// The waiting happens on a thread of its own, never on a thread of Swift concurrency's cooperative pool (two threads
/// on this machine). A test blocking a pool thread while its child process talks to a node running in this same test
/// process starved that node: its requests timed out whenever two such waits overlapped.
package func runProcess(
    _ executable: String, _ arguments: [String], input: Data? = nil, environment: [String: String] = [:], directory: URL? = nil
) async throws -> (
    status: Int32, stdout: String, stderr: String
) {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(
                with: Result { try runProcessBlocking(executable, arguments, input: input, environment: environment, directory: directory) })
        }.start()
    }
}

private func runProcessBlocking(_ executable: String, _ arguments: [String], input: Data?, environment: [String: String], directory: URL?) throws -> (
    status: Int32, stdout: String, stderr: String
) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let inPipe = Pipe()
    if input != nil { process.standardInput = inPipe }
    try process.run()
    // Standard error is drained on another thread while standard output is read here, so that neither pipe can fill
    // up and stall a child that writes much to the other.
    let errors = ErrorDrain(err.fileHandleForReading)
    if let input {
        inPipe.fileHandleForWriting.write(input)
        try inPipe.fileHandleForWriting.close()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = errors.wait()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

private final class ErrorDrain: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }.start()
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}

/// A node of the demo consortium running in this process on a fresh database.
package struct TestNode: Sendable {
    package let running: RunningNode
    package let consortium: DemoConsortium
    package let databaseURL: String
    package let suite: any CryptoSuite

    /// Starts a node; the `sm` suite is the default, as in production.
    package static func start(
        _ label: String, suite name: SuiteName = .sm, paillierBits: Int = 1024, policies: URL = TestPaths.policies, tls: Bool = true
    ) async throws -> TestNode {
        let suite = try name.makeSuite()
        let work = try TestPaths.temporaryDirectory(label)
        let url = try await TestDatabase.fresh(label)
        let consortium = try DemoConsortium.create(in: work.appendingPathComponent("departments"), suite: suite)
        var configuration = NodeConfiguration(
            host: "127.0.0.1", port: 0, databaseURL: url, dataDirectory: work.appendingPathComponent("node"), suite: name,
            logLevel: .warning, policiesDirectory: policies, schemasDirectory: TestPaths.schemas,
            departmentsFile: consortium.departmentsFile, nodeID: "test-node", department: DemoConsortium.registry,
            requestBodyBytesMax: 1024 * 1024, paillierBits: paillierBits, paillierPoolSize: 0
        )
        if tls {
            let identity = try TLSIdentity.generate(name: "test-node")
            configuration.tls = identity
            try Data(identity.certificatePEM.utf8).write(to: work.appendingPathComponent("node-tls-cert.pem"))
        }
        let running = try await RunningNode.start(configuration, logger: TestDatabase.logger)
        return TestNode(running: running, consortium: consortium, databaseURL: url, suite: suite)
    }

    /// The node's TLS certificate as a file, for clients in other processes (nil: plain HTTP).
    package var tlsCertificateFile: URL? {
        running.node.configuration.tls == nil
            ? nil : running.node.configuration.dataDirectory.deletingLastPathComponent().appendingPathComponent("node-tls-cert.pem")
    }

    /// Environment for a Python oracle: where the node's pinned certificate is (it uses the departments' TLS files).
    package var oracleEnvironment: [String: String] { tlsCertificateFile.map { ["DG_TLS_SERVER_CERT": $0.path] } ?? [:] }

    /// A department's client: over HTTPS with its client certificate when the node serves TLS. It checks the node's
    /// signature on every response it gets through `send` (a response that does not verify is an error).
    package func client(_ department: String) -> GatewayClient {
        // The demo consortium's departments all exist; a test that names another fails here, loudly.
        var client = try! consortium.client(
            department, baseURL: running.baseURL, suite: suite, nodeCertificate: running.node.configuration.tls?.certificatePEM)
        client.nodeKey = running.node.signingKey.publicKey
        return client
    }

    /// A client of this node over HTTPS that signs as `department` with `key` (default: its own) and presents any TLS
    /// identity (another department's certificate, none, an expired one; default: the department's own).
    package func client(_ department: String, key: (any SigningKey)? = nil, presenting identity: TLSIdentity?) throws -> GatewayClient {
        try GatewayClient(
            baseURL: running.baseURL, department: department, key: key ?? consortium.keys[department]!, suite: suite,
            tls: ClientTLS(identity: identity, trusting: [running.node.configuration.tls?.certificatePEM ?? ""]))
    }

    /// A client signing as `department` with `key`, presenting the department's own certificate when it has one.
    package func client(_ department: String, key: any SigningKey) throws -> GatewayClient {
        try client(department, key: key, presenting: consortium.tls[department] ?? consortium.tls[DemoConsortium.registry])
    }
}

/// A `gateway serve` child process: real TCP, real restarts, real signals.
package final class ServerProcess: @unchecked Sendable {
    package let process = Process()
    let output = Pipe()
    let errors = Pipe()
    var errorTail = Data()
    let lock = NSLock()
    var lines: [String] = []
    var buffer = Data()
    /// Set when the child's standard output reaches end of file: it exited (or closed it), an event that arrives
    /// through the pipe whether or not the process monitor has noticed the exit yet.
    var outputEnded = false

    package init(arguments: [String], directory: URL? = nil, environment: [String: String] = [:], executable: URL? = nil) throws {
        process.executableURL = executable ?? TestPaths.gatewayBinary
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = output
        // Standard error is kept (its last lines) so a node that fails to start says why in the test's failure.
        process.standardError = errors
        errors.fileHandleForReading.readabilityHandler = { [weak self] handle in
            guard let self else { return }
            let data = handle.availableData
            self.lock.lock()
            self.errorTail.append(data)
            if self.errorTail.count > 4_096 { self.errorTail.removeFirst(self.errorTail.count - 4_096) }
            self.lock.unlock()
        }
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            guard let self else { return }
            let data = handle.availableData
            self.lock.lock()
            if data.isEmpty {
                self.outputEnded = true
                handle.readabilityHandler = nil
            }
            self.buffer.append(data)
            while let newline = self.buffer.firstIndex(of: 0x0a) {
                self.lines.append(String(decoding: self.buffer[..<newline], as: UTF8.self))
                self.buffer.removeSubrange(...newline)
            }
            self.lock.unlock()
        }
        try process.run()
    }

    /// Waits for the "READY host:port …" line (listening, chain loaded and verified) and returns the port, or for the
    /// process to end (its standard output closes), whichever comes first. The time limit only guards against a child
    /// that hangs without either event.
    package func waitForPort(timeoutSeconds: Double = 600) async throws -> Int {
        try await waitForLine("READY ", timeoutSeconds: timeoutSeconds)
    }

    /// Waits for the "LISTENING host:port" line: the port is open, the chain may still be loading.
    package func waitForListening(timeoutSeconds: Double = 600) async throws -> Int {
        try await waitForLine("LISTENING ", timeoutSeconds: timeoutSeconds)
    }

    func waitForLine(_ prefix: String, timeoutSeconds: Double) async throws -> Int {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            let (line, ended) = lock.withLock { (lines.first { $0.hasPrefix(prefix) }, outputEnded) }
            if let line, let address = line.split(separator: " ").dropFirst().first, let port = Int(address.split(separator: ":").last ?? "") {
                return port
            }
            if ended || !process.isRunning {
                // The exit status comes from the process monitor, which may lag behind the closed pipe on a busy machine.
                for _ in 0..<200 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
                try await Task.sleep(for: .milliseconds(100))  // let the last of standard error arrive
                let tail = lock.withLock { String(decoding: errorTail, as: UTF8.self) }
                let status = process.isRunning ? "closed its output" : "exited with status \(process.terminationStatus)"
                throw NodeError("gateway serve \(status) before printing \(prefix)…; its standard error ends:\n\(tail)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw NodeError("gateway serve did not print \(prefix)… within \(timeoutSeconds) s")
    }

    package func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// The last 4 KiB the child wrote to standard error (its first line may be cut).
    package var standardErrorTail: String { lock.withLock { String(decoding: errorTail, as: UTF8.self) } }

    /// Waits for the process to exit; returns its status, or nil on timeout.
    package func waitForExit(timeoutSeconds: Double) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning {
            if Date() > deadline { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
        output.fileHandleForReading.readabilityHandler = nil
        errors.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
