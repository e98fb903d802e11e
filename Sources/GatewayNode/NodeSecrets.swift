import Foundation
import GatewayChain
import GatewayCrypto
import GatewayFiles

/// The node's key material, loaded from (or created in) its data directory.
package struct NodeSecrets: Sendable {
    package let signingKey: any SigningKey
    /// Wraps the per-record data keys (envelope encryption).
    let recordKey: [UInt8]
    /// Per-deployment HMAC salt for every hash that goes on chain.
    let salt: [UInt8]
    package let paillier: PaillierPrivateKey
    package let genesis: Genesis

    /// Loads the secrets, creating any that are missing. `progress` is told about slow steps (key generation).
    package static func loadOrCreate(configuration: NodeConfiguration, suite: any CryptoSuite, progress: (String) -> Void = { _ in }) throws
        -> NodeSecrets
    {
        let directory = configuration.dataDirectory
        let keyPath = configuration.nodeKeyPath ?? directory.appendingPathComponent("node-key.pem")
        let keyPEM = try SecretFiles.loadOrCreate(keyPath) { Data(suite.generateSigningKey().pemRepresentation.utf8) }
        let signingKey: any SigningKey
        do {
            signingKey = try suite.signingKey(pem: String(decoding: keyPEM, as: UTF8.self))
        } catch {
            throw NodeError("node key \(keyPath.path) is not a \(suite.name.rawValue) private key: \(error)")
        }
        let recordKey = try randomSecret(directory.appendingPathComponent("record-key.hex"), count: suite.symmetricKeyLength)
        let salt = try randomSecret(directory.appendingPathComponent("salt.hex"), count: 32)

        let paillierPath = directory.appendingPathComponent("aggregation-key.json")
        let paillierData = try SecretFiles.loadOrCreate(paillierPath) {
            progress("generating a \(configuration.paillierBits)-bit Paillier aggregation key (one-time)…")
            let key = try PaillierPrivateKey.generate(bits: configuration.paillierBits)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            return try encoder.encode(key.keyFile)
        }
        let paillier = try Self.decodePaillier(paillierData, path: paillierPath)

        let genesisPath = directory.appendingPathComponent("genesis.json")
        if !FileManager.default.fileExists(atPath: genesisPath.path) {
            let genesis = Genesis(
                chainID: "datagateway-\(configuration.nodeID)", suite: suite.name,
                members: [
                    Genesis.Member(
                        nodeID: configuration.nodeID, department: configuration.department, role: .validator,
                        publicKey: signingKey.publicKey.pemRepresentation, address: "\(configuration.host):\(configuration.port)"
                    )
                ],
                createdAtMs: Int64(Date().timeIntervalSince1970 * 1000)
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try SecretFiles.write(try encoder.encode(genesis), to: genesisPath)
        }
        let genesis = try Genesis.load(from: genesisPath)
        // A node that joins after the genesis is not in it; governance admits it, and it is given --peer-listen.
        if let me = genesis.members.first(where: { $0.nodeID == configuration.nodeID }) {
            guard me.publicKey == signingKey.publicKey.pemRepresentation else {
                throw NodeError("node key does not match the genesis entry for \(configuration.nodeID): wrong --node-key?")
            }
        } else if configuration.peerListen == nil {
            throw NodeError(
                """
                genesis \(genesisPath.path) has no member \(configuration.nodeID): check --node-id, or, for a node that joins later, \
                give --peer-listen host:port (the address its admission proposal names)
                """)
        }
        return NodeSecrets(signingKey: signingKey, recordKey: recordKey, salt: salt, paillier: paillier, genesis: genesis)
    }

    static func randomSecret(_ url: URL, count: Int) throws -> [UInt8] {
        let data = try SecretFiles.loadOrCreate(url) { Data(Hex.encode(SystemRandom().bytes(count: count)).utf8) }
        guard let bytes = Hex.decode(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
            bytes.count == count
        else { throw NodeError("\(url.path) must hold \(count) hex-encoded bytes") }
        return bytes
    }

    static func decodePaillier(_ data: Data, path: URL) throws -> PaillierPrivateKey {
        guard let file = try? JSONDecoder().decode(PaillierPrivateKey.KeyFile.self, from: data) else {
            throw NodeError("\(path.path) must hold decimal n, p and q")
        }
        do { return try PaillierPrivateKey(keyFile: file) } catch { throw NodeError("\(path.path): \(error)") }
    }
}
