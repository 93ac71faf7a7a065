//! The listeners (Unix socket, optional TCP) and one thread per connection,
//! capped: each connection reads HTTP requests, checks basic auth, and
//! answers POST /RPC2 and GET /logtail.

use crate::http::{self, ReadError};
use crate::rpc::Bridge;
use crate::{logtail, xml, Cli};
use base64::Engine;
use std::io::{self, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Connections served at once; the next ones get 503.
const MAX_CONNECTIONS: usize = 64;
/// A connection with no complete request for this long is closed.
const IDLE: Duration = Duration::from_secs(60);
/// A client that does not read its reply for this long is dropped.
const WRITE: Duration = Duration::from_secs(30);

struct Shared {
    bridge: Bridge,
    /// `Basic base64(user:password)`, when auth is required.
    auth: Option<String>,
    connections: AtomicUsize,
}

pub fn run(cli: &Cli, bridge: Bridge) -> Result<(), String> {
    let auth = match (&cli.user, &cli.password_file) {
        (Some(user), Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read the password file {}: {e}", file.display()))?;
            let password = text.lines().next().unwrap_or("");
            if password.is_empty() {
                return Err(format!(
                    "the password file {} is empty: put the password on its first line",
                    file.display()
                ));
            }
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            Some(format!("Basic {token}"))
        }
        _ => None,
    };
    let tcp = match cli.tcp {
        Some(addr) if !addr.ip().is_loopback() && auth.is_none() => {
            return Err(format!(
                "refusing to listen on {addr} without --user and --password-file: anyone who \
                 reaches that address could stop or start your programs; use 127.0.0.1 or add auth"
            ));
        }
        Some(addr) => {
            Some(TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?)
        }
        None => None,
    };
    let unix = match &cli.unix {
        Some(path) => Some(bind_unix(path, cli.chmod, cli.chown.as_deref())?),
        None => None,
    };
    let shared = Arc::new(Shared {
        bridge,
        auth,
        connections: AtomicUsize::new(0),
    });
    if let Some(listener) = tcp {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_nodelay(true);
                spawn(&shared, stream);
            }
        });
    }
    match unix {
        Some(listener) => {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => spawn(&shared, stream),
                    Err(e) => eprintln!("taskmasterctl-xmlrpc: accept: {e}"),
                }
            }
            Ok(())
        }
        // Only TCP: its thread serves; this one waits for ever.
        None => loop {
            std::thread::park();
        },
    }
}

/// Binds the Unix socket, replacing a stale one (a socket file nobody
/// listens on), and sets its mode and owner.
fn bind_unix(path: &Path, mode: u32, owner: Option<&str>) -> Result<UnixListener, String> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "{} exists and is not a socket: remove it or choose another --unix path",
                path.display()
            ));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{} is in use by a running server: stop it or choose another --unix path",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove the stale socket {}: {e}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
    if let Some(owner) = owner {
        chown(path, owner)?;
    }
    Ok(listener)
}

fn chown(path: &Path, owner: &str) -> Result<(), String> {
    use nix::unistd::{Group, User};
    let (user, group) = match owner.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (owner, None),
    };
    let user = User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| format!("--chown: no such user '{user}'"))?;
    let gid = match group {
        Some(name) => {
            Group::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| format!("--chown: no such group '{name}'"))?
                .gid
        }
        None => user.gid,
    };
    nix::unistd::chown(path, Some(user.uid), Some(gid))
        .map_err(|e| format!("cannot chown {} to {owner}: {e}", path.display()))
}

/// A connection's stream: Unix or TCP.
trait Stream: Send + Sync + 'static {
    /// A browser can connect to it (TCP), so a web page may be the client.
    const BROWSERS_REACH: bool;
    fn set_timeouts(&self) -> io::Result<()>;
    /// Ends both directions, waking a thread blocked reading it.
    fn close(&self);
}

impl Stream for UnixStream {
    const BROWSERS_REACH: bool = false;

    fn set_timeouts(&self) -> io::Result<()> {
        self.set_read_timeout(Some(IDLE))?;
        self.set_write_timeout(Some(WRITE))
    }

    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

impl Stream for std::net::TcpStream {
    const BROWSERS_REACH: bool = true;

    fn set_timeouts(&self) -> io::Result<()> {
        self.set_read_timeout(Some(IDLE))?;
        self.set_write_timeout(Some(WRITE))
    }

    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

fn spawn<S>(shared: &Arc<Shared>, stream: S)
where
    S: Stream,
    for<'a> &'a S: Read + Write,
{
    if shared.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
        shared.connections.fetch_sub(1, Ordering::SeqCst);
        let _ = http::respond(
            &mut &stream,
            503,
            "text/plain",
            b"too many connections to the XML-RPC bridge\n",
            false,
        );
        return;
    }
    let shared = Arc::clone(shared);
    std::thread::spawn(move || {
        if let Err(e) = serve(&shared, &stream) {
            // A client gone mid-reply is its business, not an error here.
            if !matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) {
                eprintln!("taskmasterctl-xmlrpc: connection: {e}");
            }
        }
        shared.connections.fetch_sub(1, Ordering::SeqCst);
    });
}

fn serve<S>(shared: &Shared, stream: &S) -> io::Result<()>
where
    S: Stream,
    for<'a> &'a S: Read + Write,
{
    stream.set_timeouts()?;
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    loop {
        let request = match http::read_request(&mut reader) {
            Ok(request) => request,
            Err(ReadError::Closed) => return Ok(()),
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(ReadError::Io(e)) => return Err(e),
            Err(ReadError::Bad(status, why)) => {
                return http::respond(&mut writer, status, "text/plain", why.as_bytes(), false);
            }
        };
        if !authorized(shared, &request) {
            http::respond(
                &mut writer,
                401,
                "text/plain",
                b"authorization required\n",
                false,
            )?;
            return Ok(());
        }
        if let Some(why) = from_a_web_page(shared, &request).filter(|_| S::BROWSERS_REACH) {
            http::respond(&mut writer, 403, "text/plain", why.as_bytes(), false)?;
            return Ok(());
        }
        let keep_alive = request.keep_alive;
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/RPC2") => {
                let body = rpc_reply(&shared.bridge, &request.body);
                http::respond(&mut writer, 200, "text/xml", body.as_bytes(), keep_alive)?;
            }
            ("GET", path) if path.starts_with("/logtail/") => {
                let follower = logtail::open_process(&shared.bridge, &path["/logtail/".len()..]);
                return follow(follower, reader, stream);
            }
            ("GET", "/mainlogtail") => {
                return follow(logtail::open_main(&shared.bridge), reader, stream);
            }
            (_, "/RPC2") => {
                http::respond(
                    &mut writer,
                    405,
                    "text/plain",
                    b"POST XML-RPC calls here\n",
                    keep_alive,
                )?;
            }
            _ => {
                http::respond(&mut writer, 404, "text/plain", b"not found\n", keep_alive)?;
            }
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Streams a log to the client until either side leaves. A watcher reads
/// the client's end: when the client closes it (Ctrl-C in `supervisorctl
/// tail -f`), taskmasterd's stream is ended at once, rather than at the
/// next write that fails, which may never come for a quiet log.
fn follow<S>(
    follower: Result<logtail::Follower, crate::faults::Fault>,
    mut reader: BufReader<&S>,
    stream: &S,
) -> io::Result<()>
where
    S: Stream,
    for<'a> &'a S: Read + Write,
{
    let follower = match follower {
        Ok(follower) => follower,
        Err(fault) => {
            let body = format!("{}\n", fault.message);
            return http::respond(&mut &*stream, 404, "text/plain", body.as_bytes(), false);
        }
    };
    let closer = follower.closer()?;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut buf = [0; 512];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    // The idle timeout of a quiet follower: keep watching.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) => {}
                    Err(_) => break,
                }
            }
            let _ = closer.shutdown(std::net::Shutdown::Both);
        });
        let result = follower.send(stream);
        // Wakes the watcher when taskmasterd ended the stream first.
        stream.close();
        result
    })
}

/// Why a request over TCP is refused as one a web page in the operator's
/// browser may have made, if it is. A page on any site can POST a `text/plain` body
/// to `http://127.0.0.1:PORT/RPC2` without asking (its answer is hidden
/// from the page, but the call is made); XML-RPC clients send `text/xml`,
/// which a page cannot send elsewhere without a CORS preflight, which is
/// never granted here. Without `--user`, a page can also rebind its own
/// name to 127.0.0.1 and read the answers: its `Host` is then its own
/// name, never `localhost` or an address.
fn from_a_web_page(shared: &Shared, request: &http::Request) -> Option<String> {
    let content_type = request.header("content-type").unwrap_or("");
    let xml = content_type
        .split(';')
        .next()
        .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("text/xml"));
    if request.method == "POST" && !xml {
        return Some(format!(
            "XML-RPC calls are sent with Content-Type: text/xml, not {content_type:?}\n"
        ));
    }
    let host = request.header("host").unwrap_or("localhost");
    if shared.auth.is_none() && !names_this_machine(host) {
        return Some(format!(
            "Host {host:?} is not localhost or an address: refused, as a web page's \
             (DNS rebinding); connect to 127.0.0.1, or require --user\n"
        ));
    }
    None
}

/// `localhost` or an IP address, with or without a port.
fn names_this_machine(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

fn authorized(shared: &Shared, request: &http::Request) -> bool {
    let Some(expected) = &shared.auth else {
        return true;
    };
    let given = request.header("authorization").unwrap_or("");
    // Compared in full whatever differs first, so that the time taken
    // does not tell how much of a guess was right.
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The XML of the reply to one `<methodCall>`.
fn rpc_reply(bridge: &Bridge, body: &[u8]) -> String {
    let call = std::str::from_utf8(body)
        .map_err(|_| "the request body is not UTF-8".to_owned())
        .and_then(xml::parse_call);
    match call {
        Err(why) => xml::fault(
            crate::faults::INCORRECT_PARAMETERS,
            &format!("INCORRECT_PARAMETERS: cannot read the XML-RPC call: {why}"),
        ),
        Ok(call) => match bridge.call(&call.method, &call.params) {
            Ok(value) => xml::response(&value),
            Err(fault) => xml::fault(fault.code, &fault.message),
        },
    }
}
