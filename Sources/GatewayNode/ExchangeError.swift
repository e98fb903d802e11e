import GatewayWire

/// Errors of the exchange's use cases, each with a stable code from the API's catalogue (`ProblemCode`), which the
/// HTTP layer answers with that code's problem and status.
package struct ExchangeError: Error, CustomStringConvertible, Sendable {
    package typealias Code = ProblemCode
    package typealias FieldError = API.Problem.FieldError

    package let code: Code
    package let message: String
    /// For `invalidRecord`: every offending field, located in the request body.
    package let fieldErrors: [FieldError]
    /// For `accessDenied`: the access-log event that records the denial.
    package let eventID: String?
    /// For `recordErased`: the erasure transaction (hex).
    package var transaction: String? = nil

    package init(_ code: Code, _ message: String, fieldErrors: [FieldError] = [], eventID: String? = nil, transaction: String? = nil) {
        self.code = code
        self.message = message
        self.fieldErrors = fieldErrors
        self.eventID = eventID
        self.transaction = transaction
    }

    package var description: String { "\(code): \(message)" }
}
