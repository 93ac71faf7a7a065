//! Who may use the dashboard: one secret token, shown once with the URL.
//! A browser trades `/?token=T` for an HttpOnly, SameSite=Strict cookie;
//! scripts (and Prometheus) send `Authorization: Bearer T`. A form posted
//! with the cookie must also carry the page's CSRF token, which another
//! site cannot read.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use axum::http::{header, HeaderMap};

pub const COOKIE: &str = "taskmaster_token";

/// The secrets of one server run.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub token: String,
    /// Put in every page's forms; checked on cookie-authenticated POSTs.
    pub csrf: String,
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A browser's cookie: its POSTs need the CSRF token.
    Cookie,
    /// `Authorization: Bearer`: a script, which no other site can make a
    /// browser send.
    Bearer,
}

/// 32 random bytes as hex.
pub fn random_token() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The token in `path`, or a new one written there (mode 0600) when the
/// file does not exist. A file others can read is refused: the token is a
/// password.
pub fn load_or_create(path: &Path) -> Result<String, String> {
    let shown = path.display();
    match fs::read_to_string(path) {
        Ok(text) => {
            let mode = fs::metadata(path)
                .map_err(|e| format!("cannot read token file {shown}: {e}"))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(format!(
                    "token file {shown} is readable by others (mode {:03o}): chmod 600 {shown}",
                    mode & 0o777
                ));
            }
            let token = text.trim().to_owned();
            if token.len() < 16 {
                return Err(format!(
                    "token file {shown} holds fewer than 16 characters: put a long random \
                     token in it, or delete it to have one made"
                ));
            }
            Ok(token)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let token = random_token().map_err(|e| e.to_string())?;
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("cannot create token file {shown}: {e}"))?;
            writeln!(file, "{token}")
                .map_err(|e| format!("cannot write token file {shown}: {e}"))?;
            Ok(token)
        }
        Err(e) => Err(format!("cannot read token file {shown}: {e}")),
    }
}

/// Compares without stopping at the first difference, so that the time
/// taken says nothing about how much of a guess was right.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Secrets {
    /// How the request authenticated, if it did.
    pub fn check(&self, headers: &HeaderMap) -> Option<Credential> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|t| same(t.trim(), &self.token)) {
            return Some(Credential::Bearer);
        }
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == COOKIE && same(value, &self.token));
        cookie.then_some(Credential::Cookie)
    }

    /// The `Set-Cookie` value a valid `?token=` earns.
    pub fn cookie(&self) -> String {
        format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", self.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn secrets() -> Secrets {
        Secrets {
            token: "t0k3n-t0k3n-t0k3n".into(),
            csrf: "c".into(),
        }
    }

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn bearer_and_cookie_are_told_apart() {
        let s = secrets();
        let bearer = headers(header::AUTHORIZATION, "Bearer t0k3n-t0k3n-t0k3n");
        assert_eq!(s.check(&bearer), Some(Credential::Bearer));
        let cookie = headers(header::COOKIE, "a=b; taskmaster_token=t0k3n-t0k3n-t0k3n");
        assert_eq!(s.check(&cookie), Some(Credential::Cookie));
    }

    #[test]
    fn wrong_or_missing_token_is_refused() {
        let s = secrets();
        assert_eq!(s.check(&HeaderMap::new()), None);
        let wrong = headers(header::AUTHORIZATION, "Bearer t0k3n-t0k3n-t0k3X");
        assert_eq!(s.check(&wrong), None);
        let prefix = headers(header::COOKIE, "taskmaster_token=t0k3n");
        assert_eq!(s.check(&prefix), None);
        let other_cookie = headers(header::COOKIE, "other=t0k3n-t0k3n-t0k3n");
        assert_eq!(s.check(&other_cookie), None);
    }

    #[test]
    fn cookie_is_http_only_and_strict() {
        let cookie = secrets().cookie();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    }

    #[test]
    fn token_file_is_created_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("tm-web-token-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        let made = load_or_create(&path).unwrap();
        assert_eq!(made.len(), 64);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_or_create(&path).unwrap(), made);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = load_or_create(&path).unwrap_err();
        assert!(error.contains("chmod 600"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
