import GatewayChain
import NIOCore
import PostgresNIO

/// Durable consensus state: what a replica must find again after kill -9 so that it never votes twice in a round,
/// never forgets its highest QC, and never loses a block it voted for.
package struct ConsensusStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    /// Writes the safety state of `epoch`; returns once it is durable (PostgreSQL commit).
    package func save(_ safety: SafetyState, epoch: UInt64 = 0) async throws {
        try await save(blocks: [], safety: safety, epoch: epoch)
    }

    /// Whether this database was restored from a backup and the node has not yet seen the network pass its old votes.
    package func isRestored() async throws -> Bool {
        let rows = try await database.client.query("SELECT 1 FROM restore_marks LIMIT 1", logger: database.logger)
        for try await _ in rows { return true }
        return false
    }

    /// Marks a restored database (the restore command, after pg_restore).
    package func markRestored(note: String) async throws {
        try await database.client.query("INSERT INTO restore_marks (note) VALUES (\(note))", logger: database.logger)
    }

    /// The node has seen the network pass every round it may have voted in before the restore: it votes as any node.
    package func clearRestored() async throws {
        try await database.client.query("DELETE FROM restore_marks", logger: database.logger)
    }

    /// The safety state the replica of `epoch` persisted, if any.
    package func loadSafety(epoch: UInt64 = 0) async throws -> SafetyState? {
        let rows = try await database.client.query("SELECT state FROM consensus_safety WHERE epoch = \(Int64(epoch))", logger: database.logger)
        for try await state in rows.decode(ByteBuffer.self) { return try ConsensusCodec.decodeSafety(state.bytes) }
        return nil
    }

    /// Persists a block before the replica votes for it (idempotent).
    package func save(_ block: ConsensusBlock, epoch: UInt64 = 0) async throws {
        try await save(blocks: [block], safety: nil, epoch: epoch)
    }

    /// Blocks and the safety state of one epoch in one PostgreSQL transaction (a driver's batch), durable when it returns.
    /// One statement, so one round trip: on a loaded machine each round trip waits for the scheduler twice (the
    /// database's process, then ours), and the replica sends nothing until this returns.
    package nonisolated(nonsending) func save(blocks: [ConsensusBlock], safety: SafetyState?, epoch: UInt64) async throws {
        var statement = CombinedStatement()
        Self.add(Writes(blocks: blocks, safety: safety, epoch: epoch), to: &statement)
        try await database.chainLane.withConnection { connection in
            try await statement.run(on: connection, logger: database.logger)
        }
    }

    /// One batch of a replica's durable state: the blocks it is about to vote for or propose, and its safety state.
    package struct Writes: Sendable {
        package let blocks: [ConsensusBlock]
        package let safety: SafetyState?
        package let epoch: UInt64

        package init(blocks: [ConsensusBlock], safety: SafetyState?, epoch: UInt64) {
            self.blocks = blocks
            self.safety = safety
            self.epoch = epoch
        }
    }

    /// The clauses that write `writes` (see `save`), for a statement that may carry more (`ChainStore.commit`).
    static func add(_ writes: Writes, to statement: inout CombinedStatement) {
        let (blocks, safety, epoch) = (writes.blocks, writes.safety, writes.epoch)
        if !blocks.isEmpty {
            statement.add(
                """
                INSERT INTO consensus_blocks (block_id, height, body, epoch)
                SELECT i, h, b, \(statement.bind(Int64(epoch)))
                FROM unnest(\(statement.bind(blocks.map { ByteBuffer($0.id) })), \(statement.bind(blocks.map { Int64($0.height) })),
                            \(statement.bind(blocks.map { ByteBuffer(ConsensusCodec.encode($0)) }))) AS t(i, h, b)
                ON CONFLICT (block_id) DO NOTHING
                """)
        }
        if let safety {
            statement.add(
                """
                INSERT INTO consensus_safety (epoch, state) VALUES (\(statement.bind(Int64(epoch))), \(statement.bind(ByteBuffer(ConsensusCodec.encode(safety)))))
                ON CONFLICT (epoch) DO UPDATE SET state = EXCLUDED.state
                """)
        }
    }

    /// The blocks `epoch`'s replica persisted above `height`, in (height, id) order, ids recomputed from their contents.
    package func blocks(above height: UInt64, epoch: UInt64 = 0, hash: ([UInt8]) -> [UInt8]) async throws -> [ConsensusBlock] {
        let rows = try await database.client.query(
            "SELECT body FROM consensus_blocks WHERE height > \(Int64(height)) AND epoch = \(Int64(epoch)) ORDER BY height, block_id",
            logger: database.logger
        )
        var out: [ConsensusBlock] = []
        for try await body in rows.decode(ByteBuffer.self) { out.append(try ConsensusCodec.decodeBlock(body.bytes, hash: hash)) }
        return out
    }

    /// Records how `epoch` ended (idempotent).
    package nonisolated(nonsending) func save(_ end: EpochEnd, epoch: UInt64) async throws {
        try await database.client.query(
            """
            INSERT INTO epoch_ends (epoch, body) VALUES (\(Int64(epoch)), \(ByteBuffer(ConsensusCodec.encode(end))))
            ON CONFLICT (epoch) DO NOTHING
            """,
            logger: database.logger
        )
    }

    /// How each ended epoch ended, by epoch.
    package func epochEnds(hash: ([UInt8]) -> [UInt8]) async throws -> [UInt64: EpochEnd] {
        let rows = try await database.client.query("SELECT epoch, body FROM epoch_ends", logger: database.logger)
        var out: [UInt64: EpochEnd] = [:]
        for try await (epoch, body) in rows.decode((Int64, ByteBuffer).self) {
            out[try StoreError.stored(epoch, .epoch, column: "epoch_ends.epoch")] = try ConsensusCodec.decodeEpochEnd(body.bytes, hash: hash)
        }
        return out
    }

    /// Drops persisted blocks at or below a committed height (they live on in the chain tables).
    package func prune(atOrBelow height: UInt64) async throws {
        try await database.client.query("DELETE FROM consensus_blocks WHERE height <= \(Int64(height))", logger: database.logger)
    }
}
