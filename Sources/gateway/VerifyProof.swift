import ArgumentParser
import Foundation
import GatewayChain
import GatewayCrypto
import GatewayFiles

struct VerifyProof: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-proof",
        abstract: "Verify an inclusion proof with nothing but the genesis file.",
        discussion: """
            PROOF is the JSON of GET /v1/audit/events/{id}/proof (the whole response or its "proof" member). Checks the \
            transaction's Merkle path to the header's root, the submitter's signature, the block's certificate against \
            the validators in the genesis, and that the block is committed, not only certified: the headers from it up \
            to a child whose round follows its parent's, and the certificate on that child (2-chain rule). Exit 0 and a \
            summary if valid; exit 1 with the reason otherwise. After validator-set changes the proof carries every governance \
            transaction up to its block, each proven the same way; the verifier replays them from the genesis to know the \
            set and epoch that must have certified the block (votes are bound to the epoch, so leaving a change out fails).
            """
    )

    @Option(help: "The chain's genesis.json.")
    var genesis: String

    @Argument(help: "Proof JSON file.")
    var proof: String

    @Flag(help: "Accept a proof without commit evidence (made by an older node): it shows the block certified only.")
    var allowCertifiedOnly = false

    func run() throws {
        let genesis = try Genesis.load(from: URL(fileURLWithPath: genesis))
        let data = try Data(contentsOf: URL(fileURLWithPath: proof))
        struct Wrapped: Decodable { let proof: InclusionProof }
        let decoded: InclusionProof
        if let wrapped = try? JSONDecoder().decode(Wrapped.self, from: data) {
            decoded = wrapped.proof
        } else {
            do { decoded = try JSONDecoder().decode(InclusionProof.self, from: data) } catch {
                throw CommandFailure("\(proof) is not an inclusion proof: \(error)")
            }
        }
        do {
            let verified = try ProofVerifier(genesis: genesis).verify(decoded, requireCommitment: !allowCertifiedOnly)
            var summary =
                "valid: transaction \(verified.transaction.kind) by \(verified.transaction.submitter) in block \(verified.height) of \(genesis.chainID), "
                + (verified.committed ? "committed (2-chain evidence checked)" : "certified (no commit evidence in the proof)")
                + ", epoch \(verified.epoch), validators \(verified.validators.joined(separator: ", "))"
            for event in (try? verified.transaction.accessEvents()) ?? [] {
                summary +=
                    "\n  event \(event.eventID): \(event.requester) \(event.action) \(event.category) purpose=\(event.purpose) → \(event.decision.rawValue)"
            }
            say(summary)
        } catch {
            say("INVALID: \(error)")
            throw ExitCode.negative
        }
    }
}
