import GatewayChain
import GatewayCrypto
import GatewayWire

/// A citizen's consent for a purpose, or its withdrawal, as a `consent` transaction under the citizen's salted hash;
/// it takes effect with the block that commits it, so the next read sees it.
package struct Consents: Sendable {
    let admission: Admission
    let decisions: DecisionMaker
    let gate: AccessGate
    let ledger: any LedgerReading
    let writer: any ChainWriting
    let vault: RecordVault

    /// The caller needs a permit for `Action::"record_consent"` on the citizen category; the decision is logged.
    package func record(_ principal: Principal, _ request: API.ConsentRequest) async throws -> API.ConsentResponse {
        try await admission.admit(principal)
        try RequestChecks.checkPurpose(request.purpose)
        try RequestChecks.checkIdentifier(request.citizenId, "citizenId")
        try decisions.checkKnownPurpose(request.purpose)
        let category = "citizen"
        let decision = decisions.authorize(principal, action: "record_consent", category: category, purpose: request.purpose)
        let permit = try await gate.pass(
            principal, action: "record_consent", category: category,
            recordKeys: [vault.recordKey(category: category, id: request.citizenId)], purpose: request.purpose, decision: decision
        )
        let subject = vault.citizenKey(request.citizenId)
        let change = ConsentChange(subject: subject, purpose: request.purpose, given: request.given)
        let (hash, location) = try await writer.submit(.consent, payload: change.encoded)
        return API.ConsentResponse(
            purpose: request.purpose, given: request.given, consents: await ledger.consentedPurposes([subject]).first ?? [],
            transaction: Hex.encode(hash), height: location.height, receipt: permit.receipt
        )
    }
}
