//! taskmasterctl-import: translates a supervisord config (and the files its
//! `[include]` names) into Taskmaster's TOML, one file or, with
//! `--recursive`, one per supervisord file, with a warning on stderr for
//! every key it cannot translate.

mod include;
mod ini;
mod listener;
mod recursive;
mod translate;

use clap::Parser;
use ini::Section;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Translate a supervisord config into a Taskmaster config.
///
/// Reads the file as supervisord does (comments after section headers,
/// indented keys, continuation lines, a key or section given twice: the
/// later value wins) with the files its [include] names (%(here)s is the
/// including file's directory, %(ENV_X)s the environment). Translated:
/// [program:x] and [group:x] key by key; %(ENV_X)s as ${X}, %(here)s as
/// the file's directory, %(process_num)02d as ${process_num:02};
/// process_name templates (the processes keep their names, worker:worker_00);
/// numbers such as numprocs=%(ENV_N)s as "${N}"; a command with %(ENV_X)s
/// as command_line (split after expansion, as supervisord splits it);
/// [unix_http_server]; [supervisord] as [taskmasterd]; [supervisorctl] as
/// [taskmasterctl]; the event listener that kills supervisord when a
/// process goes FATAL as [taskmasterd] shutdown_on_fatal = true, other
/// event listeners as programs run through taskmasterctl-eventlistener.
/// Everything else ([inet_http_server], an http://
/// serverurl, unknown keys, an empty [include]) gets a warning on stderr
/// with its file and line; nothing is dropped silently. See "Coming from
/// supervisord" in docs/config.md.
///
/// Exit status: 0 translated (warnings or not); 1 an input cannot be read
/// or an output written; 2 usage.
#[derive(Debug, Parser)]
#[command(
    name = "taskmasterctl import",
    bin_name = "taskmasterctl import",
    version,
    after_help = "Examples:\n  taskmasterctl import /etc/supervisor/supervisord.conf -o taskmaster.conf.toml\n  taskmasterctl import --recursive /etc/supervisor/supervisord.conf -o /etc/taskmaster"
)]
struct Cli {
    /// The supervisord config file.
    #[arg(value_name = "SUPERVISORD.CONF")]
    input: PathBuf,

    /// Write the TOML here instead of to stdout; with --recursive, the
    /// directory to write the files in (default: SUPERVISORD.CONF's).
    #[arg(short = 'o', long = "output", value_name = "FILE|DIR")]
    output: Option<PathBuf>,

    /// Keep [include]s as includes: write DIR/taskmaster.conf.toml with an
    /// [include] of the same globs made .toml (conf.d/*.conf becomes
    /// conf.d/*.toml), and each included file's translation at the same
    /// place relative to DIR (conf.d/web.conf becomes conf.d/web.toml; a
    /// file outside SUPERVISORD.CONF's directory is translated beside
    /// itself). Prints the files written. Without it, included files are
    /// merged into one TOML file.
    #[arg(short = 'r', long)]
    recursive: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("taskmasterctl-import: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let main = ini::merge(read(&cli.input)?);
    let (patterns, mut warnings) = include::patterns(&main, &cli.input);
    let outputs = if cli.recursive {
        recursive::translate(
            &cli.input,
            main,
            &patterns,
            cli.output.as_deref(),
            &mut warnings,
        )?
    } else {
        let sections = inlined(main, &patterns, &mut warnings)?;
        let translation = translate::translate(&sections);
        warnings.extend(translation.warnings.iter().map(ToString::to_string));
        vec![(cli.output.clone(), translation.to_toml(&cli.input))]
    };
    for warning in &warnings {
        eprintln!("taskmasterctl-import: warning: {warning}");
    }
    for (path, toml) in outputs {
        match path {
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                std::fs::write(&path, toml)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                if cli.recursive {
                    println!("{}", path.display());
                }
            }
            None => print!("{toml}"),
        }
    }
    Ok(())
}

pub(crate) fn read(path: &Path) -> Result<Vec<Section>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    ini::parse(&text, path).map_err(|e| e.to_string())
}

/// The main file's sections, then those of each included file, merged as
/// supervisord merges them (a section given again adds to the first, the
/// later value of a key winning).
fn inlined(
    main: Vec<Section>,
    patterns: &[include::Pattern],
    warnings: &mut Vec<String>,
) -> Result<Vec<Section>, String> {
    let mut sections = main;
    for file in patterns.iter().flat_map(|p| &p.files) {
        sections.extend(read_included(file, warnings)?);
    }
    Ok(ini::merge(sections))
}

/// An included file's sections; its own `[include]` is ignored, as
/// supervisord ignores it, with a warning.
pub(crate) fn read_included(
    file: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<Section>, String> {
    let sections = read(file)?;
    for nested in sections.iter().filter(|s| s.name == "include") {
        warnings.push(format!(
            "{}:{}: [include] in an included file is ignored, as supervisord does",
            file.display(),
            nested.line
        ));
    }
    Ok(sections
        .into_iter()
        .filter(|s| s.name != "include")
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
