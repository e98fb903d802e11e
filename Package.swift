// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

/// The pure cores the tests drive hardest — the replica and its simulator (millions of steps per seeded run), the crypto
/// under them — are compiled optimised in debug builds too, so the suite spends its time on what it checks rather than
/// on unoptimised generics. Nothing imports them `@testable`.
let optimisedInDebug: [SwiftSetting] = strict + [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "DataGateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gateway", targets: ["gateway"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-structured-headers.git", from: "1.7.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
    ],
    targets: [
        // C shims: header glue only.
        .systemLibrary(name: "CGMP", pkgConfig: "gmp", providers: [.apt(["libgmp-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // Pure modules: no I/O frameworks (DESIGN.md §3).
        .target(
            name: "GatewayCrypto",
            dependencies: [
                "CGMP", "COpenSSL", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers"),
            ],
            swiftSettings: optimisedInDebug
        ),
        .target(name: "GatewayChain", dependencies: ["GatewayCrypto"], swiftSettings: optimisedInDebug),
        .target(name: "GatewayPolicy", dependencies: ["GatewayPrivacy"], swiftSettings: strict),
        .target(name: "GatewaySimulation", dependencies: ["GatewayChain", "GatewayCrypto"], swiftSettings: optimisedInDebug),
        .target(name: "GatewaySchema", swiftSettings: strict),
        // Differential privacy: the discrete Laplace mechanism (whole or in shares) and privacy budgets. No I/O.
        .target(name: "GatewayPrivacy", swiftSettings: optimisedInDebug),
        // The edge where the pure cores meet the file system: genesis, policy bundles, record categories.
        .target(name: "GatewayFiles", dependencies: ["GatewayChain", "GatewayPolicy", "GatewaySchema"], swiftSettings: strict),
        // The wire: API types and the catalogue of problem codes, shared by the node, the HTTP layer and the client.
        .target(name: "GatewayWire", dependencies: ["GatewayChain", "GatewayCrypto", "GatewaySchema"], swiftSettings: strict),

        // I/O modules.
        .target(
            name: "GatewayStore",
            dependencies: [
                "GatewayChain", "GatewayCrypto",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "GatewayNode",
            dependencies: [
                "GatewayChain", "GatewayCrypto", "GatewayPolicy", "GatewaySchema", "GatewayStore", "GatewayWire", "GatewayFiles", "GatewayPrivacy",
                "GatewayClient", "GatewayTLS",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "GatewayHTTP",
            dependencies: [
                "GatewayNode", "GatewayCrypto", "GatewaySchema", "GatewayStore", "GatewayWire", "GatewayTLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // TLS identities (P-256 key, self-signed certificate) pinned by the registry instead of a CA.
        .target(
            name: "GatewayTLS",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "GatewayClient",
            dependencies: [
                "GatewayCrypto", "GatewaySchema", "GatewayWire", "GatewayTLS",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "GatewayDemo",
            dependencies: [
                "GatewayClient", "GatewayNode", "GatewayHTTP", "GatewayCrypto", "GatewayChain", "GatewaySchema", "GatewayStore", "GatewayPolicy",
                "GatewayWire", "GatewayFiles", "GatewayTLS",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Measures our side of bench/paillier; depends on GatewayCrypto only so its release build stays small.
        .executableTarget(name: "gateway-bench", dependencies: ["GatewayCrypto"], swiftSettings: strict),
        // Our side of bench/policy: the policy engine alone.
        .executableTarget(name: "gateway-policy-bench", dependencies: ["GatewayPolicy"], swiftSettings: strict),
        // Our side of bench/chain: validators in one process over real PostgreSQL and TCP.
        .executableTarget(
            name: "gateway-chain-bench",
            dependencies: [
                "GatewayNode", "GatewayChain", "GatewayCrypto", "GatewayStore", "GatewayDemo", "GatewayWire", "GatewayTLS", "GatewayClient",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "gateway",
            dependencies: [
                "GatewayDemo", "GatewayHTTP", "GatewayNode", "GatewayCrypto", "GatewaySimulation", "GatewayChain", "GatewayClient",
                "GatewayStore", "GatewayWire", "GatewayFiles", "GatewayTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),

        // Shared by the integration tests: fresh databases, running nodes, paths, the Python oracles.
        .target(
            name: "GatewayTestSupport",
            dependencies: [
                "GatewayDemo", "GatewayNode", "GatewayStore", "GatewayClient", "GatewayCrypto", "GatewayChain", "GatewayPolicy",
                "GatewaySchema", "GatewayWire", "GatewayFiles", "GatewayPrivacy", "GatewayTLS",
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/GatewayTestSupport"
        ),

        .testTarget(
            name: "GatewayCryptoTests", dependencies: ["GatewayCrypto", "GatewayTestSupport", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(name: "GatewayChainTests", dependencies: ["GatewayChain", "GatewayCrypto", "GatewayFiles"]),
        .testTarget(
            name: "GatewayNodeTests",
            dependencies: [
                "GatewayNode", "GatewayChain", "GatewayCrypto", "GatewayPolicy", "GatewaySchema", "GatewayStore", "GatewayTestSupport",
                "GatewayWire", "GatewayPrivacy", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "GatewayTLSTests", dependencies: ["GatewayTLS", "GatewayTestSupport"]),
        .testTarget(name: "GatewayPrivacyTests", dependencies: ["GatewayPrivacy", "GatewayCrypto"]),
        .testTarget(name: "GatewaySimulationTests", dependencies: ["GatewaySimulation", "GatewayChain"]),
        .testTarget(name: "GatewayPolicyTests", dependencies: ["GatewayPolicy", "GatewayCrypto", "GatewayTestSupport", "GatewayFiles"]),
        .testTarget(
            name: "GatewaySchemaTests", dependencies: ["GatewaySchema", "GatewayDemo", "GatewayTestSupport", "GatewayCrypto", "GatewayFiles"]
        ),
        .testTarget(
            name: "GatewayStoreTests", dependencies: ["GatewayStore", "GatewayChain", "GatewayCrypto", "GatewayTestSupport"]
        ),
        .testTarget(
            name: "GatewayHTTPTests",
            dependencies: [
                "GatewayHTTP", "GatewayNode", "GatewayClient", "GatewayDemo", "GatewayCrypto", "GatewayStore", "GatewayTestSupport",
                "GatewaySchema", "GatewayWire", "GatewayTLS", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "GatewayDemoTests",
            dependencies: [
                "GatewayDemo", "GatewayClient", "GatewayCrypto", "GatewayChain", "GatewayStore", "GatewayTestSupport", "GatewayNode",
                "GatewaySchema", "GatewayWire", "GatewayFiles", "GatewayPolicy", "GatewayTLS", "gateway",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
    ]
)
