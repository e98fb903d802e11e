import GatewayChain
import GatewayCrypto
import Logging
import NIOCore
import PostgresNIO

/// The rows a committed block implies in the tables derived from blocks (`anchored_records`, `access_events`), and
/// how those tables are proven against the blocks rather than trusted.
///
/// Proof: each row has a fingerprint — the first 8 bytes of SHA-256 over its columns (`Table.rowSQL` says how they
/// are written) — computed the same way by PostgreSQL (over the stored row) and by the node (over the row the block
/// implies). Per block height, the count of rows and the XOR of their fingerprints must agree. The
/// database does the hashing of its side in one grouped query, so a chain of a million events is checked in seconds;
/// a height whose digests differ is then compared row by row to say which key differs and how.
package struct DerivedRows: Sendable {
    /// A record's anchor: one row per anchor transaction and key. A key that two transactions anchor (only a hostile
    /// member's node would copy another's) has two rows; a holder reads the one its own anchor transaction made.
    package struct Anchor: Sendable, Equatable {
        package let recordKey: [UInt8]
        package let recordHash: [UInt8]
        package let transactionHash: [UInt8]
        /// The node that submitted the anchor: an erasure counts only from it.
        package let submitter: String
    }

    /// A record erased by its holder: its salted key and the erasure transaction.
    package struct Erasure: Sendable, Equatable {
        package let recordKey: [UInt8]
        package let transactionHash: [UInt8]
        /// The node that submitted the erasure: it erases only what the same node anchored.
        package let submitter: String
    }

    /// An access event's record: the salted key and the event (one row per distinct key of the event).
    package struct AccessedRecord: Sendable, Equatable {
        package let recordKey: [UInt8]
        package let eventID: String
        /// The transaction carrying the event: an event id that two transactions carry is two events.
        package let transactionHash: [UInt8]
    }

    /// A department's release of the deferral of one of its accesses.
    package struct Release: Sendable, Equatable {
        package let eventID: String
        package let department: String
        package let transactionHash: [UInt8]
    }

    package var anchors: [Anchor] = []
    package var events: [(event: AccessEvent, transactionHash: [UInt8])] = []
    package var erasures: [Erasure] = []
    package var releases: [Release] = []

    /// The records of this block's access events, each key once per event.
    package var accessedRecords: [AccessedRecord] {
        var out: [AccessedRecord] = []
        for (event, hash) in events {
            var seen = Set<[UInt8]>()
            for key in event.recordKeys where seen.insert(key).inserted {
                out.append(AccessedRecord(recordKey: key, eventID: event.eventID, transactionHash: hash))
            }
        }
        return out
    }

    package init() {}

    /// What the executed transactions of `block` (hashes aligned with its transactions; `skipped` by index) imply.
    package init(block: Block, hashes: [[UInt8]], skipped: Set<Int>) throws {
        for (index, transaction) in block.transactions.enumerated() where !skipped.contains(index) {
            switch transaction.kind {
            case .recordAnchor:
                for entry in try RecordAnchor(decoding: transaction.payload).entries {
                    anchors.append(
                        Anchor(
                            recordKey: entry.recordKey, recordHash: entry.recordHash, transactionHash: hashes[index],
                            submitter: transaction.submitter))
                }
            case .accessLog, .accessLogBatch:
                for event in try transaction.accessEvents() { events.append((event, hashes[index])) }
            case .recordErasure:
                for key in try RecordErasure(decoding: transaction.payload).recordKeys {
                    erasures.append(Erasure(recordKey: key, transactionHash: hashes[index], submitter: transaction.submitter))
                }
            case .accessRelease:
                let release = try AccessRelease(decoding: transaction.payload)
                for id in release.eventIDs {
                    releases.append(Release(eventID: id, department: release.department, transactionHash: hashes[index]))
                }
            case .proposal, .approval, .grant, .revoke, .consent, .decryptionShare, .decryptionRequest, .decryptionRefusal:
                break  // governance, grants and consents are derived in memory by the ledger as blocks load
            }
        }
    }

    /// Writes the rows for the block at `height` (`only`: those of these tables).
    func insert(height: Int64, on connection: PostgresConnection, logger: Logger, only: Set<Table> = Set(Table.allCases)) async throws {
        try await Self.insert([(height, self)], on: connection, logger: logger, only: only)
    }

    /// Writes the rows of several blocks (height and rows each), one statement per table for all of them: storing
    /// blocks costs statements per batch, not per block.
    package static func insert(
        _ blocks: [(height: Int64, rows: DerivedRows)], on connection: PostgresConnection, logger: Logger, only: Set<Table> = Set(Table.allCases)
    ) async throws {
        var statement = CombinedStatement()
        add(blocks, to: &statement, only: only)
        try await statement.run(on: connection, logger: logger)
    }

    /// The inserts of `insert`, as clauses of a combined statement (one per table with rows).
    static func add(_ blocks: [(height: Int64, rows: DerivedRows)], to statement: inout CombinedStatement, only: Set<Table> = Set(Table.allCases)) {
        let accessed = blocks.flatMap { block in block.rows.accessedRecords.map { (block.height, $0) } }
        if only.contains(.accessRecords), !accessed.isEmpty {
            statement.add(
                """
                INSERT INTO access_records (record_key, event_id, height, tx_hash)
                SELECT k, e, h, t
                FROM unnest(\(statement.bind(accessed.map { ByteBuffer($0.1.recordKey) })), \(statement.bind(accessed.map(\.1.eventID))),
                            \(statement.bind(accessed.map(\.0))), \(statement.bind(accessed.map { ByteBuffer($0.1.transactionHash) }))) AS x(k, e, h, t)
                """)
        }
        let releases = blocks.flatMap { block in block.rows.releases.map { (block.height, $0) } }
        if only.contains(.releasedEvents), !releases.isEmpty {
            statement.add(
                """
                INSERT INTO released_events (event_id, department, height, tx_hash)
                SELECT e, d, h, t
                FROM unnest(\(statement.bind(releases.map(\.1.eventID))), \(statement.bind(releases.map(\.1.department))),
                            \(statement.bind(releases.map(\.0))), \(statement.bind(releases.map { ByteBuffer($0.1.transactionHash) }))) AS x(e, d, h, t)
                """)
        }
        let anchors = blocks.flatMap { block in block.rows.anchors.map { (block.height, $0) } }
        if only.contains(.anchoredRecords), !anchors.isEmpty {
            statement.add(
                """
                INSERT INTO anchored_records (record_key, record_hash, height, tx_hash, submitter)
                SELECT k, r, h, t, s
                FROM unnest(\(statement.bind(anchors.map { ByteBuffer($0.1.recordKey) })), \(statement.bind(anchors.map { ByteBuffer($0.1.recordHash) })),
                            \(statement.bind(anchors.map(\.0))), \(statement.bind(anchors.map { ByteBuffer($0.1.transactionHash) })),
                            \(statement.bind(anchors.map(\.1.submitter)))) AS x(k, r, h, t, s)
                """)
        }
        let erasures = blocks.flatMap { block in block.rows.erasures.map { (block.height, $0) } }
        if only.contains(.erasedRecords), !erasures.isEmpty {
            // One row per erasure transaction and key: a key that two transactions name has two rows (the first counts).
            statement.add(
                """
                INSERT INTO erased_records (record_key, height, tx_hash, submitter)
                SELECT k, h, t, s
                FROM unnest(\(statement.bind(erasures.map { ByteBuffer($0.1.recordKey) })), \(statement.bind(erasures.map(\.0))),
                            \(statement.bind(erasures.map { ByteBuffer($0.1.transactionHash) })), \(statement.bind(erasures.map(\.1.submitter)))) AS x(k, h, t, s)
                """)
        }
        let events = blocks.flatMap { block in block.rows.events.map { (height: block.height, event: $0.event, transactionHash: $0.transactionHash) }
        }
        if only.contains(.accessEvents), !events.isEmpty {
            // Each event's policy list travels as a JSON array (unnest cannot take an array of arrays).
            let policies = events.map { "[" + $0.event.determiningPolicies.map { JSONStringLiteral.quote($0) }.joined(separator: ",") + "]" }
            statement.add(
                """
                INSERT INTO access_events (event_id, height, tx_hash, requester, action, category, purpose, decision, policies,
                                           record_count, bundle_hash, timestamp_ms, role, grant_id, disclose_at_ms)
                SELECT e, h, t, r, a, c, p, d, ARRAY(SELECT jsonb_array_elements_text(j::jsonb)), n, b, ts, ro, g, nullif(da, -1)
                FROM unnest(\(statement.bind(events.map { $0.event.eventID })), \(statement.bind(events.map(\.height))),
                            \(statement.bind(events.map { ByteBuffer($0.transactionHash) })), \(statement.bind(events.map { $0.event.requester })),
                            \(statement.bind(events.map { $0.event.action })), \(statement.bind(events.map { $0.event.category })),
                            \(statement.bind(events.map { $0.event.purpose })), \(statement.bind(events.map { $0.event.decision.rawValue })),
                            \(statement.bind(policies)), \(statement.bind(events.map { $0.event.recordKeys.count })),
                            \(statement.bind(events.map { ByteBuffer($0.event.policyBundleHash) })), \(statement.bind(events.map { $0.event.timestampMs })),
                            \(statement.bind(events.map { $0.event.role ?? "" })), \(statement.bind(events.map { $0.event.grantID ?? "" })),
                            \(statement.bind(events.map { $0.event.discloseAtMs ?? -1 })))
                     AS x(e, h, t, r, a, c, p, d, j, n, b, ts, ro, g, da)
                """)
        }
    }

    // MARK: Fingerprints

    /// The derived tables, each with its key column and the columns a fingerprint covers, as SQL.
    package enum Table: String, Sendable, CaseIterable {
        case accessEvents = "access_events"
        case anchoredRecords = "anchored_records"
        case erasedRecords = "erased_records"
        case accessRecords = "access_records"
        case releasedEvents = "released_events"

        var keySQL: String {
            switch self {
            case .accessEvents: return "event_id || ':' || encode(tx_hash, 'hex')"
            case .anchoredRecords: return "encode(record_key, 'hex') || ':' || encode(tx_hash, 'hex')"
            case .erasedRecords: return "encode(record_key, 'hex') || ':' || encode(tx_hash, 'hex')"
            case .accessRecords: return "encode(record_key, 'hex') || ':' || event_id || ':' || encode(tx_hash, 'hex')"
            case .releasedEvents: return "event_id || ':' || encode(tx_hash, 'hex')"
            }
        }

        /// The row PostgreSQL hashes for a fingerprint. The two tables of a million rows (access events and their
        /// records) hash a binary row, as `FingerprintWriter` builds it: each text column as its UTF-8 length (4 bytes,
        /// big-endian) and bytes, each byte column as its length and bytes, numbers as `int4send`/`int8send`, a
        /// NULL-able number as 0x00, or 0x01 and the number — no hex and no decimal lengths, about a third less work per
        /// row. The small tables hash their columns as text, `<characters>:<text>` each (`fingerprint(_:)`).
        var rowSQL: String {
            func text(_ column: String) -> String { "int4send(octet_length(\(column))) || convert_to(\(column), 'UTF8')" }
            func bytes(_ column: String) -> String { "int4send(length(\(column))) || \(column)" }
            func textColumns(_ columns: [String]) -> String {
                "convert_to(" + columns.map { "length(\($0))::text || ':' || \($0)" }.joined(separator: " || ") + ", 'UTF8')"
            }
            switch self {
            case .accessEvents:
                return [
                    text("event_id"), bytes("tx_hash"), text("requester"), text("action"), text("category"), text("purpose"), text("decision"),
                    text("array_to_string(policies, chr(30))"), "int4send(record_count)", bytes("bundle_hash"), "int8send(timestamp_ms)",
                    text("role"),
                    text("grant_id"), "CASE WHEN disclose_at_ms IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea || int8send(disclose_at_ms) END",
                ].joined(separator: " || ")
            case .accessRecords:
                return [bytes("record_key"), text("event_id"), bytes("tx_hash")].joined(separator: " || ")
            case .anchoredRecords:
                return textColumns(["encode(record_key, 'hex')", "encode(record_hash, 'hex')", "encode(tx_hash, 'hex')", "submitter"])
            case .erasedRecords:
                return textColumns(["encode(record_key, 'hex')", "encode(tx_hash, 'hex')", "submitter"])
            case .releasedEvents:
                return textColumns(["event_id", "department", "encode(tx_hash, 'hex')"])
            }
        }

        var fingerprintSQL: String {
            "('x' || encode(substring(sha256(\(rowSQL)) from 1 for 8), 'hex'))::bit(64)::bigint"
        }
    }

    static func columns(_ release: Release) -> [String] { [release.eventID, release.department, Hex.encode(release.transactionHash)] }

    static func columns(_ anchor: Anchor) -> [String] {
        [Hex.encode(anchor.recordKey), Hex.encode(anchor.recordHash), Hex.encode(anchor.transactionHash), anchor.submitter]
    }

    static func columns(_ erasure: Erasure) -> [String] {
        [Hex.encode(erasure.recordKey), Hex.encode(erasure.transactionHash), erasure.submitter]
    }

    /// SHA-256 over `<characters>:<text>` per column, first 8 bytes as a signed big-endian integer. Built as bytes
    /// (a million rows are fingerprinted at every start).
    static func fingerprint(_ columns: [String]) -> Int64 {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(columns.reduce(16) { $0 + $1.utf8.count + 4 })
        for column in columns {
            let utf8 = column.utf8
            // Characters as PostgreSQL's length() counts them: code points (equal to the bytes for ASCII).
            var count = utf8.allSatisfy { $0 < 0x80 } ? utf8.count : column.unicodeScalars.count
            var digits: [UInt8] = []
            repeat {
                digits.append(UInt8(ascii: "0") + UInt8(count % 10))
                count /= 10
            } while count > 0
            bytes.append(contentsOf: digits.reversed())
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: utf8)
        }
        let digest = InternationalSuite().hash(bytes)
        var value: UInt64 = 0
        for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
        return Int64(bitPattern: value)
    }

    /// Count and XOR of fingerprints of this block's rows in each table. The rows of access events and their records
    /// (a million at a node's start) are fingerprinted by `FingerprintWriter` straight from the events, into one
    /// reused buffer; the bytes are those `fingerprint(_:)` hashes for the same columns (a test holds the two equal).
    package var digests: [Table: Digest] {
        var events = Digest()
        var accessed = Digest()
        var writer = FingerprintWriter()
        for (event, hash) in self.events {
            events.add(writer.event(event, transaction: hash))
            var seen = Set<[UInt8]>()
            for key in event.recordKeys where seen.insert(key).inserted {
                accessed.add(writer.accessedRecord(key: key, eventID: event.eventID, transaction: hash))
            }
        }
        var anchors = Digest()
        for anchor in self.anchors { anchors.add(Self.fingerprint(Self.columns(anchor))) }
        var erased = Digest()
        for erasure in erasures { erased.add(Self.fingerprint(Self.columns(erasure))) }
        var released = Digest()
        for release in releases { released.add(Self.fingerprint(Self.columns(release))) }
        return [.accessEvents: events, .anchoredRecords: anchors, .erasedRecords: erased, .accessRecords: accessed, .releasedEvents: released]
    }

    /// Builds the binary row of `Table.binaryRowSQL` in one buffer kept across rows, and hashes it.
    struct FingerprintWriter {
        var bytes: [UInt8] = []

        init() { bytes.reserveCapacity(512) }

        mutating func u32(_ value: Int) {
            let value = UInt32(truncatingIfNeeded: value)
            for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
        }

        mutating func i64(_ value: Int64) {
            let value = UInt64(bitPattern: value)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }

        mutating func text(_ value: String) {
            u32(value.utf8.count)
            bytes.append(contentsOf: value.utf8)
        }

        mutating func blob(_ value: [UInt8]) {
            u32(value.count)
            bytes.append(contentsOf: value)
        }

        mutating func finish() -> Int64 {
            let digest = InternationalSuite().hash(bytes)
            bytes.removeAll(keepingCapacity: true)
            var value: UInt64 = 0
            for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
            return Int64(bitPattern: value)
        }

        /// `Table.accessEvents.binaryRowSQL`, in order.
        mutating func event(_ event: AccessEvent, transaction: [UInt8]) -> Int64 {
            text(event.eventID)
            blob(transaction)
            text(event.requester)
            text(event.action)
            text(event.category)
            text(event.purpose)
            text(event.decision.rawValue)
            text(event.determiningPolicies.joined(separator: "\u{1E}"))
            u32(event.recordKeys.count)
            blob(event.policyBundleHash)
            i64(event.timestampMs)
            text(event.role ?? "")
            text(event.grantID ?? "")
            if let at = event.discloseAtMs {
                bytes.append(1)
                i64(at)
            } else {
                bytes.append(0)
            }
            return finish()
        }

        /// `Table.accessRecords.binaryRowSQL`, in order.
        mutating func accessedRecord(key: [UInt8], eventID: String, transaction: [UInt8]) -> Int64 {
            blob(key)
            text(eventID)
            blob(transaction)
            return finish()
        }
    }

    /// The keys and fingerprints of this block's rows in a table (for locating a difference).
    package func rows(_ table: Table) -> [String: Int64] {
        switch table {
        case .accessEvents:
            var writer = FingerprintWriter()
            return Dictionary(
                events.map { entry in
                    (entry.event.eventID + ":" + Hex.encode(entry.transactionHash), writer.event(entry.event, transaction: entry.transactionHash))
                },
                uniquingKeysWith: { first, _ in first })
        case .anchoredRecords:
            return Dictionary(
                anchors.map { (Hex.encode($0.recordKey) + ":" + Hex.encode($0.transactionHash), Self.fingerprint(Self.columns($0))) },
                uniquingKeysWith: { first, _ in first })
        case .erasedRecords:
            return Dictionary(
                erasures.map { (Hex.encode($0.recordKey) + ":" + Hex.encode($0.transactionHash), Self.fingerprint(Self.columns($0))) },
                uniquingKeysWith: { first, _ in first })
        case .accessRecords:
            var writer = FingerprintWriter()
            return Dictionary(
                accessedRecords.map { record in
                    (
                        Hex.encode(record.recordKey) + ":" + record.eventID + ":" + Hex.encode(record.transactionHash),
                        writer.accessedRecord(key: record.recordKey, eventID: record.eventID, transaction: record.transactionHash)
                    )
                },
                uniquingKeysWith: { first, _ in first })
        case .releasedEvents:
            return Dictionary(
                releases.map { ($0.eventID + ":" + Hex.encode($0.transactionHash), Self.fingerprint(Self.columns($0))) },
                uniquingKeysWith: { first, _ in first })
        }
    }

    package struct Digest: Sendable, Equatable {
        package var count = 0
        package var xor: Int64 = 0

        package init() {}
        init(count: Int, xor: Int64) {
            self.count = count
            self.xor = xor
        }

        mutating func add(_ fingerprint: Int64) {
            count += 1
            xor ^= fingerprint
        }
    }
}

/// One row of a derived table that differs from what the blocks imply.
package struct DerivedStateProblem: Sendable, CustomStringConvertible {
    package enum Kind: String, Sendable {
        /// The blocks imply the row; the table lacks it.
        case missing
        /// The table holds a row the blocks do not imply (at this height).
        case unexpected
        /// The row is there with other contents.
        case altered
    }

    package let table: DerivedRows.Table
    package let key: String
    package let height: UInt64
    package let kind: Kind

    package var description: String { "\(table.rawValue) \(kind.rawValue): key \(key) at height \(height)" }
}

extension ChainStore {
    /// Per height, the count and XOR of row fingerprints of a derived table, computed by PostgreSQL.
    package func derivedDigests(_ table: DerivedRows.Table) async throws -> [UInt64: DerivedRows.Digest] {
        let rows = try await database.client.query(
            PostgresQuery(unsafeSQL: "SELECT height, count(*)::bigint, bit_xor(\(table.fingerprintSQL)) FROM \(table.rawValue) GROUP BY height"),
            logger: database.logger
        )
        var out: [UInt64: DerivedRows.Digest] = [:]
        for try await (height, count, xor) in rows.decode((Int64, Int64, Int64).self) {
            out[UInt64(max(0, height))] = DerivedRows.Digest(count: Int(count), xor: xor)
        }
        return out
    }

    /// Compares one height's rows of a table with what its block implies, and names each difference.
    package func locateDifferences(_ table: DerivedRows.Table, height: UInt64, expected: DerivedRows) async throws -> [DerivedStateProblem] {
        let rows = try await database.client.query(
            PostgresQuery(unsafeSQL: "SELECT \(table.keySQL), \(table.fingerprintSQL) FROM \(table.rawValue) WHERE height = \(Int64(height))"),
            logger: database.logger
        )
        var stored: [String: Int64] = [:]
        for try await (key, fingerprint) in rows.decode((String, Int64).self) { stored[key] = fingerprint }
        let wanted = expected.rows(table)
        var problems: [DerivedStateProblem] = []
        for key in wanted.keys.sorted() {
            if let have = stored[key] {
                if have != wanted[key] { problems.append(DerivedStateProblem(table: table, key: key, height: height, kind: .altered)) }
            } else {
                problems.append(DerivedStateProblem(table: table, key: key, height: height, kind: .missing))
            }
        }
        for key in stored.keys.sorted() where wanted[key] == nil {
            problems.append(DerivedStateProblem(table: table, key: key, height: height, kind: .unexpected))
        }
        return problems
    }

    /// Fills the derived tables a migration added to a database that already held blocks (listed in
    /// `derived_backfills`) from the stored blocks, each in one database transaction with the removal of its mark.
    /// Returns the tables filled.
    package func completeBackfills(suite: any CryptoSuite, progress: @Sendable (String) -> Void = { _ in }) async throws -> [DerivedRows.Table] {
        let logger = database.logger
        var pending: [DerivedRows.Table] = []
        for try await name in try await database.client.query("SELECT table_name FROM derived_backfills ORDER BY table_name", logger: logger)
            .decode(String.self)
        {
            guard let table = DerivedRows.Table(rawValue: name) else {
                throw StoreError(.corrupt, "derived_backfills names \(name), which is not a derived table this version knows")
            }
            pending.append(table)
        }
        for table in pending {
            try await database.transaction { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "DELETE FROM \(table.rawValue)"), logger: logger)
                _ = try await self.writeDerived(suite: suite, only: [table], on: connection) { height in
                    progress("filled \(table.rawValue) from the blocks up to height \(height)")
                }
                try await connection.query("DELETE FROM derived_backfills WHERE table_name = \(table.rawValue)", logger: logger)
            }
        }
        return pending
    }

    /// Deletes every derived row and writes them again from the stored blocks (one database transaction), after the
    /// blocks themselves were verified by the caller. Returns the rows written per table.
    package func rebuildDerived(
        suite: any CryptoSuite, progress: @Sendable (UInt64) -> Void = { _ in }
    ) async throws -> (anchors: Int, events: Int) {
        let logger = database.logger
        return try await database.transaction { connection in
            try await connection.query("DELETE FROM access_events", logger: logger)
            try await connection.query("DELETE FROM anchored_records", logger: logger)
            try await connection.query("DELETE FROM erased_records", logger: logger)
            try await connection.query("DELETE FROM access_records", logger: logger)
            try await connection.query("DELETE FROM released_events", logger: logger)
            try await connection.query("DELETE FROM derived_backfills", logger: logger)
            return try await self.writeDerived(suite: suite, only: Set(DerivedRows.Table.allCases), on: connection, progress: progress)
        }
    }

    /// Writes the rows of `only` that every stored block implies, page by page, inside the caller's transaction.
    /// Returns the anchors and events written.
    func writeDerived(
        suite: any CryptoSuite, only: Set<DerivedRows.Table>, on connection: PostgresConnection, progress: (UInt64) -> Void
    ) async throws -> (anchors: Int, events: Int) {
        var next: UInt64 = 1
        var anchors = 0
        var events = 0
        while true {
            let page = try await storedBlocks(from: next, limit: 256, on: connection)
            guard let last = page.last else { break }
            let blocks = try page.map { stored in
                let hashes = stored.block.transactions.map { $0.hash(suite: suite) }
                return (Int64(stored.block.header.height), try DerivedRows(block: stored.block, hashes: hashes, skipped: stored.skipped))
            }
            try await DerivedRows.insert(blocks, on: connection, logger: database.logger, only: only)
            anchors += blocks.reduce(0) { $0 + $1.1.anchors.count }
            events += blocks.reduce(0) { $0 + $1.1.events.count }
            next = last.block.header.height + 1
            progress(last.block.header.height)
        }
        return (anchors, events)
    }
}
