/// Payload of a `recordAnchor` transaction: salted hashes of a batch of published records.
public struct RecordAnchor: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// HMAC(salt, category ‖ record id): identifies the record without revealing its id.
        public let recordKey: [UInt8]
        /// HMAC(salt, canonical record): detects any later change to the stored record.
        public let recordHash: [UInt8]

        public init(recordKey: [UInt8], recordHash: [UInt8]) {
            self.recordKey = recordKey
            self.recordHash = recordHash
        }
    }

    public let publisher: String
    public let category: String
    public let entries: [Entry]

    public init(publisher: String, category: String, entries: [Entry]) {
        self.publisher = publisher
        self.category = category
        self.entries = entries
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(publisher)
        writer.write(category)
        writer.write(UInt64(entries.count))
        for entry in entries {
            writer.write(entry.recordKey)
            writer.write(entry.recordHash)
        }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        publisher = try reader.readString()
        category = try reader.readString()
        let count = try reader.readUInt64()
        guard count <= UInt64(bytes.count) else { throw ChainError(.malformed, "entry count exceeds the data") }
        var entries: [Entry] = []
        for _ in 0..<count {
            entries.append(Entry(recordKey: try reader.readBytes(), recordHash: try reader.readBytes()))
        }
        self.entries = entries
        try reader.expectEnd()
        // A record key is anchored once: two entries would give one key two rows in every node's anchored_records.
        guard Set(entries.map(\.recordKey)).count == entries.count else { throw ChainError(.malformed, "an anchor names a record twice") }
    }
}

/// Payload of a `recordErasure` transaction: the holder destroyed these records (PIPL art. 47, GDPR art. 17). Only
/// the salted record keys appear, as in their anchors: the chain says that a record anchored earlier was erased, and
/// when, without saying whose it was.
public struct RecordErasure: Sendable, Equatable {
    public let publisher: String
    public let category: String
    public let recordKeys: [[UInt8]]

    /// At most this many records per erasure transaction.
    public static let recordsMax = 1_000

    public init(publisher: String, category: String, recordKeys: [[UInt8]]) {
        self.publisher = publisher
        self.category = category
        self.recordKeys = recordKeys
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(publisher)
        writer.write(category)
        writer.write(recordKeys)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        publisher = try reader.readString()
        category = try reader.readString()
        recordKeys = try reader.readByteList()
        try reader.expectEnd()
        guard (1...Self.recordsMax).contains(recordKeys.count) else {
            throw ChainError(.malformed, "an erasure names 1…\(Self.recordsMax) records")
        }
        guard Set(recordKeys).count == recordKeys.count else { throw ChainError(.malformed, "an erasure names a record twice") }
    }
}

/// Payload of an `accessLog` transaction: one access decision, allowed or denied.
public struct AccessEvent: Sendable, Equatable {
    public enum Decision: String, Sendable, Codable { case allow, deny }

    public let eventID: String
    public let requester: String
    public let action: String
    public let category: String
    /// Salted hashes of the record ids concerned (empty for aggregates).
    public let recordKeys: [[UInt8]]
    public let purpose: String
    public let policyBundleHash: [UInt8]
    public let decision: Decision
    /// Ids of the policies that determined the decision (empty for default deny).
    public let determiningPolicies: [String]
    /// Digest of the requester's signature over the HTTP request, binding the event to that request.
    public let requestDigest: [UInt8]
    public let timestampMs: Int64
    /// The role within the requesting department the request was made in (nil: the department itself).
    public let role: String?
    /// The grant recorded on chain that the decision relied on (nil: none).
    public let grantID: String?
    /// The privacy budget an allowed differentially private statistic spent, in millionths of ε (nil: none).
    public let epsilonMicros: Int64?
    /// For a statistic: the digest of what the holder returned (`DecryptionRequest.Contribution.digest`), so that the
    /// consortium decrypts exactly what this decision allowed (nil: none).
    public let resultDigest: [UInt8]?
    /// Deferred visibility: for a purpose the policy bundle marks covert, the time (Unix ms) from which the citizens whose
    /// records these are may see this access (nil: at once). An `accessRelease` transaction of the requester may end
    /// the deferral earlier; regulators see the event and its deferral from the start.
    public let discloseAtMs: Int64?

    /// The largest ε one statistic may spend (100, in millionths).
    public static let epsilonMicrosMax: Int64 = 100_000_000
    /// No deferral, whatever a bundle says, outlasts ten years (366-day years) from the access.
    public static let deferralMsMax: Int64 = 10 * 366 * 86_400_000

    public init(
        eventID: String, requester: String, action: String, category: String, recordKeys: [[UInt8]], purpose: String,
        policyBundleHash: [UInt8], decision: Decision, determiningPolicies: [String], requestDigest: [UInt8], timestampMs: Int64,
        role: String? = nil, grantID: String? = nil, epsilonMicros: Int64? = nil, resultDigest: [UInt8]? = nil, discloseAtMs: Int64? = nil
    ) {
        self.eventID = eventID
        self.requester = requester
        self.action = action
        self.category = category
        self.recordKeys = recordKeys
        self.purpose = purpose
        self.policyBundleHash = policyBundleHash
        self.decision = decision
        self.determiningPolicies = determiningPolicies
        self.requestDigest = requestDigest
        self.timestampMs = timestampMs
        self.role = role == "" ? nil : role
        self.grantID = grantID == "" ? nil : grantID
        self.epsilonMicros = epsilonMicros
        self.resultDigest = resultDigest
        self.discloseAtMs = discloseAtMs
    }

    /// The role and the grant follow the original fields, and only when one is present, so events without them
    /// encode (and hash) exactly as before these fields existed.
    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(eventID)
        writer.write(requester)
        writer.write(action)
        writer.write(category)
        writer.write(recordKeys)
        writer.write(purpose)
        writer.write(policyBundleHash)
        writer.write(decision.rawValue)
        writer.write(determiningPolicies)
        writer.write(requestDigest)
        writer.write(timestampMs)
        let deferred = discloseAtMs != nil
        if role != nil || grantID != nil || epsilonMicros != nil || resultDigest != nil || deferred {
            writer.write(role ?? "")
            writer.write(grantID ?? "")
        }
        // ε 0 stands for "none" when something follows it; an empty digest for "none" when the deferral follows.
        if epsilonMicros != nil || resultDigest != nil || deferred { writer.write(epsilonMicros ?? 0) }
        if resultDigest != nil || deferred { writer.write(resultDigest ?? []) }
        if let discloseAtMs { writer.write(discloseAtMs) }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        eventID = try reader.readString()
        requester = try reader.readString()
        action = try reader.readString()
        category = try reader.readString()
        recordKeys = try reader.readByteList()
        purpose = try reader.readString()
        policyBundleHash = try reader.readBytes()
        guard let decision = Decision(rawValue: try reader.readString()) else { throw ChainError(.malformed, "unknown decision") }
        self.decision = decision
        determiningPolicies = try reader.readStringList()
        requestDigest = try reader.readBytes()
        timestampMs = try reader.readInt64()
        var epsilonMicros: Int64? = nil
        var resultDigest: [UInt8]? = nil
        var discloseAtMs: Int64? = nil
        if reader.isAtEnd {
            role = nil
            grantID = nil
        } else {
            let role = try reader.readString()
            let grantID = try reader.readString()
            self.role = role.isEmpty ? nil : role
            self.grantID = grantID.isEmpty ? nil : grantID
            if reader.isAtEnd {
                guard !role.isEmpty || !grantID.isEmpty else { throw ChainError(.malformed, "an access event's role and grant are both empty") }
            } else {
                let epsilon = try reader.readInt64()
                if !reader.isAtEnd {
                    let digest = try reader.readBytes()
                    if !digest.isEmpty {
                        guard (16...64).contains(digest.count) else {
                            throw ChainError(.malformed, "an access event's result digest has 16 to 64 bytes")
                        }
                        resultDigest = digest
                    }
                    if !reader.isAtEnd {
                        let at = try reader.readInt64()
                        // Both times come from the event's submitter: subtract without trapping.
                        let (delay, overflow) = at.subtractingReportingOverflow(timestampMs)
                        guard !overflow, delay > 0, delay <= Self.deferralMsMax else {
                            throw ChainError(.malformed, "an access event's disclosure time must follow it by at most ten years")
                        }
                        discloseAtMs = at
                    } else if digest.isEmpty {
                        throw ChainError(.malformed, "an access event's result digest has 16 to 64 bytes")
                    }
                }
                if epsilon != 0 || (resultDigest == nil && discloseAtMs == nil) {
                    guard (1...Self.epsilonMicrosMax).contains(epsilon) else {
                        throw ChainError(.malformed, "an access event's ε must be 1 to \(Self.epsilonMicrosMax) millionths")
                    }
                    epsilonMicros = epsilon
                }
            }
        }
        self.epsilonMicros = epsilonMicros
        self.resultDigest = resultDigest
        self.discloseAtMs = discloseAtMs
        try reader.expectEnd()
    }
}

/// Payload of an `accessLogBatch` transaction: access decisions made together, signed once by the node.
public struct AccessLogBatch: Sendable, Equatable {
    public static let eventsMax = 4_096
    public let events: [AccessEvent]

    public init(events: [AccessEvent]) {
        precondition(!events.isEmpty && events.count <= Self.eventsMax, "a batch holds 1…\(Self.eventsMax) events")
        self.events = events
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway/access-batch/v1")
        writer.write(events.map(\.encoded))
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        guard try reader.readString() == "datagateway/access-batch/v1" else { throw ChainError(.malformed, "unknown access batch version") }
        let encoded = try reader.readByteList()
        try reader.expectEnd()
        guard !encoded.isEmpty, encoded.count <= Self.eventsMax else {
            throw ChainError(.malformed, "an access batch holds 1…\(Self.eventsMax) events")
        }
        events = try encoded.map { try AccessEvent(decoding: $0) }
        // An event id names one event: a batch that repeats one would give two events one key in every node's log
        // tables (and a validator refuses to vote for it, like any malformed payload).
        var ids = Set<[UInt8]>()
        for event in events where !ids.insert(Array(event.eventID.utf8)).inserted {
            throw ChainError(.malformed, "an access batch names event \(event.eventID) twice")
        }
    }

    /// Each event's bytes as the batch carries them, in order, without decoding the events (the access log's leaves).
    public static func eventBytes(decoding bytes: [UInt8]) throws -> [[UInt8]] {
        var reader = CanonicalReader(bytes)
        guard try reader.readString() == "datagateway/access-batch/v1" else { throw ChainError(.malformed, "unknown access batch version") }
        let encoded = try reader.readByteList()
        try reader.expectEnd()
        return encoded
    }
}

/// Payload of an `accessRelease` transaction: the department that made these accesses ends their deferral, so the
/// citizens concerned see them from this block on. Only event ids and the department appear. A release counts only
/// when the department's own node submits it, and only for that department's events.
public struct AccessRelease: Sendable, Equatable {
    public let department: String
    public let eventIDs: [String]

    /// At most this many events per release transaction.
    public static let eventsMax = 1_000

    public init(department: String, eventIDs: [String]) {
        self.department = department
        self.eventIDs = eventIDs
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway/access-release/v1")
        writer.write(department)
        writer.write(eventIDs)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        guard try reader.readString() == "datagateway/access-release/v1" else { throw ChainError(.malformed, "unknown access release version") }
        department = try reader.readString()
        eventIDs = try reader.readStringList()
        try reader.expectEnd()
        guard !department.isEmpty, department.utf8.count <= 128 else { throw ChainError(.malformed, "a release names its department") }
        guard !eventIDs.isEmpty, eventIDs.count <= Self.eventsMax else {
            throw ChainError(.malformed, "a release names 1…\(Self.eventsMax) events")
        }
        guard eventIDs.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 128 }) else { throw ChainError(.malformed, "an event id has 1 to 128 bytes") }
        guard Set(eventIDs).count == eventIDs.count else { throw ChainError(.malformed, "a release names an event twice") }
    }

    /// The stateful rule: the submitting node belongs to the department the release speaks for.
    public static func check(_ transaction: Transaction, department: String?) throws {
        let release = try AccessRelease(decoding: transaction.payload)
        guard let department, department == release.department else {
            throw ChainError(.invalidTransaction, "a release of \(release.department)'s accesses comes from that department's node")
        }
    }
}

extension Transaction {
    /// The access events an access-log transaction records: one for `accessLog`, several for `accessLogBatch`,
    /// none for other kinds.
    /// The bytes of each access event this transaction carries, in order (the access log's leaf data): the payload of
    /// an `accessLog`, each entry of an `accessLogBatch`; none for other kinds.
    public func accessEventBytes() throws -> [[UInt8]] {
        switch kind {
        case .accessLog: return [payload]
        case .accessLogBatch: return try AccessLogBatch.eventBytes(decoding: payload)
        case .recordAnchor, .proposal, .approval, .grant, .revoke, .consent, .decryptionShare, .decryptionRequest, .decryptionRefusal,
            .recordErasure, .accessRelease:
            return []
        }
    }

    public func accessEvents() throws -> [AccessEvent] {
        switch kind {
        case .accessLog: return [try AccessEvent(decoding: payload)]
        case .accessLogBatch: return try AccessLogBatch(decoding: payload).events
        case .recordAnchor, .proposal, .approval, .grant, .revoke, .consent, .decryptionShare, .decryptionRequest, .decryptionRefusal,
            .recordErasure, .accessRelease:
            return []
        }
    }
}
