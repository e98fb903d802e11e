import ArgumentParser
import Foundation
import GatewayCrypto
import GatewayDemo
import Logging

struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a local consortium: N validator nodes on 127.0.0.1, each with its own database, from a fresh genesis.",
        discussion: """
            Creates (or, with --reuse, restarts) a cluster in --dir: one key pair per node, a genesis naming them all as \
            validators with their peer addresses and the consortium's aggregation key (dealt here, one share sealed to \
            each node's key, p and q never written), the demo departments' keys, and one PostgreSQL database per node \
            (<database>_node_1, … — dropped and recreated). Then starts one `gateway serve` process per node and prefixes \
            their output with the node id. Ctrl-C (or SIGTERM) stops every node gracefully.

            <dir>/cluster.json lists every node with the exact `gateway serve` arguments that start it, so a single node \
            can be killed and restarted by hand:  kill -9 <pid>, then run its serveArguments again; it catches up. \
            With --init-only nothing is started.

            --joiners K lays out K more nodes that are not in the genesis (node-N+1, …): they start as followers, and \
            become validators once the validators' operators admit them, e.g. for a 4-validator cluster: \
            gateway governance propose --cluster <dir> --node node-1 --add-validator node-5 --proposal admit-5, then \
            gateway governance approve --cluster <dir> --node node-2 --proposal admit-5 (and the same for node-3).
            """
    )

    @Option(help: "Number of validators (n = 3f + 1 tolerates f faulty ones).")
    var validators: Int = 4

    @Option(help: "Number of extra nodes laid out outside the genesis, to be admitted by governance.")
    var joiners: Int = 0

    @Option(help: "Directory for the cluster's keys, genesis and data.")
    var dir: String = "cluster"

    @Option(help: "Crypto suite: sm (SM2/SM3/SM4) or intl (Ed25519/SHA-256/AES-GCM).")
    var suite: SuiteName = .sm

    @Option(help: "HTTP port of node-1; node-k listens on this + k - 1.")
    var httpBasePort: Int = 8101

    @Option(help: "Peer (consensus) port of node-1; node-k listens on this + k - 1.")
    var peerBasePort: Int = 9101

    @Option(
        help:
            "PostgreSQL URL whose database name is the prefix of the nodes' databases. Env: DATAGATEWAY_DATABASE_URL. Default: \(defaultDatabaseURL)."
    )
    var databaseURL: String?

    @Option(help: "Directory of Cedar policy files.")
    var policies: String = "Policies"

    @Option(help: "Directory of record-category JSON Schemas.")
    var schemas: String = "Schemas"

    @Option(help: "Log level of the nodes.")
    var logLevel: String = "notice"

    @Option(help: "Shares of the consortium aggregation key needed to decrypt (1…validators). Default: a quorum, 2f + 1.")
    var aggregationThreshold: Int?

    @Option(help: "Bits of the aggregation key's modulus (even, 1024…8192; safe primes for 2048 take seconds to a minute).")
    var aggregationBits: Int = 2_048

    @Flag(help: "Restart the cluster already in --dir (keeping its chain) instead of creating a new one.")
    var reuse = false

    @Flag(help: "Only create the cluster's files and databases; start nothing.")
    var initOnly = false

    func validate() throws {
        guard (1...64).contains(validators) else { throw ValidationError("--validators must be 1…64") }
        guard (0...16).contains(joiners) else { throw ValidationError("--joiners must be 0…16") }
        guard (1...65_000).contains(httpBasePort), (1...65_000).contains(peerBasePort) else { throw ValidationError("ports must be 1…65000") }
        if let aggregationThreshold, !(1...validators).contains(aggregationThreshold) {
            throw ValidationError("--aggregation-threshold must be 1…\(validators) (the validators hold one share each)")
        }
        guard (1_024...8_192).contains(aggregationBits), aggregationBits % 2 == 0 else {
            throw ValidationError("--aggregation-bits must be an even number from 1024 to 8192")
        }
    }

    func run() async throws {
        let directory = URL(fileURLWithPath: dir).standardizedFileURL
        let layout: ClusterLayout
        if reuse {
            layout = try ClusterLayout.load(from: directory)
            note("restarting the \(layout.nodes.count)-node cluster in \(directory.path)")
        } else {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            layout = try await ClusterLayout.create(
                in: directory, validators: validators, joiners: joiners, suite: suite, httpBasePort: httpBasePort, peerBasePort: peerBasePort,
                databaseURL: resolve(databaseURL, env: "DATAGATEWAY_DATABASE_URL", default: defaultDatabaseURL),
                policies: URL(fileURLWithPath: policies, relativeTo: cwd).standardizedFileURL,
                schemas: URL(fileURLWithPath: schemas, relativeTo: cwd).standardizedFileURL,
                logLevel: logLevel, aggregationThreshold: aggregationThreshold, aggregationBits: aggregationBits,
                logger: makeLogger("cluster", level: .error), progress: note
            )
        }
        if initOnly {
            say("cluster written to \(directory.path)/cluster.json; start it with: gateway cluster --reuse --dir \(dir)")
            return
        }
        try await ClusterProcesses.run(layout)
    }
}

/// The node processes of a cluster: started together, output prefixed, reported running only once each says READY,
/// stopped together on SIGINT/SIGTERM (a second signal kills them). A node that exits while the cluster starts stops the
/// cluster, with its reason.
enum ClusterProcesses {
    final class Progress: @unchecked Sendable {
        let lock = NSLock()
        var ready: Set<String> = []
        var lastLine: [String: String] = [:]
        var signals = 0
        /// Output read but not yet ended by a newline, per node: a line can arrive in two reads.
        var partial: [String: Data] = [:]
        /// Nodes whose output has ended (their last line is in `lastLine`).
        var ended: Set<String> = []
    }

    static func run(_ layout: ClusterLayout) async throws {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        let progress = Progress()
        var processes: [(id: String, process: Process)] = []
        // Signals first: a Ctrl-C while the nodes start stops those already started.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let box = ProcessList()
        let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler {
                let count = progress.lock.withLock { () -> Int in
                    progress.signals += 1
                    return progress.signals
                }
                for process in box.all where process.isRunning { kill(process.processIdentifier, count > 1 ? SIGKILL : SIGTERM) }
                if count == 1 { note("stopping the nodes (again to kill them at once)") }
            }
            source.resume()
            return source
        }
        defer { for source in sources { source.cancel() } }
        for node in layout.nodes {
            let process = Process()
            process.executableURL = executable
            process.arguments = node.serveArguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            let prefix = node.nodeID
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                // Whole lines only: the rest waits for the next read (or, at the end of the output, is a line itself).
                let lines = progress.lock.withLock { () -> [String] in
                    var buffer = progress.partial[prefix, default: Data()]
                    buffer.append(data)
                    var complete: [String] = []
                    while let newline = buffer.firstIndex(of: 0x0a) {
                        complete.append(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                        buffer.removeSubrange(buffer.startIndex...newline)
                    }
                    if data.isEmpty {
                        handle.readabilityHandler = nil
                        progress.ended.insert(prefix)
                        if !buffer.isEmpty { complete.append(String(decoding: buffer, as: UTF8.self)) }
                        buffer = Data()
                    }
                    progress.partial[prefix] = buffer
                    for line in complete where !line.isEmpty {
                        if line.hasPrefix("READY ") { progress.ready.insert(prefix) }
                        progress.lastLine[prefix] = line
                    }
                    return complete
                }
                for line in lines where !line.isEmpty { say("[\(prefix)] \(line)") }
            }
            try process.run()
            processes.append((node.nodeID, process))
            box.add(process)
            note("started \(node.nodeID) (pid \(process.processIdentifier)): \(node.baseURL)")
        }
        // Running means READY (listening, chain verified); a node that exits first fails the cluster's start.
        while true {
            let ready = progress.lock.withLock { progress.ready }
            if let failed = processes.first(where: { !$0.process.isRunning && !ready.contains($0.id) }) {
                // Its reason is its last line: wait for the end of its output (bounded: a pipe a child passed on may stay open).
                for _ in 0..<50 where !progress.lock.withLock({ progress.ended.contains(failed.id) }) {
                    try await Task.sleep(for: .milliseconds(100))
                }
                let reason = progress.lock.withLock { progress.lastLine[failed.id] } ?? "no output"
                for (_, process) in processes where process.isRunning { kill(process.processIdentifier, SIGTERM) }
                while processes.contains(where: \.process.isRunning) { try await Task.sleep(for: .milliseconds(100)) }
                throw CommandFailure(
                    "\(failed.id) exited while the cluster started (status \(failed.process.terminationStatus)): \(reason); the other nodes were stopped"
                )
            }
            if processes.allSatisfy({ ready.contains($0.id) }) { break }
            if progress.lock.withLock({ progress.signals }) > 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        if progress.lock.withLock({ progress.signals }) == 0 { note("\(processes.count) nodes ready; Ctrl-C stops them all") }
        while processes.contains(where: \.process.isRunning) { try await Task.sleep(for: .milliseconds(200)) }
        let failed = processes.filter { $0.process.terminationStatus != 0 }.count
        note("cluster stopped (\(failed) of \(processes.count) nodes exited non-zero)")
    }

    /// The started processes, for the signal handler.
    final class ProcessList: @unchecked Sendable {
        let lock = NSLock()
        var processes: [Process] = []
        func add(_ process: Process) { lock.withLock { processes.append(process) } }
        var all: [Process] { lock.withLock { processes } }
    }
}
