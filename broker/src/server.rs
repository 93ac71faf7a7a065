//! The control socket: created with its mode and owner, never over a live
//! daemon's; one task per client reading NDJSON lines with a size limit,
//! each request answered by the core in order.

use futures_util::{SinkExt, StreamExt};
use nix::unistd::{chown, Gid, Uid};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener as StdListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use taskmaster_config::ServerConfig;
use taskmaster_protocol::{Event, EventBody, Request, Response, MAX_LINE};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec, LinesCodecError};

/// Clients served at once; more are told to come back later.
const MAX_CLIENTS: usize = 1024;
/// A client that does not take its reply within this time is dropped, so
/// that it cannot hold memory or a task forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Who sent a request, from `SO_PEERCRED`.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub uid: Option<u32>,
    pub pid: Option<i32>,
}

impl Peer {
    pub fn describe(&self) -> String {
        match (self.uid, self.pid) {
            (Some(uid), Some(pid)) => format!("uid {uid} (pid {pid})"),
            (Some(uid), None) => format!("uid {uid}"),
            _ => "an unknown peer".to_string(),
        }
    }
}

/// A request on its way to the core, with the way back.
pub struct ClientRequest {
    pub request: Request,
    pub peer: Peer,
    /// The first request of its connection (the activity log notes who
    /// connected).
    pub first: bool,
    pub reply: oneshot::Sender<Response>,
}

/// The bound socket, removed again when dropped (if it is still ours).
pub struct Socket {
    pub listener: StdListener,
    path: PathBuf,
    inode: u64,
}

impl Drop for Socket {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Socket {
    /// Applies `chmod` and `chown` of the config to the bound socket.
    fn apply_mode(&self, config: &ServerConfig) -> Result<(), String> {
        let path = &self.path;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(config.chmod))
            .map_err(|e| format!("cannot chmod {} to {:o}: {e}", path.display(), config.chmod))?;
        if let Some(owner) = &config.chown {
            chown(
                path,
                Some(Uid::from_raw(owner.uid)),
                owner.gid.map(Gid::from_raw),
            )
            .map_err(|e| format!("cannot chown {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// The socket being served: dropping it stops accepting and removes the
/// socket file. Connected clients keep their connections.
pub struct Served {
    socket: Socket,
    task: tokio::task::JoinHandle<()>,
    routes: Routes,
}

impl Served {
    /// Starts accepting on `socket`. Must be called inside the runtime.
    pub fn start(socket: Socket, routes: Routes) -> Result<Served, String> {
        let listener = socket
            .listener
            .try_clone()
            .map_err(|e| format!("cannot use socket {}: {e}", socket.path.display()))?;
        let serving = routes.clone();
        let task = tokio::spawn(async move {
            let _ = serve(listener, serving).await;
        });
        Ok(Served {
            socket,
            task,
            routes,
        })
    }

    /// Applies a changed `[unix_http_server]`: the same path gets its new
    /// mode and owner; a new path is bound first and the old socket is
    /// closed only once the new one is served. On error nothing changes.
    pub fn rebind(&mut self, config: &ServerConfig) -> Result<(), String> {
        if config.file == self.socket.path {
            return self.socket.apply_mode(config);
        }
        let socket = bind(config)?;
        *self = Served::start(socket, self.routes.clone())?;
        Ok(())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds the control socket. A live daemon's socket is never touched; a
/// stale one (nobody accepts on it) is replaced; anything else at the path
/// is an error.
pub fn bind(config: &ServerConfig) -> Result<Socket, String> {
    let path = &config.file;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "{} exists and is not a socket; remove it or choose another [unix_http_server] file",
                path.display()
            ));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(format!(
                    "another taskmasterd is already serving {}; stop it first (taskmasterctl -s unix://{} shutdown)",
                    path.display(),
                    path.display()
                ))
            }
            Err(_) => std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove stale socket {}: {e}", path.display()))?,
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create socket directory {}: {e}", dir.display()))?;
    }
    let listener =
        StdListener::bind(path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
    let inode = std::fs::symlink_metadata(path)
        .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
        .ino();
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot configure {}: {e}", path.display()))?;
    // From here on, dropping the socket removes the file again.
    let socket = Socket {
        listener,
        path: path.to_path_buf(),
        inode,
    };
    socket.apply_mode(config)?;
    Ok(socket)
}

/// Where a connection's requests go: the core for everything but the
/// `events` stream, which the server feeds from the broadcast itself so
/// that a slow reader never holds the core up.
#[derive(Clone)]
pub struct Routes {
    pub core: mpsc::Sender<ClientRequest>,
    pub events: broadcast::Sender<Event>,
}

/// Accepts clients until the task is aborted.
async fn serve(listener: StdListener, routes: Routes) -> io::Result<()> {
    let listener = UnixListener::from_std(listener)?;
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors and the like: keep serving the others.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let routes = routes.clone();
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => {
                tokio::spawn(async move {
                    serve_client(stream, routes).await;
                    drop(slot);
                });
            }
            Err(_) => {
                tokio::spawn(refuse_busy(stream));
            }
        }
    }
}

async fn refuse_busy(stream: UnixStream) {
    let mut writer = FramedWrite::new(stream, LinesCodec::new());
    let reply = Response::error(
        503,
        "busy",
        format!("taskmasterd is serving {MAX_CLIENTS} clients; try again"),
    );
    let _ = tokio::time::timeout(WRITE_TIMEOUT, writer.send(encode(&reply))).await;
}

async fn serve_client(stream: UnixStream, routes: Routes) {
    let peer = stream
        .peer_cred()
        .map(|cred| Peer {
            uid: Some(cred.uid()),
            pid: cred.pid(),
        })
        .unwrap_or(Peer {
            uid: None,
            pid: None,
        });
    let (read, write) = stream.into_split();
    let mut lines = FramedRead::new(read, LinesCodec::new_with_max_length(MAX_LINE));
    let mut writer = FramedWrite::new(write, LinesCodec::new());
    let mut first = true;
    loop {
        let (reply, keep_going) = match lines.next().await {
            None => return,
            Some(Ok(line)) if line.trim().is_empty() => continue,
            Some(Ok(line)) => match serde_json::from_str::<Request>(&line) {
                Ok(request) if request.command == "events" => {
                    // The core checks the caller's roles; the stream is served here.
                    let first = std::mem::replace(&mut first, false);
                    let verdict = answer(request.clone(), peer, first, &routes.core).await;
                    if verdict.status != 200 {
                        (verdict, true)
                    } else {
                        stream_events(request, routes.events.subscribe(), writer).await;
                        return;
                    }
                }
                Ok(request) if crate::tail::is_tail(&request.command) => {
                    let first = std::mem::replace(&mut first, false);
                    let resolved = answer(request.clone(), peer, first, &routes.core).await;
                    if crate::tail::serve(request, resolved, &mut lines, &mut writer).await {
                        continue;
                    }
                    return;
                }
                Ok(request) => {
                    let first = std::mem::replace(&mut first, false);
                    (answer(request, peer, first, &routes.core).await, true)
                }
                Err(e) => (
                    Response::error(400, "bad_request", format!("invalid request: {e}")),
                    true,
                ),
            },
            Some(Err(LinesCodecError::MaxLineLengthExceeded)) => (
                Response::error(
                    400,
                    "line_too_long",
                    format!("request line longer than {MAX_LINE} bytes"),
                ),
                false,
            ),
            Some(Err(LinesCodecError::Io(e))) if e.kind() == io::ErrorKind::InvalidData => (
                Response::error(400, "bad_request", "request is not valid UTF-8"),
                false,
            ),
            Some(Err(_)) => return,
        };
        if !send_line(&mut writer, encode(&reply)).await || !keep_going {
            return;
        }
    }
}

async fn answer(
    request: Request,
    peer: Peer,
    first: bool,
    core: &mpsc::Sender<ClientRequest>,
) -> Response {
    let id = request.id.clone();
    let (reply, answer) = oneshot::channel();
    let mut response = if core
        .send(ClientRequest {
            request,
            peer,
            first,
            reply,
        })
        .await
        .is_err()
    {
        Response::error(503, "unavailable", "taskmasterd is shutting down")
    } else {
        answer
            .await
            .unwrap_or_else(|_| Response::error(500, "internal", "the request was dropped"))
    };
    response.id = id;
    response
}

/// Answers an `events` request, then sends one line per event until the
/// client goes away. A reader that falls behind the broadcast buffer is
/// told how many events it missed instead of slowing anyone down.
async fn stream_events(
    request: Request,
    mut events: broadcast::Receiver<Event>,
    mut writer: FramedWrite<OwnedWriteHalf, LinesCodec>,
) {
    let mut reply = Response::ok(serde_json::json!({ "subscribed": true }));
    reply.id = request.id;
    if !send_line(&mut writer, encode(&reply)).await {
        return;
    }
    let mut missed_seq = 0;
    loop {
        let line = match events.recv().await {
            Ok(event) => {
                missed_seq = event.seq;
                serde_json::to_string(&event).expect("events serialize")
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let lagged = Event {
                    seq: missed_seq,
                    time_ms: 0,
                    body: EventBody::Lagged { missed },
                };
                serde_json::to_string(&lagged).expect("events serialize")
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if !send_line(&mut writer, line).await {
            return;
        }
    }
}

pub(crate) async fn send_line(
    writer: &mut FramedWrite<OwnedWriteHalf, LinesCodec>,
    line: String,
) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, writer.send(line)).await,
        Ok(Ok(()))
    )
}

pub(crate) fn encode(response: &Response) -> String {
    serde_json::to_string(response).expect("responses serialize")
}
