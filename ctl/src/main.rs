//! taskmasterctl: the command-line client of taskmasterd. Parses the command
//! line, finds the socket, runs one command and exits with its status.

mod cli;
mod commands;
mod error;
mod output;
mod target;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use cli::Cli;
use commands::Connection;
use error::{exit, Error};
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    // clap prints usage errors to stderr and exits 2, `--help` to stdout and exits 0.
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(error) => {
            if let Some(text) = error.report() {
                // Nowhere left to complain if stderr itself is gone.
                let _ = writeln!(io::stderr().lock(), "{text}");
            }
            error.code()
        }
    };
    ExitCode::from(code)
}

fn run(cli: Cli) -> Result<u8, Error> {
    let Some(command) = cli.command else {
        // The interactive shell will start here; until then, say how to use us.
        let help = Cli::command().render_help().to_string();
        return Err(Error::new(exit::USAGE, help.trim_end()));
    };
    if let Some(message) = command.missing_name() {
        return Err(usage_error(command.name(), &message));
    }
    let server = target::resolve(cli.server_url.as_deref(), cli.config.as_deref())?;
    let mut connection = Connection::open(&server)?;
    // One lock and one buffer: `status` with thousands of lines costs a few writes.
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let code = commands::run(&command, &mut connection, &mut out)?;
    out.flush().map_err(Error::stdout)?;
    Ok(code)
}

/// A usage error worded by us but shaped like clap's, with the subcommand's usage.
fn usage_error(subcommand: &str, message: &str) -> Error {
    let mut cli = Cli::command();
    cli.build();
    let text = match cli.find_subcommand_mut(subcommand) {
        Some(sub) => sub
            .error(ErrorKind::MissingRequiredArgument, message)
            .render()
            .to_string(),
        None => format!("error: {message}"),
    };
    Error::new(exit::USAGE, text.trim_end())
}
