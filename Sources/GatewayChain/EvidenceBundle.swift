import Foundation
import GatewayCrypto

/// Evidence a regulator carries away: access events with the proofs that they are committed on the chain, the
/// governance history those proofs depend on, and the genesis — self-contained, so that anyone holding the genesis
/// the consortium published can check it without a node (`gateway audit verify-bundle`, or the independent
/// `tools/verify_bundle.py`). The format is documented in docs/evidence-bundle.md; both verifiers are written from it.
public struct EvidenceBundle: Sendable, Codable, Equatable {
    public static let formatName = "datagateway-evidence-bundle/v1"
    /// At most this many events in one bundle (a bundle is read whole by its verifiers).
    public static let eventsMax = 10_000

    /// What the exporter was asked for (echoed, so a reader knows what the events were chosen by).
    public struct Selection: Sendable, Codable, Equatable {
        public var eventIds: [String]?
        public var department: String?
        /// Unix ms, inclusive / exclusive.
        public var fromMs: Int64?
        public var toMs: Int64?

        public init(eventIds: [String]? = nil, department: String? = nil, fromMs: Int64? = nil, toMs: Int64? = nil) {
            self.eventIds = eventIds
            self.department = department
            self.fromMs = fromMs
            self.toMs = toMs
        }

        /// Whether an event belongs to this selection.
        public func admits(_ event: AccessEvent) -> Bool {
            (eventIds.map { $0.contains(event.eventID) } ?? true) && (department.map { $0 == event.requester } ?? true)
                && (fromMs.map { event.timestampMs >= $0 } ?? true) && (toMs.map { event.timestampMs < $0 } ?? true)
        }
    }

    public struct Event: Sendable, Codable, Equatable {
        public let eventId: String
        public let height: UInt64
        /// The event's proof: its transaction (an access log or batch carrying it) committed on the chain; without
        /// `governance`, which the bundle carries once for all its events.
        public let proof: InclusionProof

        public init(eventId: String, height: UInt64, proof: InclusionProof) {
            self.eventId = eventId
            self.height = height
            self.proof = proof
        }
    }

    public let format: String
    public let chainId: String
    public let suite: SuiteName
    public let exportedAtMs: Int64
    public let selection: Selection
    public let genesis: Genesis
    /// Every governance transaction the chain executed up to the highest event's height, in chain order, each proven.
    public let governance: [InclusionProof]
    public let events: [Event]

    public init(exportedAtMs: Int64, selection: Selection, genesis: Genesis, governance: [InclusionProof], events: [Event]) {
        self.format = Self.formatName
        self.chainId = genesis.chainID
        self.suite = genesis.suite
        self.exportedAtMs = exportedAtMs
        self.selection = selection
        self.genesis = genesis
        self.governance = governance
        self.events = events
    }

    /// One verified event, as both verifiers print it.
    public struct VerifiedEvent: Sendable, Equatable {
        public let event: AccessEvent
        public let height: UInt64
        public let transactionHash: [UInt8]
        /// The node that logged it (the transaction's submitter).
        public let loggedBy: String

        /// `<event id> <height> <requester> <action> <category> <purpose> <decision> <logged by>`: the line both
        /// verifiers print, so their outputs compare line by line.
        public var line: String {
            [event.eventID, String(height), event.requester, event.action, event.category, event.purpose, event.decision.rawValue, loggedBy]
                .joined(separator: " ")
        }
    }

    /// Checks every event of the bundle against `trusted` (the genesis the consortium published; nil: the bundle's
    /// own, which the caller must then compare by other means). Throws with the first problem, naming the event.
    public func verify(trusted: Genesis?) throws -> [VerifiedEvent] {
        guard format == Self.formatName else { throw ChainError(.invalidProof, "not a \(Self.formatName) bundle (format \(format))") }
        if let trusted, trusted != genesis {
            throw ChainError(
                .invalidProof, "the bundle's genesis is not the trusted genesis (chain \(genesis.chainID), \(genesis.members.count) members)")
        }
        guard chainId == genesis.chainID, suite == genesis.suite else {
            throw ChainError(
                .invalidProof, "the bundle names chain \(chainId) (\(suite.rawValue)), its genesis \(genesis.chainID) (\(genesis.suite.rawValue))")
        }
        guard events.count <= Self.eventsMax else { throw ChainError(.invalidProof, "more than \(Self.eventsMax) events") }
        let verifier = try ProofVerifier(genesis: genesis)
        let cryptoSuite = try genesis.suite.makeSuite()
        // The governance steps, each proven against the state before it, once for all events.
        let initial = ProofVerifier.Knowledge(governance: GovernanceState(genesis: genesis), keys: verifier.genesisKeys)
        var knowledge = initial
        var states: [(height: UInt64, knowledge: ProofVerifier.Knowledge)] = []
        var last: (height: UInt64, index: UInt64)?
        for (position, step) in governance.enumerated() {
            guard step.governance == nil else { throw ChainError(.invalidProof, "governance step \(position) nests further steps") }
            let verified: ProofVerifier.Verified
            do {
                verified = try verifier.verifyOne(step, knowledge: knowledge, requireCommitment: true)
            } catch let error as ChainError {
                throw ChainError(.invalidProof, "governance step \(position): \(error.message)")
            } catch {
                throw ChainError(.invalidProof, "governance step \(position): \(error)")
            }
            guard verified.transaction.kind == .proposal || verified.transaction.kind == .approval else {
                throw ChainError(.invalidProof, "governance step \(position) is not a governance transaction")
            }
            if let last, (verified.height, step.leafIndex) <= last { throw ChainError(.invalidProof, "governance steps are not in chain order") }
            last = (verified.height, step.leafIndex)
            var next = knowledge.governance
            if (try? next.apply(verified.transaction, height: verified.height)) != nil { knowledge.governance = next }
            for member in knowledge.governance.members where knowledge.keys[member.nodeID] == nil {
                knowledge.keys[member.nodeID] = try? cryptoSuite.verifyingKey(pem: member.publicKey)
            }
            states.append((verified.height, knowledge))
        }
        var out: [VerifiedEvent] = []
        var seen = Set<String>()
        for (position, entry) in events.enumerated() {
            func fail(_ message: String) -> ChainError { ChainError(.invalidProof, "event \(position) (\(entry.eventId)): \(message)") }
            guard entry.proof.governance == nil else { throw fail("its proof carries its own governance history") }
            guard let headerBytes = Hex.decode(entry.proof.header) else { throw fail("the header is not hex") }
            let header: BlockHeader
            do { header = try BlockHeader(decoding: headerBytes) } catch { throw fail("the header does not decode: \(error)") }
            // The state after the last governance step at or below the event's block.
            let state = states.last { $0.height <= header.height }?.knowledge ?? initial
            let verified: ProofVerifier.Verified
            do {
                verified = try verifier.verifyOne(entry.proof, knowledge: state, requireCommitment: true)
            } catch let error as ChainError {
                throw fail(error.message)
            } catch {
                throw fail("\(error)")
            }
            guard verified.height == entry.height else { throw fail("it names height \(entry.height), its proof height \(verified.height)") }
            let carried: [AccessEvent]
            do {
                carried = try verified.transaction.accessEvents()
            } catch {
                throw fail("its transaction carries no access events")
            }
            guard let event = carried.first(where: { $0.eventID == entry.eventId }) else { throw fail("its transaction does not carry it") }
            guard selection.admits(event) else { throw fail("it is outside the bundle's selection") }
            let hash = verified.transaction.hash(suite: cryptoSuite)
            guard seen.insert(entry.eventId + ":" + Hex.encode(hash)).inserted else { throw fail("it is in the bundle twice") }
            out.append(VerifiedEvent(event: event, height: verified.height, transactionHash: hash, loggedBy: verified.transaction.submitter))
        }
        return out
    }
}
