//! `wick-events`: dump, list and validate TensorBoard event files; see
//! `wick_tfevents::cli` for the commands and exit statuses.

fn main() -> std::process::ExitCode {
    wick_tfevents::cli::run(std::env::args_os())
}
