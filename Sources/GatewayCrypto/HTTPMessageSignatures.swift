import Foundation
import RawStructuredFieldValues

/// RFC 9421 HTTP Message Signatures, the parts a gateway needs: the signature base of a request or response from its
/// covered components, and the `Signature-Input` and `Signature` fields (RFC 8941 structured fields, through
/// swift-http-structured-headers) written and read back. Algorithms are the RFC's registry names (`ed25519`,
/// `ecdsa-p256-sha256`) and `sm2-sm3`, the private algorithm of the `sm` suite (an SM2 signature with the GM/T 0009
/// distinguishing ID over the SM3 digest of the base, DER-encoded). Pure: the caller's key signs and verifies bytes.
public enum HTTPMessageSignatures {
    /// The message as signatures see it.
    public struct Message: Sendable {
        /// Request: method (upper case), target URI (absolute: scheme, authority, path, query). Response: status.
        public var method: String?
        public var targetURI: String? { didSet { uri = targetURI.flatMap { URLComponents(string: $0) } } }
        /// The target URI parsed once (the derived components read it; a request's signature and its response's need
        /// several of them).
        private(set) var uri: URLComponents?
        public var status: Int?
        /// Header fields in order; names are matched case-insensitively.
        public var fields: [(name: String, value: String)]
        /// For a response: the request it answers, whose components a signature covers with `;req` (RFC 9421 §2.4).
        public var request: Message? {
            get { associated.first }
            set { associated = newValue.map { [$0] } ?? [] }
        }
        var associated: [Message] = []

        public init(method: String, targetURI: String, fields: [(name: String, value: String)]) {
            self.method = method
            self.targetURI = targetURI
            self.uri = URLComponents(string: targetURI)
            self.fields = fields
        }

        public init(status: Int, fields: [(name: String, value: String)], request: Message? = nil) {
            self.status = status
            self.fields = fields
            self.request = request
        }
    }

    /// A covered component: a derived component (`@method`) or a field name (`content-digest`), lower case, and
    /// whether it is taken from the request a response answers (`;req`, the one component parameter supported).
    public struct Component: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
        public var name: String
        public var request: Bool

        public init(_ name: String, request: Bool = false) {
            self.name = name
            self.request = request
        }

        public init(stringLiteral name: String) { self.init(name) }

        /// As it appears in a signature base line: `"@method";req`.
        public var description: String { "\"\(name)\"" + (request ? ";req" : "") }
    }

    /// A signature's metadata: what it covers and its parameters, in the order they are serialised.
    public struct Parameters: Sendable, Equatable {
        public var components: [Component]
        public var created: Int64?
        public var expires: Int64?
        public var nonce: String?
        public var keyID: String?
        public var algorithm: String?
        public var tag: String?

        public init(
            components: [Component], created: Int64? = nil, expires: Int64? = nil, nonce: String? = nil, keyID: String? = nil,
            algorithm: String? = nil, tag: String? = nil
        ) {
            self.components = components
            self.created = created
            self.expires = expires
            self.nonce = nonce
            self.keyID = keyID
            self.algorithm = algorithm
            self.tag = tag
        }
    }

    /// One signature read from a message: its label, parameters, the exact `@signature-params` value and its bytes.
    public struct Received: Sendable {
        public let label: String
        public let parameters: Parameters
        public let signatureParams: String
        public let signature: [UInt8]
    }

    public struct SignatureError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The algorithm name of a suite's node keys: `ed25519` (intl; RFC 9421 registry) or `sm2-sm3` (sm; private).
    public static func algorithm(for suite: any CryptoSuite) -> String { suite.name == .intl ? "ed25519" : "sm2-sm3" }

    /// The algorithms a suite's department keys may sign with: `ed25519` and `ecdsa-p256-sha256` (intl; RFC 9421
    /// registry) or `sm2-sm3` (sm).
    public static func algorithms(for suite: any CryptoSuite) -> [String] { suite.name == .intl ? ["ed25519", "ecdsa-p256-sha256"] : ["sm2-sm3"] }

    /// Signatures per message and components per signature accepted (work per request is bounded).
    public static let signaturesMax = 8
    public static let componentsMax = 32
    public static let fieldBytesMax = 8_192

    /// The serialised inner list with parameters: the value of `@signature-params` and of the `Signature-Input` member.
    public static func signatureParams(_ parameters: Parameters) throws -> String {
        var params = OrderedMap<String, BareItem>()
        if let created = parameters.created { params["created"] = .integer(Int(created)) }
        if let expires = parameters.expires { params["expires"] = .integer(Int(expires)) }
        if let nonce = parameters.nonce { params["nonce"] = .string(nonce) }
        if let keyID = parameters.keyID { params["keyid"] = .string(keyID) }
        if let algorithm = parameters.algorithm { params["alg"] = .string(algorithm) }
        if let tag = parameters.tag { params["tag"] = .string(tag) }
        var items = BareInnerList()
        for component in parameters.components {
            var itemParameters = OrderedMap<String, BareItem>()
            if component.request { itemParameters["req"] = .bool(true) }
            items.append(Item(bareItem: BareItem.string(component.name), parameters: itemParameters))
        }
        let list = InnerList(bareInnerList: items, parameters: params)
        var serializer = StructuredFieldValueSerializer()
        do {
            return String(decoding: try serializer.writeListFieldValue([.innerList(list)]), as: UTF8.self)
        } catch {
            throw SignatureError("signature parameters cannot be serialised: \(error)")
        }
    }

    /// The signature base (RFC 9421 §2.5): one line per covered component, then `"@signature-params": …`.
    public static func signatureBase(of message: Message, components: [Component], signatureParams: String) throws -> [UInt8] {
        guard components.count <= componentsMax else { throw SignatureError("more than \(componentsMax) covered components") }
        var lines: [String] = []
        var seen = Set<Component>()
        for component in components {
            guard seen.insert(component).inserted else { throw SignatureError("component \(component.description.prefix(64)) is covered twice") }
            guard component.name == component.name.lowercased(), !component.name.isEmpty else {
                throw SignatureError("component names are lower case: \"\(component.name.prefix(64))\"")
            }
            let source: Message
            if component.request {
                guard message.status != nil, let request = message.request else {
                    throw SignatureError("\(component.description.prefix(64)) names the request a response answers; this message has none")
                }
                source = request
            } else {
                source = message
            }
            lines.append("\(component): \(try value(of: component.name, in: source))")
        }
        lines.append("\"@signature-params\": \(signatureParams)")
        let base = lines.joined(separator: "\n")
        guard base.utf8.allSatisfy({ $0 == 0x0a || (0x20...0x7e).contains($0) || $0 == 0x09 }) else {
            throw SignatureError("the signature base holds characters other than printable ASCII")
        }
        return Array(base.utf8)
    }

    static func value(of component: String, in message: Message) throws -> String {
        if component.hasPrefix("@") {
            let uri = message.uri
            switch component {
            case "@method":
                guard let method = message.method else { break }
                return method
            case "@target-uri":
                guard let target = message.targetURI else { break }
                return target
            case "@authority":
                guard let uri, let host = uri.host else { break }
                let defaultPort = uri.scheme == "https" ? 443 : 80
                return host.lowercased() + (uri.port.map { $0 == defaultPort ? "" : ":\($0)" } ?? "")
            case "@scheme":
                guard let scheme = uri?.scheme else { break }
                return scheme.lowercased()
            case "@path":
                guard let uri else { break }
                return uri.percentEncodedPath.isEmpty ? "/" : uri.percentEncodedPath
            case "@query":
                guard let uri else { break }
                return "?" + (uri.percentEncodedQuery ?? "")
            case "@request-target":
                guard let uri else { break }
                return (uri.percentEncodedPath.isEmpty ? "/" : uri.percentEncodedPath) + (uri.percentEncodedQuery.map { "?" + $0 } ?? "")
            case "@status":
                guard let status = message.status else { break }
                return String(status)
            default:
                throw SignatureError("derived component \(component.prefix(64)) is not supported")
            }
            throw SignatureError("component \(component) does not apply to this message")
        }
        let values = message.fields.filter { $0.name.lowercased() == component }.map {
            $0.value.trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
        }
        guard !values.isEmpty else { throw SignatureError("covered field \(component.prefix(64)) is absent") }
        return values.joined(separator: ", ")
    }

    /// Signs `message` and returns the `Signature-Input` and `Signature` field values (label `label`).
    public static func sign(
        _ message: Message, parameters: Parameters, label: String = "sig1", with sign: ([UInt8]) throws -> [UInt8]
    ) throws -> (signatureInput: String, signature: String) {
        let params = try signatureParams(parameters)
        let base = try signatureBase(of: message, components: parameters.components, signatureParams: params)
        let signature = try sign(base)
        return ("\(label)=\(params)", "\(label)=:\(Data(signature).base64EncodedString()):")
    }

    /// Reads every signature of a message from its `Signature-Input` and `Signature` values (each label in both).
    public static func read(signatureInput: String, signature: String) throws -> [Received] {
        guard signatureInput.utf8.count <= fieldBytesMax, signature.utf8.count <= fieldBytesMax else {
            throw SignatureError("Signature-Input or Signature is longer than \(fieldBytesMax) bytes")
        }
        let inputs: OrderedMap<String, ItemOrInnerList>
        let signatures: OrderedMap<String, ItemOrInnerList>
        do {
            var inputParser = StructuredFieldValueParser(Array(signatureInput.utf8))
            inputs = try inputParser.parseDictionaryFieldValue()
            var signatureParser = StructuredFieldValueParser(Array(signature.utf8))
            signatures = try signatureParser.parseDictionaryFieldValue()
        } catch {
            throw SignatureError("Signature-Input and Signature must be structured-field dictionaries (RFC 8941): \(error)")
        }
        guard inputs.count <= signaturesMax else { throw SignatureError("more than \(signaturesMax) signatures") }
        var received: [Received] = []
        for (label, member) in inputs {
            guard case .innerList(let list) = member else { throw SignatureError("Signature-Input \(label.prefix(64)) is not an inner list") }
            guard case .item(let item)? = signatures[label], case .undecodedByteSequence(let encoded) = item.rfc9651BareItem,
                let bytes = Data(base64Encoded: encoded)
            else {
                throw SignatureError("Signature has no byte sequence for label \(label.prefix(64))")
            }
            var components: [Component] = []
            for element in list.bareInnerList {
                guard case .string(let name) = element.rfc9651BareItem else { throw SignatureError("covered components are strings") }
                var component = Component(name)
                for (parameter, value) in element.rfc9651Parameters {
                    guard parameter == "req", case .bool(true) = value, !component.request else {
                        throw SignatureError("component parameter \(parameter.prefix(32)) is not supported (only req)")
                    }
                    component.request = true
                }
                components.append(component)
            }
            guard components.count <= componentsMax else { throw SignatureError("more than \(componentsMax) covered components") }
            var parameters = Parameters(components: components)
            // The RFC 9651 accessors: the legacy ones trap on a date or display string, which a hostile peer can send.
            for (name, value) in list.rfc9651Parameters {
                switch (name, value) {
                case ("created", .integer(let number)): parameters.created = Int64(number)
                case ("expires", .integer(let number)): parameters.expires = Int64(number)
                case ("nonce", .string(let text)): parameters.nonce = text
                case ("keyid", .string(let text)): parameters.keyID = text
                case ("alg", .string(let text)): parameters.algorithm = text
                case ("tag", .string(let text)): parameters.tag = text
                default: throw SignatureError("signature parameter \(name.prefix(32)) is unknown or of the wrong type")
                }
            }
            // The base uses the parameters exactly as received, re-serialised canonically (RFC 9421 §2.3).
            var serializer = StructuredFieldValueSerializer()
            let params: String
            do { params = String(decoding: try serializer.writeListFieldValue([.innerList(list)]), as: UTF8.self) } catch {
                throw SignatureError("Signature-Input \(label.prefix(64)) cannot be serialised: \(error)")
            }
            received.append(Received(label: label, parameters: parameters, signatureParams: params, signature: Array(bytes)))
        }
        return received
    }

    /// Verifies one received signature over `message` with `verify(base, signature)`.
    public static func verify(_ received: Received, of message: Message, with verify: ([UInt8], [UInt8]) -> Bool) throws -> Bool {
        let base = try signatureBase(of: message, components: received.parameters.components, signatureParams: received.signatureParams)
        return verify(base, received.signature)
    }
}
