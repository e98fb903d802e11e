import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging

/// An observer (a regulator's node): follows the chain without voting. It fetches committed blocks from validators,
/// verifies every one from the genesis alone — parent link, Merkle root, every transaction's signature, the
/// certificate against the validators in force at its height (and epoch), and for each page that its last block is
/// committed, not only certified (2-chain evidence; an abandoned certified branch has none) — and keeps them, with
/// their derived state (the access log), in its own PostgreSQL. A page that fails verification is never stored: the
/// peer that served it is reported and the next peer is asked.
package actor ChainObserver {
    /// Fetches committed blocks from a peer, starting at a height (at most a page; empty at the tip), with the evidence
    /// that the last one is committed.
    package typealias Fetch = @Sendable (_ from: UInt64) async throws -> Page

    package struct Page: Sendable {
        package let blocks: [Block]
        package let commitment: InclusionProof.Commitment?

        package init(blocks: [Block], commitment: InclusionProof.Commitment?) {
            self.blocks = blocks
            self.commitment = commitment
        }
    }

    let database: Database
    let store: ChainStore
    let suite: any CryptoSuite
    let logger: Logger
    var ledger: Ledger

    package init(database: Database, genesis: Genesis, logger: Logger) throws {
        self.database = database
        self.store = ChainStore(database: database)
        self.suite = try genesis.suite.makeSuite()
        self.logger = logger
        self.ledger = try Ledger(genesis: genesis, suite: suite)
    }

    package var height: UInt64 { ledger.height }

    /// Migrates the database and re-verifies what is already stored.
    package func start() async throws {
        try await database.migrate()
        var next: UInt64 = 1
        while true {
            let stored = try await store.storedBlocks(from: next, limit: 256)
            if stored.isEmpty { break }
            for entry in stored {
                if let reason = ledger.foreignChainReason(entry.block.header) {
                    throw NodeError(
                        "this database is another chain's: \(reason). Give the observer its own database for this chain (nothing was changed)")
                }
                do { try ledger.apply(entry.block) } catch {
                    throw NodeError("stored block \(entry.block.header.height) failed verification: \(error). The database was altered.")
                }
            }
            next = ledger.height + 1
        }
    }

    /// Fetches and verifies blocks from the peers (in order; a peer that fails or serves an invalid block is skipped)
    /// until a page is shorter than `pageSize` (the peer's tip when it answered). Returns how many blocks were added;
    /// `progress` hears each verified block. Reading blocks is itself an access the node logs on chain, so the tip
    /// moves with every page: waiting for an empty page would never end.
    @discardableResult
    package func catchUp(
        from peers: [(name: String, fetch: Fetch)], pageSize: Int = 64, progress: @Sendable (UInt64, Int) -> Void = { _, _ in }
    ) async throws -> Int {
        var added = 0
        var peerIndex = 0
        var failures: [String] = []
        while peerIndex < peers.count {
            let peer = peers[peerIndex]
            let page: Page
            do {
                page = try await peer.fetch(ledger.height + 1)
            } catch {
                failures.append("\(peer.name): \(error)")
                peerIndex += 1
                continue
            }
            if page.blocks.isEmpty { return added }
            do {
                // Verify the whole page and the evidence that its last block is committed, then store it block by block.
                var check = ledger
                for block in page.blocks { try check.apply(block) }
                guard let commitment = page.commitment else {
                    throw ChainError(.invalidProof, "the page carries no evidence that block \(check.height) is committed")
                }
                try check.verifyCommitment(commitment, of: page.blocks.last!.header)
                for block in page.blocks {
                    var next = ledger
                    let applied = try next.apply(block)
                    try await store.commit(block, suite: suite, skipped: applied.skipped)
                    ledger = next
                    added += 1
                    progress(block.header.height, block.transactions.count)
                }
                if page.blocks.count < pageSize { return added }
            } catch let error as ChainError {
                logger.error(
                    "a peer served a block that fails verification; asking the next", metadata: ["peer": "\(peer.name)", "error": "\(error)"])
                failures.append("\(peer.name) served an invalid block: \(error)")
                peerIndex += 1
            }
        }
        guard failures.isEmpty || added > 0 else { throw NodeError("no peer could be followed: \(failures.joined(separator: "; "))") }
        return added
    }

}

// What the regulator's dashboard shows of the observer's own verified copy.
extension ChainObserver {
    /// The state the verified blocks imply, at the observer's height.
    package struct Snapshot: Sendable {
        package struct LiveGrant: Sendable, Encodable {
            package let grantId: String
            package let grantor: String
            package let grantee: String
            package let category: String
            package let purpose: String
            package let expiresAtMs: Int64
        }
        package struct ConsentCount: Sendable, Encodable {
            package let purpose: String
            package let given: Int
            package let withdrawn: Int
        }
        package struct ValidatorSet: Sendable, Encodable {
            package let fromHeight: UInt64
            package let epoch: Int
            package let validators: [String]
        }
        package let chainId: String
        package let suite: String
        package let height: UInt64
        package let grants: [LiveGrant]
        package let consents: [ConsentCount]
        package let validatorSets: [ValidatorSet]
        /// Approved policy bundles (hex digests), founding ones first, in the order governance approved them.
        package let policyBundles: [String]
        package let members: [String]
    }

    package func snapshot(nowMs: Int64) -> Snapshot {
        let grants = ledger.grants.entries.keys.sorted().compactMap { id -> Snapshot.LiveGrant? in
            guard let entry = ledger.grants.entries[id], !entry.revoked, entry.grant.expiresAtMs > nowMs else { return nil }
            return .init(
                grantId: id, grantor: entry.grantor, grantee: entry.grant.grantee, category: entry.grant.category, purpose: entry.grant.purpose,
                expiresAtMs: entry.grant.expiresAtMs)
        }
        var given: [String: Int] = [:]
        var withdrawn: [String: Int] = [:]
        for purposes in ledger.consents.subjects.values {
            for (purpose, consenting) in purposes {
                if consenting { given[purpose, default: 0] += 1 } else { withdrawn[purpose, default: 0] += 1 }
            }
        }
        let purposes = Set(given.keys).union(withdrawn.keys).sorted()
        let history = ledger.governance.validatorHistory
        return Snapshot(
            chainId: ledger.genesis.chainID, suite: ledger.genesis.suite.rawValue, height: ledger.height, grants: grants,
            consents: purposes.map { .init(purpose: $0, given: given[$0] ?? 0, withdrawn: withdrawn[$0] ?? 0) },
            validatorSets: history.enumerated().map { .init(fromHeight: $0.element.height, epoch: $0.offset, validators: $0.element.validators) },
            policyBundles: ledger.governance.approvedBundles.map(Hex.encode),
            members: ledger.governance.members.map(\.nodeID))
    }

    /// The observer's stored chain (its own PostgreSQL), for the dashboard's queries and proofs.
    package nonisolated var chainStore: ChainStore { store }
    package nonisolated var cryptoSuite: any CryptoSuite { suite }
}
