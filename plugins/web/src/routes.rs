//! The HTTP surface: which URL does what, and who may ask.
//!
//! | route | |
//! |---|---|
//! | `GET /` (`?token=T` once) | the dashboard |
//! | `POST /action` | start, stop or restart a process (form: `action`, `name`, `csrf`) |
//! | `GET /events` | Server-Sent Events: rows as they change |
//! | `GET /logs/NAME` | the last lines of its stdout and stderr |
//! | `GET /logs/NAME/stream?stream=stdout` | Server-Sent Events: its log as it grows |
//! | `GET /metrics` | Prometheus exposition text |
//! | `GET /assets/FILE` | the embedded stylesheet and scripts (no secret, no token) |

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use taskmaster_protocol::{
    Action, ActionContent, Command, Reading, Selection, TailChunk, TailContent,
};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{self, Credential};
use crate::live::{Shared, Update};
use crate::{metrics, page};

type AppState = State<Arc<Shared>>;

/// How many lines a log page starts with.
const LOG_LINES: u64 = 200;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/action", post(action))
        .route("/events", get(events))
        .route("/logs/{name}", get(logs))
        .route("/logs/{name}/stream", get(log_stream))
        .route("/metrics", get(metrics))
        .route("/assets/{file}", get(asset))
        .fallback(|| async {
            html(
                StatusCode::NOT_FOUND,
                page::message("Not found", "No such page."),
            )
        })
        .with_state(shared)
}

/// What every page says besides its body: no script or frame from another
/// site, no caching, and never the address (the first one holds the
/// token) as a referrer.
const PAGE_HEADERS: [(header::HeaderName, &str); 5] = [
    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; frame-ancestors 'none'",
    ),
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// A page, with [`PAGE_HEADERS`].
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    for (name, value) in PAGE_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

fn unauthorized() -> Response {
    html(
        StatusCode::UNAUTHORIZED,
        page::message(
            "401 Unauthorized",
            "Open the URL that taskmasterctl web printed (it ends with ?token=...), \
             or send Authorization: Bearer TOKEN.",
        ),
    )
}

fn unavailable(message: String) -> Response {
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        page::message("taskmasterd unavailable", &message),
    )
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn index(
    State(shared): AppState,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = query.token {
        if !auth::same(&token, &shared.secrets.token) {
            return unauthorized();
        }
        // The cookie from now on; the token leaves the address bar.
        let mut response = Redirect::to("/").into_response();
        if let Ok(cookie) = HeaderValue::from_str(&shared.secrets.cookie()) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        return response;
    }
    if shared.secrets.check(&headers).is_none() {
        return unauthorized();
    }
    dashboard(&shared, StatusCode::OK, None).await
}

async fn dashboard(shared: &Shared, status: StatusCode, notice: Option<(&str, bool)>) -> Response {
    let content = match shared.status(Selection::default()).await {
        Ok(content) => content,
        Err(message) => return unavailable(message),
    };
    match shared
        .render(&content, false, |view| page::index(&content, view, notice))
        .await
    {
        Ok(body) => html(status, body),
        Err(message) => unavailable(message),
    }
}

#[derive(Deserialize)]
struct ActionForm {
    action: String,
    name: String,
    #[serde(default)]
    csrf: String,
}

/// What the daemon answered, in a sentence, and whether it all went well.
fn outcome(
    reply: Result<taskmaster_protocol::Reply<ActionContent>, String>,
) -> (StatusCode, String, bool) {
    let reply = match reply {
        Ok(reply) => reply,
        Err(message) => return (StatusCode::SERVICE_UNAVAILABLE, message, false),
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(error) = reply.error {
        return (status, error.message, false);
    }
    let content = reply.content.unwrap_or(ActionContent {
        results: Vec::new(),
        plan: None,
        skipped: Vec::new(),
    });
    let mut parts: Vec<String> = content
        .results
        .iter()
        .map(|r| format!("{}: {}", r.name, r.message))
        .collect();
    parts.extend(
        content
            .skipped
            .iter()
            .map(|s| format!("{}: skipped ({})", s.name, s.reason)),
    );
    let ok = content.results.iter().all(|r| r.ok);
    let text = if parts.is_empty() {
        "nothing to do".to_owned()
    } else {
        parts.join(", ")
    };
    (status, text, ok)
}

async fn action(
    State(shared): AppState,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    let Some(credential) = shared.secrets.check(&headers) else {
        return unauthorized();
    };
    let (status, text, ok) = act(&shared, credential, &form).await;
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let body = serde_json::json!({ "ok": ok, "message": text });
        (status, axum::Json(body)).into_response()
    } else {
        dashboard(&shared, status, Some((&text, ok))).await
    }
}

/// Does what the form asks, if it may: the status, a sentence, and
/// whether it all went well.
async fn act(
    shared: &Shared,
    credential: Credential,
    form: &ActionForm,
) -> (StatusCode, String, bool) {
    if credential == Credential::Cookie && !auth::same(&form.csrf, &shared.secrets.csrf) {
        let text = "the form's CSRF token is missing or stale: reload the page and try again";
        return (StatusCode::FORBIDDEN, text.to_owned(), false);
    }
    let action = Action::from(Selection::one(form.name.clone()));
    let command = match form.action.as_str() {
        "start" => Command::Start(action),
        "stop" => Command::Stop(action),
        "restart" => Command::Restart(action),
        other => {
            let text = format!("unknown action '{other}': use start, stop or restart");
            return (StatusCode::BAD_REQUEST, text, false);
        }
    };
    outcome(shared.daemon.request(command).await)
}

fn sse_event(update: &Update) -> SseEvent {
    let name = match update {
        Update::Snapshot { .. } => "snapshot",
        Update::Row { .. } => "row",
        Update::Down { .. } => "down",
    };
    SseEvent::default()
        .event(name)
        .json_data(update)
        .unwrap_or_else(|_| SseEvent::default().event("down"))
}

fn sse<S>(stream: S) -> Response
where
    S: Stream<Item = SseEvent> + Send + 'static,
{
    // The keep-alive comment is what tells us, within 15 s, that a
    // browser has gone, and so ends what followed for it.
    Sse::new(stream.map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

async fn events(State(shared): AppState, headers: HeaderMap) -> Response {
    if shared.secrets.check(&headers).is_none() {
        return unauthorized();
    }
    // Subscribed before the snapshot is taken, so no change falls between.
    let receiver = shared.updates.subscribe();
    let first = shared.snapshot(false).await;
    let rest = stream::unfold((receiver, shared), |(mut receiver, shared)| async move {
        let update = match receiver.recv().await {
            Ok(update) => update,
            Err(RecvError::Lagged(_)) => shared.snapshot(false).await,
            Err(RecvError::Closed) => return None,
        };
        Some((sse_event(&update), (receiver, shared)))
    });
    sse(stream::once(async move { sse_event(&first) }).chain(rest))
}

async fn tail(
    shared: &Shared,
    name: &str,
    stream: &str,
    lines: u64,
) -> Result<TailContent, String> {
    let command = Command::Tail {
        selection: Selection::one(name),
        stream: Some(stream.to_owned()),
        reading: Reading {
            lines: Some(lines),
            follow: None,
        },
    };
    shared.daemon.content(command).await
}

async fn logs(State(shared): AppState, Path(name): Path<String>, headers: HeaderMap) -> Response {
    if shared.secrets.check(&headers).is_none() {
        return unauthorized();
    }
    let stdout = match tail(&shared, &name, "stdout", LOG_LINES).await {
        Ok(content) => content.text,
        Err(message) => {
            return html(
                StatusCode::NOT_FOUND,
                page::message("No such log", &message),
            )
        }
    };
    let stderr = tail(&shared, &name, "stderr", LOG_LINES)
        .await
        .map(|c| c.text);
    let panes = [
        page::LogPane {
            stream: "stdout",
            text: Ok(stdout),
        },
        page::LogPane {
            stream: "stderr",
            text: stderr,
        },
    ];
    html(StatusCode::OK, page::logs(&name, &panes))
}

#[derive(Deserialize)]
struct StreamQuery {
    stream: Option<String>,
}

/// A process's log as it grows: `reset` with its last lines (the page may
/// be older than them), then `append` per piece the daemon sends, and
/// `missed` when it skipped ahead. Ends when the browser leaves.
async fn log_stream(
    State(shared): AppState,
    Path(name): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Response {
    if shared.secrets.check(&headers).is_none() {
        return unauthorized();
    }
    let stream_name = query.stream.unwrap_or_else(|| "stdout".to_owned());
    let command = Command::Tail {
        selection: Selection::one(name),
        stream: Some(stream_name),
        reading: Reading {
            lines: Some(LOG_LINES),
            follow: Some(true),
        },
    };
    let mut connection = match shared.daemon.connect().await {
        Ok(connection) => connection,
        Err(message) => return unavailable(message),
    };
    let first = match connection.request::<TailContent>(command).await {
        Ok(reply) => match (reply.content, reply.error) {
            (Some(content), None) => SseEvent::default().event("reset").json_data(content.text),
            (_, error) => {
                let message = error.map_or_else(|| "no log".to_owned(), |e| e.message);
                return html(
                    StatusCode::NOT_FOUND,
                    page::message("No such log", &message),
                );
            }
        },
        Err(e) => return unavailable(crate::daemon::unreachable(&shared.daemon.socket, &e)),
    };
    let first = first.unwrap_or_default();
    let rest = stream::unfold(Some(connection), |connection| async move {
        let mut connection = connection?;
        let event = match connection.next_line::<TailChunk>().await {
            Ok(Some(TailChunk {
                missed_bytes: Some(n),
                ..
            })) => SseEvent::default().event("missed").data(n.to_string()),
            Ok(Some(chunk)) => SseEvent::default()
                .event("append")
                .json_data(chunk.text.unwrap_or_default())
                .unwrap_or_default(),
            Ok(None) | Err(_) => {
                return Some((
                    SseEvent::default()
                        .event("down")
                        .data("the log stream ended"),
                    None,
                ))
            }
        };
        Some((event, Some(connection)))
    });
    sse(stream::once(async move { first }).chain(rest))
}

async fn metrics(State(shared): AppState, headers: HeaderMap) -> Response {
    if shared.secrets.check(&headers).is_none() {
        return unauthorized();
    }
    match metrics::render(&shared).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(message) => (StatusCode::SERVICE_UNAVAILABLE, message).into_response(),
    }
}

/// The stylesheet and scripts, built into the binary.
async fn asset(Path(file): Path<String>) -> Response {
    let assets: HashMap<&str, (&str, &str)> = HashMap::from([
        (
            "style.css",
            ("text/css", include_str!("../assets/style.css")),
        ),
        (
            "app.js",
            ("text/javascript", include_str!("../assets/app.js")),
        ),
        (
            "logs.js",
            ("text/javascript", include_str!("../assets/logs.js")),
        ),
    ]);
    match assets.get(file.as_str()) {
        Some((kind, body)) => ([(header::CONTENT_TYPE, *kind)], *body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
