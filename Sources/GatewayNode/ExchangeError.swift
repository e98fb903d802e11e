/// Errors of the exchange, each with a stable code that the HTTP layer maps to one problem+json type and status.
public struct ExchangeError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public static let invalidRequest = Code(rawValue: "invalid_request")
        public static let unknownCategory = Code(rawValue: "unknown_category")
        public static let unknownField = Code(rawValue: "unknown_field")
        /// The declared purpose is not in the policy bundle's purpose hierarchy.
        public static let unknownPurpose = Code(rawValue: "unknown_purpose")
        /// The request names a role (`DG-Role`) the policy bundle does not declare for the department.
        public static let unknownRole = Code(rawValue: "unknown_role")
        /// A grant names a grantee that is not a registered department.
        public static let unknownGrantee = Code(rawValue: "unknown_grantee")
        /// Grants are issued and revoked by the data holder, on its own node.
        public static let notDataHolder = Code(rawValue: "not_data_holder")
        /// The grant is already revoked.
        public static let grantRevoked = Code(rawValue: "grant_revoked")
        public static let invalidRecord = Code(rawValue: "invalid_record")
        /// A date in RFC 3339's grammar that names no real day or time (2027-02-30, 25:00).
        public static let invalidDate = Code(rawValue: "invalid_date")
        public static let recordConflict = Code(rawValue: "record_conflict")
        public static let notFound = Code(rawValue: "not_found")
        public static let accessDenied = Code(rawValue: "access_denied")
        public static let integrityFailure = Code(rawValue: "record_integrity_failure")
        public static let chainUnavailable = Code(rawValue: "chain_unavailable")
        /// Too many transactions are waiting for the chain: try again shortly.
        public static let busy = Code(rawValue: "busy")
        /// The governance state does not allow this step (an unknown or decided proposal, a second approval, …).
        public static let governanceRejected = Code(rawValue: "governance_rejected")
        /// The node's policy bundle is not approved on chain: it decides nothing until governance approves it.
        public static let bundleNotApproved = Code(rawValue: "policy_bundle_not_approved")
        /// A table derived from the chain differs from the blocks (found at start): its data is not served until the
        /// operator rebuilds it (`gateway rebuild-derived`).
        public static let derivedStateMismatch = Code(rawValue: "derived_state_mismatch")
        /// The node is still loading and verifying its chain after a start: it listens, but serves no data yet.
        public static let nodeStarting = Code(rawValue: "node_starting")
        public static let internalError = Code(rawValue: "internal_error")
        public var description: String { rawValue }
    }

    public struct FieldError: Sendable, Codable, Equatable {
        /// JSON Pointer into the request body.
        public let pointer: String
        public let detail: String
    }

    public let code: Code
    public let message: String
    /// For `invalidRecord`: every offending field, located in the request body.
    public let fieldErrors: [FieldError]
    /// For `accessDenied`: the access-log event that records the denial.
    public let eventID: String?

    public init(_ code: Code, _ message: String, fieldErrors: [FieldError] = [], eventID: String? = nil) {
        self.code = code
        self.message = message
        self.fieldErrors = fieldErrors
        self.eventID = eventID
    }

    public var description: String { "\(code): \(message)" }
}
