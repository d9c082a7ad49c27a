/// The fuzzing harnesses. Each takes any bytes and stops the process, which libFuzzer records as a
/// finding with the input that caused it, when the code under test traps or breaks one of its
/// promises; an error the code is allowed to report is an ordinary outcome.
enum Harness: String, CaseIterable, Sendable {
    /// A JSON Lines file of `tokenkeeper import`, line by line.
    case importLines = "import"
    /// Environment variables and a YAML file, through the configuration loader.
    case config
    /// Durations and RFC 3339 timestamps, parsed and formatted.
    case time
    /// Sinch's answers (status, headers, body) to each kind of call, through the client.
    case sinchAnswer = "sinch-answer"

    /// Names the harness for processes libFuzzer starts again without the harness argument.
    static let environmentVariable = "TOKENKEEPER_FUZZ_HARNESS"

    /// The harness of this process, set once by ``FuzzMain`` before the first input runs; the
    /// C callback libFuzzer calls cannot capture it.
    nonisolated(unsafe) static var selected: Harness?

    func run(_ input: [UInt8]) {
        switch self {
        case .importLines: ImportHarness.run(input)
        case .config: ConfigHarness.run(input)
        case .time: TimeHarness.run(input)
        case .sinchAnswer: SinchAnswerHarness.run(input)
        }
    }
}

/// Stops the process when a promise is broken; the message says which one.
func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    guard condition else { fatalError("broken promise: \(message())", file: file, line: line) }
}
