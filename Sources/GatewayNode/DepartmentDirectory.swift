import Foundation
import GatewayCrypto
import GatewayTLS

/// The departments this node knows: their ids, names, parent groups (for policies' `in`) and package keys.
///
///     {"departments": [{"id": "social_security", "name": "Social Security Fund", "groups": ["government"],
///                       "publicKey": "-----BEGIN PUBLIC KEY-----\n…"}]}
package struct DepartmentDirectory: Sendable {
    package struct Department: Sendable, Codable {
        package let id: String
        package let name: String
        package let groups: [String]?
        package let publicKey: String
        /// PEM of the department's TLS client certificate: over HTTPS its requests must come on a connection that
        /// presents it (mutual TLS), in addition to the request signature.
        package let tlsCertificate: String?

        package init(id: String, name: String, groups: [String]? = nil, publicKey: String, tlsCertificate: String? = nil) {
            self.id = id
            self.name = name
            self.groups = groups
            self.publicKey = publicKey
            self.tlsCertificate = tlsCertificate
        }
    }

    struct File: Codable {
        let departments: [Department]
    }

    package let departments: [String: Department]
    let keys: [String: any VerifyingKey]
    /// Pins ("sha256/…") of the departments' TLS certificates.
    let tlsPins: [String: String]

    package init(departments: [Department], suite: any CryptoSuite) throws {
        var byID: [String: Department] = [:]
        var keys: [String: any VerifyingKey] = [:]
        var pins: [String: String] = [:]
        for department in departments {
            if let certificate = department.tlsCertificate {
                do { pins[department.id] = try TLSIdentity.pin(ofCertificatePEM: certificate) } catch {
                    throw NodeError("department \(department.id): tlsCertificate is not a PEM X.509 certificate: \(error)")
                }
            }
            guard byID[department.id] == nil else { throw NodeError("department \(department.id) is listed twice") }
            byID[department.id] = department
            do {
                keys[department.id] = try suite.verifyingKey(pem: department.publicKey)
            } catch {
                throw NodeError("department \(department.id): public key is not a \(suite.name.rawValue) key: \(error)")
            }
        }
        self.departments = byID
        self.keys = keys
        self.tlsPins = pins
    }

    package static func load(from url: URL, suite: any CryptoSuite) throws -> DepartmentDirectory {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw NodeError("cannot read departments file \(url.path)") }
        do {
            return try DepartmentDirectory(departments: try JSONDecoder().decode(File.self, from: data).departments, suite: suite)
        } catch let error as NodeError {
            throw error
        } catch {
            throw NodeError("\(url.path) is not a valid departments file: \(error)")
        }
    }

    package static func write(_ departments: [Department], to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(File(departments: departments)).write(to: url, options: .atomic)
    }

    package func verifyingKey(for id: String) -> (any VerifyingKey)? { keys[id] }

    /// The pin of the department's registered TLS client certificate, if it has one.
    package func tlsPin(for id: String) -> String? { tlsPins[id] }
}
