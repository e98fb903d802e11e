/// The stable error codes of the API: every problem a node answers carries one (`code` in problem+json, and the
/// `type` `urn:datagateway:problem:<code>`). One catalogue for the node (which decides), the HTTP layer (which
/// answers) and the client (which reads); Schemas/openapi.yaml lists the same codes, and a test keeps them equal.
/// Each code has the HTTP status it is answered with; only `http_error` takes the status of the HTTP error it wraps.
public struct ProblemCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    /// The HTTP status this problem is answered with.
    public let status: Int
    /// Whether a client should retry after a short wait (answered with `Retry-After`).
    public let retryable: Bool

    init(_ rawValue: String, _ status: Int, retryable: Bool = false) {
        self.rawValue = rawValue
        self.status = status
        self.retryable = retryable
    }

    public var description: String { rawValue }
    public static func == (a: ProblemCode, b: ProblemCode) -> Bool { a.rawValue == b.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }

    // Requests the node refuses for their shape (400, 404, 413, 422).
    public static let malformedJSON = ProblemCode("malformed_json", 400)
    public static let invalidRequest = ProblemCode("invalid_request", 400)
    public static let payloadTooLarge = ProblemCode("payload_too_large", 413)
    public static let notFound = ProblemCode("not_found", 404)
    public static let methodNotAllowed = ProblemCode("method_not_allowed", 405)
    /// The record was erased by its holder (410 Gone); `transaction` names the erasure transaction on chain.
    public static let recordErased = ProblemCode("record_erased", 410)
    public static let unknownCategory = ProblemCode("unknown_category", 404)
    public static let unknownField = ProblemCode("unknown_field", 422)
    /// The declared purpose is not in the policy bundle's purpose hierarchy.
    public static let unknownPurpose = ProblemCode("unknown_purpose", 422)
    /// The request names a role (`DG-Role`) the policy bundle does not declare for the department.
    public static let unknownRole = ProblemCode("unknown_role", 422)
    /// A grant names a grantee that is not a registered department.
    public static let unknownGrantee = ProblemCode("unknown_grantee", 422)
    public static let invalidRecord = ProblemCode("invalid_record", 422)
    /// A date in RFC 3339's grammar that names no real day or time (2027-02-30, 25:00).
    public static let invalidDate = ProblemCode("invalid_date", 422)

    // Authentication (401): the request is not a valid signed request of a registered department.
    public static let missingSignature = ProblemCode("missing_signature", 401)
    public static let digestMismatch = ProblemCode("digest_mismatch", 401)
    public static let staleRequest = ProblemCode("stale_request", 401)
    public static let invalidNonce = ProblemCode("invalid_nonce", 401)
    public static let invalidRole = ProblemCode("invalid_role", 401)
    public static let unknownDepartment = ProblemCode("unknown_department", 401)
    public static let badSignature = ProblemCode("bad_signature", 401)
    /// A citizen's bearer token is missing, malformed, expired, or not this node's.
    public static let invalidToken = ProblemCode("invalid_token", 401)
    /// Over HTTPS a department's or node's request must come on a connection that presents its registered TLS client
    /// certificate (mutual TLS); this one presented none, or the caller has none registered.
    public static let clientCertificateRequired = ProblemCode("client_certificate_required", 401)
    /// The connection's TLS client certificate is registered to another party than the one that signed the request.
    public static let clientCertificateMismatch = ProblemCode("client_certificate_mismatch", 403)
    public static let replayedRequest = ProblemCode("replayed_request", 401)

    // Decisions (403) and state conflicts (409).
    public static let accessDenied = ProblemCode("access_denied", 403)
    /// Grants are issued and revoked by the data holder, on its own node.
    public static let notDataHolder = ProblemCode("not_data_holder", 403)
    /// The request is one a department makes at its own department's node only (citizen tokens, releases).
    public static let notOwnNode = ProblemCode("not_own_node", 403)
    /// A concurrent request changed the same data (the ledger skipped a step, a unique key was taken): retry.
    public static let conflict = ProblemCode("conflict", 409)
    public static let recordConflict = ProblemCode("record_conflict", 409)
    /// The grant is already revoked.
    public static let grantRevoked = ProblemCode("grant_revoked", 409)
    /// A differentially private statistic would spend more ε than the requester has left this month.
    public static let privacyBudgetExhausted = ProblemCode("privacy_budget_exhausted", 409)
    /// Share holders of the consortium key refused to decrypt a statistic (their reasons are on chain and in the detail).
    public static let decryptionRefused = ProblemCode("decryption_refused", 409)
    /// The governance state does not allow this step (an unknown or decided proposal, a second approval, …).
    public static let governanceRejected = ProblemCode("governance_rejected", 409)

    // The node cannot serve now (503), or failed (500).
    /// Too many transactions are waiting for the chain, or too many requests are in flight: try again shortly.
    public static let busy = ProblemCode("busy", 503, retryable: true)
    /// The node is still loading and verifying its chain after a start: it listens, but serves no data yet.
    public static let nodeStarting = ProblemCode("node_starting", 503, retryable: true)
    /// A statistic's decryption request is on chain, but too few share holders have answered it in time (some are
    /// down): nothing was released. Not marked retryable: asking again is a new statistic, which spends ε again.
    public static let decryptionPending = ProblemCode("decryption_pending", 503)
    public static let chainUnavailable = ProblemCode("chain_unavailable", 503)
    /// The node's database cannot be reached now: try again shortly.
    public static let storageUnavailable = ProblemCode("storage_unavailable", 503, retryable: true)
    /// The node's policy bundle is not approved on chain: it decides nothing until governance approves it.
    public static let bundleNotApproved = ProblemCode("policy_bundle_not_approved", 503)
    /// A table derived from the chain differs from the blocks (found at start): its data is not served until the
    /// operator rebuilds it (`gateway rebuild-derived`).
    public static let derivedStateMismatch = ProblemCode("derived_state_mismatch", 503)
    public static let integrityFailure = ProblemCode("record_integrity_failure", 500)
    public static let internalError = ProblemCode("internal_error", 500)
    /// Any other HTTP error of the server framework, with its own status.
    public static let httpError = ProblemCode("http_error", 500)

    /// Every code, in the order the catalogue lists them.
    public static let all: [ProblemCode] = [
        .malformedJSON, .invalidRequest, .payloadTooLarge, .notFound, .methodNotAllowed, .recordErased, .unknownCategory, .unknownField,
        .unknownPurpose,
        .unknownRole, .unknownGrantee, .invalidRecord, .invalidDate, .missingSignature, .digestMismatch, .staleRequest, .invalidNonce,
        .invalidRole, .unknownDepartment, .badSignature, .invalidToken, .clientCertificateRequired, .clientCertificateMismatch, .replayedRequest,
        .accessDenied,
        .notDataHolder, .notOwnNode, .conflict, .recordConflict,
        .grantRevoked, .privacyBudgetExhausted, .decryptionRefused, .governanceRejected, .busy, .nodeStarting, .decryptionPending, .chainUnavailable,
        .storageUnavailable, .bundleNotApproved,
        .derivedStateMismatch,
        .integrityFailure, .internalError, .httpError,
    ]

    /// The code with this name (nil: not one of ours).
    public static func named(_ rawValue: String) -> ProblemCode? { all.first { $0.rawValue == rawValue } }
}

extension API {
    /// An RFC 9457 problem as the API sends it (`application/problem+json`).
    public struct Problem: Codable, Sendable {
        public let type: String
        public let title: String
        public let status: Int
        public let detail: String
        public let code: String
        /// For `invalid_record`: every offending field, located in the request body.
        public let errors: [FieldError]?
        /// For `access_denied`: the access-log event that records the denial.
        public let eventId: String?
        /// For `record_erased`: the erasure transaction (hex hash) on chain.
        public let transaction: String?

        public struct FieldError: Codable, Sendable, Equatable {
            /// JSON Pointer into the request body.
            public let pointer: String
            public let detail: String

            public init(pointer: String, detail: String) {
                self.pointer = pointer
                self.detail = detail
            }
        }

        public init(
            code: ProblemCode, status: Int, title: String, detail: String, errors: [FieldError]? = nil, eventId: String? = nil,
            transaction: String? = nil
        ) {
            type = "urn:datagateway:problem:\(code.rawValue)"
            self.title = title
            self.status = status
            self.detail = detail
            self.code = code.rawValue
            self.errors = errors
            self.eventId = eventId
            self.transaction = transaction
        }

        /// The catalogued code (nil: a code this client does not know, from a newer server).
        public var problemCode: ProblemCode? { ProblemCode.named(code) }
    }
}
