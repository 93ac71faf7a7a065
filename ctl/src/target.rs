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
        .map_err(|message| Error::new(exit::USAGE, format!("taskmasterctl: {message}")))?;
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
    let Ok(path) = discover_config(explicit) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::new(
            exit::USAGE,
            format!(
                "taskmasterctl: cannot read config {} (pass -s URL to name the socket instead)",
                path.display()
            ),
        )
        .caused_by(e)
    })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    url_in_config(&text, dir).map_err(|e| {
        Error::new(
            exit::USAGE,
            format!(
                "taskmasterctl: cannot find the socket in config {}",
                path.display()
            ),
        )
        .caused_by(e)
    })
}

/// Only the two keys taskmasterctl needs; everything else is the daemon's business.
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
}

#[derive(Debug, Default, Deserialize)]
struct ServerTable {
    file: Option<PathBuf>,
}

/// The server URL in a config's text; a relative socket `file` is relative
/// to `dir`, the config's directory, as every path in the config is.
fn url_in_config(text: &str, dir: &Path) -> Result<Option<String>, toml::de::Error> {
    let config: ConfigFile = toml::from_str(text)?;
    if let Some(url) = config.taskmasterctl.serverurl {
        return Ok(Some(url));
    }
    Ok(config
        .unix_http_server
        .file
        .map(|file| format!("unix://{}", dir.join(file).display())))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn broken_config_names_the_line() {
        let error = url_in_config("[taskmasterctl]\nserverurl = 5\n", Path::new("/")).unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
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
