//! The `orchgen` command. All behaviour lives in the library ([`orchgen::main`]); this only hands
//! over the exit code.

fn main() -> std::process::ExitCode {
    orchgen::main()
}
