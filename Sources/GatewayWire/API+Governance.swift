import GatewayChain
import GatewayCrypto
import GatewaySchema

// Wire types of governance and of the node's health and readiness.
extension API {
    /// A member of the consortium (a node), as governance knows it.
    public struct GovernanceMember: Codable, Sendable, Equatable {
        public let nodeId: String
        public let department: String
        /// "validator" or "observer".
        public let role: String
        /// SPKI PEM of the node's signing key.
        public let publicKey: String
        /// host:port where its peers reach it.
        public let address: String
        /// PEM of the node's TLS certificate, pinned by its peers (required to join a consortium founded with TLS).
        public let tlsCertificate: String?

        public init(nodeId: String, department: String, role: String, publicKey: String, address: String, tlsCertificate: String? = nil) {
            self.nodeId = nodeId
            self.department = department
            self.role = role
            self.publicKey = publicKey
            self.address = address
            self.tlsCertificate = tlsCertificate
        }
    }

    /// One governance change: `addMember` (with `member`), `removeMember` (with `nodeId`), `approvePolicyBundle`
    /// (with `bundleHash`, hex) or `setDepartmentKey` (with `department` and `publicKey`, SPKI PEM: the department's
    /// new request-signing key; its old key is refused from the height where the change is decided).
    public struct GovernanceChange: Codable, Sendable, Equatable {
        public let kind: String
        public let member: GovernanceMember?
        public let nodeId: String?
        public let bundleHash: String?
        public var department: String? = nil
        public var publicKey: String? = nil

        public init(
            kind: String, member: GovernanceMember? = nil, nodeId: String? = nil, bundleHash: String? = nil, department: String? = nil,
            publicKey: String? = nil
        ) {
            self.kind = kind
            self.member = member
            self.nodeId = nodeId
            self.bundleHash = bundleHash
            self.department = department
            self.publicKey = publicKey
        }
    }

    public struct GovernanceProposalRequest: Codable, Sendable {
        public let proposalId: String
        public let change: GovernanceChange

        public init(proposalId: String, change: GovernanceChange) {
            self.proposalId = proposalId
            self.change = change
        }
    }

    public struct GovernancePending: Codable, Sendable, Equatable {
        public let proposalId: String
        public let change: GovernanceChange
        public let approvals: [String]
        public let approvalsNeeded: Int

        public init(proposalId: String, change: GovernanceChange, approvals: [String], approvalsNeeded: Int) {
            self.proposalId = proposalId
            self.change = change
            self.approvals = approvals
            self.approvalsNeeded = approvalsNeeded
        }
    }

    /// The governed state as of the last decided block: who validates now, who is a member, what waits for approval.
    public struct GovernanceStatus: Codable, Sendable {
        public let height: UInt64
        /// The validator set's generation (0 until the first change).
        public let epoch: UInt64
        public let validators: [String]
        public let members: [GovernanceMember]
        public let pending: [GovernancePending]
        public let approvedBundles: [String]
        /// Present while this node's storage trails the certified chain: the height it is certified to as far as the
        /// node knows. The state above is as of `height`; newer governance decisions are on their way.
        public var catchingUpTo: UInt64? = nil
        /// The node that answered, and whether it votes (a validator). A node that does not vote learns of blocks from
        /// the validators and can trail them by a few seconds; it says so.
        public var node: String? = nil
        public var votes: Bool? = nil

        public init(
            height: UInt64, epoch: UInt64, validators: [String], members: [GovernanceMember], pending: [GovernancePending], approvedBundles: [String]
        ) {
            self.height = height
            self.epoch = epoch
            self.validators = validators
            self.members = members
            self.pending = pending
            self.approvedBundles = approvedBundles
        }
    }

    /// A governance transaction this node submitted and the chain committed.
    public struct GovernanceReceipt: Codable, Sendable {
        public let proposalId: String
        public let transaction: String
        public let height: UInt64
        public let index: Int
        /// "pending" (more approvals needed) or "decided" (in force from the next height).
        public let status: String

        public init(proposalId: String, transaction: String, height: UInt64, index: Int, status: String) {
            self.proposalId = proposalId
            self.transaction = transaction
            self.height = height
            self.index = index
            self.status = status
        }
    }

    public struct Health: Codable, Sendable {
        public let status: String
        public let node: String
        public let chain: String
        public let suite: String
        public let height: UInt64
        public let policyBundle: String
        /// Integrity failures (tampered records or aggregate inputs) this node refused since it started.
        public var integrityFailures: Int? = nil
        /// Why the status is `degraded` (absent when ok).
        public var reasons: [String]? = nil

        public init(status: String, node: String, chain: String, suite: String, height: UInt64, policyBundle: String, integrityFailures: Int? = nil) {
            self.status = status
            self.node = node
            self.chain = chain
            self.suite = suite
            self.height = height
            self.policyBundle = policyBundle
            self.integrityFailures = integrityFailures
        }
    }

    /// `GET /v1/ready`: whether the node can answer data requests now (200), or why not (503).
    public struct Readiness: Codable, Sendable {
        public let ready: Bool
        public let height: UInt64
        public let reasons: [String]

        public init(ready: Bool, height: UInt64, reasons: [String]) {
            self.ready = ready
            self.height = height
            self.reasons = reasons
        }
    }
}
