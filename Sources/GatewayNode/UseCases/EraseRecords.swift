import GatewayChain
import GatewayCrypto
import GatewayStore
import GatewayWire

/// Erasure (PIPL art. 47, GDPR art. 17): the holder destroys a record. The decision to erase is logged like every
/// access; then, in one database transaction, the row goes — with its wrapped data key, the one copy of the key that
/// opens its ciphertext (crypto-shredding) — together with its dimensions and aggregate ciphertexts, the running sums
/// are compensated, and an erasure transaction naming only the salted record key goes into the outbox. The answer
/// waits until that transaction commits. Reads of the record then get 410 Gone naming it.
package struct EraseRecords: Sendable {
    let admission: Admission
    let decisions: DecisionMaker
    let gate: AccessGate
    let categories: Categories
    let store: any RecordStoring
    let writer: any ChainWriting
    package let vault: RecordVault
    let paillier: PaillierPublicKey
    /// This node: the submitter of its records' anchors and erasures.
    let nodeID: String

    package func erase(_ principal: Principal, category name: String, id: String) async throws -> API.ErasureResponse {
        try await admission.admit(principal)
        let category = try categories.named(name)
        try RequestChecks.checkIdentifier(id, "the record id")
        let recordKey = vault.recordKey(category: category.name, id: id)
        let decision = decisions.authorize(principal, action: "erase", category: category.name, purpose: "erasure")
        let permit = try await gate.pass(
            principal, action: "erase", category: category.name, recordKeys: [recordKey], purpose: "erasure", decision: decision)
        var outcome = try await erase(category: category.name, id: id, principal: principal)
        if case .anchorPending(let anchor) = outcome {
            // Published moments ago: its anchor goes first, then the erasure.
            _ = try await writer.awaitCommit(anchor, known: false)
            outcome = try await erase(category: category.name, id: id, principal: principal)
        }
        switch outcome {
        case .absent:
            if let erased = try await store.erasures(recordKeys: [recordKey], by: nodeID)[recordKey] {
                throw Self.gone(id: id, category: category.name, erased)
            }
            throw ExchangeError(.notFound, "no record \(id) in \(category.name) on this node")
        case .notHolder(let publisher):
            throw ExchangeError(.notDataHolder, "record \(id) was published by \(publisher); only its holder erases it")
        case .anchorPending:
            throw ExchangeError(.conflict, "record \(id)'s anchor is not on chain yet; retry the erasure")
        case .erased(let transaction, let hash):
            await writer.offer(transaction)
            let location = try await writer.awaitCommit(hash, known: true)
            // The deleted row's bytes are reclaimed now rather than whenever autovacuum comes by.
            try? await store.vacuumErased()
            return API.ErasureResponse(
                category: category.name, id: id,
                erasure: API.Receipt(transaction: Hex.encode(hash), height: location.height, index: location.index), event: permit.receipt)
        }
    }

    func erase(category: String, id: String, principal: Principal) async throws -> ErasureOutcome {
        try await store.erase(category: category, id: id, holder: principal.department, sums: vault.runningSums(paillier)) {
            [writer] key, nonce in
            let erasure = RecordErasure(publisher: principal.department, category: category, recordKeys: [key])
            let transaction = try writer.sign(.recordErasure, payload: erasure.encoded, nonce: nonce, timestampMs: nil)
            return (transaction, writer.hash(transaction))
        }
    }

    /// 410 Gone for an erased record, naming its erasure transaction.
    static func gone(id: String, category: String, _ erased: (hash: [UInt8], height: UInt64)) -> ExchangeError {
        ExchangeError(
            .recordErased,
            "record \(id) in \(category) was erased by its holder (transaction \(Hex.encode(erased.hash)) at height \(erased.height))",
            transaction: Hex.encode(erased.hash))
    }
}
