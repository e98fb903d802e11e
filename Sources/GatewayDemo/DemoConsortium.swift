import Foundation
import GatewayClient
import GatewayCrypto
import GatewayNode
import GatewayTLS

/// The demo consortium's departments, their generated keys, and the departments file the node loads.
package struct DemoConsortium: Sendable {
    package static let registry = "civil_registry"
    package static let socialSecurity = "social_security"
    package static let housing = "housing"
    package static let statistics = "statistics"
    package static let regulator = "regulator"

    static let members: [(id: String, name: String, groups: [String])] = [
        (registry, "Civil Registry", ["government"]),
        (socialSecurity, "Social Security Fund", ["government"]),
        (housing, "Housing Bureau", ["government"]),
        (statistics, "Statistics and Census Service", ["government"]),
        (regulator, "Personal Data Protection Office", ["regulators"]),
    ]

    package let keys: [String: any SigningKey]
    /// Each department's TLS client identity, registered in the departments file.
    package let tls: [String: TLSIdentity]
    package let departmentsFile: URL

    /// Generates a signing key and a TLS identity per department and writes them (private keys 0600) and
    /// `departments.json` (package keys and TLS certificates) into `directory`.
    package static func create(in directory: URL, suite: any CryptoSuite) throws -> DemoConsortium {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var keys: [String: any SigningKey] = [:]
        var identities: [String: TLSIdentity] = [:]
        var departments: [DepartmentDirectory.Department] = []
        for member in members {
            let key = suite.generateSigningKey()
            keys[member.id] = key
            try SecretFile.write(Data(key.pemRepresentation.utf8), to: directory.appendingPathComponent("\(member.id)-key.pem"))
            let identity = try TLSIdentity.generate(name: member.id)
            identities[member.id] = identity
            try identity.write(
                certificate: directory.appendingPathComponent("\(member.id)-tls-cert.pem"),
                key: directory.appendingPathComponent("\(member.id)-tls-key.pem"),
                force: true)
            departments.append(
                .init(
                    id: member.id, name: member.name, groups: member.groups, publicKey: key.publicKey.pemRepresentation,
                    tlsCertificate: identity.certificatePEM))
        }
        let file = directory.appendingPathComponent("departments.json")
        try DepartmentDirectory.write(departments, to: file)
        return DemoConsortium(keys: keys, tls: identities, departmentsFile: file)
    }

    /// A department's client of a node: over HTTPS (its client certificate, the node's pinned certificate) when the
    /// node's certificate is given.
    package func client(_ department: String, baseURL: String, suite: any CryptoSuite, role: String? = nil, nodeCertificate: String?) throws
        -> GatewayClient
    {
        guard let key = keys[department] else { throw NodeError("no demo department \(department)") }
        guard let nodeCertificate else { return GatewayClient(baseURL: baseURL, department: department, role: role, key: key, suite: suite) }
        return try GatewayClient(
            baseURL: baseURL, department: department, role: role, key: key, suite: suite,
            tls: ClientTLS(identity: tls[department], trusting: [nodeCertificate]))
    }
}
