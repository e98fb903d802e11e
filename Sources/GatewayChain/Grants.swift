/// Payload of a `grant` transaction: the submitting node's department (the grantor, which holds the records) lets
/// another department use a record category for a purpose — optionally only some fields — until an expiry.
public struct Grant: Sendable, Equatable {
    public let grantID: String
    public let grantee: String
    public let category: String
    public let purpose: String
    /// Fields the grantee may receive; empty for whatever the policies allow.
    public let fields: [String]
    public let expiresAtMs: Int64

    public init(grantID: String, grantee: String, category: String, purpose: String, fields: [String], expiresAtMs: Int64) {
        self.grantID = grantID
        self.grantee = grantee
        self.category = category
        self.purpose = purpose
        self.fields = fields
        self.expiresAtMs = expiresAtMs
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(grantID)
        writer.write(grantee)
        writer.write(category)
        writer.write(purpose)
        writer.write(UInt64(fields.count))
        for field in fields { writer.write(field) }
        writer.write(expiresAtMs)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        grantID = try reader.readString()
        grantee = try reader.readString()
        category = try reader.readString()
        purpose = try reader.readString()
        let count = try reader.readUInt64()
        guard count <= 1_024 else { throw ChainError(.malformed, "too many fields in a grant") }
        fields = try (0..<count).map { _ in try reader.readString() }
        expiresAtMs = try reader.readInt64()
        try reader.expectEnd()
        guard !grantID.isEmpty, !grantee.isEmpty, !category.isEmpty, !purpose.isEmpty, expiresAtMs > 0 else {
            throw ChainError(.malformed, "a grant needs an id, a grantee, a category, a purpose and an expiry")
        }
    }
}

/// Payload of a `revoke` transaction: the grantor withdraws a grant before its expiry.
public struct Revocation: Sendable, Equatable {
    public let grantID: String

    public init(grantID: String) { self.grantID = grantID }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(grantID)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        grantID = try reader.readString()
        try reader.expectEnd()
    }
}

/// Payload of a `consent` transaction: a citizen's consent for a purpose, given or withdrawn. The citizen appears only
/// as a salted hash (HMAC with the deployment's secret salt) — never an identifier (DESIGN.md §5).
public struct ConsentChange: Sendable, Equatable {
    public let subject: [UInt8]
    public let purpose: String
    public let given: Bool

    public init(subject: [UInt8], purpose: String, given: Bool) {
        self.subject = subject
        self.purpose = purpose
        self.given = given
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(subject)
        writer.write(purpose)
        writer.write(given ? UInt8(1) : 0)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        subject = try reader.readBytes()
        purpose = try reader.readString()
        let flag = try reader.readUInt8()
        try reader.expectEnd()
        guard flag <= 1 else { throw ChainError(.malformed, "consent flag must be 0 or 1") }
        given = flag == 1
        guard (16...64).contains(subject.count) else { throw ChainError(.malformed, "a consent's subject must be a salted hash (16 to 64 bytes)") }
        guard !purpose.isEmpty else { throw ChainError(.malformed, "a consent names its purpose") }
    }
}

/// Payload of a `decryptionShare` transaction: one party's partial decryption of an aggregate's ciphertext (threshold
/// Paillier), for the aggregation request it names. Carries no plaintext; only the combination of enough shares reveals
/// the aggregate.
public struct DecryptionShare: Sendable, Equatable {
    public let requestID: String
    public let party: UInt64
    public let share: [UInt8]

    public init(requestID: String, party: UInt64, share: [UInt8]) {
        self.requestID = requestID
        self.party = party
        self.share = share
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(requestID)
        writer.write(party)
        writer.write(share)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        requestID = try reader.readString()
        party = try reader.readUInt64()
        share = try reader.readBytes()
        try reader.expectEnd()
        guard !requestID.isEmpty, (1...2_097_152).contains(share.count) else {
            throw ChainError(.malformed, "a decryption share needs a request id and a share")
        }
    }
}

/// Grants in force, derived from the chain: who granted what to whom, and which were revoked.
public struct GrantRegistry: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let grant: Grant
        /// The department of the node that submitted the grant.
        public let grantor: String
        public var revoked: Bool
    }

    public private(set) var entries: [String: Entry] = [:]
    /// Grant ids by (grantor, grantee, category), in the order the chain recorded them: a request looks up only the
    /// grants between its two departments on its category.
    private var byParties: [Parties: [String]] = [:]

    struct Parties: Hashable, Sendable {
        let grantor: String
        let grantee: String
        let category: String
    }

    public init() {}

    /// Applies a `grant` or `revoke` by a node of department `department` (nil: not a member any more).
    public mutating func apply(_ transaction: Transaction, department: String?) throws {
        guard let department else { throw ChainError(.invalidTransaction, "\(transaction.submitter) is no longer a member") }
        switch transaction.kind {
        case .grant:
            let grant = try Grant(decoding: transaction.payload)
            guard entries[grant.grantID] == nil else { throw ChainError(.invalidTransaction, "grant id \(grant.grantID) is already used") }
            guard grant.grantee != department else { throw ChainError(.invalidTransaction, "a department does not grant to itself") }
            entries[grant.grantID] = Entry(grant: grant, grantor: department, revoked: false)
            byParties[Parties(grantor: department, grantee: grant.grantee, category: grant.category), default: []].append(grant.grantID)
        case .revoke:
            let revocation = try Revocation(decoding: transaction.payload)
            guard var entry = entries[revocation.grantID] else { throw ChainError(.invalidTransaction, "no grant \(revocation.grantID)") }
            guard entry.grantor == department else {
                throw ChainError(.invalidTransaction, "only \(entry.grantor), the grantor, may revoke \(revocation.grantID)")
            }
            guard !entry.revoked else { throw ChainError(.invalidTransaction, "grant \(revocation.grantID) is already revoked") }
            entry.revoked = true
            entries[revocation.grantID] = entry
        default:
            break
        }
    }

    /// Grants by `grantor` to `grantee` for `category` (any purpose) that are neither revoked nor expired at `nowMs`,
    /// by id.
    public func live(grantor: String, grantee: String, category: String, atMs nowMs: Int64) -> [Entry] {
        (byParties[Parties(grantor: grantor, grantee: grantee, category: category)] ?? []).sorted().compactMap { id in
            let entry = entries[id]!
            return !entry.revoked && entry.grant.expiresAtMs > nowMs ? entry : nil
        }
    }

    /// Every grant `department` gave or received, revoked and expired ones included, by id.
    public func involving(_ department: String) -> [Entry] {
        entries.keys.sorted().map { entries[$0]! }.filter { $0.grantor == department || $0.grant.grantee == department }
    }
}

/// Citizens' consents as the chain records them: for each salted subject, each purpose's latest state (given or
/// withdrawn). A later `consent` transaction for the same subject and purpose replaces the earlier one, so a withdrawal
/// takes effect from the block that carries it.
public struct ConsentRegistry: Sendable, Equatable {
    public private(set) var subjects: [[UInt8]: [String: Bool]] = [:]

    public init() {}

    /// Applies a `consent` transaction by a node of department `department` (nil: not a member any more).
    public mutating func apply(_ transaction: Transaction, department: String?) throws {
        guard department != nil else { throw ChainError(.invalidTransaction, "\(transaction.submitter) is no longer a member") }
        let change = try ConsentChange(decoding: transaction.payload)
        subjects[change.subject, default: [:]][change.purpose] = change.given
    }

    /// The purposes the subject has consented to and not withdrawn, sorted.
    public func purposes(of subject: [UInt8]) -> [String] {
        (subjects[subject] ?? [:]).filter(\.value).map(\.key).sorted()
    }
}
