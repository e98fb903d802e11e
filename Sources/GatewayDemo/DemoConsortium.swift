import Foundation
import GatewayCrypto
import GatewayNode

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
    package let departmentsFile: URL

    /// Generates a key pair per department and writes `departments.json` (package keys) into `directory`.
    package static func create(in directory: URL, suite: any CryptoSuite) throws -> DemoConsortium {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var keys: [String: any SigningKey] = [:]
        var departments: [DepartmentDirectory.Department] = []
        for member in members {
            let key = suite.generateSigningKey()
            keys[member.id] = key
            try Data(key.pemRepresentation.utf8).write(to: directory.appendingPathComponent("\(member.id)-key.pem"), options: .atomic)
            departments.append(.init(id: member.id, name: member.name, groups: member.groups, publicKey: key.publicKey.pemRepresentation))
        }
        let file = directory.appendingPathComponent("departments.json")
        try DepartmentDirectory.write(departments, to: file)
        return DemoConsortium(keys: keys, departmentsFile: file)
    }
}
