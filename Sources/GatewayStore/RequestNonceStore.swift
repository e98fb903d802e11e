import PostgresNIO

/// Request nonces that survive a restart: a captured signed request cannot be replayed against a node that restarted
/// within the freshness window. A claim is one prepared statement, committed with `synchronous_commit = off` (set for
/// that statement's own transaction by `set_config(…, true)`, so one round trip instead of four): every request that
/// changes anything commits synchronously afterwards, and PostgreSQL's log is sequential, so the nonce of any request
/// whose effects survived a crash survived it too.
package struct RequestNonceStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    /// True if the nonce was unused (and is now claimed until `expiresS`), false if it was used before.
    package func claim(department: String, nonce: String, nowS: Int64, expiresS: Int64) async throws -> Bool {
        let claim = Claim(department: department, nonce: nonce, nowS: nowS, expiresS: expiresS)
        var claimed = false
        for try await _ in try await database.client.execute(claim, logger: database.logger) { claimed = true }
        return claimed
    }

    package struct Claim: PostgresPreparedStatement {
        package typealias Row = Int

        package static let sql = """
            WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
            INSERT INTO request_nonces (department, nonce, expires_s) SELECT $1, $2, $3 FROM relaxed
            ON CONFLICT (department, nonce) DO UPDATE SET expires_s = EXCLUDED.expires_s WHERE request_nonces.expires_s < $4
            RETURNING 1
            """

        let department: String
        let nonce: String
        let nowS: Int64
        let expiresS: Int64

        package init(department: String, nonce: String, nowS: Int64, expiresS: Int64) {
            self.department = department
            self.nonce = nonce
            self.nowS = nowS
            self.expiresS = expiresS
        }

        package func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(department)
            bindings.append(nonce)
            bindings.append(expiresS)
            bindings.append(nowS)
            return bindings
        }

        package func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Int.self) }
    }

    /// Forgets nonces whose window has passed.
    package func purge(nowS: Int64) async throws {
        try await database.client.query("DELETE FROM request_nonces WHERE expires_s < \(nowS)", logger: database.logger)
    }
}
