import Foundation
import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewayStore
import GatewayWire

/// A citizen's home node asks another node for the accesses to that node's records of a citizen (signed node to node).
package protocol CitizenAccessPeering: Sendable {
    /// The member nodes to ask, this node excluded, in a stable order.
    var nodes: [String] { get }
    func accesses(from node: String, _ query: API.CitizenAccessQuery) async throws -> API.CitizenAccessPart
}

package struct NoCitizenAccessPeers: CitizenAccessPeering {
    package init() {}
    package var nodes: [String] { [] }
    package func accesses(from node: String, _ query: API.CitizenAccessQuery) async throws -> API.CitizenAccessPart {
        throw ExchangeError(.chainUnavailable, "this node knows no other node")
    }
}

/// Citizens see who used their data (the model: Estonia's Data Tracker). Record keys are salted per node, so only the
/// node that holds a record can find the access events that name it: the citizen's home node lists its own part and
/// asks every other member node, signed node to node, for theirs. Each node answers from the access events on chain
/// (`access_records`, derived from the blocks and proven against them) and leaves out what the citizen may not see
/// yet: an access for a covert purpose before its disclosure time, unless the department that made it released it.
package struct CitizenAccesses: Sendable {
    let categories: Categories
    let vault: RecordVault
    let store: any AuditStoring
    let ledger: any LedgerReading
    let policies: PolicyBundle
    let peers: any CitizenAccessPeering
    let nodeID: String
    let now: @Sendable () -> Int64

    /// At most this many accesses per node's answer (the newest).
    package static let perNodeMax = 500
    /// How long the home node waits for another node's part before it lists that node as unavailable.
    package var peerWait: Duration = .seconds(10)

    /// The citizen's view: this node's part and every other node's, newest first. A node that cannot be reached is
    /// listed as unavailable, with why; the others' accesses are still shown.
    package func accesses(citizenID: String) async throws -> API.CitizenAccesses {
        try RequestChecks.checkIdentifier(citizenID, "the citizen id")
        let own = try await part(citizenID: citizenID)
        var answers = [API.NodeAnswer(node: nodeID, status: "answered")]
        var accesses = own.accesses
        var truncated = own.truncated
        let (peers, wait) = (self.peers, peerWait)
        let results = await withTaskGroup(of: PeerResult.self) { group in
            for node in peers.nodes where node != nodeID {
                group.addTask {
                    // A node that does not answer in time is listed as unavailable; the citizen is not kept waiting.
                    await withTaskGroup(of: PeerResult.self) { race in
                        race.addTask {
                            do {
                                return PeerResult(
                                    node: node, part: try await peers.accesses(from: node, API.CitizenAccessQuery(citizenId: citizenID)), failure: nil
                                )
                            } catch {
                                return PeerResult(node: node, part: nil, failure: "\(error)")
                            }
                        }
                        race.addTask {
                            try? await Task.sleep(for: wait)
                            return PeerResult(node: node, part: nil, failure: "no answer within \(wait)")
                        }
                        let first = await race.next()!
                        race.cancelAll()
                        return first
                    }
                }
            }
            var out: [PeerResult] = []
            for await result in group { out.append(result) }
            return out.sorted { $0.node < $1.node }
        }
        for result in results {
            if let part = result.part, part.node == result.node, part.accesses.allSatisfy({ $0.node == result.node }) {
                answers.append(API.NodeAnswer(node: result.node, status: "answered"))
                accesses += part.accesses.prefix(Self.perNodeMax)
                truncated = truncated || part.truncated || part.accesses.count > Self.perNodeMax
            } else {
                let detail = result.failure ?? "the node answered for another node's records"
                answers.append(API.NodeAnswer(node: result.node, status: "unavailable", detail: String(detail.prefix(300))))
            }
        }
        accesses.sort { ($0.timestampMs, $0.eventId) > ($1.timestampMs, $1.eventId) }
        return API.CitizenAccesses(accesses: accesses, nodes: answers, truncated: truncated, asOfMs: now())
    }

    /// Node to node: another member node asks for the accesses to this node's records of its citizen.
    package func answer(_ principal: Principal, _ query: API.CitizenAccessQuery) async throws -> API.CitizenAccessPart {
        guard principal.node != nil else {
            throw ExchangeError(.accessDenied, "only member nodes ask for a citizen's accesses here; citizens ask at their home node")
        }
        try RequestChecks.checkIdentifier(query.citizenId, "citizenId")
        return try await part(citizenID: query.citizenId)
    }

    /// The accesses to this node's records of the citizen that the citizen may see now.
    func part(citizenID: String) async throws -> API.CitizenAccessPart {
        if let reason = await ledger.derivedFault(.accessRecords) { throw ExchangeError(.derivedStateMismatch, reason) }
        if let reason = await ledger.derivedFault(.accessEvents) { throw ExchangeError(.derivedStateMismatch, reason) }
        // A citizen's record in a category has the citizen's id as its record id (RecordVault.citizenKey).
        let keys = categories.byName.keys.sorted().map { vault.recordKey(category: $0, id: citizenID) }
        let rows = try await store.accessesToRecords(keys, limit: 4 * Self.perNodeMax)
        let current = now()
        let visible = rows.filter { Self.isVisible($0, now: current, policies: policies) }
        return API.CitizenAccessPart(
            node: nodeID, accesses: visible.prefix(Self.perNodeMax).map { Self.view($0, node: nodeID) },
            truncated: visible.count > Self.perNodeMax || rows.count == 4 * Self.perNodeMax)
    }

    /// Whether the citizens concerned may see an access now: at once unless deferred; a deferred one once released by
    /// the department that made it, or from the earlier of its disclosure time and the longest deferral the policy
    /// bundle in force allows for its purpose (a bundle that shortens the maximum, or no longer marks the purpose
    /// covert, shortens the deferrals already on chain; none outlasts what the chain recorded).
    package static func isVisible(_ row: ChainStore.AccessEventRow, now: Int64, policies: PolicyBundle) -> Bool {
        guard let discloseAt = row.discloseAtMs, row.releasedAtHeight == nil else { return true }
        // The event's time is its submitter's: add without trapping (a time near the end of Int64 caps at it).
        let maximum = (policies.deferral(for: row.purpose)?.maxDays ?? 0) * 86_400_000
        let (sum, overflow) = row.timestampMs.addingReportingOverflow(maximum)
        let cap = overflow ? Int64.max : sum
        return now >= min(discloseAt, cap)
    }

    static func view(_ row: ChainStore.AccessEventRow, node: String) -> API.CitizenAccess {
        API.CitizenAccess(
            eventId: row.eventID, node: node, requester: row.requester, role: row.role, action: row.action, category: row.category,
            purpose: row.purpose, decision: row.decision, policies: row.policies, timestampMs: row.timestampMs, height: row.height,
            transaction: Hex.encode(row.transactionHash),
            disclosure: row.discloseAtMs.map { API.Disclosure(discloseAtMs: $0, releasedAtHeight: row.releasedAtHeight) })
    }

    /// The inclusion proof of a disclosed access event, for a citizen to keep or check (`gateway verify-proof`). An
    /// event that is not disclosed yet, or whose transaction also holds an access not disclosed yet (the proof carries
    /// the whole transaction), is answered as unknown: a proof must not tell what the list does not.
    package func proof(eventID: String) async throws -> API.ProofResponse {
        try RequestChecks.checkIdentifier(eventID, "the event id")
        if let reason = await ledger.derivedFault(.accessEvents) { throw ExchangeError(.derivedStateMismatch, reason) }
        let unknown = ExchangeError(.notFound, "no disclosed access event \(eventID)")
        guard let row = try await store.accessEvent(id: eventID) else { throw unknown }
        let current = now()
        guard Self.isVisible(row, now: current, policies: policies) else { throw unknown }
        guard let proof = try await ledger.proof(for: row.transactionHash) else { throw unknown }
        let transaction = try Transaction(decoding: Hex.decode(proof.transaction) ?? [])
        for event in try transaction.accessEvents() where event.discloseAtMs != nil && event.eventID != eventID {
            guard let sibling = try await store.accessEvents(id: event.eventID).first(where: { $0.transactionHash == row.transactionHash }),
                Self.isVisible(sibling, now: current, policies: policies)
            else {
                throw unknown
            }
        }
        return API.ProofResponse(eventId: eventID, height: row.height, proof: proof)
    }

    struct PeerResult: Sendable {
        let node: String
        let part: API.CitizenAccessPart?
        let failure: String?
    }
}

/// A department ends the deferral of accesses it made: at its own node, whose key signs the release transaction (the
/// chain counts a release only from the department's own node, and only for that department's events).
package struct Releases: Sendable {
    let store: any AuditStoring
    let writer: any ChainWriting
    let department: String

    package func release(_ principal: Principal, _ request: API.ReleaseRequest) async throws -> API.ReleaseResponse {
        guard principal.node == nil, principal.department == department else {
            throw ExchangeError(.notOwnNode, "a department releases its accesses at its own node; this node is \(department)'s")
        }
        guard !request.eventIds.isEmpty, request.eventIds.count <= AccessRelease.eventsMax else {
            throw ExchangeError(.invalidRequest, "eventIds must hold 1 to \(AccessRelease.eventsMax) event ids")
        }
        guard Set(request.eventIds).count == request.eventIds.count else { throw ExchangeError(.invalidRequest, "eventIds names an event twice") }
        for (index, id) in request.eventIds.enumerated() {
            try RequestChecks.checkIdentifier(id, "eventIds[\(index)]")
            guard let row = try await store.accessEvents(id: id).first(where: { $0.requester == department }) else {
                throw ExchangeError(.notFound, "no committed access event \(id) made by \(department)")
            }
            guard row.discloseAtMs != nil else { throw ExchangeError(.conflict, "access event \(id) was not deferred: its citizens see it already") }
            guard row.releasedAtHeight == nil else { throw ExchangeError(.conflict, "access event \(id) was released already") }
        }
        let release = AccessRelease(department: department, eventIDs: request.eventIds)
        let (hash, location) = try await writer.submit(.accessRelease, payload: release.encoded)
        return API.ReleaseResponse(released: request.eventIds, transaction: Hex.encode(hash), height: location.height)
    }
}
