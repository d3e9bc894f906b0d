//! The `riskpool` command: a thin layer that parses arguments, calls the
//! library and prints. Bad input exits with status 2, other failures with 1.

mod cli;

fn main() {
    let code = match cli::main() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
