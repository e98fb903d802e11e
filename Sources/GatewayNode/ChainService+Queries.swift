import Foundation
import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging

// Read queries: the decided state and proofs, apart from the lifecycle (`LedgerReading` for the use cases).
extension ChainService {
    /// The governed state as of the last decided block, and that block's height.
    package nonisolated func decidedGovernance() -> (height: UInt64, state: GovernanceState) {
        let ledger = decided
        return (ledger.height, ledger.governance)
    }

    /// The decided ledger as last published (see `published`): what requests read, without a hop onto this actor.
    nonisolated var decided: Ledger { published.withLockedValue { $0.ledger } }

    /// Grants by the department of node `holder` to `grantee` for `category`, live (neither revoked nor expired) at
    /// `nowMs`, by id; empty when the node is not a member.
    package nonisolated func liveGrants(byDepartmentOf holder: String, grantee: String, category: String, atMs nowMs: Int64) -> [GrantRegistry.Entry]
    {
        guard let grantor = department(ofNode: holder) else { return [] }
        return decided.grants.live(grantor: grantor, grantee: grantee, category: category, atMs: nowMs)
    }

    /// One grant as the chain records it (nil: no such grant).
    package nonisolated func grant(id: String) -> GrantRegistry.Entry? { decided.grants.entries[id] }

    /// Every grant `department` gave or received, by id.
    package nonisolated func grants(involving department: String) -> [GrantRegistry.Entry] { decided.grants.involving(department) }

    /// The ε (millionths) spent on chain by a requester's differentially private statistics of a category in a month.
    package nonisolated func privacySpent(_ key: PrivacySpending.Key) -> Int64 { decided.privacy.spent(key) }

    /// The department of a member node, as governance records it now (nil: not a member).
    package nonisolated func department(ofNode nodeID: String) -> String? {
        decided.governance.members.first { $0.nodeID == nodeID }?.department
    }

    /// For each salted subject, the purposes it has consented to (and not withdrawn) as of the last decided block.
    package nonisolated func consentedPurposes(_ subjects: [[UInt8]]) -> [[String]] {
        let consents = decided.consents
        return subjects.map { consents.purposes(of: $0) }
    }

    /// Throws the ledger's reason if a governance transaction would not apply after the last decided block.
    package func checkGovernance(_ transaction: Transaction) throws {
        try ledger.validate(transaction)
        var state = ledger.governance
        try state.apply(transaction, height: ledger.height + 1)
    }

    /// The consensus epoch this node is in and its validators (for status and tests).
    package func consensusEpoch() async -> (epoch: UInt64, validators: [String])? {
        guard let driver else { return nil }
        return (await driver.epoch, await driver.validators)
    }

    /// For diagnostics and tests: the replica's state in one line.
    package func consensusSummary() async -> String { await driver?.stateSummary ?? "not started" }
}

// MARK: Consortium decryption

extension ChainService {
    package func decryption(_ id: String) -> DecryptionBook.Entry? { ledger.decryptions.entry(id) }

    package func openDecryptions() -> [(id: String, entry: DecryptionBook.Entry)] {
        ledger.decryptions.order.compactMap { id in ledger.decryptions.entry(id).map { (id, $0) } }
    }

    /// Suspends until a block above `height` is stored (or `timeoutMs` passed, or the node stops); returns the height.
    package func awaitHeight(after height: UInt64, timeoutMs: Int64) async -> UInt64 {
        await waitUntilStored(height + 1, timeoutMs: timeoutMs)
        return storedHeight
    }

    /// A committed transaction by its hash (nil if none).
    package func committedTransaction(_ hash: [UInt8]) async throws -> Transaction? {
        guard let found = try await store.location(of: hash), let block = try await store.blocks(from: found.height, limit: 1).first,
            found.index < block.transactions.count
        else { return nil }
        return block.transactions[found.index]
    }
}

extension ChainService {
    /// A member node's signing key and department (current members, as governance decided them), for node-to-node
    /// requests.
    /// The TLS certificate a member node is registered with now (nil when it is not a member, or has none).
    package nonisolated func memberTLSCertificate(_ nodeID: String) -> String? {
        decided.governance.members.first(where: { $0.nodeID == nodeID })?.tlsCertificate
    }

    /// The request-signing key governance set for a department, if it set one: nil when the departments file's key
    /// counts; `key` nil when the key on chain does not load (the department's requests are then refused).
    package nonisolated func departmentKey(_ department: String) -> (key: (any VerifyingKey)?, height: UInt64)? {
        guard let set = decided.governance.departmentKey(department) else { return nil }
        if let cached = published.withLockedValue({ $0.departmentKeys[set.publicKey] }) { return (cached, set.height) }
        let key = try? suite.verifyingKey(pem: set.publicKey)
        if let key { published.withLockedValue { $0.departmentKeys[set.publicKey] = key } }
        return (key, set.height)
    }

    package nonisolated func member(_ nodeID: String) -> (key: any VerifyingKey, department: String)? {
        let ledger = decided
        guard let member = ledger.governance.members.first(where: { $0.nodeID == nodeID }), let key = try? ledger.memberKey(nodeID) else {
            return nil
        }
        return (key, member.department)
    }
}
