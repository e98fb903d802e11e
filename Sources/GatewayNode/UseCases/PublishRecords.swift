import Foundation
import GatewayChain
import GatewayCrypto
import GatewaySchema
import GatewayStore
import GatewayWire

/// Publishing records: validate the batch, decide and log, seal each record (envelope encryption, Paillier for
/// aggregate fields), and store the batch with its anchor transaction atomically; returns once the anchor commits.
package struct PublishRecords: Sendable {
    let admission: Admission
    let decisions: DecisionMaker
    let gate: AccessGate
    let categories: Categories
    let store: any RecordStoring
    let writer: any ChainWriting
    let vault: RecordVault
    let paillier: PaillierPublicKey
    let encryptor: PaillierEncryptor
    let pool: RandomnessPool?

    /// At most this many records per publish.
    package static let recordsMax = 5_000

    package func publish(_ principal: Principal, category name: String, records input: [JSONValue]) async throws -> API.PublishResponse {
        try await admission.admit(principal)
        let category = try categories.named(name)
        guard !input.isEmpty else { throw ExchangeError(.invalidRequest, "records must hold at least one record") }
        guard input.count <= Self.recordsMax else {
            throw ExchangeError(.invalidRequest, "at most \(Self.recordsMax) records per publish")
        }
        // Validation of a large batch is CPU work: off the cooperative pool (HeavyWork).
        let fieldErrors = try await HeavyWork.run { Self.validate(input, category: category) }
        guard fieldErrors.isEmpty else {
            throw ExchangeError(.invalidRecord, "\(fieldErrors.count) field(s) failed validation; nothing was stored", fieldErrors: fieldErrors)
        }
        let ids = input.compactMap { $0[category.idField]?.stringValue }
        guard ids.count == input.count else { throw ExchangeError(.invalidRecord, "every record needs its \(category.idField)") }
        let recordKeys = ids.map { vault.recordKey(category: name, id: $0) }
        let decision = decisions.authorize(principal, action: "publish", category: name, purpose: "publication")
        let permit = try await gate.pass(
            principal, action: "publish", category: name, recordKeys: recordKeys, purpose: "publication", decision: decision
        )

        let stored = try await sealAll(input, ids: ids, recordKeys: recordKeys, category: category, publisher: principal.department)
        let outcome: RecordStore.PublishOutcome
        do {
            outcome = try await store.publish(stored, sums: vault.runningSums(paillier)) { [vault, writer] fresh, nonce in
                let anchor = RecordAnchor(
                    publisher: principal.department, category: name,
                    entries: fresh.map {
                        RecordAnchor.Entry(
                            recordKey: $0.recordKey,
                            recordHash: vault.anchorHash(contentHash: $0.recordHash, dimensionsJSON: $0.dimensionsJSON, aggregates: $0.aggregates)
                        )
                    }
                )
                let transaction = try writer.sign(.recordAnchor, payload: anchor.encoded, nonce: nonce, timestampMs: nil)
                return (transaction, writer.hash(transaction))
            }
        } catch let error as StoreError where error.code == .conflict {
            throw ExchangeError(.recordConflict, error.message)
        }
        if let anchor = outcome.newAnchor { await writer.offer(anchor) }
        let newHash = outcome.newAnchor.map(writer.hash)
        var anchors: [API.Receipt] = []
        for hash in outcome.anchorTransactions {
            // The anchor this call wrote is known to the chain; an identical re-publish waits for an older one.
            let location = try await writer.awaitCommit(hash, known: hash == newHash)
            anchors.append(API.Receipt(eventId: nil, transaction: Hex.encode(hash), height: location.height, index: location.index))
        }
        return API.PublishResponse(
            category: name, accepted: outcome.inserted, alreadyPresent: outcome.alreadyPresent, anchors: anchors, event: permit.receipt
        )
    }

    static func validate(_ input: [JSONValue], category: RecordCategory) -> [ExchangeError.FieldError] {
        var fieldErrors: [ExchangeError.FieldError] = []
        var seen = Set<String>()
        for (index, record) in input.enumerated() {
            for error in category.schema.validate(record, at: "/records/\(index)") {
                fieldErrors.append(.init(pointer: error.path, detail: error.message))
            }
            if let id = record[category.idField]?.stringValue {
                if let problem = RequestChecks.identifierProblem(id) {
                    fieldErrors.append(.init(pointer: "/records/\(index)/\(category.idField)", detail: "the id \(problem)"))
                } else if !seen.insert(id).inserted {
                    fieldErrors.append(.init(pointer: "/records/\(index)/\(category.idField)", detail: "duplicate id in this batch"))
                }
            }
        }
        return fieldErrors
    }

    /// Encrypts records (envelope) and their aggregate fields (Paillier) on all cores of the blocking pool.
    func sealAll(
        _ input: [JSONValue], ids: [String], recordKeys: [[UInt8]], category: RecordCategory, publisher: String
    ) async throws -> [StoredRecord] {
        let chunkCount = max(1, min(ProcessInfo.processInfo.activeProcessorCount, input.count))
        let chunkSize = (input.count + chunkCount - 1) / chunkCount
        return try await withThrowingTaskGroup(of: (Int, [StoredRecord]).self) { group in
            for start in stride(from: 0, to: input.count, by: chunkSize) {
                let end = min(start + chunkSize, input.count)
                group.addTask {
                    try await HeavyWork.run {
                        var out: [StoredRecord] = []
                        for index in start..<end {
                            out.append(
                                try seal(
                                    input[index], id: ids[index], recordKey: recordKeys[index], category: category, publisher: publisher
                                ))
                        }
                        return (start, out)
                    }
                }
            }
            var chunks: [(Int, [StoredRecord])] = []
            for try await chunk in group { chunks.append(chunk) }
            return chunks.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    func seal(_ record: JSONValue, id: String, recordKey: [UInt8], category: RecordCategory, publisher: String) throws -> StoredRecord {
        let (wrapped, ciphertext) = try vault.seal(category: category.name, id: id, record: record)
        var dimensions: [String: JSONValue] = [:]
        for field in category.dimensions { dimensions[field] = record[field] ?? .null }
        var aggregates: [String: [UInt8]] = [:]
        for field in category.aggregates {
            guard let value = record[field]?.integerValue else { continue }
            aggregates[field] = try encryptor.encrypt(GMPInteger(Int(value)), pool: pool).serialized(for: paillier)
        }
        return StoredRecord(
            category: category.name, recordID: id, publisher: publisher, recordKey: recordKey,
            citizenKey: vault.citizenKey(id), recordHash: vault.recordHash(category: category.name, record: record),
            wrappedKey: wrapped, ciphertext: ciphertext, dimensionsJSON: JSONValue.object(dimensions).canonicalString,
            aggregates: aggregates
        )
    }
}
