import Foundation

/// The policy files of a deployment, loaded in file-name order, with the canonical bytes its hash is taken over.
public struct PolicyBundle: Sendable {
    public let policySet: PolicySet
    /// (file name, contents) in file-name order: what the bundle hash covers.
    public let sources: [(file: String, text: String)]

    public init(sources: [(file: String, text: String)]) throws {
        let ordered = sources.sorted { $0.file < $1.file }
        self.sources = ordered
        self.policySet = try PolicySet(sources: ordered)
    }

    /// Loads every `*.cedar` file of a directory.
    public static func load(from directory: URL) throws -> PolicyBundle {
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "cedar" }
        guard !files.isEmpty else {
            throw PolicyError(.syntax, "no .cedar policy files in \(directory.path)")
        }
        let sources = try files.map { file -> (file: String, text: String) in
            (file.lastPathComponent, try String(contentsOf: file, encoding: .utf8))
        }
        return try PolicyBundle(sources: sources)
    }

    /// Length-prefixed concatenation of names and contents; hash it with the deployment's suite.
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = Array("datagateway/policy-bundle/v1".utf8)
        for source in sources {
            for part in [source.file, source.text] {
                let bytes = Array(part.utf8)
                var length = UInt64(bytes.count).bigEndian
                withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
                out.append(contentsOf: bytes)
            }
        }
        return out
    }
}
