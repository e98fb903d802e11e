import GatewayChain
import GatewayCrypto
import Logging
import NIOCore
import PostgresNIO

/// JSON string literals for values that travel to PostgreSQL as JSON.
enum JSONStringLiteral {
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Blocks, transactions, the pending outbox and the state derived from blocks.
package struct ChainStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    /// Puts a signed transaction into the durable outbox. It will be in a block after the next commit. On the chain's
    /// lane, as `nextNonce`: every writer waiting for its transaction waits for this write too.
    package func enqueue(_ transaction: Transaction, hash: [UInt8]) async throws {
        try await database.chainLane.withConnection { connection in
            try await Self.enqueue(transaction, hash: hash, on: connection, logger: database.logger)
        }
    }

    static func enqueue(_ transaction: Transaction, hash: [UInt8], on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "INSERT INTO pending_transactions (tx_hash, body) VALUES (\(ByteBuffer(hash)), \(ByteBuffer(transaction.encoded)))",
            logger: logger
        )
    }

    /// Puts many signed transactions into the outbox in one statement (one commit).
    package func enqueue(_ transactions: [(transaction: Transaction, hash: [UInt8])]) async throws {
        guard !transactions.isEmpty else { return }
        try await database.client.query(
            """
            INSERT INTO pending_transactions (tx_hash, body)
            SELECT h, b FROM unnest(\(transactions.map { ByteBuffer($0.hash) }), \(transactions.map { ByteBuffer($0.transaction.encoded) }))
                 WITH ORDINALITY AS t(h, b, o) ORDER BY o
            """,
            logger: database.logger
        )
    }

    /// `count` (1…4,096) fresh nonces from the transaction sequence, in one statement: the access log's reserve.
    package func reserveNonces(_ count: Int) async throws -> [UInt64] {
        let count = min(max(count, 1), 4_096)
        return try await database.chainLane.withConnection { connection in
            var nonces: [UInt64] = []
            let rows = try await connection.query(
                "SELECT nextval('transaction_nonce') FROM generate_series(1, \(count))", logger: database.logger)
            for try await value in rows.decode(Int64.self) {
                nonces.append(try StoreError.stored(value, .height, column: "sequence transaction_nonce"))
            }
            guard nonces.count == count else { throw StoreError(.unavailable, "nonce sequence returned \(nonces.count) of \(count)") }
            return nonces
        }
    }

    package func nextNonce() async throws -> UInt64 {
        try await database.chainLane.withConnection { connection in
            try await RecordStore.nextNonce(connection, logger: database.logger)
        }
    }

    /// Pending transactions after outbox position `afterSeq`, oldest first, at most `limit`.
    package func pending(afterSeq: Int64 = 0, limit: Int) async throws -> [(seq: Int64, hash: [UInt8], body: [UInt8])] {
        let rows = try await database.client.query(
            "SELECT seq, tx_hash, body FROM pending_transactions WHERE seq > \(afterSeq) ORDER BY seq LIMIT \(limit)",
            logger: database.logger
        )
        var out: [(seq: Int64, hash: [UInt8], body: [UInt8])] = []
        for try await (seq, hash, body) in rows.decode((Int64, ByteBuffer, ByteBuffer).self) {
            out.append((seq, hash.bytes, body.bytes))
        }
        return out
    }

    package func pendingCount() async throws -> Int {
        let rows = try await database.client.query("SELECT count(*) FROM pending_transactions", logger: database.logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Drops outbox entries that can never be included (they failed validation), so they do not block the queue.
    package func discardPending(hashes: [[UInt8]]) async throws {
        try await database.client.query(
            "DELETE FROM pending_transactions WHERE tx_hash = ANY(\(hashes.map { ByteBuffer($0) }))",
            logger: database.logger
        )
    }

    /// Writes a block, its transactions and everything derived from the executed ones, removes them from the
    /// outbox and forgets consensus blocks at or below its height, all in one database transaction.
    package func commit(
        _ block: Block, suite: any CryptoSuite, evidence: [UInt8] = [], skipped: [Int: String] = [:], commitment: StoredCommitment? = nil
    ) async throws {
        try await commit([Committing(block: block, evidence: evidence, skipped: skipped, commitment: commitment)], suite: suite)
    }

    /// A block to store, with its consensus evidence, skipped transactions and commitment.
    package struct Committing: Sendable {
        package let block: Block
        package let evidence: [UInt8]
        package let skipped: [Int: String]
        package let commitment: StoredCommitment?

        package init(block: Block, evidence: [UInt8] = [], skipped: [Int: String] = [:], commitment: StoredCommitment? = nil) {
            self.block = block
            self.evidence = evidence
            self.skipped = skipped
            self.commitment = commitment
        }
    }

    /// Stores consecutive blocks in one database transaction (one flush to disk for all of them: the group commit of
    /// a node that decides blocks faster than one durable write each), each exactly as `commit` stores one. Each table
    /// takes one clause for all the blocks, and the clauses go as one statement: a batch costs about what one block
    /// costs, in one round trip.
    ///
    /// `consensus`, when given, is written in the same statement: a replica's durable state and the blocks it decided
    /// in the same batch cost one flush to disk, not two (see `ChainService.persistConsensus`). Runs on the caller's
    /// executor (see `ConsensusPersistence`).
    package nonisolated(nonsending) func commit(_ blocks: [Committing], suite: any CryptoSuite, consensus: ConsensusStore.Writes? = nil) async throws
    {
        guard !blocks.isEmpty else { return }
        let logger = database.logger
        let prepared = try blocks.map { entry in
            let hashes = entry.block.transactions.map { $0.hash(suite: suite) }
            return Prepared(
                entry: entry, hashes: hashes, derived: try DerivedRows(block: entry.block, hashes: hashes, skipped: Set(entry.skipped.keys)),
                blockHash: entry.block.header.hash(suite: suite))
        }
        // One statement (see `CombinedStatement`): atomic by itself, so no BEGIN and COMMIT round trips around it.
        do {
            try await database.chainLane.withConnection { connection in
                try await Self.insert(prepared, consensus: consensus, on: connection, logger: logger)
            }
        } catch {
            throw Database.translate(error)
        }
    }

    /// A block ready to store: its transactions' hashes, its derived rows and its hash.
    struct Prepared {
        let entry: Committing
        let hashes: [[UInt8]]
        let derived: DerivedRows
        let blockHash: [UInt8]
        var height: Int64 { Int64(entry.block.header.height) }
    }

    static nonisolated(nonsending) func insert(
        _ prepared: [Prepared], consensus: ConsensusStore.Writes?, on connection: PostgresConnection, logger: Logger
    ) async throws {
        var statement = CombinedStatement()
        // The replica's writes first; the clauses of one statement see the same snapshot, so the delete of persisted
        // consensus blocks at the end does not see (or remove) the blocks this statement persists.
        if let consensus { ConsensusStore.add(consensus, to: &statement) }
        statement.add(
            """
            INSERT INTO blocks (height, hash, header, certificate, tx_count, evidence, commitment)
            SELECT * FROM unnest(\(statement.bind(prepared.map(\.height))), \(statement.bind(prepared.map { ByteBuffer($0.blockHash) })),
                                 \(statement.bind(prepared.map { ByteBuffer($0.entry.block.header.encoded) })),
                                 \(statement.bind(prepared.map { ByteBuffer($0.entry.block.encodedCertificate) })),
                                 \(statement.bind(prepared.map { $0.entry.block.transactions.count })),
                                 \(statement.bind(prepared.map { ByteBuffer($0.entry.evidence) })),
                                 \(statement.bind(prepared.map { ByteBuffer($0.entry.commitment?.encoded ?? []) })))
            """)
        // Executed transactions (skipped ones apart), every block's in one clause.
        var executed: [(height: Int64, index: Int, hash: [UInt8], transaction: Transaction)] = []
        var skipped: [(height: Int64, index: Int, transaction: Transaction, reason: String)] = []
        for block in prepared {
            for (index, transaction) in block.entry.block.transactions.enumerated() {
                if let reason = block.entry.skipped[index] {
                    skipped.append((block.height, index, transaction, reason))
                } else {
                    executed.append((block.height, index, block.hashes[index], transaction))
                }
            }
        }
        if !executed.isEmpty {
            statement.add(
                """
                INSERT INTO transactions (tx_hash, height, tx_index, kind, body)
                SELECT * FROM unnest(\(statement.bind(executed.map { ByteBuffer($0.hash) })), \(statement.bind(executed.map(\.height))),
                                     \(statement.bind(executed.map(\.index))), \(statement.bind(executed.map { Int16($0.transaction.kind.rawValue) })),
                                     \(statement.bind(executed.map { ByteBuffer($0.transaction.encoded) })))
                """)
        }
        if !skipped.isEmpty {
            statement.add(
                """
                INSERT INTO skipped_transactions (height, tx_index, body, reason)
                SELECT * FROM unnest(\(statement.bind(skipped.map(\.height))), \(statement.bind(skipped.map(\.index))),
                                     \(statement.bind(skipped.map { ByteBuffer($0.transaction.encoded) })), \(statement.bind(skipped.map(\.reason))))
                """)
        }
        DerivedRows.add(prepared.map { ($0.height, $0.derived) }, to: &statement)
        let allHashes = prepared.flatMap(\.hashes)
        if !allHashes.isEmpty {
            statement.add("DELETE FROM pending_transactions WHERE tx_hash = ANY(\(statement.bind(allHashes.map { ByteBuffer($0) })))")
        }
        statement.add("DELETE FROM consensus_blocks WHERE height <= \(statement.bind(prepared.map(\.height).max()!))")
        try await statement.run(on: connection, logger: logger)
    }

    /// Blocks from `height` upwards (inclusive), at most `limit`, with their transactions (executed and skipped, in
    /// block order).
    package func blocks(from height: UInt64, limit: Int) async throws -> [Block] {
        try await storedBlocks(from: height, limit: limit).map(\.block)
    }

    /// A stored block with its consensus evidence and which of its transactions were skipped.
    package struct StoredBlock: Sendable {
        package let block: Block
        package let evidence: [UInt8]
        package let skipped: Set<Int>
    }

    package func storedBlocks(from height: UInt64, limit: Int) async throws -> [StoredBlock] {
        try await storedBlocks(from: height, limit: limit) { [database] query in try await database.client.query(query, logger: database.logger) }
    }

    /// The same, inside a database transaction.
    func storedBlocks(from height: UInt64, limit: Int, on connection: PostgresConnection) async throws -> [StoredBlock] {
        try await storedBlocks(from: height, limit: limit) { [database] query in try await connection.query(query, logger: database.logger) }
    }

    func storedBlocks(
        from height: UInt64, limit: Int, run: (PostgresQuery) async throws -> PostgresRowSequence
    ) async throws -> [StoredBlock] {
        let end = Int64(height) + Int64(limit)
        let headerRows = try await run(
            "SELECT height, header, certificate, evidence FROM blocks WHERE height >= \(Int64(height)) AND height < \(end) ORDER BY height"
        )
        var headers: [(Int64, BlockHeader, [CommitSignature], [UInt8])] = []
        for try await (h, header, certificate, evidence) in headerRows.decode((Int64, ByteBuffer, ByteBuffer, ByteBuffer).self) {
            do {
                headers.append((h, try BlockHeader(decoding: header.bytes), try Block.decodeCertificate(certificate.bytes), evidence.bytes))
            } catch {
                throw StoreError(.corrupt, "the header or certificate of block \(h) (table blocks) does not decode: \(error)")
            }
        }
        guard !headers.isEmpty else { return [] }
        let txRows = try await run(
            """
            SELECT height, tx_index, body, false FROM transactions WHERE height >= \(Int64(height)) AND height < \(end)
            UNION ALL
            SELECT height, tx_index, body, true FROM skipped_transactions WHERE height >= \(Int64(height)) AND height < \(end)
            ORDER BY 1, 2
            """
        )
        var transactions: [Int64: [Transaction]] = [:]
        var skipped: [Int64: Set<Int>] = [:]
        for try await (h, index, body, isSkipped) in txRows.decode((Int64, Int, ByteBuffer, Bool).self) {
            do {
                transactions[h, default: []].append(try Transaction(decoding: body.bytes))
            } catch {
                let table = isSkipped ? "skipped_transactions" : "transactions"
                throw StoreError(.corrupt, "transaction \(index) of block \(h) (table \(table)) does not decode: \(error)")
            }
            if isSkipped { skipped[h, default: []].insert(index) }
        }
        return headers.map { h, header, certificate, evidence in
            StoredBlock(
                block: Block(header: header, transactions: transactions[h] ?? [], certificate: certificate), evidence: evidence,
                skipped: skipped[h] ?? [])
        }
    }

    /// Headers from `height` upwards (inclusive), at most `limit`.
    package func headers(from height: UInt64, limit: Int) async throws -> [BlockHeader] {
        let rows = try await database.client.query(
            "SELECT header FROM blocks WHERE height >= \(Int64(height)) AND height < \(Int64(height) + Int64(limit)) ORDER BY height",
            logger: database.logger
        )
        var out: [BlockHeader] = []
        for try await header in rows.decode(ByteBuffer.self) { out.append(try BlockHeader(decoding: header.bytes)) }
        return out
    }

    /// Where the executed governance transactions (proposals, approvals) at or below `height` sit, in chain order.
    package func governanceLocations(atOrBelow height: UInt64) async throws -> [(height: UInt64, index: Int)] {
        let rows = try await database.client.query(
            """
            SELECT height, tx_index FROM transactions
            WHERE kind IN (\(Int16(Transaction.Kind.proposal.rawValue)), \(Int16(Transaction.Kind.approval.rawValue))) AND height <= \(Int64(height))
            ORDER BY height, tx_index
            """,
            logger: database.logger
        )
        var out: [(height: UInt64, index: Int)] = []
        for try await (h, index) in rows.decode((Int64, Int).self) {
            out.append((try StoreError.stored(h, .height, column: "transactions.height"), index))
        }
        return out
    }

    /// What committed each block from `height` on (at most `limit` blocks; absent where not kept).
    package func commitments(from height: UInt64, limit: Int) async throws -> [UInt64: StoredCommitment] {
        let rows = try await database.client.query(
            "SELECT height, commitment FROM blocks WHERE height >= \(Int64(height)) AND height < \(Int64(height) + Int64(limit))",
            logger: database.logger
        )
        var out: [UInt64: StoredCommitment] = [:]
        for try await (h, bytes) in rows.decode((Int64, ByteBuffer).self) where bytes.readableBytes > 0 {
            out[try StoreError.stored(h, .height, column: "blocks.height")] = try StoredCommitment(decoding: bytes.bytes)
        }
        return out
    }

    /// What committed the block at `height` (nil if it was stored before nodes kept it, or is not stored).
    package func commitment(atHeight height: UInt64) async throws -> StoredCommitment? {
        let rows = try await database.client.query("SELECT commitment FROM blocks WHERE height = \(Int64(height))", logger: database.logger)
        for try await bytes in rows.decode(ByteBuffer.self) where bytes.readableBytes > 0 { return try StoredCommitment(decoding: bytes.bytes) }
        return nil
    }

    /// The height of the committed block with this header hash, if any.
    package func height(ofBlock hash: [UInt8]) async throws -> UInt64? {
        let rows = try await database.client.query("SELECT height FROM blocks WHERE hash = \(ByteBuffer(hash))", logger: database.logger)
        for try await height in rows.decode(Int64.self) { return try StoreError.stored(height, .height, column: "blocks.height") }
        return nil
    }

    package func height() async throws -> UInt64 {
        let rows = try await database.client.query("SELECT coalesce(max(height), 0) FROM blocks", logger: database.logger)
        for try await height in rows.decode(Int64.self) { return try StoreError.stored(height, .height, column: "blocks.height") }
        return 0
    }

    /// Where a transaction sits: block height and index, or nil if it is not in a block (yet).
    package func location(of hash: [UInt8]) async throws -> (height: UInt64, index: Int)? {
        let rows = try await database.client.query(
            "SELECT height, tx_index FROM transactions WHERE tx_hash = \(ByteBuffer(hash))",
            logger: database.logger
        )
        for try await (height, index) in rows.decode((Int64, Int).self) {
            return (try StoreError.stored(height, .height, column: "transactions.height"), index)
        }
        return nil
    }

    /// Locations of those of `hashes` that are in committed blocks.
    package func locations(of hashes: [[UInt8]]) async throws -> [(hash: [UInt8], height: UInt64, index: Int)] {
        let rows = try await database.client.query(
            "SELECT tx_hash, height, tx_index FROM transactions WHERE tx_hash = ANY(\(hashes.map { ByteBuffer($0) }))",
            logger: database.logger
        )
        var out: [(hash: [UInt8], height: UInt64, index: Int)] = []
        for try await (hash, height, index) in rows.decode((ByteBuffer, Int64, Int).self) {
            out.append((hash.bytes, try StoreError.stored(height, .height, column: "transactions.height"), index))
        }
        return out
    }

    /// The hash a record's anchor transaction anchored for it, or nil if that transaction anchored no such key.
    package func anchoredHash(recordKey: [UInt8], transaction: [UInt8]) async throws -> [UInt8]? {
        let rows = try await database.client.query(
            "SELECT record_hash FROM anchored_records WHERE record_key = \(ByteBuffer(recordKey)) AND tx_hash = \(ByteBuffer(transaction))",
            logger: database.logger
        )
        for try await hash in rows.decode(ByteBuffer.self) { return hash.bytes }
        return nil
    }

    /// An access event's listing as the regulator sees it.
    package struct AccessEventRow: Sendable {
        package let eventID: String
        package let height: UInt64
        package let transactionHash: [UInt8]
        package let requester: String
        package let action: String
        package let category: String
        package let purpose: String
        package let decision: String
        package let policies: [String]
        package let recordCount: Int
        package let bundleHash: [UInt8]
        package let timestampMs: Int64
        package let role: String?
        package let grantID: String?
        /// Deferred visibility: when the citizens concerned may see the access (nil: at once).
        package let discloseAtMs: Int64?
        /// The height of the first release of the deferral by the department that made the access (nil: none).
        package let releasedAtHeight: UInt64?

        package init(
            eventID: String, height: UInt64, transactionHash: [UInt8], requester: String, action: String, category: String, purpose: String,
            decision: String, policies: [String], recordCount: Int, bundleHash: [UInt8], timestampMs: Int64, role: String?, grantID: String?,
            discloseAtMs: Int64? = nil, releasedAtHeight: UInt64? = nil
        ) {
            self.eventID = eventID
            self.height = height
            self.transactionHash = transactionHash
            self.requester = requester
            self.action = action
            self.category = category
            self.purpose = purpose
            self.decision = decision
            self.policies = policies
            self.recordCount = recordCount
            self.bundleHash = bundleHash
            self.timestampMs = timestampMs
            self.role = role
            self.grantID = grantID
            self.discloseAtMs = discloseAtMs
            self.releasedAtHeight = releasedAtHeight
        }
    }

    /// The columns `decodeEvents` reads, from `access_events` as `e`.
    static let eventColumnsSQL = """
        e.event_id, e.height, e.tx_hash, e.requester, e.action, e.category, e.purpose, e.decision, e.policies, e.record_count,
        e.bundle_hash, e.timestamp_ms, e.role, e.grant_id, e.disclose_at_ms,
        (SELECT min(r.height) FROM released_events r WHERE r.event_id = e.event_id AND r.department = e.requester)
        """

    /// What an audit query selects (nil: any). Every field is bound as a parameter, never spliced into the SQL.
    package struct AccessEventFilter: Sendable, Equatable {
        package var requester: String? = nil
        package var role: String? = nil
        package var purpose: String? = nil
        package var decision: String? = nil
        package var fromMs: Int64? = nil
        package var toMs: Int64? = nil
        /// Events naming any of these salted record keys (a citizen's records at this node).
        package var recordKeys: [[UInt8]]? = nil

        package init() {}
        package var isEmpty: Bool { self == AccessEventFilter() }
    }

    /// Access events in commit order after the (height, event id, transaction) cursor that match the filter. An event
    /// id that two transactions carry (a hostile member's copy) is two rows, ordered by their transactions' hashes.
    package func accessEvents(
        afterHeight: UInt64, afterEventID: String, afterTransaction: [UInt8] = [], limit: Int, filter: AccessEventFilter
    ) async throws -> [AccessEventRow] {
        guard !filter.isEmpty else {
            return try await accessEvents(afterHeight: afterHeight, afterEventID: afterEventID, afterTransaction: afterTransaction, limit: limit)
        }
        var bindings = PostgresBindings()
        var conditions = ["(e.height, e.event_id, e.tx_hash) > ($1, $2, $3)"]
        bindings.append(Int64(afterHeight))
        bindings.append(afterEventID)
        bindings.append(ByteBuffer(afterTransaction))
        func add(_ sql: (String) -> String, _ value: some PostgresEncodable & Sendable) throws {
            try bindings.append(value)
            conditions.append(sql("$\(bindings.count)"))
        }
        if let requester = filter.requester { try add({ "e.requester = \($0)" }, requester) }
        if let role = filter.role { try add({ "e.role = \($0)" }, role) }
        if let purpose = filter.purpose { try add({ "e.purpose = \($0)" }, purpose) }
        if let decision = filter.decision { try add({ "e.decision = \($0)" }, decision) }
        if let fromMs = filter.fromMs { try add({ "e.timestamp_ms >= \($0)" }, fromMs) }
        if let toMs = filter.toMs { try add({ "e.timestamp_ms < \($0)" }, toMs) }
        if let keys = filter.recordKeys {
            try add(
                { "(e.event_id, e.tx_hash) IN (SELECT a.event_id, a.tx_hash FROM access_records a WHERE a.record_key = ANY(\($0)))" },
                keys.map { ByteBuffer($0) })
        }
        bindings.append(limit)
        let sql = """
            SELECT \(Self.eventColumnsSQL) FROM access_events e WHERE \(conditions.joined(separator: " AND "))
            ORDER BY e.height, e.event_id, e.tx_hash LIMIT $\(bindings.count)
            """
        return try await Self.decodeEvents(database.client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: database.logger))
    }

    /// Access events in commit order, after the given (height, event id, transaction) cursor.
    package func accessEvents(afterHeight: UInt64, afterEventID: String, afterTransaction: [UInt8] = [], limit: Int) async throws -> [AccessEventRow]
    {
        try await Self.decodeEvents(
            database.client.query(
                """
                SELECT \(unescaped: Self.eventColumnsSQL)
                FROM access_events e
                WHERE (e.height, e.event_id, e.tx_hash) > (\(Int64(afterHeight)), \(afterEventID), \(ByteBuffer(afterTransaction)))
                ORDER BY e.height, e.event_id, e.tx_hash LIMIT \(limit)
                """,
                logger: database.logger
            ))
    }

    /// Every committed access event with this id, in commit order: one, unless a hostile member's node copied the id
    /// into a transaction of its own (callers pick the row they mean: its requester, its submitter, its transaction).
    package func accessEvents(id: String) async throws -> [AccessEventRow] {
        try await Self.decodeEvents(
            database.client.query(
                """
                SELECT \(unescaped: Self.eventColumnsSQL) FROM access_events e WHERE e.event_id = \(id)
                ORDER BY e.height, e.tx_hash LIMIT \(Self.sameIDRowsMax)
                """,
                logger: database.logger
            ))
    }

    /// At most this many rows of one event id are read (each copy costs its submitter a signed transaction, but the
    /// work per request stays bounded all the same).
    package static let sameIDRowsMax = 64

    /// The access events that concern any of these salted record keys, newest first, each once; at most `limit`.
    package func accessesToRecords(_ recordKeys: [[UInt8]], limit: Int) async throws -> [AccessEventRow] {
        guard !recordKeys.isEmpty else { return [] }
        return try await Self.decodeEvents(
            database.client.query(
                """
                SELECT \(unescaped: Self.eventColumnsSQL)
                FROM access_events e
                WHERE (e.event_id, e.tx_hash) IN (SELECT a.event_id, a.tx_hash FROM access_records a
                                                  WHERE a.record_key = ANY(\(recordKeys.map { ByteBuffer($0) })))
                ORDER BY e.height DESC, e.event_id, e.tx_hash LIMIT \(limit)
                """,
                logger: database.logger
            ))
    }

    static func decodeEvents(_ rows: PostgresRowSequence) async throws -> [AccessEventRow] {
        var out: [AccessEventRow] = []
        for try await row in rows.decode(
            (
                String, Int64, ByteBuffer, String, String, String, String, String, [String], Int, ByteBuffer, Int64, String, String, Int64?,
                Int64?
            ).self
        ) {
            out.append(
                AccessEventRow(
                    eventID: row.0, height: try StoreError.stored(row.1, .height, column: "access_events.height"), transactionHash: row.2.bytes,
                    requester: row.3, action: row.4, category: row.5,
                    purpose: row.6, decision: row.7, policies: row.8, recordCount: row.9, bundleHash: row.10.bytes, timestampMs: row.11,
                    role: row.12.isEmpty ? nil : row.12, grantID: row.13.isEmpty ? nil : row.13, discloseAtMs: row.14,
                    releasedAtHeight: try row.15.map { try StoreError.stored($0, .height, column: "released_events.height") }
                ))
        }
        return out
    }
}
