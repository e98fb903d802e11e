import GatewayChain
import NIOCore
import PostgresNIO

/// Durable consensus state: what a replica must find again after kill -9 so that it never votes twice in a round,
/// never forgets its highest QC, and never loses a block it voted for.
public struct ConsensusStore: Sendable {
    let database: Database

    public init(database: Database) { self.database = database }

    /// Writes the safety state; returns once it is durable (PostgreSQL commit).
    public func save(_ safety: SafetyState) async throws {
        try await database.client.query(
            """
            INSERT INTO consensus_safety (singleton, state) VALUES (true, \(ByteBuffer(ConsensusCodec.encode(safety))))
            ON CONFLICT (singleton) DO UPDATE SET state = EXCLUDED.state
            """,
            logger: database.logger
        )
    }

    public func loadSafety() async throws -> SafetyState? {
        let rows = try await database.client.query("SELECT state FROM consensus_safety", logger: database.logger)
        for try await state in rows.decode(ByteBuffer.self) { return try ConsensusCodec.decodeSafety(state.bytes) }
        return nil
    }

    /// Persists a block before the replica votes for it (idempotent).
    public func save(_ block: ConsensusBlock) async throws {
        try await database.client.query(
            """
            INSERT INTO consensus_blocks (block_id, height, body)
            VALUES (\(ByteBuffer(block.id)), \(Int64(block.height)), \(ByteBuffer(ConsensusCodec.encode(block))))
            ON CONFLICT (block_id) DO NOTHING
            """,
            logger: database.logger
        )
    }

    /// Blocks and the safety state in one PostgreSQL transaction (a driver's batch), durable when it returns.
    public func save(blocks: [ConsensusBlock], safety: SafetyState?) async throws {
        try await database.transaction { connection in
            if !blocks.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO consensus_blocks (block_id, height, body)
                    SELECT i, h, b FROM unnest(\(blocks.map { ByteBuffer($0.id) }), \(blocks.map { Int64($0.height) }),
                                               \(blocks.map { ByteBuffer(ConsensusCodec.encode($0)) })) AS t(i, h, b)
                    ON CONFLICT (block_id) DO NOTHING
                    """,
                    logger: database.logger
                )
            }
            if let safety {
                try await connection.query(
                    """
                    INSERT INTO consensus_safety (singleton, state) VALUES (true, \(ByteBuffer(ConsensusCodec.encode(safety))))
                    ON CONFLICT (singleton) DO UPDATE SET state = EXCLUDED.state
                    """,
                    logger: database.logger
                )
            }
        }
    }

    /// Blocks above `height`, in (height, id) order, ids recomputed from their contents.
    public func blocks(above height: UInt64, hash: ([UInt8]) -> [UInt8]) async throws -> [ConsensusBlock] {
        let rows = try await database.client.query(
            "SELECT body FROM consensus_blocks WHERE height > \(Int64(height)) ORDER BY height, block_id",
            logger: database.logger
        )
        var out: [ConsensusBlock] = []
        for try await body in rows.decode(ByteBuffer.self) { out.append(try ConsensusCodec.decodeBlock(body.bytes, hash: hash)) }
        return out
    }

    /// Drops persisted blocks at or below a committed height (they live on in the chain tables).
    public func prune(atOrBelow height: UInt64) async throws {
        try await database.client.query("DELETE FROM consensus_blocks WHERE height <= \(Int64(height))", logger: database.logger)
    }
}
