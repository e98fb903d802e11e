import GatewayWire

/// Errors of the exchange's use cases, each with a stable code from the API's catalogue (`ProblemCode`), which the
/// HTTP layer answers with that code's problem and status.
public struct ExchangeError: Error, CustomStringConvertible, Sendable {
    public typealias Code = ProblemCode
    public typealias FieldError = API.Problem.FieldError

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
