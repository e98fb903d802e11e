import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging

/// The operator's way back from a derived table that differs from the chain: verify every stored block from the
/// genesis, then delete the derived rows and write them again from the blocks, in one database transaction.
package enum DerivedStateRepair {
    package struct Outcome: Sendable {
        package let height: UInt64
        package let anchors: Int
        package let events: Int
    }

    package static func rebuild(
        databaseURL: String, genesis: Genesis, logger: Logger, progress: @escaping @Sendable (String) -> Void
    ) async throws -> Outcome {
        let suite = try genesis.suite.makeSuite()
        return try await Database.withDatabase(url: databaseURL, logger: logger) { database in
            try await database.migrate()
            let store = ChainStore(database: database)
            var ledger = try Ledger(genesis: genesis, suite: suite)
            let top = try await store.height()
            var next: UInt64 = 1
            while true {
                let blocks = try await store.storedBlocks(from: next, limit: 256)
                guard let last = blocks.last else { break }
                for stored in blocks {
                    do {
                        let applied = try ledger.apply(stored.block)
                        guard Set(applied.skipped.keys) == stored.skipped else { throw ChainError(.invalidBlock, "skipped transactions differ") }
                    } catch {
                        throw NodeError(
                            """
                            stored block \(stored.block.header.height) fails verification (\(error)): the blocks themselves were altered, \
                            and derived tables cannot be rebuilt from them; restore the database from a backup or sync from peers
                            """)
                    }
                }
                next = last.block.header.height + 1
                progress("verified blocks up to \(last.block.header.height) of \(top)")
            }
            let written = try await store.rebuildDerived(suite: suite) { height in progress("rebuilt derived rows up to height \(height) of \(top)") }
            return Outcome(height: ledger.height, anchors: written.anchors, events: written.events)
        }
    }
}
