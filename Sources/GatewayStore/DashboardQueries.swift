import GatewayChain
import PostgresNIO

/// The regulator's dashboard reads the access log its observer verified: counts grouped in PostgreSQL, never the
/// whole log in memory.
extension ChainStore {
    package struct AccessCount: Sendable, Encodable, Equatable {
        package let day: String
        package let department: String
        package let decision: String
        package let count: Int
    }

    package struct DenialCount: Sendable, Encodable, Equatable {
        package let department: String
        package let purpose: String
        /// The policies that determined the denials ("default deny" when none did).
        package let reason: String
        package let count: Int
    }

    package struct PurposeCount: Sendable, Encodable, Equatable {
        package let purpose: String
        package let decision: String
        package let count: Int
    }

    /// Accesses per UTC day (of the event's own time), department and decision.
    package func accessesPerDay() async throws -> [AccessCount] {
        let rows = try await database.client.query(
            """
            SELECT CASE WHEN timestamp_ms BETWEEN 0 AND 253402300799999
                        THEN to_char(to_timestamp(timestamp_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD') ELSE 'unknown' END AS day,
                   requester, decision, count(*)::bigint
            FROM access_events GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """, logger: database.logger)
        var out: [AccessCount] = []
        for try await (day, department, decision, count) in rows.decode((String, String, String, Int64).self) {
            out.append(AccessCount(day: day, department: department, decision: decision, count: Int(count)))
        }
        return out
    }

    package func denialReasons() async throws -> [DenialCount] {
        let rows = try await database.client.query(
            """
            SELECT requester, purpose, CASE WHEN cardinality(policies) = 0 THEN 'default deny' ELSE array_to_string(policies, ', ') END,
                   count(*)::bigint
            FROM access_events WHERE decision = 'deny' GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3
            """, logger: database.logger)
        var out: [DenialCount] = []
        for try await (department, purpose, reason, count) in rows.decode((String, String, String, Int64).self) {
            out.append(DenialCount(department: department, purpose: purpose, reason: reason, count: Int(count)))
        }
        return out
    }

    package func purposeCounts() async throws -> [PurposeCount] {
        let rows = try await database.client.query(
            "SELECT purpose, decision, count(*)::bigint FROM access_events GROUP BY 1, 2 ORDER BY 1, 2", logger: database.logger)
        var out: [PurposeCount] = []
        for try await (purpose, decision, count) in rows.decode((String, String, Int64).self) {
            out.append(PurposeCount(purpose: purpose, decision: decision, count: Int(count)))
        }
        return out
    }
}

extension ChainStore {
    /// The newest access events, newest first.
    package func recentAccessEvents(limit: Int) async throws -> [AccessEventRow] {
        try await Self.decodeEvents(
            database.client.query(
                """
                SELECT \(unescaped: Self.eventColumnsSQL) FROM access_events e
                ORDER BY e.height DESC, e.event_id DESC, e.tx_hash DESC LIMIT \(limit)
                """, logger: database.logger))
    }

    package func accessEventCount() async throws -> Int {
        for try await count in try await database.client.query("SELECT count(*)::bigint FROM access_events", logger: database.logger).decode(
            Int64.self)
        {
            return Int(count)
        }
        return 0
    }
}
