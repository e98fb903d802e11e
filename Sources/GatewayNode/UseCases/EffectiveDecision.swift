import GatewayChain
import GatewayPolicy

/// A decision as the gateway acts on it: the policy engine's answer, with the grant it relied on and any obligation
/// the gateway cannot meet already turned into a refusal.
package struct EffectiveDecision: Sendable {
    package let effect: AccessEvent.Decision
    package let policies: [String]
    package let reason: String
    package let obligations: Obligations?
    /// The grant an allow relied on (a determining permit read `context.grant`).
    package var grantID: String?

    init(_ decision: Decision, grant: GrantRegistry.Entry?) {
        effect = decision.effect == .allow ? .allow : .deny
        policies = decision.determiningPolicies
        obligations = decision.obligations
        grantID = decision.reliesOnGrant ? grant?.grant.grantID : nil
        reason = decision.reason + (grantID.map { " under grant \($0)" } ?? "")
    }

    init(allowing policies: [String], obligations: Obligations, grantID: String?) {
        effect = .allow
        self.policies = policies
        reason = "permitted by \(policies.joined(separator: ", "))" + (grantID.map { " under grant \($0)" } ?? "")
        self.obligations = obligations
        self.grantID = grantID
    }

    init(effect: AccessEvent.Decision, policies: [String], reason: String, obligations: Obligations?, grantID: String?) {
        self.effect = effect
        self.policies = policies
        self.reason = reason
        self.obligations = obligations
        self.grantID = grantID
    }

    /// The same decision, its reason saying which part of the request it is about.
    func explained(_ subject: String) -> EffectiveDecision {
        EffectiveDecision(effect: effect, policies: policies, reason: "\(subject): \(reason)", obligations: obligations, grantID: grantID)
    }

    init(refusing decision: EffectiveDecision, because reason: String) {
        effect = .deny
        policies = decision.policies
        self.reason = "\(reason) (\(decision.policies.joined(separator: ", ")))"
        obligations = nil
        grantID = decision.grantID
    }
}
