import GatewayChain
import GatewayCrypto
import Logging
import NIOCore
import PostgresNIO

/// One row of running encrypted sums: what one publish added to one finest group (the records' dimensions) of one
/// aggregate field — the product of the new ciphertexts, how many records, how many citizens new to the group — and
/// the node's tag over all of it.
package struct RunningSum: Sendable, Equatable {
    package let id: Int64
    package let category: String
    package let field: String
    /// Canonical JSON of the finest group's dimensions.
    package let groupKey: String
    package let ciphertext: [UInt8]
    package let records: Int
    package let cohort: Int
    package let tag: [UInt8]

    package init(id: Int64, category: String, field: String, groupKey: String, ciphertext: [UInt8], records: Int, cohort: Int, tag: [UInt8]) {
        self.id = id
        self.category = category
        self.field = field
        self.groupKey = groupKey
        self.ciphertext = ciphertext
        self.records = records
        self.cohort = cohort
        self.tag = tag
    }
}

/// How a publish adds to the running sums: the key that multiplies ciphertexts, and the node's tag over a row.
package struct RunningSumsWriter: Sendable {
    package let publicKey: PaillierPublicKey
    package let tag:
        @Sendable (_ category: String, _ field: String, _ groupKey: String, _ ciphertext: [UInt8], _ records: Int, _ cohort: Int) -> [UInt8]

    package init(
        publicKey: PaillierPublicKey,
        tag:
            @escaping @Sendable (_ category: String, _ field: String, _ groupKey: String, _ ciphertext: [UInt8], _ records: Int, _ cohort: Int) ->
            [UInt8]
    ) {
        self.publicKey = publicKey
        self.tag = tag
    }

    /// The rows that `records` add (cohorts from `newCitizens`: per group key, how many of its citizens are new to it),
    /// in field and group order.
    package func rows(category: String, records: [(groupKey: String, aggregates: [String: [UInt8]])], newCitizens: [String: Int]) -> [RunningSum] {
        var byGroup: [String: [String: [PaillierCiphertext]]] = [:]
        var counts: [String: [String: Int]] = [:]
        for record in records {
            for (field, ciphertext) in record.aggregates {
                byGroup[field, default: [:]][record.groupKey, default: []].append(PaillierCiphertext(serialized: ciphertext))
                counts[field, default: [:]][record.groupKey, default: 0] += 1
            }
        }
        let width = (publicKey.nSquared.bitWidth + 7) / 8
        var out: [RunningSum] = []
        for field in byGroup.keys.sorted() {
            for groupKey in byGroup[field]!.keys.sorted() {
                let product = publicKey.sum(byGroup[field]![groupKey]!).value.bigEndianBytes(width: width)
                let records = counts[field]![groupKey]!
                let cohort = newCitizens[groupKey] ?? 0
                out.append(
                    RunningSum(
                        id: 0, category: category, field: field, groupKey: groupKey, ciphertext: product, records: records, cohort: cohort,
                        tag: tag(category, field, groupKey, product, records, cohort)))
            }
        }
        return out
    }
}

extension RecordStore {
    /// Adds the running-sum rows of freshly inserted records, in the publish's database transaction.
    static func addRunningSums(_ fresh: [StoredRecord], writer: RunningSumsWriter, on connection: PostgresConnection, logger: Logger) async throws {
        let category = fresh[0].category
        let members = try await connection.query(
            """
            INSERT INTO aggregate_members (category, group_key, citizen_key)
            SELECT DISTINCT \(category), g, c FROM unnest(\(fresh.map(\.dimensionsJSON)), \(fresh.map { ByteBuffer($0.citizenKey) })) AS t(g, c)
            ON CONFLICT DO NOTHING
            RETURNING group_key
            """,
            logger: logger)
        var newCitizens: [String: Int] = [:]
        for try await group in members.decode(String.self) { newCitizens[group, default: 0] += 1 }
        let rows = writer.rows(category: category, records: fresh.map { ($0.dimensionsJSON, $0.aggregates) }, newCitizens: newCitizens)
        try await insert(rows, on: connection, logger: logger)
    }

    static func insert(_ rows: [RunningSum], on connection: PostgresConnection, logger: Logger) async throws {
        guard !rows.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO aggregate_sums (category, field, group_key, ciphertext, records, cohort, tag)
            SELECT c, f, g, ct, r, h, t
            FROM unnest(\(rows.map(\.category)), \(rows.map(\.field)), \(rows.map(\.groupKey)), \(rows.map { ByteBuffer($0.ciphertext) }),
                        \(rows.map { Int32($0.records) }), \(rows.map { Int32($0.cohort) }), \(rows.map { ByteBuffer($0.tag) }))
                 AS t(c, f, g, ct, r, h, t)
            """,
            logger: logger)
    }

    /// Inserts running-sum rows as they are (benchmarks preload them).
    package func insertRunningSums(_ rows: [RunningSum]) async throws {
        let logger = database.logger
        try await database.transaction { connection in try await Self.insert(rows, on: connection, logger: logger) }
    }

    /// Every running-sum row of a field: what a statistic multiplies, group by group.
    package func runningSums(category: String, field: String) async throws -> [RunningSum] {
        let rows = try await database.client.query(
            """
            SELECT id, group_key, ciphertext, records, cohort, tag FROM aggregate_sums
            WHERE category = \(category) AND field = \(field) ORDER BY id
            """,
            logger: database.logger)
        var out: [RunningSum] = []
        for try await row in rows.decode((Int64, String, ByteBuffer, Int32, Int32, ByteBuffer).self) {
            out.append(
                RunningSum(
                    id: row.0, category: category, field: field, groupKey: row.1, ciphertext: row.2.bytes, records: Int(row.3), cohort: Int(row.4),
                    tag: row.5.bytes))
        }
        return out
    }

    /// Sums the records stored before running sums existed, once (at the node's start, before it serves). `progress`
    /// hears how many records were summed.
    package func backfillRunningSums(_ writer: RunningSumsWriter, progress: (String) -> Void = { _ in }) async throws {
        let logger = database.logger
        try await database.transaction { connection in
            try await connection.query("LOCK TABLE aggregate_sums_backfill IN EXCLUSIVE MODE", logger: logger)
            for try await _ in try await connection.query("SELECT done FROM aggregate_sums_backfill", logger: logger).decode(Bool.self) { return }
            let rows = try await connection.query(
                """
                SELECT r.category, r.dimensions::text, r.citizen_key, a.field, a.ciphertext
                FROM records r JOIN record_aggregates a ON a.category = r.category AND a.record_id = r.record_id
                ORDER BY r.category, r.record_id, a.field
                """,
                logger: logger)
            var byCategory: [String: [String: (citizens: Set<[UInt8]>, records: [(String, [String: [UInt8]])])]] = [:]
            var current: (category: String, key: String, citizen: [UInt8], aggregates: [String: [UInt8]])? = nil
            var total = 0
            func flush() {
                guard let record = current else { return }
                byCategory[record.category, default: [:]][record.key, default: ([], [])].citizens.insert(record.citizen)
                byCategory[record.category]![record.key]!.records.append((record.key, record.aggregates))
                total += 1
            }
            for try await (category, key, citizen, field, ciphertext) in rows.decode((String, String, ByteBuffer, String, ByteBuffer).self) {
                if let open = current, open.category == category, open.key == key, open.citizen == citizen.bytes, open.aggregates[field] == nil {
                    current?.aggregates[field] = ciphertext.bytes
                } else {
                    flush()
                    current = (category, key, citizen.bytes, [field: ciphertext.bytes])
                }
            }
            flush()
            for category in byCategory.keys.sorted() {
                let groups = byCategory[category]!
                let citizens = groups.flatMap { key, group in group.citizens.map { (key, $0) } }
                try await connection.query(
                    """
                    INSERT INTO aggregate_members (category, group_key, citizen_key)
                    SELECT \(category), g, c FROM unnest(\(citizens.map(\.0)), \(citizens.map { ByteBuffer($0.1) })) AS t(g, c)
                    ON CONFLICT DO NOTHING
                    """,
                    logger: logger)
                let rows = writer.rows(
                    category: category, records: groups.values.flatMap(\.records).map { (groupKey: $0.0, aggregates: $0.1) },
                    newCitizens: groups.mapValues(\.citizens.count))
                try await Self.insert(rows, on: connection, logger: logger)
            }
            try await connection.query("INSERT INTO aggregate_sums_backfill VALUES (true)", logger: logger)
            if total > 0 { progress("summed \(total) records stored before running sums into aggregate_sums") }
        }
    }
}
