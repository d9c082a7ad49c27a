/// The version printed by `--version` and sent as `User-Agent: tokenkeeper/<version>`.
package enum TokenKeeperVersion {
    package static let current = "0.1.0"
}
