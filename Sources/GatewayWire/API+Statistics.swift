import GatewaySchema

extension API {
    /// `POST /v1/statistics`, at the requester's own node: a statistic across departments. `holders` names the holder
    /// departments (default: every member node of the consortium; one holding no such records contributes empty groups).
    /// Every `groupBy` dimension must have an `enum` in the category's schema, so that every holder contributes (and adds
    /// its noise share to) every group.
    public struct StatisticsRequest: Codable, Sendable {
        public let category: String
        public let field: String
        public let groupBy: [String]
        public let purpose: String
        public let holders: [String]?

        public init(category: String, field: String, groupBy: [String], purpose: String, holders: [String]? = nil) {
            self.category = category
            self.field = field
            self.groupBy = groupBy
            self.purpose = purpose
            self.holders = holders
        }
    }

    /// One holder's answer to a statistic: its decision, logged on chain by its own node.
    public struct HolderAnswer: Codable, Sendable, Equatable {
        public let department: String
        public let node: String
        public let decision: String
        /// The holder's access event (allow or deny), when it decided.
        public let eventId: String?
        /// Why the holder did not contribute (a denial, an error reaching it).
        public let reason: String?

        public init(department: String, node: String, decision: String, eventId: String?, reason: String?) {
            self.department = department
            self.node = node
            self.decision = decision
            self.eventId = eventId
            self.reason = reason
        }
    }

    public struct StatisticsResponse: Codable, Sendable {
        public let category: String
        public let field: String
        public let groupBy: [String]
        public let minimumCohort: Int
        public var groups: [AggregateGroup]
        public let holders: [HolderAnswer]
        public var epsilon: String? = nil
        public var noiseScale: Double? = nil
        public var epsilonRemaining: String? = nil
        public var decryption: Decryption? = nil

        public init(category: String, field: String, groupBy: [String], minimumCohort: Int, groups: [AggregateGroup], holders: [HolderAnswer]) {
            self.category = category
            self.field = field
            self.groupBy = groupBy
            self.minimumCohort = minimumCohort
            self.groups = groups
            self.holders = holders
        }
    }

    /// `POST /v1/node/contributions`, node to node (signed with the requester node's key): a holder's part of a
    /// statistic. The requester's node relays only for its own department; the query fields are fixed by it for every
    /// holder alike (each holder checks its own permit allows them).
    public struct ContributionRequest: Codable, Sendable {
        public let statisticID: String
        public let requester: String
        public let role: String?
        public let category: String
        public let field: String
        public let groupBy: [String]
        public let purpose: String
        public let epsilonMicros: Int64
        public let budgetMicros: Int64
        public let minimumCohort: Int
        /// The holder nodes asked, in order (the noise is shared among this many).
        public let holders: [String]
        /// Hex of the per-statistic salt of the group labels.
        public let salt: String

        public init(
            statisticID: String, requester: String, role: String?, category: String, field: String, groupBy: [String], purpose: String,
            epsilonMicros: Int64, budgetMicros: Int64, minimumCohort: Int, holders: [String], salt: String
        ) {
            self.statisticID = statisticID
            self.requester = requester
            self.role = role
            self.category = category
            self.field = field
            self.groupBy = groupBy
            self.purpose = purpose
            self.epsilonMicros = epsilonMicros
            self.budgetMicros = budgetMicros
            self.minimumCohort = minimumCohort
            self.holders = holders
            self.salt = salt
        }
    }

    public struct ContributionGroup: Codable, Sendable, Equatable {
        /// Hex of the salted label.
        public let label: String
        public let cohort: Int
        public let count: Int
        /// Hex of the encrypted sum (its noise share included).
        public let sum: String

        public init(label: String, cohort: Int, count: Int, sum: String) {
            self.label = label
            self.cohort = cohort
            self.count = count
            self.sum = sum
        }
    }

    public struct ContributionResponse: Codable, Sendable {
        public let holder: String
        public let eventId: String
        public let groups: [ContributionGroup]

        public init(holder: String, eventId: String, groups: [ContributionGroup]) {
            self.holder = holder
            self.eventId = eventId
            self.groups = groups
        }
    }
}
