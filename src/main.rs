//! The `redsafe` command-line tool: a thin layer over the `redsafe` library.

mod cli;

fn main() -> std::process::ExitCode {
    restore_default_sigpipe();
    cli::main()
}

/// Rust ignores SIGPIPE, so writing to a closed pipe (`redsafe dump ... | head`) makes
/// `println!` panic. Restore the Unix default: the process ends quietly, like other filters.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first in `main`, before any other thread exists; `signal` with SIG_DFL
    // installs no Rust handler and touches no Rust state.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
