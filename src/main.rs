//! The `riskpool` command: a thin layer that parses arguments, calls the
//! library and prints. Bad input exits with status 2, other failures with 1,
//! an interruption (Ctrl-C) with 130.

mod cli;

fn main() {
    // Ctrl-C: leave no partial file (writes are atomic; a write in progress
    // loses its temporary file) and exit with 130. Checkpointed runs resume
    // when started again.
    let _ = ctrlc::set_handler(|| {
        riskpool::report::output::remove_pending();
        eprintln!("riskpool: interrupted");
        std::process::exit(130);
    });
    let code = match cli::main() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
