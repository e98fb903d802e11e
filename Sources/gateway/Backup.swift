import ArgumentParser
import Foundation
import GatewayStore
import Logging

/// Where a node's two halves are: its database and its data directory (from --config, the environment or flags, as
/// `gateway serve` resolves them).
struct NodeLocation: ParsableArguments {
    @Option(help: "The node's configuration file (from `gateway init`); its databaseURL and dataDir are used.")
    var config: String?

    @Option(help: "The node's PostgreSQL URL. Env: DATAGATEWAY_DATABASE_URL. Default: from --config, else \(defaultDatabaseURL).")
    var databaseURL: String?

    @Option(help: "The node's data directory. Env: DATAGATEWAY_DATA_DIR. Default: from --config, else ./data.")
    var dataDir: String?

    func resolve() async throws -> (databaseURL: String, dataDirectory: URL) {
        let source = try await NodeSettings.load(configFile: config)
        return (
            source.text("databaseURL", flag: databaseURL, default: defaultDatabaseURL),
            URL(fileURLWithPath: source.path("dataDir", flag: dataDir, default: "data")).standardizedFileURL
        )
    }
}

/// Runs a PostgreSQL client tool (pg_dump, pg_restore) and fails with its own words.
func runTool(_ name: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [name] + arguments
    let errors = Pipe()
    process.standardError = errors
    do { try process.run() } catch { throw CommandFailure("cannot run \(name): install the PostgreSQL client (apt-get install postgresql-client)") }
    let output = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        let text = String(decoding: output.suffix(2_000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        throw CommandFailure(
            process.terminationStatus == 127
                ? "\(name) is not installed: apt-get install postgresql-client" : "\(name) failed (status \(process.terminationStatus)): \(text)")
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Back up a node: its database (pg_dump, one consistent snapshot) and its data directory (keys, genesis, shares).",
        discussion: """
            Writes into --out (created, mode 0700; it holds the node's private keys — keep it as secret as the node): \
            database.dump (pg_dump's custom format) and data.tar (the data directory). The node may keep running: \
            pg_dump reads one snapshot. Restore with `gateway restore`; a restored node verifies its chain, then catches \
            up from its peers, so the backup need not be recent for the chain — but records published on this node \
            after the backup are not in it.
            """)

    @OptionGroup var node: NodeLocation

    @Option(help: "Directory to write the backup into (must not exist yet, or be empty).")
    var out: String

    func run() async throws {
        let (databaseURL, dataDirectory) = try await node.resolve()
        let target = URL(fileURLWithPath: out).standardizedFileURL
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: target.path), !existing.isEmpty {
            throw CommandFailure("\(target.path) is not empty: back up into a new directory")
        }
        guard FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("genesis.json").path) else {
            throw CommandFailure("\(dataDirectory.path) holds no genesis.json: give the node's --data-dir (or --config)")
        }
        if let problem = await Database.probe(url: databaseURL, logger: makeLogger("probe", level: .critical)) { throw CommandFailure(problem) }
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let started = Date()
        note("[1/2] pg_dump of the database…")
        try runTool("pg_dump", ["--format=custom", "--no-owner", "--file", target.appendingPathComponent("database.dump").path, databaseURL])
        note("[2/2] the data directory \(dataDirectory.path)…")
        try runTool(
            "tar",
            ["--create", "--file", target.appendingPathComponent("data.tar").path, "--directory", dataDirectory.path, "."])
        for file in ["database.dump", "data.tar"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target.appendingPathComponent(file).path)
        }
        say("backed up to \(target.path) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s: database.dump, data.tar")
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a node from `gateway backup` into an empty database and data directory; it then catches up from its peers.",
        discussion: """
            The database must exist and be empty (createdb it first); the data directory must not hold key material \
            (unless --force). The restored database is marked: a validator's safety state in a backup may be older than \
            votes it cast before the restore, so the node sends no vote, timeout or proposal until it has seen a quorum \
            certificate on a block proposed after it started — the network's round — and votes only in later rounds. \
            Then start the node as before: it verifies the restored chain, fetches the blocks committed since the backup \
            from its peers, and serves.
            """)

    @OptionGroup var node: NodeLocation

    @Option(help: "The backup directory (database.dump and data.tar).")
    var from: String

    @Flag(help: "Replace key material already in the data directory.")
    var force = false

    func run() async throws {
        let (databaseURL, dataDirectory) = try await node.resolve()
        let source = URL(fileURLWithPath: from).standardizedFileURL
        let dump = source.appendingPathComponent("database.dump")
        let archive = source.appendingPathComponent("data.tar")
        for file in [dump, archive] where !FileManager.default.isReadableFile(atPath: file.path) {
            throw CommandFailure("\(file.path) is missing: give --from the directory `gateway backup` wrote")
        }
        let held = ["node-key.pem", "record-key.hex", "salt.hex", "genesis.json", "aggregation-share.json"].filter {
            FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent($0).path)
        }
        if !held.isEmpty && !force {
            throw CommandFailure(
                "\(dataDirectory.path) already holds \(held.joined(separator: ", ")): restore into an empty data directory, or pass --force")
        }
        let logger = makeLogger("restore", level: .critical)
        if let problem = await Database.probe(url: databaseURL, logger: logger) { throw CommandFailure(problem) }
        let empty = try await Database.withDatabase(url: databaseURL, logger: logger) { database in
            let rows = try await database.client.query(
                "SELECT count(*)::bigint FROM information_schema.tables WHERE table_schema = 'public'", logger: logger)
            for try await count in rows.decode(Int64.self) { return count == 0 }
            return false
        }
        guard empty else {
            throw CommandFailure(
                "the database at \(databaseURL.split(separator: "@").last ?? "") is not empty: restore into a new database (createdb)")
        }
        let started = Date()
        note("[1/3] the data directory \(dataDirectory.path)…")
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try runTool("tar", ["--extract", "--file", archive.path, "--directory", dataDirectory.path])
        note("[2/3] pg_restore of the database…")
        try runTool("pg_restore", ["--no-owner", "--exit-on-error", "--dbname", databaseURL, dump.path])
        note("[3/3] marking the database restored…")
        try await Database.withDatabase(url: databaseURL, logger: logger) { database in
            try await database.migrate()
            try await ConsensusStore(database: database).markRestored(note: "restored from \(source.path)")
        }
        say(
            """
            restored from \(source.path) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s; start the node as before \
            (`gateway serve`): it verifies the chain, catches up from its peers, and holds its votes until it has seen the network's round
            """)
    }
}
