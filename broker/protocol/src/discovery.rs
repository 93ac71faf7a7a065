//! Where the config file and the control socket are found.

use std::path::{Path, PathBuf};

/// Searched in this order when neither `-c` nor `$TASKMASTER_CONFIG` names a file.
pub const CONFIG_SEARCH_PATH: [&str; 3] = [
    "./taskmaster.conf.toml",
    "../taskmaster.conf.toml",
    "/etc/taskmaster/taskmaster.conf.toml",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigNotFound;

impl std::fmt::Display for ConfigNotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no config file found: pass -c FILE, set TASKMASTER_CONFIG, or create one of {}",
            CONFIG_SEARCH_PATH.join(", ")
        )
    }
}

impl std::error::Error for ConfigNotFound {}

/// The config file to use: `explicit` (from `-c`) if given, else
/// `$TASKMASTER_CONFIG`, else the first of [`CONFIG_SEARCH_PATH`] that exists.
/// An explicit path is returned even if it does not exist, so that the caller
/// reports the real error about it.
pub fn discover_config(explicit: Option<&Path>) -> Result<PathBuf, ConfigNotFound> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os("TASKMASTER_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    CONFIG_SEARCH_PATH
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(ConfigNotFound)
}

/// A server URL that names no Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedUrl(pub String);

impl std::fmt::Display for UnsupportedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unsupported server URL '{}': use unix:///path/to/taskmaster.sock",
            self.0
        )
    }
}

impl std::error::Error for UnsupportedUrl {}

/// The socket path of a server URL: `unix:///run/x.sock` or a bare path.
pub fn socket_path_from_url(url: &str) -> Result<PathBuf, UnsupportedUrl> {
    let path = url.strip_prefix("unix://").unwrap_or(url);
    if path.is_empty() || url.contains("://") && !url.starts_with("unix://") {
        return Err(UnsupportedUrl(url.to_string()));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_urls_and_paths() {
        assert_eq!(
            socket_path_from_url("unix:///tmp/t.sock").unwrap(),
            PathBuf::from("/tmp/t.sock")
        );
        assert_eq!(
            socket_path_from_url("/run/t.sock").unwrap(),
            PathBuf::from("/run/t.sock")
        );
        assert!(socket_path_from_url("http://localhost:9001").is_err());
        assert!(socket_path_from_url("unix://").is_err());
    }

    #[test]
    fn explicit_path_wins() {
        let path = Path::new("/nonexistent/t.toml");
        assert_eq!(discover_config(Some(path)).unwrap(), path);
    }
}
