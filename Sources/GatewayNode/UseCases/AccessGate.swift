import Foundation
import GatewayChain
import GatewayCrypto
import GatewayPolicy
import GatewayWire

/// No log, no data: the one place where a decision becomes permission to release. Every decision — allow or deny —
/// is written to the access log and committed on chain first; only then does an allow yield a `Permit`, and the
/// use cases read obligations (fields, masks, cohort) from the permit alone. A denial is thrown, naming its event.
package struct AccessGate: Sendable {
    let log: any AccessLogging
    let policyBundleHash: [UInt8]
    let now: @Sendable () -> Int64
    /// For a purpose the bundle marks covert, the longest deferral of its accesses' visibility to citizens, in ms
    /// (nil: not covert).
    let deferralMaxMs: @Sendable (String) -> Int64?

    package init(
        log: any AccessLogging, policyBundleHash: [UInt8], now: @escaping @Sendable () -> Int64,
        deferralMaxMs: @escaping @Sendable (String) -> Int64? = { _ in nil }
    ) {
        self.log = log
        self.policyBundleHash = policyBundleHash
        self.now = now
        self.deferralMaxMs = deferralMaxMs
    }

    /// When the citizens concerned may see an access to their records at `timestampMs` for `purpose`: nil (at once)
    /// unless the bundle marks the purpose covert; then the requested time, which must follow the access by at most
    /// the bundle's maximum, or that maximum. Accesses without records (aggregates) concern no citizen's list.
    package func disclosure(recordKeys: [[UInt8]], purpose: String, requestedMs: Int64?, timestampMs: Int64) throws -> Int64? {
        guard let maximum = deferralMaxMs(purpose), !recordKeys.isEmpty else {
            if requestedMs != nil {
                throw ExchangeError(
                    .invalidRequest,
                    "discloseAfter applies to record accesses for a purpose the policy bundle marks covert, and \(purpose) is not one: leave it out")
            }
            return nil
        }
        guard let requestedMs else { return timestampMs + maximum }
        guard requestedMs > timestampMs, requestedMs - timestampMs <= maximum else {
            throw ExchangeError(
                .invalidRequest,
                "discloseAfter must be in the future and at most \(maximum / 86_400_000) days from now (the policy bundle's maximum for \(purpose))")
        }
        return requestedMs
    }

    /// A committed allow: what a use case may release, under which obligations, and the receipt of its access event.
    package struct Permit: Sendable {
        package let decision: EffectiveDecision
        package let receipt: API.Receipt

        /// The obligations data is released under (an allow without them releases nothing).
        func obligations() throws -> Obligations {
            guard let obligations = decision.obligations else {
                throw ExchangeError(.accessDenied, "access denied: the permit carries no obligations", eventID: receipt.eventId)
            }
            return obligations
        }
    }

    /// Logs the decision and waits for its block; returns a permit for an allow, throws `accessDenied` for a deny.
    package func pass(
        _ principal: Principal, action: String, category: String, recordKeys: [[UInt8]] = [], purpose: String, decision: EffectiveDecision,
        epsilonMicros: Int64? = nil, resultDigest: [UInt8]? = nil, discloseAfterMs: Int64? = nil
    ) async throws -> Permit {
        let receipt = try await record(
            principal, action: action, category: category, recordKeys: recordKeys, purpose: purpose, decision: decision,
            epsilonMicros: decision.effect == .allow ? epsilonMicros : nil, resultDigest: decision.effect == .allow ? resultDigest : nil,
            discloseAfterMs: discloseAfterMs
        )
        guard decision.effect == .allow else {
            throw ExchangeError(.accessDenied, "access denied: \(decision.reason)", eventID: receipt.eventId)
        }
        return Permit(decision: decision, receipt: receipt)
    }

    /// Writes the access event (batched with concurrent ones) and waits until it is in a committed block.
    func record(
        _ principal: Principal, action: String, category: String, recordKeys: [[UInt8]], purpose: String, decision: EffectiveDecision,
        epsilonMicros: Int64? = nil, resultDigest: [UInt8]? = nil, discloseAfterMs: Int64? = nil
    ) async throws -> API.Receipt {
        // A covert purpose defers the access's visibility to the citizens concerned, allowed or denied alike (a
        // denial shown at once would tip them off as much as an allow).
        let timestamp = now()
        let discloseAt = try disclosure(recordKeys: recordKeys, purpose: purpose, requestedMs: discloseAfterMs, timestampMs: timestamp)
        let event = AccessEvent(
            eventID: UUID().uuidString.lowercased(), requester: principal.department, action: action, category: category,
            recordKeys: recordKeys, purpose: purpose, policyBundleHash: policyBundleHash, decision: decision.effect,
            determiningPolicies: decision.policies, requestDigest: principal.requestDigest, timestampMs: timestamp, role: principal.role,
            grantID: decision.grantID, epsilonMicros: epsilonMicros, resultDigest: resultDigest, discloseAtMs: discloseAt
        )
        let receipt = try await log.log(event)
        return API.Receipt(
            eventId: event.eventID, transaction: Hex.encode(receipt.transactionHash), height: receipt.location.height,
            index: receipt.location.index
        )
    }
}
