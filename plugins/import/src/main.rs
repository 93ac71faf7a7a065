//! taskmasterctl-import: translates a supervisord config (and the files its
//! `[include]` names) into one Taskmaster TOML file, with a warning on
//! stderr for every key it cannot translate.

mod ini;
mod translate;

use clap::Parser;
use ini::Section;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Translate a supervisord config into a Taskmaster config.
///
/// Programs, groups, [include]d files, numprocs, %(ENV_X)s and
/// %(process_num)s expansions, [unix_http_server], [supervisord] (as
/// [taskmasterd]) and [supervisorctl] (as [taskmasterctl]) are translated;
/// every key that is not gets a warning on stderr with its file and line.
/// Exit status: 0 translated (warnings or not); 1 the input cannot be read;
/// 2 usage.
#[derive(Debug, Parser)]
#[command(
    name = "taskmasterctl import",
    bin_name = "taskmasterctl import",
    version,
    after_help = "Example: taskmasterctl import /etc/supervisor/supervisord.conf -o taskmaster.conf.toml"
)]
struct Cli {
    /// The supervisord config file.
    #[arg(value_name = "SUPERVISORD.CONF")]
    input: PathBuf,

    /// Write the TOML here instead of to stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
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
    let (sections, mut warnings) = read_with_includes(&cli.input)?;
    let translation = translate::translate(&sections);
    warnings.extend(translation.warnings.iter().map(ToString::to_string));
    for warning in &warnings {
        eprintln!("taskmasterctl-import: warning: {warning}");
    }
    let toml = translation.to_toml(&cli.input);
    match &cli.output {
        Some(path) => std::fs::write(path, toml)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => print!("{toml}"),
    }
    Ok(())
}

fn read(path: &Path) -> Result<Vec<Section>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    ini::parse(&text, path).map_err(|e| e.to_string())
}

/// The main file's sections, then those of each file its `[include] files`
/// names (space-separated globs, relative to the main file), as supervisord
/// reads them.
fn read_with_includes(path: &Path) -> Result<(Vec<Section>, Vec<String>), String> {
    let mut sections = read(path)?;
    let mut warnings = Vec::new();
    let dir = path.parent().unwrap_or(Path::new("."));
    for empty in sections
        .iter()
        .filter(|s| s.name == "include" && s.get("files").is_none_or(|e| e.value.trim().is_empty()))
    {
        warnings.push(format!(
            "{}:{}: [include] names no files, which supervisord refuses; ignored",
            empty.file.display(),
            empty.line
        ));
    }
    let patterns: Vec<String> = sections
        .iter()
        .filter(|s| s.name == "include")
        .filter_map(|s| s.get("files"))
        .flat_map(|e| {
            e.value
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    for pattern in patterns {
        let files = glob(&dir.join(&pattern));
        if files.is_empty() {
            warnings.push(format!("[include] files: '{pattern}' matches no file"));
        }
        for file in files {
            let included = read(&file)?;
            if included.iter().any(|s| s.name == "include") {
                warnings.push(format!(
                    "{}: [include] in an included file is ignored, as supervisord does",
                    file.display()
                ));
            }
            sections.extend(included.into_iter().filter(|s| s.name != "include"));
        }
    }
    Ok((ini::merge(sections), warnings))
}

/// The files a pattern names: `*` and `?` in its last component, sorted.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (
        pattern.parent(),
        pattern.file_name().and_then(|n| n.to_str()),
    ) else {
        return Vec::new();
    };
    if !name.contains(['*', '?']) {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| matches(name, n)))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Shell wildcard matching of one file name.
fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // matched[i][j]: the first i pattern chars match the first j name chars.
    let mut matched = vec![vec![false; n.len() + 1]; p.len() + 1];
    matched[0][0] = true;
    for i in 1..=p.len() {
        for j in 0..=n.len() {
            matched[i][j] = match p[i - 1] {
                '*' => matched[i - 1][j] || (j > 0 && matched[i][j - 1]),
                '?' => j > 0 && matched[i - 1][j - 1],
                c => j > 0 && n[j - 1] == c && matched[i - 1][j - 1],
            };
        }
    }
    matched[p.len()][n.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_empty_include_is_a_warning() {
        let dir = std::env::temp_dir().join(format!("tm-import-include-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("supervisord.conf");
        std::fs::write(&path, "[include]\n[program:a]\ncommand = /bin/true\n").unwrap();
        let (sections, warnings) = super::read_with_includes(&path).unwrap();
        assert_eq!(sections.len(), 2);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0]
            .ends_with(":1: [include] names no files, which supervisord refuses; ignored"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*.conf", "web.conf"));
        assert!(matches("w?b.*", "web.ini"));
        assert!(!matches("*.conf", "web.conf.bak"));
        assert!(matches("*", ""));
        assert!(!matches("?", ""));
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
