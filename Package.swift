// swift-tools-version: 6.2
import PackageDescription

/// Every target of ours builds in Swift 6 mode with `ExistentialAny`, and a warning is an error.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "tokenkeeper",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tokenkeeper", targets: ["tokenkeeper"]),
        .library(name: "TokenKeeper", targets: ["TokenKeeper"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["YAML"]),
    ],
    targets: [
        .target(
            name: "TokenKeeper",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "tokenkeeper",
            dependencies: [
                "TokenKeeper",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "TokenKeeperTesting",
            dependencies: ["TokenKeeper"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "TokenKeeperTests",
            dependencies: [
                "TokenKeeper",
                "TokenKeeperTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
