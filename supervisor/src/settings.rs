//! The `[taskmasterd]` table of the config: the few settings taskmasterd
//! applies itself. Read leniently: the broker validates the whole file and
//! reports every mistake with its line, so a bad value here just keeps its
//! default.

use std::path::{Path, PathBuf};
use toml::Value;

/// What taskmasterd takes from `[taskmasterd]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub pidfile: Option<PathBuf>,
    pub umask: u32,
    pub nodaemon: bool,
    pub minfds: u64,
    pub minprocs: u64,
    /// The user the broker runs as.
    pub user: Option<String>,
    pub directory: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            pidfile: None,
            umask: 0o022,
            nodaemon: false,
            minfds: 1024,
            minprocs: 200,
            user: None,
            directory: None,
        }
    }
}

impl Settings {
    /// The settings of the config file at `config` (an absolute path). An
    /// unreadable file gives the defaults: the broker will say what is wrong.
    pub fn load(config: &Path) -> Self {
        let base = config.parent().unwrap_or(Path::new("/"));
        match std::fs::read_to_string(config) {
            Ok(text) => Self::parse(&text, base),
            Err(_) => Self::default(),
        }
    }

    /// Parses the `[taskmasterd]` table of `text`; relative paths are taken
    /// relative to `base`, the directory of the config file.
    pub fn parse(text: &str, base: &Path) -> Self {
        let mut settings = Self::default();
        let Ok(document) = text.parse::<toml::Table>() else {
            return settings;
        };
        let Some(Value::Table(table)) = document.get("taskmasterd") else {
            return settings;
        };
        let path = |key: &str| match table.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(base.join(s)),
            _ => None,
        };
        settings.pidfile = path("pidfile");
        settings.directory = path("directory");
        if let Some(umask) = table.get("umask").and_then(parse_mode) {
            settings.umask = umask;
        }
        if let Some(Value::Boolean(nodaemon)) = table.get("nodaemon") {
            settings.nodaemon = *nodaemon;
        }
        if let Some(minfds) = table.get("minfds").and_then(non_negative) {
            settings.minfds = minfds;
        }
        if let Some(minprocs) = table.get("minprocs").and_then(non_negative) {
            settings.minprocs = minprocs;
        }
        settings.user = match table.get("user") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Integer(uid)) if *uid >= 0 => Some(uid.to_string()),
            _ => None,
        };
        settings
    }
}

/// A file mode: a TOML integer (`0o022`) or an octal string (`"022"`,
/// `"0o022"`).
fn parse_mode(value: &Value) -> Option<u32> {
    let mode = match value {
        Value::Integer(n) => u32::try_from(*n).ok()?,
        Value::String(s) => {
            let digits = s.strip_prefix("0o").unwrap_or(s);
            u32::from_str_radix(digits, 8).ok()?
        }
        _ => return None,
    };
    (mode <= 0o777).then_some(mode)
}

fn non_negative(value: &Value) -> Option<u64> {
    match value {
        Value::Integer(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Settings {
        Settings::parse(text, Path::new("/etc/tm"))
    }

    #[test]
    fn defaults_without_the_table() {
        assert_eq!(
            parse("[programs.web]\ncommand = 'x'\n"),
            Settings::default()
        );
        let defaults = Settings::default();
        assert_eq!(defaults.umask, 0o022);
        assert_eq!((defaults.minfds, defaults.minprocs), (1024, 200));
        assert!(!defaults.nodaemon);
    }

    #[test]
    fn umask_forms() {
        let umask = |v: &str| parse(&format!("[taskmasterd]\numask = {v}\n")).umask;
        assert_eq!(umask("0o077"), 0o077);
        assert_eq!(umask("\"027\""), 0o027);
        assert_eq!(umask("\"0o007\""), 0o007);
        assert_eq!(umask("0"), 0);
        // Wrong or out of range: the broker reports it, we keep the default.
        assert_eq!(umask("\"abc\""), 0o022);
        assert_eq!(umask("\"999\""), 0o022);
        assert_eq!(umask("0o1777"), 0o022);
        assert_eq!(umask("true"), 0o022);
    }

    #[test]
    fn every_key() {
        let settings = parse(
            "[taskmasterd]\n\
             logfile = 'x.log'\n\
             pidfile = 'run/tm.pid'\n\
             nodaemon = true\n\
             minfds = 4096\n\
             minprocs = 50\n\
             user = 'tm'\n\
             directory = '/srv'\n\
             unknown = 1\n\
             [taskmasterd.env]\nA = 'b'\n",
        );
        assert_eq!(
            settings,
            Settings {
                pidfile: Some("/etc/tm/run/tm.pid".into()),
                umask: 0o022,
                nodaemon: true,
                minfds: 4096,
                minprocs: 50,
                user: Some("tm".into()),
                directory: Some("/srv".into()),
            }
        );
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let settings = parse("[taskmasterd]\npidfile = 'tm.pid'\ndirectory = '../work'\n");
        assert_eq!(settings.pidfile, Some("/etc/tm/tm.pid".into()));
        assert_eq!(settings.directory, Some("/etc/tm/../work".into()));
    }

    #[test]
    fn bad_values_keep_defaults() {
        let settings = parse("[taskmasterd]\nminfds = 'many'\nminprocs = -3\nnodaemon = 'yes'\n");
        assert_eq!(settings, Settings::default());
        assert_eq!(parse("this is = = not toml"), Settings::default());
        assert_eq!(parse("taskmasterd = 3"), Settings::default());
    }

    #[test]
    fn numeric_user_is_kept_as_text() {
        assert_eq!(
            parse("[taskmasterd]\nuser = 1000\n").user,
            Some("1000".into())
        );
    }
}
