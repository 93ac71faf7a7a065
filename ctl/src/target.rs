//! Which socket to talk to: `-s URL`, else $TASKMASTER_SERVER_URL, else the
//! config's `[taskmasterctl] serverurl`, else its `[unix_http_server] file`,
//! else the default. The config is only read when it is needed.

use crate::error::{exit, Error};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use taskmaster_protocol::{discover_config, socket_path_from_url, DEFAULT_SERVER_URL};

/// The variable that overrides the config (taskmasterd sets it for its programs).
pub const SERVER_URL_VAR: &str = "TASKMASTER_SERVER_URL";

/// The daemon to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub url: String,
    pub socket: PathBuf,
}

/// Resolves the server from the command line, the environment and the config.
pub fn resolve(flag: Option<&str>, config: Option<&Path>) -> Result<Server, Error> {
    let env = std::env::var(SERVER_URL_VAR).ok();
    let url = choose_url(flag, env.as_deref(), || url_from_config(config))?;
    let socket = socket_path_from_url(&url)
        .map_err(|error| Error::new(exit::USAGE, format!("taskmasterctl: {error}")))?;
    Ok(Server { url, socket })
}

/// The precedence, with the config read only when neither `-s` nor the
/// environment decides (an empty variable counts as unset).
fn choose_url(
    flag: Option<&str>,
    env: Option<&str>,
    config: impl FnOnce() -> Result<Option<String>, Error>,
) -> Result<String, Error> {
    if let Some(url) = flag.or(env.filter(|url| !url.is_empty())) {
        return Ok(url.to_string());
    }
    Ok(config()?.unwrap_or_else(|| DEFAULT_SERVER_URL.to_string()))
}

/// The URL the config gives, `None` when there is no config or it names no socket.
fn url_from_config(explicit: Option<&Path>) -> Result<Option<String>, Error> {
    Ok(read_config(explicit)?.and_then(|(path, config)| {
        let dir = path.parent().unwrap_or(Path::new(""));
        config.url(dir)
    }))
}

/// The config file in use, absolute, if there is one (for plugins' environment).
pub fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    discover_config(explicit)
        .ok()
        .and_then(|path| std::path::absolute(path).ok())
}

/// What the interactive shell takes from `[taskmasterctl]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellSettings {
    /// Shown as `PROMPT> `.
    pub prompt: String,
    /// Where to keep the history; none: history lasts as long as the shell.
    pub history: Option<PathBuf>,
}

impl Default for ShellSettings {
    fn default() -> Self {
        ShellSettings {
            prompt: DEFAULT_PROMPT.to_string(),
            history: None,
        }
    }
}

/// supervisorctl's prompt is "supervisor"; ours follows suit.
pub const DEFAULT_PROMPT: &str = "taskmaster";

/// The shell's settings from the config; defaults when there is no config.
pub fn shell_settings(explicit: Option<&Path>) -> Result<ShellSettings, Error> {
    let Some((path, config)) = read_config(explicit)? else {
        return Ok(ShellSettings::default());
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    Ok(config.shell_settings(dir))
}

/// The config, parsed for our keys; `None` when none is found.
fn read_config(explicit: Option<&Path>) -> Result<Option<(PathBuf, ConfigFile)>, Error> {
    let Ok(path) = discover_config(explicit) else {
        return Ok(None);
    };
    // Paths in the config are relative to it, wherever we run from (and a
    // plugin may run elsewhere): make them absolute.
    let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
    let text = std::fs::read_to_string(&absolute).map_err(|e| {
        Error::new(
            exit::USAGE,
            format!(
                "taskmasterctl: cannot read config {} (pass -s URL to name the socket instead)",
                path.display()
            ),
        )
        .caused_by(e)
    })?;
    let config = parse_tolerantly(&text).map_err(|e| {
        Error::new(
            exit::USAGE,
            format!("taskmasterctl: cannot read config {}", path.display()),
        )
        .caused_by(e)
    })?;
    Ok(Some((absolute, config)))
}

/// Our keys from the config's text. Only our two tables are read: the rest
/// is the daemon's business, may be large (a thousand programs), and may be
/// mid-edit with a mistake the daemon reports in `status`. A config that
/// writes our tables another way (inline tables, dotted keys) is read whole.
fn parse_tolerantly(text: &str) -> Result<ConfigFile, toml::de::Error> {
    match toml::from_str::<ConfigFile>(&our_tables(text)) {
        Ok(config) if config.has_our_keys() => Ok(config),
        _ => toml::from_str(text),
    }
}

/// The lines of `[taskmasterctl]` and `[unix_http_server]`, headers included.
/// Each header is found by searching the text for the table's name, not by
/// reading every line: a config of a thousand programs is nearly all
/// other tables. A table runs to the next header.
fn our_tables(text: &str) -> String {
    let mut kept = String::new();
    for name in ["taskmasterctl", "unix_http_server"] {
        // memmem: a SIMD search, a tenth of what `str::match_indices` costs.
        for at in memchr::memmem::find_iter(text.as_bytes(), name) {
            let start = text[..at].rfind('\n').map_or(0, |newline| newline + 1);
            let mut lines = text[start..].split_inclusive('\n');
            match lines.next() {
                Some(header) if is_header_of(header, name) => kept.push_str(header),
                _ => continue,
            }
            for line in lines.take_while(|line| !line.trim_start().starts_with('[')) {
                kept.push_str(line);
            }
            if !kept.ends_with('\n') {
                kept.push('\n');
            }
        }
    }
    kept
}

/// Whether `line` is the header `[name]`, with the spaces TOML allows.
fn is_header_of(line: &str, name: &str) -> bool {
    let header: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    header
        .strip_prefix('[')
        .and_then(|rest| rest.strip_prefix(name))
        .is_some_and(|rest| rest.starts_with(']'))
}

/// Only the keys taskmasterctl needs; everything else is the daemon's business.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    taskmasterctl: CtlTable,
    #[serde(default)]
    unix_http_server: ServerTable,
}

#[derive(Debug, Default, Deserialize)]
struct CtlTable {
    serverurl: Option<String>,
    prompt: Option<String>,
    history: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
struct ServerTable {
    file: Option<PathBuf>,
}

impl ConfigFile {
    fn has_our_keys(&self) -> bool {
        let ctl = &self.taskmasterctl;
        ctl.serverurl.is_some()
            || ctl.prompt.is_some()
            || ctl.history.is_some()
            || self.unix_http_server.file.is_some()
    }

    /// The server URL; a relative socket `file` is relative to `dir`, the
    /// config's directory, as every path in the config is.
    fn url(&self, dir: &Path) -> Option<String> {
        if let Some(url) = &self.taskmasterctl.serverurl {
            return Some(url.clone());
        }
        self.unix_http_server
            .file
            .as_ref()
            .map(|file| format!("unix://{}", dir.join(file).display()))
    }

    /// The prompt and the history file, `~/` meaning the home directory.
    fn shell_settings(&self, dir: &Path) -> ShellSettings {
        let table = &self.taskmasterctl;
        let history = table.history.as_ref().map(|file| {
            match (file.strip_prefix("~"), std::env::var_os("HOME")) {
                (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
                _ => dir.join(file),
            }
        });
        ShellSettings {
            prompt: table
                .prompt
                .clone()
                .unwrap_or_else(|| DEFAULT_PROMPT.into()),
            history,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server URL in a config's text.
    fn url_in_config(text: &str, dir: &Path) -> Result<Option<String>, toml::de::Error> {
        Ok(toml::from_str::<ConfigFile>(text)?.url(dir))
    }

    const BOTH: &str = r#"
        [unix_http_server]
        file = "/run/from-file.sock"
        chmod = 0o700
        [taskmasterctl]
        serverurl = "unix:///run/from-serverurl.sock"
        prompt = "tm"
        [programs.web]
        command = "/bin/web"
    "#;

    fn config(url: Option<&str>) -> impl FnOnce() -> Result<Option<String>, Error> + '_ {
        move || Ok(url.map(str::to_string))
    }

    fn unreadable_config() -> Result<Option<String>, Error> {
        panic!("the config must not be read when -s or the environment decides")
    }

    #[test]
    fn precedence_flag_env_config_default() {
        let choose = |flag, env, cfg| choose_url(flag, env, config(cfg)).unwrap();
        assert_eq!(choose(Some("/flag"), Some("/env"), Some("/cfg")), "/flag");
        assert_eq!(choose(None, Some("/env"), Some("/cfg")), "/env");
        assert_eq!(choose(None, Some(""), Some("/cfg")), "/cfg");
        assert_eq!(choose(None, None, Some("/cfg")), "/cfg");
        assert_eq!(choose(None, None, None), DEFAULT_SERVER_URL);
    }

    #[test]
    fn config_is_not_read_when_not_needed() {
        assert_eq!(
            choose_url(Some("/flag"), None, unreadable_config).unwrap(),
            "/flag"
        );
        assert_eq!(
            choose_url(None, Some("/env"), unreadable_config).unwrap(),
            "/env"
        );
    }

    #[test]
    fn serverurl_wins_over_socket_file() {
        let url = url_in_config(BOTH, Path::new("/etc/taskmaster")).unwrap();
        assert_eq!(url.as_deref(), Some("unix:///run/from-serverurl.sock"));
    }

    #[test]
    fn socket_file_is_relative_to_the_config() {
        let text = "[unix_http_server]\nfile = \"run/t.sock\"\n";
        let url = url_in_config(text, Path::new("/srv/app")).unwrap();
        assert_eq!(url.as_deref(), Some("unix:///srv/app/run/t.sock"));
        let text = "[unix_http_server]\nfile = \"/abs/t.sock\"\n";
        let url = url_in_config(text, Path::new("/srv/app")).unwrap();
        assert_eq!(url.as_deref(), Some("unix:///abs/t.sock"));
    }

    #[test]
    fn config_without_socket_gives_nothing() {
        let text = "[programs.web]\ncommand = \"web\"\n[taskmasterd]\nnodaemon = true\n";
        assert_eq!(url_in_config(text, Path::new("/")).unwrap(), None);
    }

    #[test]
    fn a_mistake_elsewhere_does_not_hide_the_socket() {
        let text = "[unix_http_server]\nfile = \"t.sock\"\n[programs.web]\ncommand = \n";
        let config = parse_tolerantly(text).unwrap();
        assert_eq!(
            config.url(Path::new("/d")).as_deref(),
            Some("unix:///d/t.sock")
        );
    }

    #[test]
    fn our_tables_are_found_wherever_they_are() {
        let text =
            "# taskmasterctl reads this\n[programs.taskmasterctl]\ncommand = \"taskmasterctl\"\n\
                    [ unix_http_server ] # the socket\nfile = \"t.sock\"\n\n[programs.web]\n\
                    command = \"web\"\n  [taskmasterctl]\r\nprompt = \"tm\"";
        assert_eq!(
            our_tables(text),
            "  [taskmasterctl]\r\nprompt = \"tm\"\n[ unix_http_server ] # the socket\n\
             file = \"t.sock\"\n\n"
        );
        let config = parse_tolerantly(text).unwrap();
        assert_eq!(
            config.url(Path::new("/d")).as_deref(),
            Some("unix:///d/t.sock")
        );
        assert_eq!(config.taskmasterctl.prompt.as_deref(), Some("tm"));
        assert_eq!(our_tables("[taskmasterctl.sub]\nx = 1\n"), "");
    }

    #[test]
    fn broken_config_names_the_line() {
        let error = url_in_config("[taskmasterctl]\nserverurl = 5\n", Path::new("/")).unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
    }

    #[test]
    fn shell_settings_default_and_relative_history() {
        let config: ConfigFile = toml::from_str(BOTH).unwrap();
        let settings = config.shell_settings(Path::new("/etc/tm"));
        assert_eq!(settings.prompt, "tm");
        assert_eq!(settings.history, None);
        let config: ConfigFile =
            toml::from_str("[taskmasterctl]\nhistory = \"hist/ctl\"\n").unwrap();
        let settings = config.shell_settings(Path::new("/etc/tm"));
        assert_eq!(settings.prompt, "taskmaster");
        assert_eq!(settings.history, Some(PathBuf::from("/etc/tm/hist/ctl")));
    }

    #[test]
    fn missing_explicit_config_is_a_usage_error() {
        let error = url_from_config(Some(Path::new("/nonexistent/t.toml"))).unwrap_err();
        assert_eq!(error.code(), exit::USAGE);
        let report = error.report().unwrap();
        assert!(report.contains("/nonexistent/t.toml"), "{report}");
        assert!(report.contains("No such file or directory"), "{report}");
    }

    #[test]
    fn bad_url_is_a_usage_error() {
        let error = resolve(Some("http://localhost:9001"), None).unwrap_err();
        assert_eq!(error.code(), exit::USAGE);
        assert!(error
            .report()
            .unwrap()
            .contains("unix:///path/to/taskmaster.sock"));
    }
}
