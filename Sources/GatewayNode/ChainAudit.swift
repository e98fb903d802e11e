import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging
import PostgresNIO

/// A regulator's (or operator's) whole-history check of a node's database, trusting nothing but the genesis: every
/// stored block from the genesis (hash links, Merkle roots, signatures, certificates against the validator set
/// governance put in force), every derived table against the blocks, and every off-chain record against the chain
/// (its anchor, or an erasure recognised as such). Each problem is located: table, key, height.
package enum ChainAudit {
    package struct Problem: Sendable, CustomStringConvertible {
        package let area: String
        package let key: String
        package let height: UInt64?
        package let detail: String

        package var description: String { "\(area): \(detail) — key \(key)" + (height.map { " at height \($0)" } ?? "") }
    }

    package struct Report: Sendable {
        package var storedHeight: UInt64 = 0
        package var verifiedHeight: UInt64 = 0
        package var accessEvents = 0
        package var recordsChecked = 0
        package var erasedRecognised = 0
        package var pendingAnchors = 0
        package var problems: [Problem] = []
        /// Heights whose derived rows differ, per table, beyond the located ones (counted).
        package var differingHeights: [String: Int] = [:]
        /// Derived tables a migration added that the node has not filled from its blocks yet (it does at its next
        /// start): not proven.
        package var unfilled: [String] = []
        /// The access log the verified blocks carry (`AccessLogHead`): its size and root, to compare with the heads
        /// nodes sign.
        /// Records decrypted and checked against their anchors (with the node's record key; 0 without it).
        package var contentsChecked = 0
        package var logSize = 0
        package var logRoot: [UInt8] = []
    }

    package static func verify(
        databaseURL: String, genesis: Genesis, vault: RecordVault? = nil, logger: Logger, progress: @escaping @Sendable (String) -> Void
    ) async throws -> Report {
        let suite = try genesis.suite.makeSuite()
        return try await Database.withDatabase(url: databaseURL, logger: logger) { database in
            try await database.migrate()
            let store = ChainStore(database: database)
            var report = Report()
            report.storedHeight = try await store.height()
            var ledger = try Ledger(genesis: genesis, suite: suite)
            let expected: [DerivedRows.Table: [UInt64: DerivedRows.Digest]]
            let top = report.storedHeight
            var log = MerkleLog(tree: MerkleTree(suite: suite))
            do {
                expected = try await ChainService.verifyStoredChain(
                    store: store, ledger: &ledger, suite: suite, accessLog: { log.append(leafHash: $0) }
                ) { height in
                    progress("verified blocks up to \(height) of \(top)")
                }
            } catch {
                // The first block that fails ends the chain's check: nothing above it can be trusted or derived.
                let height = (error as? StoredChainFailure)?.height ?? ledger.height + 1
                report.verifiedHeight = ledger.height
                report.problems.append(Problem(area: "blocks", key: "block \(height)", height: height, detail: "\(error)"))
                return report
            }
            report.verifiedHeight = ledger.height
            report.logSize = log.count
            report.logRoot = log.root(size: log.count)
            report.accessEvents = expected[.accessEvents]?.values.reduce(0) { $0 + $1.count } ?? 0
            progress("proving the derived tables against \(ledger.height) blocks")
            var pendingFill = Set<String>()
            for try await name in try await database.client.query("SELECT table_name FROM derived_backfills", logger: database.logger)
                .decode(String.self)
            {
                pendingFill.insert(name)
            }
            report.unfilled = pendingFill.sorted()
            var proof = try await ChainService.proveDerivedState(store: store, expected: expected, height: ledger.height, suite: suite)
            proof.problems.removeAll { pendingFill.contains($0.table.rawValue) }
            proof.heights = proof.heights.filter { !pendingFill.contains($0.key.rawValue) }
            for problem in proof.problems {
                report.problems.append(
                    Problem(area: problem.table.rawValue, key: problem.key, height: problem.height, detail: "row \(problem.kind.rawValue)"))
            }
            for (table, heights) in proof.heights {
                let located = Set(proof.problems.filter { $0.table == table }.map(\.height))
                let unlocated = heights.filter { !located.contains($0) }.count
                if unlocated > 0 { report.differingHeights[table.rawValue] = unlocated }
            }
            progress("checking the off-chain records against their anchors and erasures")
            try await checkRecords(database, into: &report)
            if let vault {
                progress("decrypting the records and checking each against its anchor")
                try await checkContents(database, vault: vault, logger: logger, into: &report)
            }
            return report
        }
    }

    /// Every anchored record decrypted with the node's record key and checked as a read checks it (`RecordIntegrity`):
    /// content against its stored hash, content, dimensions and aggregate ciphertexts against the anchored hash. A
    /// record without an anchor is `checkRecords`' finding, not repeated here.
    static func checkContents(_ database: Database, vault: RecordVault, logger: Logger, into report: inout Report) async throws {
        let integrity = RecordIntegrity(vault: vault, counter: IntegrityCounter(), logger: logger)
        let records = RecordStore(database: database)
        var categories: [String] = []
        for try await category in try await database.client.query(
            "SELECT DISTINCT category FROM records ORDER BY category", logger: database.logger
        ).decode(String.self) {
            categories.append(category)
        }
        // Page by page (256 ids), so that memory does not grow with the number of records.
        for category in categories {
            var after = ""
            while true {
                var ids: [String] = []
                for try await id in try await database.client.query(
                    "SELECT record_id FROM records WHERE category = \(category) AND record_id > \(after) ORDER BY record_id LIMIT 256",
                    logger: database.logger
                ).decode(String.self) {
                    ids.append(id)
                }
                guard let last = ids.last else { break }
                after = last
                for record in try await records.records(category: category, ids: ids) where record.anchoredHash != nil {
                    report.contentsChecked += 1
                    do {
                        _ = try integrity.verified(record, position: 0)
                    } catch let error as ExchangeError {
                        let detail = error.message.replacingOccurrences(of: "ids[0] ", with: "the record ")
                        report.problems.append(
                            Problem(area: "records", key: "\(category)/\(Hex.encode(record.recordKey))", height: nil, detail: detail))
                    }
                }
            }
        }
    }

    /// Every stored record has its anchor on chain (or waits for it in the outbox), and none the chain erased is
    /// still stored.
    static func checkRecords(_ database: Database, into report: inout Report) async throws {
        let rows = try await database.client.query(
            """
            SELECT r.category, encode(r.record_key, 'hex'),
                   a.record_key IS NOT NULL,
                   EXISTS (SELECT 1 FROM pending_transactions p WHERE p.tx_hash = r.anchor_tx),
                   (SELECT min(e.height) FROM erased_records e
                    WHERE e.record_key = r.record_key AND e.submitter = a.submitter)
            FROM records r LEFT JOIN anchored_records a ON a.record_key = r.record_key AND a.tx_hash = r.anchor_tx
            ORDER BY r.category, r.record_key
            """, logger: database.logger)
        for try await (category, key, anchored, pending, erasedAt) in rows.decode((String, String, Bool, Bool, Int64?).self) {
            report.recordsChecked += 1
            if let erasedAt {
                report.problems.append(
                    Problem(
                        area: "records", key: "\(category)/\(key)", height: UInt64(max(0, erasedAt)),
                        detail: "the chain erased this record, and its row is still stored (a node erases it again when it starts)"))
            } else if !anchored {
                if pending {
                    report.pendingAnchors += 1
                } else {
                    report.problems.append(
                        Problem(
                            area: "records", key: "\(category)/\(key)", height: nil,
                            detail: "stored without an anchor on chain, and none waits in the outbox"))
                }
            }
        }
        // Erasures of this node's records whose rows are gone: recognised as erased, not missing.
        for try await count in try await database.client.query(
            """
            SELECT count(DISTINCT e.record_key)::bigint FROM erased_records e
            WHERE EXISTS (SELECT 1 FROM anchored_records a WHERE a.record_key = e.record_key AND a.submitter = e.submitter)
            """, logger: database.logger
        )
        .decode(Int64.self) {
            report.erasedRecognised = Int(count)
        }
    }
}
