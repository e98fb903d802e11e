import Foundation
import GatewayChain
import GatewayCrypto

/// The consortium's aggregation key as this node holds it: the threshold public key from the genesis and, for a
/// share holder, its own share, opened from the sealed share file with the node key and checked against the genesis.
/// No node holds more than one share; decrypting anything takes t of them.
package struct ConsortiumKey: Sendable {
    package let scheme: ThresholdPaillier
    package let holders: [String]
    package let share: ThresholdPaillier.KeyShare?

    package init(scheme: ThresholdPaillier, holders: [String], share: ThresholdPaillier.KeyShare?) {
        self.scheme = scheme
        self.holders = holders
        self.share = share
    }

    package var publicKey: PaillierPublicKey { scheme.publicKey }
    package var threshold: Int { scheme.parameters.threshold }
    package var summary: String { "\(threshold) of \(scheme.parameters.parties)" }

    static func load(genesis: Genesis, nodeID: String, signingKey: any SigningKey, shareFile: URL) throws -> ConsortiumKey {
        guard let aggregation = genesis.aggregation else {
            throw NodeError(
                """
                the genesis of \(genesis.chainID) has no aggregation key: found the consortium with `gateway keys deal --genesis \
                <genesis.json> --threshold <t> --out <dir>` and give every node the new genesis and its share (README, "The \
                consortium aggregation key")
                """)
        }
        let scheme = try aggregation.scheme()
        guard let index = aggregation.shareIndex(of: nodeID) else {
            return ConsortiumKey(scheme: scheme, holders: aggregation.holders, share: nil)
        }
        guard let data = try SecretFiles.read(shareFile) else {
            throw NodeError(
                "\(nodeID) holds share \(index) of the aggregation key, but \(shareFile.path) is missing: copy the `<node>.\(NodeSecrets.shareFileName)` the key ceremony wrote for \(nodeID) there"
            )
        }
        let sealed: SealedKeyShare
        do { sealed = try JSONDecoder().decode(SealedKeyShare.self, from: data) } catch {
            throw NodeError("\(shareFile.path) is not a sealed key share: \(error)")
        }
        guard sealed.nodeID == nodeID, sealed.index == index else {
            throw NodeError("\(shareFile.path) is share \(sealed.index) of \(sealed.nodeID), but this node is \(nodeID) and holds share \(index)")
        }
        do {
            return ConsortiumKey(scheme: scheme, holders: aggregation.holders, share: try sealed.open(with: signingKey, genesis: genesis))
        } catch {
            throw NodeError("cannot open \(shareFile.path) with this node's key: \(error)")
        }
    }
}
