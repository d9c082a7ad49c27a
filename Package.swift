// swift-tools-version: 6.2
import PackageDescription

/// Every target of ours builds in Swift 6 mode with `ExistentialAny`, and a warning is an error.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

/// `TOKENKEEPER_FUZZ=1` (scripts/fuzz) builds the code under test and its harnesses with
/// libFuzzer's coverage and AddressSanitizer. Only those targets: dependencies build as usual,
/// so the fuzz build costs no more than a plain one. Without it nothing changes.
let fuzzing = Context.environment["TOKENKEEPER_FUZZ"] == "1"
let fuzzedSettings: [SwiftSetting] = fuzzing ? [.unsafeFlags(["-sanitize=fuzzer,address"])] : []

/// `TOKENKEEPER_TSAN=1` (scripts/tsan) links TSanMutexAnnotations into every binary, so that
/// ThreadSanitizer sees a contended Synchronization.Mutex change hands (see its source). Without it
/// nothing changes: the target is not even declared.
let tsan = Context.environment["TOKENKEEPER_TSAN"] == "1"
let tsanTargets: [Target] = tsan ? [.target(name: "TSanMutexAnnotations")] : []
let tsanDependencies: [Target.Dependency] = tsan ? ["TSanMutexAnnotations"] : []

let package = Package(
    name: "tokenkeeper",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tokenkeeper", targets: ["tokenkeeper"]),
        .executable(name: "fake-sinch", targets: ["fake-sinch"]),
        // The Sinch Provisioning client is the one library meant for others; the rest is `package`.
        .library(name: "SinchProvisioning", targets: ["SinchProvisioning"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["YAML"]),
        // swift-configuration's YAML parser, used directly only to refuse unknown config keys.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // postgres-nio's TLS; used directly for `sslmode` and `sslrootcert`.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // libcurl's headers (no pkgConfig: its `-lcurl` would link what CCurlLoader loads lazily).
        .systemLibrary(
            name: "CCurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // Loads libcurl with dlopen on first use instead of linking it (see CCurl/shim.h).
        .target(name: "CCurlLoader", dependencies: ["CCurl"]),
        // The wall clock every part reads (WallClock, SystemClock), so tests move one by hand.
        .target(name: "WallTime", swiftSettings: strictSettings),
        .target(
            name: "SinchProvisioning",
            dependencies: [
                "WallTime",
                "CCurl",
                "CCurlLoader",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings + fuzzedSettings
        ),
        .target(
            name: "FakeSinch",
            dependencies: [
                "WallTime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "fake-sinch",
            dependencies: [
                "FakeSinch",
                // Its termination signals only (TerminationSignals).
                "TokenKeeper",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ] + tsanDependencies,
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "sinch-bench",
            dependencies: [
                "SinchProvisioning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ] + tsanDependencies,
            swiftSettings: strictSettings
        ),
        // The domain: configuration, sealing, policy, the refresh state machine and engine, the
        // audit chain's rules, hooks, and the store's protocols. No SQL driver, HTTP server or fake.
        .target(
            name: "TokenKeeper",
            dependencies: [
                "SinchProvisioning",
                "WallTime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
                // The refresh counters and latency histogram; TokenKeeperServer exports them.
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings + fuzzedSettings
        ),
        // The libFuzzer harnesses of scripts/fuzz; a plain build replays files through them.
        .executableTarget(
            name: "tokenkeeper-fuzz",
            dependencies: [
                "TokenKeeper",
                "WallTime",
                "SinchProvisioning",
                .product(name: "Logging", package: "swift-log"),
            ] + tsanDependencies,
            swiftSettings: strictSettings + fuzzedSettings
                + (fuzzing ? [.define("FUZZING"), .enableExperimentalFeature("Extern")] : []),
            // lld: gold stops with an internal error on the second `main` (libFuzzer's, unused).
            linkerSettings: fuzzing ? [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])] : []
        ),
        // The store on SQLite (GRDB): the only code that imports GRDB or writes SQL.
        .target(
            name: "TokenKeeperSQLite",
            dependencies: [
                "TokenKeeper",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
        // The store on PostgreSQL (postgres-nio): for a fleet of daemons on several hosts.
        .target(
            name: "TokenKeeperPostgres",
            dependencies: [
                "TokenKeeper",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The daemon and its /metrics and /healthz (Hummingbird): the only HTTP server.
        .target(
            name: "TokenKeeperServer",
            dependencies: [
                "TokenKeeper",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // `tokenkeeper demo`: the sandbox, the only production user of FakeSinch.
        .target(
            name: "TokenKeeperDemo",
            dependencies: [
                "TokenKeeper",
                "TokenKeeperSQLite",
                "FakeSinch",
                "SinchProvisioning",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "tokenkeeper",
            dependencies: [
                "TokenKeeper",
                "TokenKeeperSQLite",
                "TokenKeeperPostgres",
                "TokenKeeperServer",
                "TokenKeeperDemo",
                "SinchProvisioning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ] + tsanDependencies,
            swiftSettings: strictSettings,
            // Start-up is most of a `list` or `check`, and cron and monitoring run them often.
            // The loader applies ~120k relative relocations to this PIE binary at every start:
            // packed (DT_RELR), which gold cannot write but the toolchain's lld can, `--version`
            // went from 5.2 to 4.8 ms (perf stat), ASLR kept. The binary then needs glibc 2.36 or
            // later where it runs (Debian 12; scripts/install builds it on the host).
            linkerSettings: [
                .unsafeFlags(
                    ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"],
                    .when(platforms: [.linux])
                )
            ]
        ),
        .target(
            name: "TokenKeeperTesting",
            dependencies: [
                "TokenKeeper",
                "WallTime",
                "SinchProvisioning",
                "FakeSinch",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "TokenKeeperTests",
            dependencies: [
                "TokenKeeper",
                "WallTime",
                "TokenKeeperSQLite",
                "TokenKeeperPostgres",
                "TokenKeeperServer",
                "TokenKeeperTesting",
                "SinchProvisioning",
                "FakeSinch",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ] + tsanDependencies,
            swiftSettings: strictSettings
        ),
    ] + tsanTargets,
    swiftLanguageModes: [.v6]
)
