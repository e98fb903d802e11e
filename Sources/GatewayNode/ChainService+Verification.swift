import Foundation
import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging

/// A stored block that cannot be read or does not verify: its height, and why.
package struct StoredChainFailure: Error, CustomStringConvertible {
    package let height: UInt64
    package let reason: String
    package var description: String { reason }
}

// Loading and verifying the stored chain at start, and proving the derived tables against it.
extension ChainService {
    /// Verifies every stored block with the ledger rules, and proves the tables derived from them (`DerivedRows`)
    /// against the blocks: per height, the count and fingerprint digest of the rows each block implies must equal the
    /// table's. A difference is located (table, key, height), logged, and keeps the affected data from being served
    /// until the operator rebuilds the tables (`gateway rebuild-derived`).
    func loadAndVerify() async throws {
        var verifying = ledger
        let stored = try await store.height()
        startup.set(.verifying(verified: 0, stored: stored))
        var log = MerkleLog(tree: MerkleTree(suite: suite))
        let expected = try await Self.verifyStoredChain(
            store: store, ledger: &verifying, suite: suite, accessLog: { log.append(leafHash: $0) }
        ) { [startup] verified in
            startup.set(.verifying(verified: verified, stored: max(stored, verified)))
        }
        accessLog = log
        ledger = verifying
        storedHeight = ledger.height
        startup.set(.proving)
        let proof = try await Self.proveDerivedState(store: store, expected: expected, height: ledger.height, suite: suite)
        for (table, heights) in proof.heights.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            logger.error(
                "a table derived from the chain differs from the blocks; its data is not served until `gateway rebuild-derived`",
                metadata: [
                    "table": "\(table.rawValue)", "heights": "\(heights.count)", "first_height": "\(heights.first ?? 0)",
                ])
        }
        for problem in proof.problems {
            logger.error(
                "derived state differs from the chain",
                metadata: [
                    "table": "\(problem.table.rawValue)", "key": "\(problem.key)", "height": "\(problem.height)",
                    "difference": "\(problem.kind.rawValue)",
                ])
        }
        derivedFaults = Set(proof.heights.keys)
        derivedProblems = proof.problems
        let reasons = Dictionary(uniqueKeysWithValues: derivedFaults.map { table in (table, Self.derivedFaultReason(table, proof.problems)) })
        published.withLockedValue { $0.derivedFaults = reasons }
    }

    /// Applies every stored block to `ledger` (which starts at the genesis) and returns, per derived table and height,
    /// the digest of the rows the blocks imply. Throws, naming the height, at the first block that fails.
    /// `accessLog` hears the leaf hash of every access event, in log order (`AccessLogHead`).
    package static func verifyStoredChain(
        store: ChainStore, ledger: inout Ledger, suite: any CryptoSuite, accessLog: ([UInt8]) -> Void = { _ in },
        progress: @Sendable (UInt64) -> Void = { _ in }
    ) async throws -> [DerivedRows.Table: [UInt64: DerivedRows.Digest]] {
        var next: UInt64 = 1
        var expected: [DerivedRows.Table: [UInt64: DerivedRows.Digest]] = [:]
        let tree = MerkleTree(suite: suite)
        // The digests a page of blocks implies (and its access-log leaves) are computed on the blocking pool while the
        // ledger verifies the next page here: the two halves of the work run on two cores.
        typealias PageDigests = [(height: UInt64, digests: [DerivedRows.Table: DerivedRows.Digest], leaves: [[UInt8]])]
        var pending: [Task<PageDigests, any Error>] = []
        func collect(_ page: Task<PageDigests, any Error>) async throws {
            for entry in try await page.value {
                for (table, digest) in entry.digests where digest.count > 0 { expected[table, default: [:]][entry.height] = digest }
                for leaf in entry.leaves { accessLog(leaf) }
            }
        }
        while true {
            let blocks: [ChainStore.StoredBlock]
            do {
                blocks = try await store.storedBlocks(from: next, limit: 64)
            } catch {
                // Locate the block that cannot be read: one by one from the page's first.
                var height = next
                while (try? await store.storedBlocks(from: height, limit: 1)) != nil, height < next + 64 { height += 1 }
                throw StoredChainFailure(
                    height: height, reason: "stored block \(height) cannot be read: \(error). The database was altered; restore it from a backup")
            }
            if blocks.isEmpty { break }
            for stored in blocks {
                if let reason = ledger.foreignChainReason(stored.block.header) {
                    throw NodeError(
                        "the database is another chain's: \(reason). Give this node the database of its chain, or a new one (nothing was changed)")
                }
                do {
                    let applied = try ledger.apply(stored.block)
                    guard Set(applied.skipped.keys) == stored.skipped else { throw ChainError(.invalidBlock, "skipped transactions differ") }
                } catch {
                    throw StoredChainFailure(
                        height: stored.block.header.height,
                        reason: "stored block \(stored.block.header.height) failed verification: \(error). The database was altered.")
                }
            }
            pending.append(
                Task {
                    try await HeavyWork.run {
                        try blocks.map { stored in
                            let hashes = stored.block.transactions.map { $0.hash(suite: suite) }
                            let rows = try DerivedRows(block: stored.block, hashes: hashes, skipped: stored.skipped)
                            let leaves = try AccessLogHead.leaves(of: stored.block, skipped: stored.skipped.contains, tree: tree)
                            return (stored.block.header.height, rows.digests, leaves)
                        }
                    }
                })
            next = ledger.height + 1
            progress(ledger.height)
            // Bounded memory: at most two pages wait for their digests.
            while pending.count > 2 { try await collect(pending.removeFirst()) }
        }
        for page in pending { try await collect(page) }
        return expected
    }

    /// At most this many differing heights are located row by row (the rest are counted).
    static let derivedHeightsLocatedMax = 64

    /// Compares the derived tables with what the blocks imply: the differing heights per table, and the differences
    /// located row by row at the first `derivedHeightsLocatedMax` of them.
    package static func proveDerivedState(
        store: ChainStore, expected: [DerivedRows.Table: [UInt64: DerivedRows.Digest]], height: UInt64, suite: any CryptoSuite
    ) async throws -> (heights: [DerivedRows.Table: [UInt64]], problems: [DerivedStateProblem]) {
        var differing: [DerivedRows.Table: [UInt64]] = [:]
        var problems: [DerivedStateProblem] = []
        for table in DerivedRows.Table.allCases {
            let wanted = expected[table] ?? [:]
            let actual = try await store.derivedDigests(table)
            let heights = Set(wanted.keys).union(actual.keys).filter { wanted[$0] != actual[$0] }.sorted()
            guard !heights.isEmpty else { continue }
            differing[table] = heights
            for at in heights.prefix(derivedHeightsLocatedMax) {
                var rows = DerivedRows()
                if at <= height, let stored = try await store.storedBlocks(from: at, limit: 1).first {
                    rows = try DerivedRows(
                        block: stored.block, hashes: stored.block.transactions.map { $0.hash(suite: suite) }, skipped: stored.skipped)
                }
                problems += try await store.locateDifferences(table, height: at, expected: rows)
            }
        }
        return (differing, problems)
    }

    /// Why data of a derived table is not served (nil: the table matches the chain).
    package nonisolated func derivedFault(_ table: DerivedRows.Table) -> String? {
        published.withLockedValue { $0.derivedFaults[table] }
    }

    static func derivedFaultReason(_ table: DerivedRows.Table, _ problems: [DerivedStateProblem]) -> String {
        let located = problems.filter { $0.table == table }
        let example = located.first.map { " (first: \($0))" } ?? ""
        return
            "table \(table.rawValue) differs from the chain at \(located.count) located row(s)\(example); the operator rebuilds it with `gateway rebuild-derived`"
    }

    package var derivedStateProblems: [DerivedStateProblem] { derivedProblems }
}
