/// Citizens' view of who used their data (the model: Estonia's Data Tracker), and the deferral of covert accesses.
extension API {
    /// A department's login issues a short-lived token bound to a citizen, at its own node.
    public struct CitizenTokenRequest: Codable, Sendable {
        public let citizenId: String
        /// Lifetime in seconds, 60 to 3,600 (absent: 900).
        public var ttlSeconds: Int? = nil

        public init(citizenId: String, ttlSeconds: Int? = nil) {
            self.citizenId = citizenId
            self.ttlSeconds = ttlSeconds
        }
    }

    public struct CitizenToken: Codable, Sendable {
        /// A JWT (RFC 7519, HS256): `Authorization: Bearer <token>` on /v1/citizen/… of the issuing node only.
        public let token: String
        public let tokenType: String
        public let expiresAtMs: Int64
        /// The citizen's page on this node; the token goes in the fragment (`#token=…`), which browsers never send.
        public let page: String

        public init(token: String, expiresAtMs: Int64, page: String) {
            self.token = token
            self.tokenType = "Bearer"
            self.expiresAtMs = expiresAtMs
            self.page = page
        }
    }

    /// One access to one of the citizen's records, as a citizen sees it.
    public struct CitizenAccess: Codable, Sendable, Equatable {
        public let eventId: String
        /// The node that holds the record (and answered for it).
        public let node: String
        /// The department that made the request, and the role within it (absent: the department itself).
        public let requester: String
        public let role: String?
        public let action: String
        public let category: String
        public let purpose: String
        public let decision: String
        /// The policies that determined the decision (empty: default deny).
        public let policies: [String]
        public let timestampMs: Int64
        /// Where the access event is on chain; its inclusion proof: GET /v1/citizen/proofs/{eventId}.
        public let height: UInt64
        public let transaction: String
        /// For an access that was deferred (covert purpose) and is now disclosed: until when it was, or its release.
        public let disclosure: Disclosure?

        public init(
            eventId: String, node: String, requester: String, role: String?, action: String, category: String, purpose: String, decision: String,
            policies: [String], timestampMs: Int64, height: UInt64, transaction: String, disclosure: Disclosure?
        ) {
            self.eventId = eventId
            self.node = node
            self.requester = requester
            self.role = role
            self.action = action
            self.category = category
            self.purpose = purpose
            self.decision = decision
            self.policies = policies
            self.timestampMs = timestampMs
            self.height = height
            self.transaction = transaction
            self.disclosure = disclosure
        }
    }

    /// Node to node: the home node asks another node for the accesses to its records of a citizen.
    public struct CitizenAccessQuery: Codable, Sendable {
        public let citizenId: String

        public init(citizenId: String) { self.citizenId = citizenId }
    }

    /// One node's answer: the accesses to its records of the citizen that the citizen may see now, newest first.
    public struct CitizenAccessPart: Codable, Sendable {
        public let node: String
        public let accesses: [CitizenAccess]
        /// More accesses exist than one answer lists (the newest are listed).
        public let truncated: Bool

        public init(node: String, accesses: [CitizenAccess], truncated: Bool) {
            self.node = node
            self.accesses = accesses
            self.truncated = truncated
        }
    }

    /// Whether a node answered for its records.
    public struct NodeAnswer: Codable, Sendable, Equatable {
        public let node: String
        /// `answered`, or `unavailable` (the list lacks that node's records; `detail` says why).
        public let status: String
        public let detail: String?

        public init(node: String, status: String, detail: String? = nil) {
            self.node = node
            self.status = status
            self.detail = detail
        }
    }

    /// The citizen's view: every node's part, merged newest first.
    public struct CitizenAccesses: Codable, Sendable {
        public let accesses: [CitizenAccess]
        public let nodes: [NodeAnswer]
        public let truncated: Bool
        public let asOfMs: Int64

        public init(accesses: [CitizenAccess], nodes: [NodeAnswer], truncated: Bool, asOfMs: Int64) {
            self.accesses = accesses
            self.nodes = nodes
            self.truncated = truncated
            self.asOfMs = asOfMs
        }
    }

    /// A department ends the deferral of accesses it made (at its own node).
    public struct ReleaseRequest: Codable, Sendable {
        public let eventIds: [String]

        public init(eventIds: [String]) { self.eventIds = eventIds }
    }

    public struct ReleaseResponse: Codable, Sendable {
        public let released: [String]
        public let transaction: String
        public let height: UInt64

        public init(released: [String], transaction: String, height: UInt64) {
            self.released = released
            self.transaction = transaction
            self.height = height
        }
    }
}
