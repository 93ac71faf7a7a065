//! taskmasterctl: the command-line client of taskmasterd. Parses the command
//! line, then runs one command, a plugin or the interactive shell. A library
//! too, so that `cargo xtask gen` renders the completions and man pages from
//! the same definitions.

mod cli;
mod commands;
mod complete;
mod completions;
mod error;
mod help;
mod jobspec;
mod output;
mod plugins;
mod shell;
mod target;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Command};
use commands::Connection;
use error::{exit, Error};
use output::Style;
use plugins::Lookup;
use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

pub use cli::Shell;
pub use completions::script as completion_script;

/// The command line as clap sees it, without the installed plugins: what the
/// generated man pages and completion scripts describe.
pub fn command() -> clap::Command {
    Cli::command()
}

/// clap's `--help` (`long`) or `-h` text, as `cargo xtask gen` stores it.
pub fn stored_help(long: bool) -> String {
    help::render(&mut Cli::command(), long)
}

/// The global options, which every command and the shell's commands share.
#[derive(Debug, Clone, Default)]
pub struct Context {
    config: Option<PathBuf>,
    server_url: Option<String>,
}

impl Context {
    fn server(&self) -> Result<target::Server, Error> {
        target::resolve(self.server_url.as_deref(), self.config.as_deref())
    }

    /// These options as arguments, for a child taskmasterctl.
    fn args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if let Some(config) = &self.config {
            args.extend(["-c".into(), config.into()]);
        }
        if let Some(url) = &self.server_url {
            args.extend(["-s".into(), url.into()]);
        }
        args
    }

    /// What a plugin gets in its environment: what taskmasterctl itself
    /// would use, when it can tell.
    fn plugin_environment(&self) -> plugins::Environment {
        plugins::Environment {
            server_url: self.server().ok().map(|s| s.url),
            config: target::config_path(self.config.as_deref()),
        }
    }
}

/// taskmasterctl's `main`.
pub fn main() -> ExitCode {
    let cli = parse(std::env::args_os());
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

/// clap prints usage errors to stderr and exits 2, `--help` (which lists the
/// installed plugins) to stdout and exits 0. `PATH` is searched for plugins
/// only then: scanning its directories was most of the start-up time of an
/// ordinary command (`status` took 1.9 ms, 1.2 ms of it in readdir).
fn parse(args: impl IntoIterator<Item = OsString>) -> Cli {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(text) = help::stored(&args) {
        let plugins = plugins_section(&plugins::installed(path_var().as_deref()));
        if let Some(text) = help::with_plugins(text, &plugins) {
            let mut out = io::stdout().lock();
            // As clap does: a help nobody reads (a closed pipe) is no failure.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            std::process::exit(0);
        }
    }
    let asks_help = args.iter().skip(1).any(|a| a == "-h" || a == "--help");
    let matches = if asks_help {
        command_with_plugins()
            .try_get_matches_from(args)
            .unwrap_or_else(|e| exit_with(e))
    } else {
        match Cli::command().try_get_matches_from(&args) {
            Ok(matches) => matches,
            Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => e.exit(),
            // A usage error shows the help's usage: with the plugins.
            Err(_) => command_with_plugins().get_matches_from(args),
        }
    };
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// clap's exit for `error`, except that a help read through a pipe or a
/// file is written with one `write` (clap writes it piece by piece, some
/// thirty writes); on a terminal clap prints it, in colour.
fn exit_with(error: clap::Error) -> ! {
    use std::io::IsTerminal;
    if error.kind() == ErrorKind::DisplayHelp && !io::stdout().is_terminal() {
        let text = error.render().to_string();
        let mut out = io::stdout().lock();
        // As clap does: a help nobody reads (a closed pipe) is no failure.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        std::process::exit(0);
    }
    error.exit()
}

fn path_var() -> Option<OsString> {
    std::env::var_os("PATH")
}

/// The command line with the installed plugins listed after the help.
fn command_with_plugins() -> clap::Command {
    let command = Cli::command();
    let plugins = plugins_section(&plugins::installed(path_var().as_deref()));
    if plugins.is_empty() {
        return command;
    }
    let mut text = command
        .get_after_help()
        .map(|t| t.to_string())
        .unwrap_or_default();
    text.push_str(&plugins);
    command.after_help(text)
}

/// The end of the help that lists `plugins`; nothing if there are none.
fn plugins_section(plugins: &[plugins::Plugin]) -> String {
    if plugins.is_empty() {
        return String::new();
    }
    let mut text = String::from("\n\nInstalled plugins:");
    let width = plugins.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for plugin in plugins {
        text.push_str(&format!(
            "\n  {:<width$}  {}",
            plugin.name,
            plugin.path.display()
        ));
    }
    text
}

fn run(cli: Cli) -> Result<u8, Error> {
    let context = Context {
        config: cli.config,
        server_url: cli.server_url,
    };
    if cli.list {
        return print(|out| list(out));
    }
    match cli.command {
        None => shell::run(&context),
        Some(command) => one_shot(&context, command),
    }
}

/// Runs `command` once, its output buffered (thousands of `status` lines cost a few writes).
fn one_shot(context: &Context, command: Command) -> Result<u8, Error> {
    if let Some(message) = command.missing_name() {
        return Err(usage_error(command.name(), &message));
    }
    match command {
        Command::Help { command } => help(context, command.as_deref()),
        Command::Completions { shell } => print(|out| {
            out.write_all(completions::script(shell).as_bytes())
                .map_err(Error::stdout)?;
            Ok(exit::OK)
        }),
        Command::External(args) => match args.split_first() {
            Some((first, rest)) if first == COMPLETE_NAMES => {
                let plugins = rest.iter().any(|a| a == "--plugins");
                print(|out| complete_names(context, plugins, out))
            }
            _ => plugin(context, &args),
        },
        command => {
            let server = context.server()?;
            let mut connection = Connection::open(&server)?;
            let style = Style::for_stdout();
            print(|out| commands::run(&command, &mut connection, style, out))
        }
    }
}

/// Runs `write` on a buffered stdout and flushes it.
fn print(
    write: impl FnOnce(&mut BufWriter<io::StdoutLock>) -> Result<u8, Error>,
) -> Result<u8, Error> {
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let code = write(&mut out)?;
    out.flush().map_err(Error::stdout)?;
    Ok(code)
}

/// `--list`: the commands with what they do, then the plugins with their paths.
fn list(out: &mut impl Write) -> Result<u8, Error> {
    let command = Cli::command();
    let commands: Vec<(String, String)> = command
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| {
            let about = c.get_about().map(|a| a.to_string()).unwrap_or_default();
            (c.get_name().to_string(), about)
        })
        .collect();
    let plugins = plugins::installed(path_var().as_deref());
    let width = commands
        .iter()
        .map(|c| c.0.len())
        .chain(plugins.iter().map(|p| p.name.len()))
        .max()
        .unwrap_or(0);
    let mut text = String::from("Commands:\n");
    for (name, about) in &commands {
        text.push_str(&format!("  {name:<width$}  {about}\n"));
    }
    text.push_str("Plugins:\n");
    if plugins.is_empty() {
        text.push_str("  (none: a plugin FOO is an executable taskmasterctl-FOO on $PATH)\n");
    }
    for plugin in &plugins {
        text.push_str(&format!(
            "  {:<width$}  {}\n",
            plugin.name,
            plugin.path.display()
        ));
    }
    out.write_all(text.as_bytes()).map_err(Error::stdout)?;
    Ok(exit::OK)
}

/// `help`, `help COMMAND` and `help PLUGIN`.
fn help(context: &Context, topic: Option<&str>) -> Result<u8, Error> {
    let mut command = command_with_plugins();
    command.build();
    let Some(topic) = topic else {
        let text = command.render_help().to_string();
        return print(|out| write_text(out, &text));
    };
    if let Some(sub) = command
        .find_subcommand_mut(topic)
        .filter(|c| !c.is_hide_set())
    {
        let text = sub.render_long_help().to_string();
        return print(|out| write_text(out, &text));
    }
    plugin(context, &[topic.to_string(), "--help".to_string()])
}

fn write_text(out: &mut impl Write, text: &str) -> Result<u8, Error> {
    writeln!(out, "{}", text.trim_end()).map_err(Error::stdout)?;
    Ok(exit::OK)
}

/// Replaces this process with the plugin `args[0]`; returns only on failure.
fn plugin(context: &Context, args: &[String]) -> Result<u8, Error> {
    let Some((name, rest)) = args.split_first() else {
        return Err(Error::new(exit::USAGE, "error: a command is required"));
    };
    match plugins::lookup(name, path_var().as_deref()) {
        Lookup::Found(path) => Err(plugins::exec(&path, rest, &context.plugin_environment())),
        Lookup::NotExecutable(path) => Err(plugins::not_executable(&path)),
        Lookup::Missing => Err(plugins::unknown_command(name, &known_words())),
    }
}

/// Commands and plugins: what a typo may have meant.
fn known_words() -> Vec<String> {
    let mut words = cli::command_names();
    words.extend(
        plugins::installed(path_var().as_deref())
            .into_iter()
            .map(|p| p.name),
    );
    words
}

/// The hidden command of the completion scripts. Not a clap subcommand, so
/// that no generated script or help text offers it.
const COMPLETE_NAMES: &str = "__complete-names";

/// `__complete-names [--plugins]`: names one per line. A daemon that cannot be
/// reached gives no names and exit 1, and says nothing: it runs under a TAB.
fn complete_names(context: &Context, plugins: bool, out: &mut impl Write) -> Result<u8, Error> {
    let names: Vec<String> = if plugins {
        plugins::installed(path_var().as_deref())
            .into_iter()
            .map(|p| p.name)
            .collect()
    } else {
        let processes = context
            .server()
            .and_then(|server| Connection::open(&server))
            .and_then(|mut conn| commands::all_processes(&mut conn))
            .map_err(|e| Error::silent(e.code()))?;
        complete::process_names(&processes)
    };
    for name in names {
        writeln!(out, "{name}").map_err(Error::stdout)?;
    }
    Ok(exit::OK)
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
