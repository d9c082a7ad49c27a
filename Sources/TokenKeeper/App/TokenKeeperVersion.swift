/// The version printed by `--version` and sent as `User-Agent: tokenkeeper/<version>`.
public enum TokenKeeperVersion {
    public static let current = "0.1.0"
}
