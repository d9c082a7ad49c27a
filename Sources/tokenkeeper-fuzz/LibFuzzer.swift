import Foundation

#if FUZZING
/// libFuzzer's driver (compiler-rt's FuzzerDriver.cpp): parses its options, then calls `callback`
/// on every input it makes. Started from ``FuzzMain`` because SwiftPM points an executable's
/// `main` at the `@main` type, so libFuzzer's own `main` never runs.
@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The input callback under the name libFuzzer's (unused) `main` links against.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    Harness.selected?.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// Hands `arguments` (without the harness name) to libFuzzer; returns its exit status.
func runLibFuzzer(arguments: [String]) -> Int32 {
    // libFuzzer copies the arguments; these C strings live until the process exits.
    var pointers: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    var argc = CInt(arguments.count)
    return pointers.withUnsafeMutableBufferPointer { buffer in
        guard var argv = buffer.baseAddress else { return 70 }
        return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
    }
}
#endif
