//! The control socket: created with its mode and owner, never over a live
//! daemon's; one task per client reading NDJSON lines with a size limit,
//! each request answered by the core in order. [`crate::limits`] keeps any
//! one client from holding what the others need: slots, buffered bytes,
//! and idle connections (closed after `idle_timeout`).

use crate::framing::{encode, send_line, LineError, Lines, WRITE_TIMEOUT};
use crate::limits::{Limits, Refusal, Slot};
use crate::tail::Hub;
use futures_util::SinkExt;
use std::io;

use std::os::unix::net::UnixListener as StdListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use taskmaster_protocol::{Command, Event, EventBody, Request, Response, MAX_LINE};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, Notify};
use tokio_util::codec::{FramedWrite, LinesCodec};

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

/// The listening control socket, as taskmasterd bound it (with its mode and
/// owner, safely) and handed it over: taskmasterd also removes the file, so
/// a broker restart never takes the socket away from clients.
pub struct Socket {
    pub listener: StdListener,
    path: PathBuf,
}

impl Socket {
    pub fn new(listener: std::os::fd::OwnedFd, path: &std::path::Path) -> Socket {
        Socket {
            listener: StdListener::from(listener),
            path: path.to_path_buf(),
        }
    }
}

/// The control socket taskmasterd handed over cannot be served.
#[derive(Debug)]
pub struct SocketError {
    path: PathBuf,
    cause: io::Error,
}

impl std::fmt::Display for SocketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot serve the socket {}: {}",
            self.path.display(),
            self.cause
        )
    }
}

impl std::error::Error for SocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// The socket being served: dropping it stops accepting (the file stays,
/// taskmasterd's). Connected clients keep their connections.
pub struct Served {
    task: tokio::task::JoinHandle<()>,
    routes: Routes,
    shared: Shared,
}

/// What every connection shares, and keeps across a rebind to a new path.
#[derive(Clone)]
struct Shared {
    limits: Arc<Limits>,
    hub: Hub,
    /// Told of every big reply; see [`trim_after_big_replies`].
    big_replies: Arc<Notify>,
}

impl Served {
    /// Starts accepting on `socket`. Must be called inside the runtime.
    pub fn start(
        socket: Socket,
        routes: Routes,
        config: &taskmaster_config::ServerConfig,
    ) -> Result<Served, SocketError> {
        let shared = Shared {
            limits: Limits::new(config.idle_timeout),
            hub: Hub::new(),
            big_replies: trim_after_big_replies(),
        };
        Served::start_with(socket, routes, shared)
    }

    fn start_with(socket: Socket, routes: Routes, shared: Shared) -> Result<Served, SocketError> {
        let listener = socket.listener;
        listener
            .set_nonblocking(true)
            .map_err(|cause| SocketError {
                path: socket.path.clone(),
                cause,
            })?;
        let serving = routes.clone();
        let sharing = shared.clone();
        let task = tokio::spawn(async move {
            let _ = serve(listener, serving, sharing).await;
        });
        Ok(Served {
            task,
            routes,
            shared,
        })
    }

    /// Serves `socket` (bound again by taskmasterd for a changed
    /// `[unix_http_server]`) instead of the current one. Connected clients
    /// keep their connections, and the limits carry over.
    pub fn replace(&mut self, socket: Socket) -> Result<(), SocketError> {
        *self = Served::start_with(socket, self.routes.clone(), self.shared.clone())?;
        Ok(())
    }

    /// A changed `idle_timeout`, for the next wait of every connection.
    pub fn set_idle_timeout(&self, idle_timeout: Option<Duration>) {
        self.shared.limits.set_idle_timeout(idle_timeout);
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where a connection's requests go: the core for everything but the
/// `events` stream, which the server feeds from the broadcast itself so
/// that a slow reader never holds the core up.
#[derive(Clone)]
pub struct Routes {
    pub core: mpsc::Sender<ClientRequest>,
    pub events: std::sync::Arc<crate::feed::Feed>,
}

/// Accepts clients until the task is aborted.
async fn serve(listener: StdListener, routes: Routes, shared: Shared) -> io::Result<()> {
    let listener = UnixListener::from_std(listener)?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors and the like: keep serving the others.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer = peer_of(&stream);
        // Admitted here, in the order clients connect, so that the count
        // is exact when the next one arrives.
        match shared.limits.admit(peer.uid) {
            Ok(slot) => {
                tokio::spawn(serve_client(
                    stream,
                    peer,
                    slot,
                    routes.clone(),
                    shared.clone(),
                ));
            }
            Err(refusal) => {
                tokio::spawn(refuse_busy(stream, refusal));
            }
        }
    }
}

fn peer_of(stream: &UnixStream) -> Peer {
    stream
        .peer_cred()
        .map(|cred| Peer {
            uid: Some(cred.uid()),
            pid: cred.pid(),
        })
        .unwrap_or(Peer {
            uid: None,
            pid: None,
        })
}

async fn refuse_busy(stream: UnixStream, refusal: Refusal) {
    let mut writer = FramedWrite::new(stream, LinesCodec::new());
    let reply = Response::error(503, "busy", refusal.to_string());
    let _ = tokio::time::timeout(WRITE_TIMEOUT, writer.send(encode(&reply))).await;
}

/// The next request line, or the reason to close (`Err` holds the reply
/// to send first, if any): no complete line within the idle timeout, an
/// oversized or non-UTF-8 line, the budget of buffered bytes used up.
async fn next_request(
    lines: &mut Lines<OwnedReadHalf>,
    limits: &Limits,
) -> Result<String, Option<Response>> {
    let next = match limits.idle_timeout() {
        // A client that trickles a line byte by byte is idle too: the
        // timeout is for the whole line.
        Some(timeout) => match tokio::time::timeout(timeout, lines.next()).await {
            Ok(next) => next,
            Err(_) => {
                return Err(Some(Response::error(
                    408,
                    "idle_timeout",
                    format!(
                    "no request for {} s: closing the connection ([unix_http_server] idle_timeout)",
                    timeout.as_secs_f64()
                ),
                )))
            }
        },
        None => lines.next().await,
    };
    match next {
        None | Some(Err(LineError::Failed)) => Err(None),
        Some(Ok(line)) => Ok(line),
        Some(Err(LineError::TooLong)) => Err(Some(Response::error(
            400,
            "line_too_long",
            format!("request line longer than {MAX_LINE} bytes"),
        ))),
        Some(Err(LineError::NotUtf8)) => Err(Some(Response::error(
            400,
            "bad_request",
            "request is not valid UTF-8",
        ))),
        Some(Err(LineError::OverBudget)) => Err(Some(Response::error(
            503,
            "busy",
            format!(
                "taskmasterd holds {} MiB of unfinished requests from all clients (its limit); \
                 send whole lines",
                crate::limits::MAX_BUFFERED / (1024 * 1024)
            ),
        ))),
    }
}

async fn serve_client(stream: UnixStream, peer: Peer, slot: Slot, routes: Routes, shared: Shared) {
    // Held until the connection ends, whichever way.
    let _slot = slot;
    let (read, write) = stream.into_split();
    let mut lines = Lines::new(read, shared.limits.tab());
    let mut writer = FramedWrite::new(write, LinesCodec::new());
    let mut first = true;
    loop {
        let line = match next_request(&mut lines, &shared.limits).await {
            Ok(line) => line,
            Err(None) => return,
            Err(Some(reply)) => {
                send_line(&mut writer, encode(&reply)).await;
                return;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(request) if matches!(request.command, Command::Events | Command::EventsSince(_)) => {
                // The core checks the caller's roles; the stream is served here.
                let first = std::mem::replace(&mut first, false);
                let verdict = answer(request.clone(), peer, first, &routes.core).await;
                if verdict.status != 200 {
                    verdict
                } else {
                    let subscribed = match request.command {
                        Command::EventsSince(since) => routes.events.resume(since),
                        _ => Ok((Vec::new(), routes.events.subscribe())),
                    };
                    match subscribed {
                        Ok((replay, live)) => {
                            stream_events(request, replay, live, &mut lines, writer).await;
                            return;
                        }
                        Err(gone) => gone_reply(&gone, request.id),
                    }
                }
            }
            Ok(request) if crate::tail::reading(&request.command).is_some() => {
                let reading = crate::tail::reading(&request.command).unwrap_or_default();
                let first = std::mem::replace(&mut first, false);
                let resolved = answer(request, peer, first, &routes.core).await;
                if crate::tail::serve(reading, resolved, &shared.hub, &mut lines, &mut writer).await
                {
                    continue;
                }
                return;
            }
            Ok(request) => {
                let first = std::mem::replace(&mut first, false);
                answer(request, peer, first, &routes.core).await
            }
            Err(e) => Response::error(400, "bad_request", format!("invalid request: {e}")),
        };
        let line = encode(&reply);
        drop(reply);
        let big = line.len() >= BIG_REPLY;
        if !send_line(&mut writer, line).await {
            return;
        }
        if big {
            shared.big_replies.notify_one();
        }
    }
}

/// A reply this long (the status of a few hundred processes) leaves enough
/// free heap behind to be worth a `malloc_trim`.
const BIG_REPLY: usize = 64 << 10;

/// How long after the last big reply the heap is trimmed.
const TRIM_QUIET: Duration = Duration::from_secs(1);

/// Building a big reply takes several times its size, free once it is
/// sent but resident: given back to the system once big replies stop
/// coming for [`TRIM_QUIET`]. Not after each one: the next would fault
/// all those pages in again (a quarter of the time of a 1000-process
/// `status` polled in a loop). The task sleeps until a big reply, so an
/// idle broker stays asleep.
fn trim_after_big_replies() -> Arc<Notify> {
    let big_replies = Arc::new(Notify::new());
    let told = Arc::clone(&big_replies);
    tokio::spawn(async move {
        loop {
            told.notified().await;
            while tokio::time::timeout(TRIM_QUIET, told.notified())
                .await
                .is_ok()
            {}
            taskmaster_ipc::release_free_memory();
        }
    });
    big_replies
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
/// client goes away (noticed at once, by reading its end, not at the next
/// event). A reader that falls behind the broadcast buffer is told how
/// many events it missed instead of slowing anyone down.
/// 410 `gone`: the events after the client's `since` are no longer kept.
fn gone_reply(gone: &crate::feed::Gone, id: Option<serde_json::Value>) -> Response {
    let message = if gone.next <= gone.oldest {
        format!(
            "no events after that seq are kept: taskmasterd numbers events from {} now \
             (it restarted); read the state again (status), then follow from {}",
            gone.oldest,
            gone.oldest.saturating_sub(1)
        )
    } else {
        format!(
            "events before seq {} are no longer kept: read the state again (status), \
             then follow from {}",
            gone.oldest,
            gone.oldest.saturating_sub(1)
        )
    };
    let mut reply = Response::error(410, "gone", message);
    if let Some(error) = &mut reply.error {
        error.oldest_seq = Some(gone.oldest);
    }
    reply.id = id;
    reply
}

async fn stream_events(
    request: Request,
    replay: Vec<Event>,
    mut events: broadcast::Receiver<Event>,
    lines: &mut Lines<OwnedReadHalf>,
    mut writer: FramedWrite<OwnedWriteHalf, LinesCodec>,
) {
    let mut reply = Response::ok(serde_json::json!({ "subscribed": true }));
    reply.id = request.id;
    if !send_line(&mut writer, encode(&reply)).await {
        return;
    }
    for event in replay {
        if !send_line(
            &mut writer,
            serde_json::to_string(&event).expect("events serialize"),
        )
        .await
        {
            return;
        }
    }
    let mut missed_seq = 0;
    loop {
        let received = tokio::select! {
            received = events.recv() => received,
            () = lines.hang_up() => return,
        };
        let line = match received {
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
