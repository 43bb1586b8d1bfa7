//! The `orchgen` command. All behaviour lives in [`orchgen::cli`]; this only hands over the exit code.

fn main() -> std::process::ExitCode {
    orchgen::cli::main()
}
