import ArgumentParser
import Foundation
import GatewayChain
import GatewayCrypto
import GatewayFiles
import GatewayNode
import GatewayPolicy
import GatewaySchema
import GatewayTLS

/// `gateway init`: one department's node, ready to run from any working directory with `gateway serve --config`.
struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set up a department's node: its configuration file, its keys, and the directory entry to send to the consortium.",
        discussion: """
            Writes into --dir (created if missing; existing key material is never replaced without --force):
              datagateway.json          the node's configuration: `gateway serve --config <dir>/datagateway.json`
              data/node-key.pem         the node's signing key (mode 0600; data/ is 0700)
              data/tls-cert.pem, data/tls-key.pem   the node's TLS identity (key 0600), pinned by clients and peers
              <department>/…            the department's request-signing key pair and TLS client identity (keys 0600),
                                        for `gateway client <operation> --profile <dir>/client.json` and other clients
              client.json               a client profile: the node's URL, the department's keys and the node certificate
              departments.json          the department directory this node starts with (its own entry; replace it with the
                                        consortium's directory when it arrives)
              entry.json                what to send to the consortium: the department's directory entry (public key and
                                        TLS certificate) and the node's member entry (node key, peer address, certificate)
            Every input is checked before anything is written: identifiers, host and ports, the database URL's form, and the \
            policy bundle and record schemas (loaded as the node loads them; their bundle hash is printed). Paths in \
            datagateway.json are relative to it, except --policies and --schemas, stored as absolute paths. \
            The node founds a solo chain on first start; to join a consortium, put its genesis.json (and, if dealt, the \
            node's aggregation-share.json) into <dir>/data before starting (README, "Running a node").
            """)

    @Option(help: "The department this node serves (its id in the department directory): 1-64 of a-z, 0-9, _ and -.")
    var department: String

    @Option(help: "The department's display name. Default: the id.")
    var name: String?

    @Option(help: "A group the department belongs to, as the policies name groups (repeat), e.g. government or regulators.")
    var group: [String] = []

    @Option(help: "The node's id among the consortium's members. Default: <department>-node, with _ as -.")
    var nodeID: String?

    @Option(help: "Directory to write into (created if missing).")
    var dir: String

    @Option(help: "Crypto suite of the deployment: sm or intl.")
    var suite: SuiteName = .sm

    @Option(help: "Address the HTTP API listens on.")
    var host: String = "127.0.0.1"

    @Option(help: "TCP port of the HTTP API (1…65535).")
    var port: Int = 8443

    @Option(help: "host:port for consensus peers (this node's address in the genesis or its admission). Default: <host>:<port + 1000>.")
    var peerListen: String?

    @Option(help: "PostgreSQL URL of the node's own database.")
    var databaseURL: String = defaultDatabaseURL

    @Option(help: "Directory of the consortium's Cedar policy files. Default: ./Policies (stored as an absolute path).")
    var policies: String = "Policies"

    @Option(help: "Directory of the record-category schemas. Default: ./Schemas (stored as an absolute path).")
    var schemas: String = "Schemas"

    @Option(help: "Host names and addresses clients reach the node by, for its TLS certificate (repeat). Default: localhost, 127.0.0.1 and --host.")
    var tlsHost: [String] = []

    @Flag(help: "Replace existing files in --dir (keys that are registered stop working until the new ones are).")
    var force = false

    static func isIdentifier(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count)
            && text.utf8.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5f || $0 == 0x2d }
    }

    func validate() throws {
        guard Self.isIdentifier(department) else { throw ValidationError("--department must be 1-64 of a-z, 0-9, _ and -") }
        if let nodeID, !Self.isIdentifier(nodeID) { throw ValidationError("--node-id must be 1-64 of a-z, 0-9, _ and -") }
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be 1…65535") }
        guard !host.isEmpty, host.utf8.count <= 253, !host.contains(" ") else { throw ValidationError("--host must be a host name or address") }
        for group in group where !Self.isIdentifier(group) { throw ValidationError("--group must be 1-64 of a-z, 0-9, _ and -") }
        if let name, !(1...200).contains(name.utf8.count) { throw ValidationError("--name must be 1 to 200 bytes") }
        if let peerListen, ChainService.parseAddress(peerListen) == nil { throw ValidationError("--peer-listen must be host:port") }
        guard let url = URLComponents(string: databaseURL), ["postgres", "postgresql"].contains(url.scheme ?? ""), url.host != nil,
            url.path.count > 1
        else {
            throw ValidationError("--database-url must be postgres://user:password@host:port/database")
        }
    }

    func run() async throws {
        let directory = URL(fileURLWithPath: dir).standardizedFileURL
        let nodeID = self.nodeID ?? department.replacingOccurrences(of: "_", with: "-") + "-node"
        let peerListen = self.peerListen ?? "\(host):\(port + 1000 > 65_535 ? port - 1000 : port + 1000)"
        let implementation = try suite.makeSuite()

        // The policy bundle and the record categories, loaded as the node will load them.
        let policiesURL = URL(fileURLWithPath: policies).standardizedFileURL
        let schemasURL = URL(fileURLWithPath: schemas).standardizedFileURL
        let bundleHash: String
        do {
            let bundle = try PolicyBundle.load(from: policiesURL, schemas: schemasURL)
            bundleHash = Hex.encode(implementation.hash(bundle.canonicalBytes))
            guard !(try RecordCategory.loadAll(from: schemasURL)).isEmpty else { throw CommandFailure("no *.schema.json in \(schemasURL.path)") }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure(
                "cannot load the policy bundle and schemas (\(policiesURL.path), \(schemasURL.path)): \(error). Give --policies and --schemas")
        }

        // What will be written; nothing is, if any of it exists (without --force).
        let data = directory.appendingPathComponent("data")
        let departmentDirectory = directory.appendingPathComponent(department)
        let files = (
            config: directory.appendingPathComponent("datagateway.json"),
            nodeKey: data.appendingPathComponent("node-key.pem"),
            nodeCertificate: data.appendingPathComponent(TLSFiles.certificate),
            nodeTLSKey: data.appendingPathComponent(TLSFiles.key),
            departmentKey: departmentDirectory.appendingPathComponent("\(department)-key.pem"),
            departmentPublic: departmentDirectory.appendingPathComponent("\(department)-pub.pem"),
            clientCertificate: departmentDirectory.appendingPathComponent("\(department)-tls-cert.pem"),
            clientKey: departmentDirectory.appendingPathComponent("\(department)-tls-key.pem"),
            profile: directory.appendingPathComponent("client.json"),
            departments: directory.appendingPathComponent("departments.json"),
            entry: directory.appendingPathComponent("entry.json")
        )
        let all = [
            files.config, files.nodeKey, files.nodeCertificate, files.nodeTLSKey, files.departmentKey, files.departmentPublic,
            files.clientCertificate, files.clientKey, files.profile, files.departments, files.entry,
        ]
        let existing = all.filter { FileManager.default.fileExists(atPath: $0.path) }
        if !existing.isEmpty && !force {
            throw CommandFailure(
                "\(directory.path) already holds \(existing.map(\.lastPathComponent).joined(separator: ", ")): choose another --dir, or pass --force to replace them (registered keys then stop working until the new ones are registered)"
            )
        }
        for (path, mode) in [(directory, 0o755), (data, 0o700), (departmentDirectory, 0o700)] {
            do {
                try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
            } catch {
                throw CommandFailure("cannot create \(path.path): check that its parent exists and is writable")
            }
        }

        // Keys: the node's signing key and TLS identity, the department's signing key and TLS client identity.
        let nodeKey = implementation.generateSigningKey()
        let nodeTLS = try TLSIdentity.generate(name: nodeID, hosts: tlsHost.isEmpty ? ["localhost", "127.0.0.1", host] : tlsHost)
        let departmentKey = implementation.generateSigningKey()
        let clientTLS = try TLSIdentity.generate(name: department)
        do {
            try SecretFile.write(Data(nodeKey.pemRepresentation.utf8), to: files.nodeKey)
            try nodeTLS.write(certificate: files.nodeCertificate, key: files.nodeTLSKey, force: true)
            try SecretFile.write(Data(departmentKey.pemRepresentation.utf8), to: files.departmentKey)
            try Data(departmentKey.publicKey.pemRepresentation.utf8).write(to: files.departmentPublic, options: .atomic)
            try clientTLS.write(certificate: files.clientCertificate, key: files.clientKey, force: true)
        } catch {
            throw CommandFailure("cannot write the keys into \(directory.path): \(error)")
        }

        let entry = DepartmentDirectory.Department(
            id: department, name: name ?? department, groups: group.isEmpty ? nil : group, publicKey: departmentKey.publicKey.pemRepresentation,
            tlsCertificate: clientTLS.certificatePEM)
        let member = Genesis.Member(
            nodeID: nodeID, department: department, role: .validator, publicKey: nodeKey.publicKey.pemRepresentation, address: peerListen,
            tlsCertificate: nodeTLS.certificatePEM)
        let configuration: [String: Any] = [
            "department": department, "nodeID": nodeID, "suite": suite.rawValue, "host": host, "port": port, "peerListen": peerListen,
            "databaseURL": databaseURL, "dataDir": "data", "departments": "departments.json", "policies": policiesURL.path,
            "schemas": schemasURL.path,
        ]
        let profile: [String: Any] = [
            "url": "https://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)", "department": department, "suite": suite.rawValue,
            "key": "\(department)/\(department)-key.pem", "clientCertificate": "\(department)/\(department)-tls-cert.pem",
            "clientKey": "\(department)/\(department)-tls-key.pem", "serverCertificate": "data/\(TLSFiles.certificate)",
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try JSONSerialization.data(withJSONObject: configuration, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                .write(to: files.config, options: .atomic)
            try JSONSerialization.data(withJSONObject: profile, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                .write(to: files.profile, options: .atomic)
            try DepartmentDirectory.write([entry], to: files.departments)
            try encoder.encode(ConsortiumEntry(department: entry, member: member)).write(to: files.entry, options: .atomic)
        } catch {
            throw CommandFailure("cannot write into \(directory.path): \(error)")
        }
        say(
            """
            initialised node \(nodeID) of \(department) (\(suite.rawValue) suite) in \(directory.path):
              configuration  \(files.config.path)
              node keys      \(data.path) (node key, TLS identity; pin \(nodeTLS.pin))
              department     \(departmentDirectory.path) (signing key, TLS client identity)
              client profile \(files.profile.path)
              for the consortium: \(files.entry.path)
              policy bundle  \(bundleHash)
            next:
              gateway serve --config \(files.config.path)
              gateway client health --profile \(files.profile.path)
            """)
    }

    /// What a department sends the consortium to be admitted: its directory entry and its node's member entry.
    struct ConsortiumEntry: Encodable {
        let department: DepartmentDirectory.Department
        let member: Genesis.Member
    }
}
