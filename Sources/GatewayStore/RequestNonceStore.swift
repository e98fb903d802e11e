import PostgresNIO

/// Request nonces that survive a restart: a captured signed request cannot be replayed against a node that restarted
/// within the freshness window. A claim is one INSERT with `synchronous_commit = off`: every request that changes
/// anything commits synchronously afterwards, and PostgreSQL's log is sequential, so the nonce of any request whose
/// effects survived a crash survived it too.
package struct RequestNonceStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    /// True if the nonce was unused (and is now claimed until `expiresS`), false if it was used before.
    package func claim(department: String, nonce: String, nowS: Int64, expiresS: Int64) async throws -> Bool {
        try await database.transaction { connection in
            try await connection.query("SET LOCAL synchronous_commit = off", logger: database.logger)
            let rows = try await connection.query(
                """
                INSERT INTO request_nonces (department, nonce, expires_s) VALUES (\(department), \(nonce), \(expiresS))
                ON CONFLICT (department, nonce) DO UPDATE SET expires_s = EXCLUDED.expires_s
                    WHERE request_nonces.expires_s < \(nowS)
                RETURNING 1
                """,
                logger: database.logger
            )
            var claimed = false
            for try await _ in rows.decode(Int.self) { claimed = true }
            return claimed
        }
    }

    /// Forgets nonces whose window has passed.
    package func purge(nowS: Int64) async throws {
        try await database.client.query("DELETE FROM request_nonces WHERE expires_s < \(nowS)", logger: database.logger)
    }
}
