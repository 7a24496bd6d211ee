// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "cip-gateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cip-gateway", targets: ["CIPGateway"]),
        .executable(name: "cip-bench", targets: ["CIPBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        // NIO's HTTP client side and TLS, for notifications (already in the graph through Hummingbird).
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
    ],
    targets: [
        // C libraries from Debian, wrapped through module.modulemap + shim.h.
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CMalloc"),

        // Safe Swift clients over the C libraries: no C type leaks out of these.
        .target(name: "MQTT", dependencies: [
            "CMosquitto",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Postgres", dependencies: [
            "CLibPQ", "Models",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .target(name: "Digest", dependencies: ["CCrypto"]),
        // The device CA: certificates signed from devices' CSRs, and the revocation list the broker checks.
        .target(name: "Certificates", dependencies: ["CCrypto"]),
        // The city's master/metadata catalogue (DataModels/): quantities, events, device types, classification;
        // and the small value codecs everyone shares (device ids, RFC 3339, hex).
        .target(name: "Models"),
        // What the message path stores and the API reads: observations, events, raw messages, dead letters, and
        // the repository protocols over them (with in-memory implementations for router tests).
        .target(name: "Telemetry"),

        // Devices: lifecycle state machine, claim codes, onboarding throttle, bulk import (pure parts so far).
        .target(name: "Registry", dependencies: [
            "Certificates", "Digest", "Models", "MQTT", "Postgres", "Telemetry",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // Schema (versioned SQL migrations) and the repositories the API and the pipeline use.
        .target(
            name: "Storage",
            dependencies: [
                "Models", "NGSILD", "Postgres", "Telemetry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Migrations")]
        ),

        // NGSI-LD for the CIP tier: JSON-LD contexts and the city's vocabulary, the query language, geo-queries,
        // entity input and representations, subscriptions (pure: no HTTP, no database).
        .target(name: "NGSILD", dependencies: ["Models", "Telemetry"]),

        // NGSI-LD notifications: the matcher (changes → outbox, one transaction) and delivery (HTTP POST, MQTT publish).
        .target(name: "Notifications", dependencies: [
            "Models", "NGSILD", "Storage",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),

        // Digital locks: access grants (absolute and weekly windows in local time) and the unlock decision.
        .target(name: "Locks", dependencies: [
            "Digest", "Models", "Postgres", "Storage",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // Safe zones: pure geometry and the per-device geofence state machine (no dependencies).
        .target(name: "Geofence"),

        // Safe zones of GPS alarms: storage and schedules (the geofence monitor runs on the pipeline, in Ingest).
        .target(name: "SafeZones", dependencies: ["Geofence", "Models", "Postgres"]),

        // Retention: what may no longer be kept is deleted, by a service, in small steps that give way to ingest.
        .target(name: "Retention", dependencies: [
            "Models", "Postgres",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .target(name: "Access", dependencies: [
            "Digest", "Models", "Postgres",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .target(name: "Alarms", dependencies: [
            "Models", "Postgres", "Storage", "Telemetry",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .target(
            name: "Ingest",
            dependencies: [
                "Digest", "Geofence", "Models", "MQTT", "Postgres", "SafeZones", "Storage", "Telemetry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Normalization/README.md"]
        ),

        // The Hummingbird application: tiers IoT / integration (CIP comes later).
        .target(
            name: "API",
            dependencies: [
                "Access", "Alarms", "Geofence", "Locks", "Models", "NGSILD", "Registry", "SafeZones", "Telemetry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("openapi.json"), .copy("Console/Files")]
        ),

        // The composition root, shared by both executables: the gateway's services wired together
        // (`GatewayServices`), the command-line option groups (database, broker), loading DataModels/.
        .target(name: "Composition", dependencies: [
            "API", "Access", "Alarms", "Ingest", "Locks", "Models", "NGSILD", "Notifications", "Registry", "Retention", "SafeZones", "Storage", "Telemetry", "MQTT",
            "Postgres",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // `cip-gateway`, the product only: @main and the subcommands serve, migrate, devices, clients.
        .executableTarget(name: "CIPGateway", dependencies: [
            "API", "Access", "Alarms", "CMalloc", "Composition", "Ingest", "Models", "Registry", "Storage", "Telemetry", "Postgres",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // `cip-bench`, the tools around the product: the demo fleet (simulate) and the benchmarks.
        .executableTarget(name: "CIPBench", dependencies: [
            "API", "Access", "Alarms", "Composition", "Geofence", "Ingest", "Locks", "Models", "Registry", "Retention", "SafeZones", "Storage",
            "Telemetry", "MQTT", "Postgres", "CLibPQ",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .testTarget(name: "ModelsTests", dependencies: ["Models"]),
        // Which module may import which (reads Sources/, depends on nothing).
        .testTarget(name: "LayeringTests"),
        .testTarget(name: "RegistryTests", dependencies: ["Registry", "Digest", "Models"]),
        .testTarget(name: "IngestTests", dependencies: ["Geofence", "Ingest", "Models", "Storage", "Telemetry"]),
        // Router tests over the in-memory repositories: no database, no broker.
        .testTarget(name: "NGSILDTests", dependencies: ["NGSILD", "Models", "Telemetry"]),
        .testTarget(name: "APITests", dependencies: [
            "API", "Access", "Alarms", "Geofence", "Locks", "Models", "NGSILD", "Registry", "SafeZones", "Telemetry",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ]),
        .testTarget(name: "WrapperTests", dependencies: ["MQTT", "Postgres", "Models"]),
        .testTarget(name: "AlarmsTests", dependencies: ["Alarms", "Models", "Postgres"]),
        .testTarget(name: "AccessTests", dependencies: ["Access", "Digest", "Models"]),
        .testTarget(name: "LocksTests", dependencies: ["Locks", "Models"]),
        .testTarget(name: "GeofenceTests", dependencies: ["Geofence"]),
        .testTarget(name: "SafeZonesTests", dependencies: ["SafeZones", "Geofence", "Models"]),
        .testTarget(name: "RetentionTests", dependencies: ["Retention", "Models"]),
        .testTarget(name: "CertificatesTests", dependencies: ["Certificates"]),
        .testTarget(name: "IntegrationTests", dependencies: [
            "Certificates",
            "API", "Access", "Alarms", "Geofence", "Ingest", "Locks", "Models", "NGSILD", "Notifications", "Registry", "Retention", "SafeZones", "Storage", "Telemetry",
            "MQTT", "Postgres",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
