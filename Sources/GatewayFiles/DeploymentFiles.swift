import Foundation
import GatewayChain
import GatewayPolicy
import GatewaySchema

// Reading and writing a deployment's files: the edge where the pure cores (GatewayChain, GatewayPolicy,
// GatewaySchema) meet the file system. The cores take bytes and texts; only this module opens files.

extension Genesis {
    /// Reads and checks a genesis file.
    package static func load(from url: URL) throws -> Genesis {
        guard let data = try? Data(contentsOf: url) else {
            throw ChainError(.invalidGenesis, "cannot read the genesis file \(url.path): give the path of the chain's genesis.json")
        }
        return try decode(data, source: url.path)
    }

    /// Writes the genesis file atomically.
    package func write(to url: URL) throws {
        try fileBytes().write(to: url, options: .atomic)
    }
}

extension PolicyBundle {
    /// Loads every `*.cedar` file of a directory, its `entities.json` if there is one, and the Cedar schema
    /// `policies.cedarschema.json` of `schemas` if given and present.
    package static func load(from directory: URL, schemas: URL? = nil) throws -> PolicyBundle {
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "cedar" }
        guard !files.isEmpty else {
            throw PolicyError(.syntax, "no .cedar policy files in \(directory.path)")
        }
        let sources = try files.map { file -> (file: String, text: String) in
            (file.lastPathComponent, try String(contentsOf: file, encoding: .utf8))
        }
        let entitiesURL = directory.appendingPathComponent(entitiesFile)
        let entitiesText = FileManager.default.fileExists(atPath: entitiesURL.path) ? try String(contentsOf: entitiesURL, encoding: .utf8) : nil
        let schemaURL = schemas?.appendingPathComponent(schemaFile)
        let schemaText = try schemaURL.flatMap {
            FileManager.default.fileExists(atPath: $0.path) ? try String(contentsOf: $0, encoding: .utf8) : nil
        }
        return try PolicyBundle(sources: sources, entitiesText: entitiesText, schemaText: schemaText)
    }
}

extension RecordCategory {
    /// Loads every `*.schema.json` with an x-datagateway member from a directory.
    package static func loadAll(from directory: URL) throws -> [String: RecordCategory] {
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent.hasSuffix(".schema.json") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        return try categories(from: files.map { ($0.lastPathComponent, try Data(contentsOf: $0)) })
    }
}
