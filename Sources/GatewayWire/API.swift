import GatewayChain
import GatewayCrypto
import GatewaySchema

/// Wire types of the HTTP API (documented in Schemas/openapi.yaml). Field names are the JSON names.
public enum API {
    public struct PublishRequest: Codable, Sendable {
        public let records: [JSONValue]
        public init(records: [JSONValue]) { self.records = records }
    }

    /// Proof that something was written to the chain: the transaction and where it sits.
    public struct Receipt: Codable, Sendable, Equatable {
        public let eventId: String?
        public let transaction: String
        public let height: UInt64
        public let index: Int

        public init(eventId: String? = nil, transaction: String, height: UInt64, index: Int) {
            self.eventId = eventId
            self.transaction = transaction
            self.height = height
            self.index = index
        }
    }

    public struct PublishResponse: Codable, Sendable {
        public let category: String
        public let accepted: Int
        public let alreadyPresent: Int
        public let anchors: [Receipt]
        public let event: Receipt

        public init(category: String, accepted: Int, alreadyPresent: Int, anchors: [Receipt], event: Receipt) {
            self.category = category
            self.accepted = accepted
            self.alreadyPresent = alreadyPresent
            self.anchors = anchors
            self.event = event
        }
    }

    public struct RecordsRequest: Codable, Sendable {
        public let category: String
        public let ids: [String]
        public let purpose: String
        /// For a purpose the policy bundle marks covert: when the citizens concerned may see this access (RFC 3339), at
        /// most the bundle's maximum after it (absent: that maximum). Refused for other purposes.
        public var discloseAfter: String? = nil
        public init(category: String, ids: [String], purpose: String, discloseAfter: String? = nil) {
            self.category = category
            self.ids = ids
            self.purpose = purpose
            self.discloseAfter = discloseAfter
        }
    }

    /// When the citizens concerned may see a deferred access.
    public struct Disclosure: Codable, Sendable, Equatable {
        /// Unix ms from which the access is shown to the citizens concerned.
        public let discloseAtMs: Int64
        /// The height of the release transaction that ended the deferral early (absent: none).
        public let releasedAtHeight: UInt64?

        public init(discloseAtMs: Int64, releasedAtHeight: UInt64? = nil) {
            self.discloseAtMs = discloseAtMs
            self.releasedAtHeight = releasedAtHeight
        }
    }

    /// A citizen's consent for a purpose, given or withdrawn, recorded on chain under a salted hash of the citizen.
    public struct ConsentRequest: Codable, Sendable {
        public let citizenId: String
        public let purpose: String
        public let given: Bool
        public init(citizenId: String, purpose: String, given: Bool) {
            self.citizenId = citizenId
            self.purpose = purpose
            self.given = given
        }
    }

    public struct ConsentResponse: Codable, Sendable {
        public let purpose: String
        public let given: Bool
        /// The purposes the citizen consents to after this change.
        public let consents: [String]
        /// The consent transaction, committed.
        public let transaction: String
        public let height: UInt64
        /// The access event recording the decision to accept the change.
        public let receipt: Receipt

        public init(purpose: String, given: Bool, consents: [String], transaction: String, height: UInt64, receipt: Receipt) {
            self.purpose = purpose
            self.given = given
            self.consents = consents
            self.transaction = transaction
            self.height = height
            self.receipt = receipt
        }
    }

    /// A grant the data holder records on chain: the grantee may use the category for the purpose (and the purposes
    /// under it), optionally only some fields, until the expiry — as far as the policies let a grant count.
    public struct GrantRequest: Codable, Sendable {
        public let grantee: String
        public let category: String
        public let purpose: String
        /// Fields the grantee may receive; absent or empty for whatever the policies allow.
        public let fields: [String]?
        /// A UTC date (`2027-06-30`, its midnight) or instant (`2027-06-30T12:00:00Z`).
        public let expiresAt: String
        public init(grantee: String, category: String, purpose: String, fields: [String]? = nil, expiresAt: String) {
            self.grantee = grantee
            self.category = category
            self.purpose = purpose
            self.fields = fields
            self.expiresAt = expiresAt
        }
    }

    /// A grant as the chain records it.
    public struct GrantView: Codable, Sendable, Equatable {
        public let grantId: String
        public let grantor: String
        public let grantee: String
        public let category: String
        public let purpose: String
        public let fields: [String]
        public let expiresAtMs: Int64
        public let revoked: Bool
        /// Neither revoked nor expired.
        public let live: Bool

        public init(
            grantId: String, grantor: String, grantee: String, category: String, purpose: String, fields: [String], expiresAtMs: Int64, revoked: Bool,
            live: Bool
        ) {
            self.grantId = grantId
            self.grantor = grantor
            self.grantee = grantee
            self.category = category
            self.purpose = purpose
            self.fields = fields
            self.expiresAtMs = expiresAtMs
            self.revoked = revoked
            self.live = live
        }
    }

    public struct GrantResponse: Codable, Sendable {
        public let grant: GrantView
        /// The grant (or revocation) transaction, committed.
        public let transaction: String
        public let height: UInt64
        /// The access event recording the decision to issue (or revoke) it.
        public let receipt: Receipt

        public init(grant: GrantView, transaction: String, height: UInt64, receipt: Receipt) {
            self.grant = grant
            self.transaction = transaction
            self.height = height
            self.receipt = receipt
        }
    }

    public struct GrantList: Codable, Sendable {
        /// Grants the caller's department gave or received, as this node's chain records them, by id.
        public let grants: [GrantView]

        public init(grants: [GrantView]) {
            self.grants = grants
        }
    }

    /// A requested record its holder erased: the id asked for, and the erasure transaction on chain.
    public struct ErasedRecord: Codable, Sendable, Equatable {
        public let id: String
        public let transaction: String
        public let height: UInt64

        public init(id: String, transaction: String, height: UInt64) {
            self.id = id
            self.transaction = transaction
            self.height = height
        }
    }

    /// The answer to `DELETE /v1/records/{category}/{id}`: the erasure transaction, committed, and the access event
    /// that logged the decision to erase.
    public struct ErasureResponse: Codable, Sendable {
        public let category: String
        public let id: String
        public let erasure: Receipt
        public let event: Receipt

        public init(category: String, id: String, erasure: Receipt, event: Receipt) {
            self.category = category
            self.id = id
            self.erasure = erasure
            self.event = event
        }
    }

    public struct RecordsResponse: Codable, Sendable {
        public let decision: String
        public let policies: [String]
        public let fields: [String]
        public let masks: [String: String]
        public let records: [JSONValue]
        /// Ids with no record here that were never published (erased ones are in `erased`).
        public let missing: [String]
        /// Requested ids whose records their holder erased, with the erasure transactions (absent when none).
        public var erased: [ErasedRecord]? = nil
        /// The grant the decision relied on, when a permit read it.
        public let grant: String?
        public let receipt: Receipt

        public init(
            decision: String, policies: [String], fields: [String], masks: [String: String], records: [JSONValue], missing: [String],
            grant: String? = nil, receipt: Receipt
        ) {
            self.decision = decision
            self.policies = policies
            self.fields = fields
            self.masks = masks
            self.records = records
            self.missing = missing
            self.grant = grant
            self.receipt = receipt
        }
    }

    public struct AggregateRequest: Codable, Sendable {
        public let category: String
        public let field: String
        public let groupBy: [String]
        public let purpose: String
        public init(category: String, field: String, groupBy: [String], purpose: String) {
            self.category = category
            self.field = field
            self.groupBy = groupBy
            self.purpose = purpose
        }
    }

    public struct AggregateGroup: Codable, Sendable {
        public let key: [String: JSONValue]
        /// Distinct citizens in the group; reported as null when suppressed.
        public let cohort: Int?
        public let count: Int?
        public let sum: Int64?
        public let mean: Double?
        public let suppressed: Bool

        public init(key: [String: JSONValue], cohort: Int? = nil, count: Int? = nil, sum: Int64? = nil, mean: Double? = nil, suppressed: Bool) {
            self.key = key
            self.cohort = cohort
            self.count = count
            self.sum = sum
            self.mean = mean
            self.suppressed = suppressed
        }
    }

    /// A statistic's decryption by the consortium: the request on chain and whose shares were combined.
    public struct Decryption: Codable, Sendable, Equatable {
        /// The decryption request's transaction hash (hex); shares and refusals name it.
        public let request: String
        public let height: UInt64
        /// "t of n".
        public let threshold: String
        /// Node ids of the share holders whose verified partial decryptions were combined.
        public let shareHolders: [String]

        public init(request: String, height: UInt64, threshold: String, shareHolders: [String]) {
            self.request = request
            self.height = height
            self.threshold = threshold
            self.shareHolders = shareHolders
        }
    }

    public struct AggregateResponse: Codable, Sendable {
        public let category: String
        public let field: String
        public let groupBy: [String]
        public let minimumCohort: Int
        public let policies: [String]
        public var groups: [AggregateGroup]
        /// The grant the decision relied on, when a permit read it.
        public let grant: String?
        public let receipt: Receipt
        /// Differential privacy (when the permit requires it): the ε this statistic spent, as a decimal.
        public var epsilon: String? = nil
        /// The scale b = sensitivity / ε_sum of the discrete Laplace noise on each sum (the counts' is 1 / ε_count).
        public var noiseScale: Double? = nil
        /// The ε the requester has left for this category this month.
        public var epsilonRemaining: String? = nil
        /// How the consortium decrypted the groups (absent when no group met the cohort, so nothing was decrypted).
        public var decryption: Decryption? = nil

        public init(
            category: String, field: String, groupBy: [String], minimumCohort: Int, policies: [String], groups: [AggregateGroup],
            grant: String? = nil, receipt: Receipt
        ) {
            self.category = category
            self.field = field
            self.groupBy = groupBy
            self.minimumCohort = minimumCohort
            self.policies = policies
            self.groups = groups
            self.grant = grant
            self.receipt = receipt
        }
    }

    public struct AuditEvent: Codable, Sendable, Equatable {
        public let eventId: String
        public let height: UInt64
        public let transaction: String
        public let requester: String
        public let action: String
        public let category: String
        public let purpose: String
        public let decision: String
        public let policies: [String]
        public let recordCount: Int
        public let policyBundle: String
        public let timestampMs: Int64
        /// The role within the requesting department (absent: the department itself).
        public let role: String?
        /// The grant recorded on chain that the decision relied on (absent: none).
        public let grant: String?
        /// Deferred visibility (a covert purpose): when the citizens concerned may see the access, and the height of its
        /// release by the department that made it, if released (absent: not deferred).
        public var disclosure: Disclosure? = nil

        public init(
            eventId: String, height: UInt64, transaction: String, requester: String, action: String, category: String, purpose: String,
            decision: String, policies: [String], recordCount: Int, policyBundle: String, timestampMs: Int64, role: String? = nil,
            grant: String? = nil, disclosure: Disclosure? = nil
        ) {
            self.disclosure = disclosure
            self.eventId = eventId
            self.height = height
            self.transaction = transaction
            self.requester = requester
            self.action = action
            self.category = category
            self.purpose = purpose
            self.decision = decision
            self.policies = policies
            self.recordCount = recordCount
            self.policyBundle = policyBundle
            self.timestampMs = timestampMs
            self.role = role
            self.grant = grant
        }
    }

    public struct AuditPage: Codable, Sendable {
        public let events: [AuditEvent]
        /// Pass as `after` to get the next page; null when this page is the last.
        public let next: String?
        public let receipt: Receipt

        public init(events: [AuditEvent], next: String? = nil, receipt: Receipt) {
            self.events = events
            self.next = next
            self.receipt = receipt
        }
    }

    /// Where a page of the access log ends: `<height>:<event id>`, returned as `next` and passed back as `after`.
    /// A position in the access log's commit order: height, event id, and the hash of the transaction carrying the
    /// event (an event id a member copied into another transaction is another event). Text: `height:txhex:eventID`.
    public struct AuditCursor: Sendable, Equatable {
        public let height: UInt64
        public let eventID: String
        public let transaction: [UInt8]

        public init(height: UInt64, eventID: String, transaction: [UInt8] = []) {
            self.height = height
            self.eventID = eventID
            self.transaction = transaction
        }

        /// Parses a cursor a previous page returned (nil: not one).
        public init?(parsing text: String) {
            let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let height = Bounded.height.parseUnsigned(parts[0]), parts[1].utf8.count <= 128,
                let transaction = Hex.decode(String(parts[1]))
            else { return nil }
            self.init(height: height, eventID: String(parts[2]), transaction: transaction)
        }

        public var text: String { "\(height):\(Hex.encode(transaction)):\(eventID)" }
    }

    /// What a regulator's query of the access log selects (nil: any). `citizen` selects the accesses to that citizen's
    /// records held at the node asked (record keys are salted per node).
    public struct AuditQuery: Sendable, Equatable {
        public var department: String? = nil
        public var role: String? = nil
        public var purpose: String? = nil
        public var decision: String? = nil
        /// RFC 3339 instants: from (inclusive), to (exclusive).
        public var from: String? = nil
        public var to: String? = nil
        public var citizen: String? = nil

        public init() {}
    }

    public struct ProofResponse: Codable, Sendable {
        public let eventId: String
        public let height: UInt64
        public let proof: InclusionProof
        /// The access event that logged this read (absent in answers of older nodes).
        public var receipt: Receipt? = nil

        public init(eventId: String, height: UInt64, proof: InclusionProof, receipt: Receipt? = nil) {
            self.eventId = eventId
            self.height = height
            self.proof = proof
            self.receipt = receipt
        }
    }

    /// Committed blocks as a peer or an observer fetches them: everything needed to verify them from the genesis.
    public struct ChainBlocks: Codable, Sendable {
        public let blocks: [ChainBlock]
        /// Why the last block is committed (and with it every block before it): absent for an empty page.
        public let commitment: InclusionProof.Commitment?
        /// The access event that logged this read (absent in answers of older nodes).
        public var receipt: Receipt? = nil

        public init(blocks: [ChainBlock], commitment: InclusionProof.Commitment?, receipt: Receipt? = nil) {
            self.blocks = blocks
            self.commitment = commitment
            self.receipt = receipt
        }
    }

    public struct ChainBlock: Codable, Sendable {
        public let height: UInt64
        /// Hex of the canonical header; its hash is the block id.
        public let header: String
        /// Hex of each transaction's canonical encoding, in block order.
        public let transactions: [String]
        public let certificate: [InclusionProof.Signature]

        public init(_ block: Block) {
            height = block.header.height
            header = Hex.encode(block.header.encoded)
            transactions = block.transactions.map { Hex.encode($0.encoded) }
            certificate = block.certificate.map { InclusionProof.Signature(validator: $0.validator, signature: Hex.encode($0.signature)) }
        }

        /// The block, decoded (not verified: that is the ledger's job).
        public func decoded() throws -> Block {
            guard let headerBytes = Hex.decode(header) else { throw ChainError(.malformed, "block header is not hex") }
            let transactions = try self.transactions.map { hex -> Transaction in
                guard let bytes = Hex.decode(hex) else { throw ChainError(.malformed, "transaction is not hex") }
                return try Transaction(decoding: bytes)
            }
            let certificate = try self.certificate.map { entry -> CommitSignature in
                guard let signature = Hex.decode(entry.signature) else { throw ChainError(.malformed, "certificate signature is not hex") }
                return CommitSignature(validator: entry.validator, signature: signature)
            }
            return Block(header: try BlockHeader(decoding: headerBytes), transactions: transactions, certificate: certificate)
        }
    }
}
