import NIOCore
import PostgresNIO

/// Several data-modifying statements sent as one: each becomes a `WITH` clause of a single statement, which
/// PostgreSQL runs to completion once, all in the statement's one (implicit or enclosing) transaction. One round trip
/// instead of one per statement: on a loaded machine each round trip waits for the scheduler twice (the database's
/// process, then ours), and storing a block is on the path of every answer.
///
/// The clauses must not touch the same rows (they see one snapshot); each takes its values as bound parameters only.
struct CombinedStatement {
    private var clauses: [String] = []
    private var bindings = PostgresBindings()

    var isEmpty: Bool { clauses.isEmpty }

    /// Binds a value and returns its placeholder (`$n`) for the clause being written.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        bindings.append(value)
        return "$\(bindings.count)"
    }

    /// Adds one data-modifying statement (INSERT, UPDATE or DELETE, without a trailing semicolon).
    mutating func add(_ statement: String) {
        clauses.append("s\(clauses.count) AS (\(statement))")
    }

    var query: PostgresQuery {
        PostgresQuery(unsafeSQL: "WITH " + clauses.joined(separator: ",\n") + "\nSELECT 1", binds: bindings)
    }

    /// Runs the statement on `connection` (nothing when no clause was added). The statement's one row is read: a
    /// failure of any clause arrives with the rows, and a statement whose rows are never read fails silently.
    /// Awaited on the caller's executor (the chain's writes: its event loop, where the lane's connections run too),
    /// not through the shared task pool, where PostgresNIO's async query would resume and hand the result back.
    nonisolated(nonsending) func run(on connection: PostgresConnection, logger: Logger) async throws {
        guard !isEmpty else { return }
        let result: EventLoopFuture<PostgresQueryResult> = connection.query(query, logger: logger)
        _ = try await result.get()
    }
}
