import Configuration
import Foundation
import GatewaySchema
import SystemPackage

/// Where `gateway serve` takes each setting from, in order: its flag, its environment variable, the configuration
/// file (`--config`, written by `gateway init`), its default. A setting has one key, the option's name in camelCase
/// (`databaseURL`, `dataDir`, `tlsCertificate`…): the file uses the key itself, the environment DATAGATEWAY_ and the
/// key in upper snake case (DATAGATEWAY_DATABASE_URL). Relative paths in the file are relative to the file's own
/// directory, so a node runs the same from any working directory; relative paths from a flag or the environment are
/// relative to the working directory, as on any command line.
struct NodeSettings {
    /// The keys a configuration file may hold, and what each value must be.
    enum Kind: Sendable { case text, path, integer, flag, texts }
    static let keys: [(key: String, kind: Kind)] = [
        ("host", .text), ("port", .integer), ("databaseURL", .text), ("dataDir", .path), ("nodeKey", .path), ("suite", .text),
        ("logLevel", .text), ("logFormat", .text), ("policies", .path), ("schemas", .path), ("departments", .path), ("nodeID", .text),
        ("department", .text),
        ("maxBodyBytes", .integer), ("peerListen", .text), ("peerAPI", .texts), ("decryptionTimeout", .integer), ("tlsCertificate", .path),
        ("tlsKey", .path), ("insecureHTTP", .flag), ("shutdownTimeout", .integer),
    ]
    static let fileBytesMax = 256 * 1024

    let environment: ConfigReader
    let file: ConfigReader?
    /// The configuration file's directory (relative paths in the file start there).
    let fileDirectory: URL?

    /// Reads the environment, and the file if one is given (checked first: an unknown key, a value of the wrong kind or
    /// a file that is not a JSON object is an error that names the key).
    static func load(configFile: String?) async throws -> NodeSettings {
        let environment = ConfigReader(provider: EnvironmentVariablesProvider()).scoped(to: "datagateway")
        guard let configFile else { return NodeSettings(environment: environment, file: nil, fileDirectory: nil) }
        let url = URL(fileURLWithPath: configFile).standardizedFileURL
        try check(url)
        let provider = try await FileProvider<JSONSnapshot>(filePath: FilePath(url.path))
        return NodeSettings(environment: environment, file: ConfigReader(provider: provider), fileDirectory: url.deletingLastPathComponent())
    }

    static func check(_ url: URL) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw CommandFailure("cannot read the configuration file \(url.path): give the file `gateway init` wrote")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: fileBytesMax + 1)) ?? Data()
        guard data.count <= fileBytesMax else { throw CommandFailure("\(url.path) is larger than \(fileBytesMax) bytes: not a node configuration") }
        let parsed: JSONValue
        do { parsed = try JSONValue.parse(data) } catch { throw CommandFailure("\(url.path) is not valid JSON: \(error)") }
        guard let object = parsed.objectValue else {
            throw CommandFailure("\(url.path) is not a JSON object: a node configuration is {\"department\": …, \"databaseURL\": …, …}")
        }
        let known = Dictionary(uniqueKeysWithValues: keys.map { ($0.key, $0.kind) })
        for key in object.keys.sorted() {
            guard let kind = known[key] else {
                throw CommandFailure("\(url.path): unknown key \"\(key.prefix(64))\"; the keys are \(keys.map(\.key).joined(separator: ", "))")
            }
            let fits: Bool
            switch (kind, object[key]!) {
            case (.text, .string), (.path, .string), (.integer, .integer), (.flag, .bool): fits = true
            case (.texts, .array(let items)): fits = items.allSatisfy { $0.stringValue != nil }
            default: fits = false
            }
            guard fits else {
                let expected: String
                switch kind {
                case .text, .path: expected = "a string"
                case .integer: expected = "a whole number"
                case .flag: expected = "true or false"
                case .texts: expected = "an array of strings"
                }
                throw CommandFailure("\(url.path): \"\(key)\" must be \(expected)")
            }
        }
    }

    /// The text of a setting: the flag, else the environment, else the file.
    func text(_ key: String, flag: String?) -> String? {
        flag ?? environment.string(forKey: ConfigKey(key)) ?? file?.string(forKey: ConfigKey(key))
    }

    func text(_ key: String, flag: String?, default fallback: String) -> String { text(key, flag: flag) ?? fallback }

    /// A path setting; a relative path from the file is resolved against the file's directory.
    func path(_ key: String, flag: String?) -> String? {
        if let chosen = flag ?? environment.string(forKey: ConfigKey(key)) { return chosen }
        guard let value = file?.string(forKey: ConfigKey(key)), let fileDirectory else { return nil }
        return value.hasPrefix("/") ? value : fileDirectory.appendingPathComponent(value).standardizedFileURL.path
    }

    func path(_ key: String, flag: String?, default fallback: String) -> String { path(key, flag: flag) ?? fallback }

    /// A number as text (checked with its bounds by the caller, wherever it came from).
    func number(_ key: String, flag: Int?, default fallback: Int) -> String {
        if let flag { return String(flag) }
        if let value = environment.string(forKey: ConfigKey(key)) { return value }
        if let value = file?.int(forKey: ConfigKey(key)) { return String(value) }
        return String(fallback)
    }

    func flag(_ key: String, flag: Bool) -> Bool {
        if flag { return true }
        if let value = environment.string(forKey: ConfigKey(key)) { return ["1", "true", "yes"].contains(value.lowercased()) }
        return file?.bool(forKey: ConfigKey(key)) ?? false
    }

    func texts(_ key: String, flag: [String]) -> [String] {
        if !flag.isEmpty { return flag }
        if let value = environment.string(forKey: ConfigKey(key)) { return value.split(separator: ",").map(String.init) }
        return file?.stringArray(forKey: ConfigKey(key)) ?? []
    }
}
