import GatewayChain
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
    }

    public struct PublishResponse: Codable, Sendable {
        public let category: String
        public let accepted: Int
        public let alreadyPresent: Int
        public let anchors: [Receipt]
        public let event: Receipt
    }

    public struct RecordsRequest: Codable, Sendable {
        public let category: String
        public let ids: [String]
        public let purpose: String
        public init(category: String, ids: [String], purpose: String) {
            self.category = category
            self.ids = ids
            self.purpose = purpose
        }
    }

    public struct RecordsResponse: Codable, Sendable {
        public let decision: String
        public let policies: [String]
        public let fields: [String]
        public let masks: [String: String]
        public let records: [JSONValue]
        public let missing: [String]
        public let receipt: Receipt
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
    }

    public struct AggregateResponse: Codable, Sendable {
        public let category: String
        public let field: String
        public let groupBy: [String]
        public let minimumCohort: Int
        public let policies: [String]
        public let groups: [AggregateGroup]
        public let receipt: Receipt
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
    }

    public struct AuditPage: Codable, Sendable {
        public let events: [AuditEvent]
        /// Pass as `after` to get the next page; null when this page is the last.
        public let next: String?
        public let receipt: Receipt
    }

    public struct ProofResponse: Codable, Sendable {
        public let eventId: String
        public let height: UInt64
        public let proof: InclusionProof
    }

    public struct Health: Codable, Sendable {
        public let status: String
        public let node: String
        public let chain: String
        public let suite: String
        public let height: UInt64
        public let policyBundle: String
    }
}
