import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// A connection to the node's PostgreSQL database: configuration from a URL, the client pool, migrations.
package struct Database: Sendable {
    package let client: PostgresClient
    /// A pool of its own for the chain's durable steps — the replica's state before it votes, decided blocks — so
    /// that they never wait behind request queries for a connection. Sharing the request pool, under load each waited
    /// 30–50 ms for one, and every answer waits for its block.
    package let chainLane: PostgresClient
    /// The event loop the chain's lane connections run on; the chain's actors run on it too (their executor), so a
    /// durable step's round trips wait neither behind request work in the shared task pool nor behind TLS work on
    /// the server's event loops. One of `chainLoops`, a process-wide group (like NIO's singletons, never shut down).
    package let chainLoop: any EventLoop
    /// At least four loops, so that up to four nodes in one process (the chain benchmark's validators, the cluster
    /// tests) each get a loop of their own: two nodes sharing one waited for each other's work while the other loop
    /// idled (signed transactions committed by four validators on two cores: 1,821/s with two loops, 2,477/s with
    /// four). A node alone uses one; the others sleep.
    package static let chainLoops = MultiThreadedEventLoopGroup(numberOfThreads: max(4, System.coreCount))
    package let logger: Logger
    /// The pool's connections, open and leased (for `/metrics`).
    package let pool: PoolGauge
    /// Connections of the request pool.
    package static let requestConnectionsMax = max(4, 2 * System.coreCount)
    /// Connections of the chain's lane: the replica's writes, storing blocks, and the outbox.
    package static let chainLaneConnections = 3

    package init(url: String, logger: Logger) throws {
        let configuration = try Self.configuration(from: url)
        let pool = PoolGauge(maximum: configuration.options.maximumConnections)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: pool.logger(wrapping: logger))
        var lane = configuration
        lane.options.maximumConnections = Self.chainLaneConnections
        let loop = Self.chainLoops.next()
        self.chainLoop = loop
        self.chainLane = PostgresClient(configuration: lane, eventLoopGroup: loop, backgroundLogger: logger)
        self.logger = logger
        self.pool = pool
    }

    /// Both pools: whoever runs the database runs these (as services, or in `withDatabase`).
    package var clients: [PostgresClient] { [client, chainLane] }

    /// Parses `postgres://user[:password]@host[:port]/database`.
    package static func configuration(from url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty
        else {
            throw StoreError(.invalidURL, "database URL must look like postgres://user:password@host:5432/database")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw StoreError(.invalidURL, "database URL names no database") }
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password, database: database, tls: .disable
        )
        // Requests beyond this queue for a connection instead of each running a database process: on a small machine
        // (the benchmarks' two cores), 16 busy processes preempted the chain's own writes (30–50 ms a round trip).
        configuration.options.maximumConnections = Self.requestConnectionsMax
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// One connection attempt, bounded in time (`connectTimeout`, 5 s), so that a node or a command that cannot use its
    /// database says so at once — why, and what to do — instead of retrying behind a pool. Nil when it connects.
    package static func probe(url: String, logger: Logger) async -> String? {
        let configuration: PostgresClient.Configuration
        do { configuration = try Self.configuration(from: url) } catch { return "\(error)" }
        let host = configuration.host ?? "?"
        let port = configuration.port ?? 5432
        let name = configuration.database ?? "?"
        var connection = PostgresConnection.Configuration(
            host: host, port: port, username: configuration.username, password: configuration.password, database: name, tls: .disable)
        connection.options.connectTimeout = .seconds(5)
        do {
            let opened = try await PostgresConnection.connect(configuration: connection, id: 0, logger: logger)
            try? await opened.close()
            return nil
        } catch let error as PSQLError {
            switch error.serverInfo?[.sqlState] {
            case "3D000":
                return
                    "database \(name) does not exist on \(host):\(port): create it (`createdb -O \(configuration.username) \(name)` as postgres) or fix --database-url"
            case "28P01", "28000":
                return "PostgreSQL at \(host):\(port) refused user \(configuration.username): check the user and password in --database-url"
            case let state?:
                return "PostgreSQL at \(host):\(port) refused the connection (SQLSTATE \(state)): \(error.serverInfo?[.message] ?? "")"
            case nil:
                return
                    "PostgreSQL is not reachable at \(host):\(port) (\(error.code)): start it (`pg_ctlcluster 15 main start`) or fix --database-url"
            }
        } catch {
            return "PostgreSQL is not reachable at \(host):\(port) (\(error)): start it (`pg_ctlcluster 15 main start`) or fix --database-url"
        }
    }

    /// Runs `body` with the client's pool running; the pool shuts down when `body` returns.
    package static func withDatabase<T: Sendable>(url: String, logger: Logger, _ body: @Sendable (Database) async throws -> T) async throws -> T {
        let database = try Database(url: url, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for client in database.clients { group.addTask { await client.run() } }
            defer { group.cancelAll() }
            return try await body(database)
        }
    }

    /// Runs `body` in one database transaction: committed if it returns, rolled back if it throws. The body's own
    /// error is rethrown as is (PostgresNIO wraps it), so callers see `StoreError.conflict` and friends directly.
    package func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            if let closureError = error.closureError { throw Self.translate(closureError) }
            if let commitError = error.commitError { throw Self.translate(commitError) }
            throw error
        } catch {
            throw Self.translate(error)
        }
    }

    /// A unique-key violation becomes `StoreError.uniqueViolation` (callers retry or answer 409); other errors pass.
    package static func translate(_ error: any Error) -> any Error {
        if let error = error as? PSQLError, error.serverInfo?[.sqlState] == "23505" {
            return StoreError(.uniqueViolation, "a row with the same key was written concurrently")
        }
        return error
    }

    /// Drops (if present) and creates a database, connecting through the server's maintenance database.
    /// Used by the demo and the tests, which each want a fresh database.
    package static func recreate(url: String, logger: Logger) async throws {
        let (admin, name) = try maintenance(url)
        try await withDatabase(url: admin, logger: logger) { admin in
            try await dropDatabase(name, admin: admin, logger: logger)
            try await admin.client.query("CREATE DATABASE \(unescaped: name)", logger: logger)
        }
    }

    /// Drops a database if present (benchmarks drop what they built).
    package static func drop(url: String, logger: Logger) async throws {
        let (admin, name) = try maintenance(url)
        try await withDatabase(url: admin, logger: logger) { admin in try await dropDatabase(name, admin: admin, logger: logger) }
    }

    /// The maintenance database's URL and the database name of `url` (lowercase letters, digits and underscores).
    static func maintenance(_ url: String) throws -> (url: String, name: String) {
        guard var components = URLComponents(string: url) else { throw StoreError(.invalidURL, "unparseable database URL") }
        let name = String(components.path.drop(while: { $0 == "/" }))
        guard !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }) else {
            throw StoreError(.invalidURL, "database name must be lowercase letters, digits and underscores")
        }
        components.path = "/postgres"
        return (components.string!, name)
    }

    /// `DROP … WITH (FORCE)` ends our own sessions on it, but not an autovacuum worker (the server's own, SQLSTATE
    /// 42501 for a non-superuser): that one finishes by itself, so the drop is tried again for up to a minute.
    static func dropDatabase(_ name: String, admin: Database, logger: Logger) async throws {
        var attempt = 0
        while true {
            do {
                try await admin.client.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
                return
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" && attempt < 60 {
                attempt += 1
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Applies pending migrations, each in its own transaction, under an advisory lock so that concurrent starts
    /// against one database serialise.
    package func migrate() async throws {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(7171)", logger: logger)
            do {
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                    logger: logger
                )
                var applied = Set<Int>()
                for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger).decode(Int.self) {
                    applied.insert(version)
                }
                for migration in Migrations.all where !applied.contains(migration.version) {
                    try await connection.withTransaction(logger: logger) { tx in
                        for statement in migration.statements {
                            try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                        try await tx.query("INSERT INTO schema_migrations (version) VALUES (\(migration.version))", logger: logger)
                    }
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(7171)", logger: logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(7171)", logger: logger)
        }
    }
}

extension ByteBuffer {
    init(_ bytes: [UInt8]) { self.init(bytes: bytes) }
    var bytes: [UInt8] { Array(readableBytesView) }
}
