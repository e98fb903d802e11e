import GatewayCrypto

/// Payload of a `decryptionRequest` transaction: a statistic's encrypted groups, put before the consortium for
/// decryption by the requester's node. It names the query (requester, category, field, purpose, ε and budget, minimum
/// cohort) and carries every holder's contribution as the holder returned it — per group a salted label, the cohort
/// and the encrypted (noisy) sum — with the holder's access event, whose digest anchors exactly that contribution.
/// Every share holder recomputes the combined groups from it and checks it on its own before it decrypts anything;
/// only groups whose combined cohort meets the minimum are ever decrypted. No plaintext and no group value: labels are
/// salted per query, and only the requester knows the salt.
public struct DecryptionRequest: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        /// H(query salt ‖ canonical group key): the same group across holders, unreadable to anyone else.
        public let label: [UInt8]
        /// Distinct citizens in the holder's group (what the minimum cohort counts).
        public let cohort: UInt64
        /// Records in the holder's group (what a mean divides by).
        public let count: UInt64
        /// The holder's encrypted sum, its noise share included (a Paillier ciphertext, big-endian).
        public let sum: [UInt8]

        public init(label: [UInt8], cohort: UInt64, count: UInt64, sum: [UInt8]) {
            self.label = label
            self.cohort = cohort
            self.count = count
            self.sum = sum
        }
    }

    /// What one holder returned, as its access event's digest anchors it.
    public struct Contribution: Sendable, Equatable {
        /// Node id of the holder (its access event is in a transaction this node signed).
        public let holder: String
        /// The holder's access event that allowed this statistic.
        public let eventID: String
        public let groups: [Group]

        public init(holder: String, eventID: String, groups: [Group]) {
            self.holder = holder
            self.eventID = eventID
            self.groups = groups
        }

        /// The digest the holder's access event carries: binds the query and exactly these groups.
        public func digest(query: DecryptionRequest.Query, suite: any CryptoSuite) -> [UInt8] {
            var writer = CanonicalWriter()
            writer.write("datagateway/statistic-contribution/v1")
            query.write(to: &writer)
            writer.write(holder)
            writer.write(UInt64(groups.count))
            for group in groups {
                writer.write(group.label)
                writer.write(group.cohort)
                writer.write(group.count)
                writer.write(group.sum)
            }
            return suite.hash(writer.bytes)
        }
    }

    /// The statistic as asked: every holder contributes to exactly this.
    public struct Query: Sendable, Equatable {
        public let statisticID: String
        public let requester: String
        public let category: String
        public let field: String
        public let purpose: String
        /// ε of the whole statistic in millionths (0: exact, no noise).
        public let epsilonMicros: Int64
        /// The requester's monthly budget for the category under the holders' permits (millionths; 0 when exact).
        public let budgetMicros: Int64
        public let minimumCohort: UInt64
        /// How many holders share the noise (each adds its Pólya share for this many parties).
        public let holders: UInt64

        public init(
            statisticID: String, requester: String, category: String, field: String, purpose: String, epsilonMicros: Int64, budgetMicros: Int64,
            minimumCohort: UInt64, holders: UInt64
        ) {
            self.statisticID = statisticID
            self.requester = requester
            self.category = category
            self.field = field
            self.purpose = purpose
            self.epsilonMicros = epsilonMicros
            self.budgetMicros = budgetMicros
            self.minimumCohort = minimumCohort
            self.holders = holders
        }

        func write(to writer: inout CanonicalWriter) {
            writer.write(statisticID)
            writer.write(requester)
            writer.write(category)
            writer.write(field)
            writer.write(purpose)
            writer.write(epsilonMicros)
            writer.write(budgetMicros)
            writer.write(minimumCohort)
            writer.write(holders)
        }

        static func read(from reader: inout CanonicalReader) throws -> Query {
            Query(
                statisticID: try reader.readString(), requester: try reader.readString(), category: try reader.readString(),
                field: try reader.readString(), purpose: try reader.readString(), epsilonMicros: try reader.readInt64(),
                budgetMicros: try reader.readInt64(), minimumCohort: try reader.readUInt64(), holders: try reader.readUInt64())
        }
    }

    public static let contributionsMax = 16
    public static let groupsMax = 1_024
    public static let ciphertextBytesMax = 1_024
    public static let labelBytes = 32

    public let query: Query
    public let contributions: [Contribution]
    /// Width of a slot when the decryptable groups are packed several to a ciphertext (`PaillierPacking`); 0 decrypts
    /// each group on its own. The requester chooses it from the field's bounds; share holders need not trust it, since
    /// a packed decryption reveals nothing beyond the groups packed in it, and they pack only groups at the cohort.
    public let slotBits: UInt64

    public init(query: Query, contributions: [Contribution], slotBits: UInt64 = 0) {
        self.query = query
        self.contributions = contributions
        self.slotBits = slotBits
    }

    /// How the decryptable groups are packed for decryption under `publicKey`.
    public func packing(_ publicKey: PaillierPublicKey) -> PaillierPacking {
        PaillierPacking(publicKey: publicKey, slotBits: Int(clamping: slotBits))
    }

    /// What the share holders decrypt: the decryptable groups' sums, packed. Everyone derives the same list.
    public func ciphertextsToDecrypt(_ publicKey: PaillierPublicKey) -> [PaillierCiphertext] {
        packing(publicKey).pack(decryptable(modulusSquared: publicKey.nSquared).map(\.sum))
    }

    /// The groups the consortium decrypts: per label, the product of the holders' sums and the sum of their cohorts;
    /// only labels whose combined cohort meets the minimum, in label order. Everyone derives the same list.
    public func decryptable(modulusSquared: GMPInteger) -> [CombinedGroup] {
        combined(modulusSquared: modulusSquared).filter { $0.cohort >= query.minimumCohort }
    }

    public struct CombinedGroup: Sendable {
        public let label: [UInt8]
        public let cohort: UInt64
        public let count: UInt64
        public let sum: PaillierCiphertext
    }

    /// Every group of the request combined across holders (cohorts and counts added, saturating), in label order.
    public func combined(modulusSquared: GMPInteger) -> [CombinedGroup] {
        var combined: [[UInt8]: CombinedGroup] = [:]
        for contribution in contributions {
            for group in contribution.groups {
                let value = GMPInteger(bigEndian: group.sum)
                if let existing = combined[group.label] {
                    let (cohort, cohortOverflow) = existing.cohort.addingReportingOverflow(group.cohort)
                    let (count, countOverflow) = existing.count.addingReportingOverflow(group.count)
                    combined[group.label] = CombinedGroup(
                        label: group.label, cohort: cohortOverflow ? .max : cohort, count: countOverflow ? .max : count,
                        sum: PaillierCiphertext(value: existing.sum.value.multiplied(by: value, modulo: modulusSquared)))
                } else {
                    combined[group.label] = CombinedGroup(
                        label: group.label, cohort: group.cohort, count: group.count, sum: PaillierCiphertext(value: value.modulo(modulusSquared)))
                }
            }
        }
        return combined.keys.sorted { $0.lexicographicallyPrecedes($1) }.compactMap { combined[$0] }
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(slotBits == 0 ? "datagateway/decryption-request/v1" : "datagateway/decryption-request/v2")
        query.write(to: &writer)
        writer.write(UInt64(contributions.count))
        for contribution in contributions {
            writer.write(contribution.holder)
            writer.write(contribution.eventID)
            writer.write(UInt64(contribution.groups.count))
            for group in contribution.groups {
                writer.write(group.label)
                writer.write(group.cohort)
                writer.write(group.count)
                writer.write(group.sum)
            }
        }
        if slotBits != 0 { writer.write(slotBits) }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        let version = try reader.readString()
        guard version == "datagateway/decryption-request/v1" || version == "datagateway/decryption-request/v2" else {
            throw ChainError(.malformed, "unknown decryption request version")
        }
        query = try Query.read(from: &reader)
        let count = try reader.readUInt64()
        guard (1...UInt64(Self.contributionsMax)).contains(count) else {
            throw ChainError(.malformed, "a decryption request carries 1…\(Self.contributionsMax) contributions")
        }
        var contributions: [Contribution] = []
        var total = 0
        for _ in 0..<count {
            let holder = try reader.readString()
            let eventID = try reader.readString()
            let groups = try reader.readUInt64()
            total += Int(min(groups, UInt64(Self.groupsMax + 1)))
            guard total <= Self.groupsMax else { throw ChainError(.malformed, "a decryption request carries at most \(Self.groupsMax) groups") }
            var list: [Group] = []
            for _ in 0..<groups {
                let group = Group(
                    label: try reader.readBytes(), cohort: try reader.readUInt64(), count: try reader.readUInt64(), sum: try reader.readBytes())
                guard group.label.count == Self.labelBytes, (1...Self.ciphertextBytesMax).contains(group.sum.count) else {
                    throw ChainError(.malformed, "a group has a \(Self.labelBytes)-byte label and a ciphertext of 1…\(Self.ciphertextBytesMax) bytes")
                }
                list.append(group)
            }
            guard Set(list.map(\.label)).count == list.count else { throw ChainError(.malformed, "a contribution names a group twice") }
            contributions.append(Contribution(holder: holder, eventID: eventID, groups: list))
        }
        // v2 adds the slot width of packed decryption.
        slotBits = version == "datagateway/decryption-request/v2" ? try reader.readUInt64() : 0
        try reader.expectEnd()
        guard slotBits == 0 && version.hasSuffix("v1") || PaillierPacking.slotBitsRange.contains(Int(clamping: slotBits)) else {
            throw ChainError(.malformed, "a decryption request's slot width is \(PaillierPacking.slotBitsRange) bits (v2) or absent (v1)")
        }
        self.contributions = contributions
        guard Set(contributions.map(\.holder)).count == contributions.count else {
            throw ChainError(.malformed, "a decryption request names a holder twice")
        }
        guard !query.statisticID.isEmpty, query.statisticID.utf8.count <= 128, !query.requester.isEmpty, !query.category.isEmpty,
            !query.field.isEmpty, !query.purpose.isEmpty
        else { throw ChainError(.malformed, "a decryption request names its statistic (≤ 128 bytes), requester, category, field and purpose") }
        guard (0...AccessEvent.epsilonMicrosMax).contains(query.epsilonMicros), query.budgetMicros >= 0, query.minimumCohort >= 1,
            query.holders == UInt64(contributions.count)
        else { throw ChainError(.malformed, "a decryption request's ε, budget, minimum cohort or holder count is out of bounds") }
    }
}

/// Partial decryptions of one share holder for every decryptable group of a request, in the request's group order.
/// Payload of a `decryptionShare` transaction's `share` field.
public struct PartialDecryptions: Sendable, Equatable {
    public let partials: [ThresholdPaillier.PartialDecryption]

    public init(partials: [ThresholdPaillier.PartialDecryption]) { self.partials = partials }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(UInt64(partials.count))
        for partial in partials {
            for text in [partial.value, partial.challenge, partial.response] { writer.write(GMPInteger(text)?.bigEndianBytes ?? []) }
        }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8], party: Int) throws {
        var reader = CanonicalReader(bytes)
        let count = try reader.readUInt64()
        guard count <= UInt64(DecryptionRequest.groupsMax) else { throw ChainError(.malformed, "too many partial decryptions") }
        var partials: [ThresholdPaillier.PartialDecryption] = []
        for _ in 0..<count {
            let value = GMPInteger(bigEndian: try reader.readBytes())
            let challenge = GMPInteger(bigEndian: try reader.readBytes())
            let response = GMPInteger(bigEndian: try reader.readBytes())
            partials.append(.init(index: party, value: value.toString(), challenge: challenge.toString(), response: response.toString()))
        }
        try reader.expectEnd()
        self.partials = partials
    }
}

/// Payload of a `decryptionRefusal` transaction: a share holder declines a decryption request, saying why.
public struct DecryptionRefusal: Sendable, Equatable {
    public let requestID: String
    public let party: UInt64
    public let reason: String

    public init(requestID: String, party: UInt64, reason: String) {
        self.requestID = requestID
        self.party = party
        self.reason = String(reason.prefix(Self.reasonMax))
    }

    public static let reasonMax = 512

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(requestID)
        writer.write(party)
        writer.write(reason)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        requestID = try reader.readString()
        party = try reader.readUInt64()
        reason = try reader.readString()
        try reader.expectEnd()
        guard !requestID.isEmpty, !reason.isEmpty, reason.utf8.count <= 4 * Self.reasonMax else {
            throw ChainError(.malformed, "a decryption refusal names its request and a reason")
        }
    }
}

/// Decryption requests and their answers, derived from the chain. A request is identified by its transaction hash;
/// a share or refusal counts only from the validator the genesis gives that share index to, once per party, while
/// the request is open (within `openWindowMs` of its block's time). Every node derives the same book.
public struct DecryptionBook: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let request: DecryptionRequest
        public let submitter: String
        public let height: UInt64
        public let timestampMs: Int64
        /// ε spent by the requester before this request (same key), and whether this request fit in its budget (and
        /// was charged). Share holders refuse one that did not fit.
        public let spentBeforeMicros: Int64
        public let withinBudget: Bool
        public internal(set) var shares: [Int: [UInt8]] = [:]
        public internal(set) var refusals: [Int: String] = [:]
    }

    /// How long a request stays open for shares after its block (10 minutes of block time).
    public static let openWindowMs: Int64 = 600_000

    public private(set) var entries: [String: Entry] = [:]
    /// Open request ids in commit order.
    public private(set) var order: [String] = []

    public init() {}

    public func entry(_ id: String) -> Entry? { entries[id] }

    /// Forgets requests whose window closed before `nowMs` (deterministic: block time).
    mutating func expire(beforeMs nowMs: Int64) {
        while let first = order.first, let entry = entries[first], entry.timestampMs + Self.openWindowMs < nowMs {
            entries[first] = nil
            order.removeFirst()
        }
    }

    mutating func add(_ id: String, _ entry: Entry) throws {
        guard entries[id] == nil else { throw ChainError(.invalidTransaction, "decryption request \(id) exists") }
        entries[id] = entry
        order.append(id)
    }

    mutating func answer(_ requestID: String, party: Int, submitter: String, aggregation: AggregationKey?, share: [UInt8]?, refusal: String?) throws {
        guard let aggregation else { throw ChainError(.invalidTransaction, "this chain has no aggregation key") }
        guard var entry = entries[requestID] else { throw ChainError(.invalidTransaction, "no open decryption request \(requestID)") }
        guard (1...aggregation.holders.count).contains(party), aggregation.holders[party - 1] == submitter else {
            throw ChainError(.invalidTransaction, "\(submitter) does not hold share \(party)")
        }
        guard entry.shares[party] == nil, entry.refusals[party] == nil else {
            throw ChainError(.invalidTransaction, "share \(party) already answered request \(requestID)")
        }
        if let share { entry.shares[party] = share }
        if let refusal { entry.refusals[party] = refusal }
        entries[requestID] = entry
    }
}
