//! The `redsafe` command-line tool: a thin layer over the `redsafe` library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
