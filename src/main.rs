//! The `asr-router` command: `serve`, `transcribe`, `meeting`, `models`, `bench`, `eval`, `config` (one file each in
//! `cli/`).

mod cli;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,ort=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Before any thread starts: may re-exec this program once with OPENBLAS_CORETYPE set.
    asr_router::blas::use_fitting_openblas_kernels();
    let cli = Cli::parse();
    let cfg = cli.config()?;
    match cli.cmd {
        Command::Serve(_) => cli::serve::run(cfg),
        Command::Transcribe(args) => cli::transcribe::run(args, &cfg),
        Command::Models { cmd } => cli::models::run(cmd, &cfg),
        Command::Bench { cmd } => cli::bench::run(cmd, &cfg),
        Command::Eval(args) => cli::eval::run(args, &cfg),
        Command::Meeting(args) => cli::meeting::run(args, &cfg),
        Command::Config {
            cmd: cli::ConfigCmd::Print(_),
        } => {
            print!("{}", cfg.to_toml_redacted());
            Ok(())
        }
    }
}
