import Foundation
import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging

/// `gateway audit export`: the evidence bundle of the access events a selection names, read from a node's database.
/// Nothing in it is trusted by its readers: each event comes with the proof that its transaction is committed, and the
/// governance steps the proofs need come proven too (EvidenceBundle).
package enum EvidenceExport {
    package struct Failure: Error, CustomStringConvertible {
        package let description: String
        init(_ description: String) { self.description = description }
    }

    /// Builds the bundle of `selection` (the event ids, or every event of a department and/or time range).
    package static func export(
        databaseURL: String, genesis: Genesis, selection: EvidenceBundle.Selection, exportedAtMs: Int64, logger: Logger,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> EvidenceBundle {
        let suite = try genesis.suite.makeSuite()
        return try await Database.withDatabase(url: databaseURL, logger: logger) { database in
            let store = ChainStore(database: database)
            var rows: [ChainStore.AccessEventRow] = []
            if let ids = selection.eventIds {
                for id in ids {
                    let found = try await store.accessEvents(id: id)
                    guard !found.isEmpty else { throw Failure("no committed access event \(id) in this node's chain") }
                    rows += found
                }
            } else {
                var filter = ChainStore.AccessEventFilter()
                filter.requester = selection.department
                filter.fromMs = selection.fromMs
                filter.toMs = selection.toMs
                var cursor: (UInt64, String, [UInt8]) = (0, "", [])
                while true {
                    let page = try await store.accessEvents(
                        afterHeight: cursor.0, afterEventID: cursor.1, afterTransaction: cursor.2, limit: 1_000,
                        filter: filter.isEmpty ? ChainStore.AccessEventFilter() : filter)
                    rows += page
                    guard rows.count <= EvidenceBundle.eventsMax else {
                        throw Failure(
                            "the selection holds more than \(EvidenceBundle.eventsMax) events; narrow it (--department, --from, --to) or export it in parts"
                        )
                    }
                    guard let last = page.last, page.count == 1_000 else { break }
                    cursor = (last.height, last.eventID, last.transactionHash)
                }
            }
            guard rows.count <= EvidenceBundle.eventsMax else {
                throw Failure("the selection holds more than \(EvidenceBundle.eventsMax) events; export it in parts")
            }
            progress("\(rows.count) events selected")
            // One proof per transaction (a batch carries many events), one commitment per block.
            var commitments: [UInt64: InclusionProof.Commitment?] = [:]
            func commitment(_ height: UInt64) async throws -> InclusionProof.Commitment? {
                if let known = commitments[height] { return known }
                let found = try await store.commitmentEvidence(atHeight: height)
                commitments[height] = found
                return found
            }
            var proofs: [[UInt8]: InclusionProof] = [:]
            var events: [EvidenceBundle.Event] = []
            for (done, row) in rows.enumerated() {
                if proofs[row.transactionHash] == nil {
                    guard let location = try await store.location(of: row.transactionHash),
                        let proof = try await store.inclusionProof(
                            height: location.height, index: location.index, suite: suite, commitment: try await commitment(location.height))
                    else { throw Failure("access event \(row.eventID): its transaction is not in the stored blocks") }
                    proofs[row.transactionHash] = proof
                }
                events.append(EvidenceBundle.Event(eventId: row.eventID, height: row.height, proof: proofs[row.transactionHash]!))
                if (done + 1) % 500 == 0 { progress("proved \(done + 1) of \(rows.count) events") }
            }
            var governance: [InclusionProof] = []
            if let top = rows.map(\.height).max() {
                for step in try await store.governanceLocations(atOrBelow: top) {
                    guard
                        let proof = try await store.inclusionProof(
                            height: step.height, index: step.index, suite: suite, commitment: try await commitment(step.height))
                    else { throw Failure("the governance transaction at \(step.height):\(step.index) is not in the stored blocks") }
                    governance.append(proof)
                }
            }
            progress("\(governance.count) governance steps proven")
            return EvidenceBundle(exportedAtMs: exportedAtMs, selection: selection, genesis: genesis, governance: governance, events: events)
        }
    }
}
