import ArgumentParser
import Foundation
import GatewayChain
import GatewayFiles
import GatewayNode
import Logging

struct RebuildDerived: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild-derived",
        abstract:
            "Rebuild the tables a node derives from its blocks (access_events, anchored_records, erased_records, access_records, released_events) from the blocks themselves.",
        discussion: """
            At start a node proves its derived tables against its blocks; one that differs (a row edited, deleted or added \
            in PostgreSQL) is reported with table, key and height, and its data is refused with 503 derived_state_mismatch. \
            Stop the node, run this command against its database, and start it again. It first verifies every stored block \
            from the genesis (hash links, Merkle roots, signatures, certificates) — blocks that fail cannot be rebuilt from, \
            and the database must then be restored from a backup — then deletes the derived rows and writes them again, in \
            one database transaction (all or nothing).
            """
    )

    @OptionGroup var database: NodeDatabaseOptions

    func run() async throws {
        let loaded = try database.loadGenesis()
        var logger = Logger(label: "rebuild-derived")
        logger.logLevel = .warning
        let outcome = try await DerivedStateRepair.rebuild(
            databaseURL: database.url, genesis: loaded, logger: logger,
            progress: { note($0) }
        )
        say("rebuilt from \(outcome.height) verified blocks: \(outcome.events) access events, \(outcome.anchors) anchored records")
    }
}

/// A node's database and genesis, as the commands that read a node's history take them.
struct NodeDatabaseOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL of the node's database. Env: DATAGATEWAY_DATABASE_URL. Default: \(defaultDatabaseURL).")
    var databaseURL: String?

    @Option(help: "The node's data directory (its genesis.json is read). Env: DATAGATEWAY_DATA_DIR. Default: ./data.")
    var dataDir: String?

    @Option(help: "The genesis file, if not <data-dir>/genesis.json.")
    var genesis: String?

    var url: String { resolve(databaseURL, env: "DATAGATEWAY_DATABASE_URL", default: defaultDatabaseURL) }

    var dataDirectory: URL { URL(fileURLWithPath: resolve(dataDir, env: "DATAGATEWAY_DATA_DIR", default: "data")) }

    func loadGenesis() throws -> Genesis {
        let path = genesis.map { URL(fileURLWithPath: $0) } ?? dataDirectory.appendingPathComponent("genesis.json")
        do {
            return try Genesis.load(from: path)
        } catch {
            throw CommandFailure("cannot read the genesis \(path.path): \(error); give --data-dir of the node or --genesis")
        }
    }
}
