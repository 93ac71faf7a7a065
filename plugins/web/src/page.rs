//! The HTML pages, rendered on the server so that they read without
//! JavaScript; the scripts in `assets/` only keep them live. Every value
//! from the daemon is escaped.

use std::collections::BTreeMap;
use std::fmt::Write;
use taskmaster_protocol::{ProcessInfo, StatusContent};

/// What the page may offer the user who runs this server.
pub struct View<'a> {
    pub csrf: &'a str,
    /// The processes the daemon lets us act on; a viewer's is empty.
    pub may_act: &'a dyn Fn(&str) -> bool,
    /// Milliseconds since the epoch, to place uptimes in time.
    pub now_ms: u64,
}

/// `<`, `>`, `&` and quotes made harmless in text and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A process name as one URL path segment.
pub fn path_segment(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `1:02:03`, as supervisorctl shows uptimes.
pub fn clock(secs: u64) -> String {
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

fn head(title: &str, script: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/assets/style.css\">\
         <script src=\"/assets/{script}\" defer></script></head>\n",
        escape(title)
    )
}

/// The dashboard: problems first, then one row per process.
pub fn index(status: &StatusContent, view: &View, notice: Option<(&str, bool)>) -> String {
    let mut html = head("Taskmaster", "app.js");
    let _ = writeln!(
        html,
        "<body data-now=\"{}\"><header><h1>Taskmaster</h1>\
         <span id=\"live\" class=\"live off\" title=\"live updates\">static</span>\
         <nav><a href=\"/metrics\">metrics</a></nav></header><main>",
        view.now_ms
    );
    let (text, ok) = notice.unwrap_or(("", true));
    let _ = writeln!(
        html,
        "<p id=\"notice\" role=\"status\" class=\"notice {}\"{}>{}</p>",
        if ok { "ok" } else { "error" },
        if text.is_empty() { " hidden" } else { "" },
        escape(text)
    );
    let _ = writeln!(html, "<div id=\"problems\">{}</div>", problems(status));
    html.push_str(
        "<table id=\"processes\"><thead><tr><th scope=\"col\">name</th><th scope=\"col\">state</th>\
         <th scope=\"col\">pid</th><th scope=\"col\">uptime</th><th scope=\"col\">description</th>\
         <th scope=\"col\"><span class=\"sr\">actions</span></th></tr></thead>\n<tbody id=\"rows\">",
    );
    html.push_str(&rows(status, view));
    html.push_str("</tbody></table></main></body></html>\n");
    html
}

/// Config errors and daemon warnings, as a list; empty when there are none.
pub fn problems(status: &StatusContent) -> String {
    let mut html = String::new();
    for (class, items) in [
        ("config-error", &status.config_errors),
        ("warning", &status.warnings),
    ] {
        for item in items {
            let _ = write!(html, "<p class=\"problem {class}\">{}</p>", escape(item));
        }
    }
    html
}

/// Every process row, each group with several processes under a header
/// row of its own buttons.
pub fn rows(status: &StatusContent, view: &View) -> String {
    let mut groups: BTreeMap<&str, Vec<&ProcessInfo>> = BTreeMap::new();
    for process in &status.processes {
        groups.entry(&process.group).or_default().push(process);
    }
    let mut html = String::new();
    for (group, members) in groups {
        if members.len() > 1 || members[0].name != group {
            let spec = format!("{group}:*");
            let may = members.iter().any(|p| (view.may_act)(&p.name));
            let _ = write!(
                html,
                "<tr class=\"group\"><th colspan=\"5\" scope=\"rowgroup\">{}</th><td class=\"actions\">{}</td></tr>",
                escape(group),
                if may { buttons(&spec, view.csrf) } else { String::new() }
            );
        }
        for process in members {
            html.push_str(&row(process, view));
        }
    }
    html
}

/// One process's row; `data-name` lets the script replace it.
pub fn row(p: &ProcessInfo, view: &View) -> String {
    let pid = p.pid.map(|pid| pid.to_string()).unwrap_or_default();
    let uptime = match p.uptime_secs {
        Some(secs) if p.state.is_alive() => format!(
            "<td class=\"uptime\" data-since=\"{}\">{}</td>",
            view.now_ms.saturating_sub(secs * 1000),
            clock(secs)
        ),
        _ => "<td class=\"uptime\"></td>".to_owned(),
    };
    // A live process's description repeats its pid and uptime: show
    // what it runs instead.
    let description = if p.state.is_alive() {
        &p.command
    } else {
        &p.description
    };
    let note = readiness_note(p).map_or(String::new(), |(class, text)| {
        format!(" <span class=\"note {class}\">{}</span>", escape(&text))
    });
    let actions = if (view.may_act)(&p.name) {
        buttons(&p.name, view.csrf)
    } else {
        String::new()
    };
    let state = p.state.as_str();
    format!(
        "<tr data-name=\"{name}\"><td><a href=\"/logs/{path}\">{name}</a></td>\
         <td><span class=\"state {class}\">{state}</span></td><td class=\"pid\">{pid}</td>{uptime}\
         <td class=\"description\">{description}{note}</td><td class=\"actions\">{actions}</td></tr>",
        name = escape(&p.name),
        path = path_segment(&p.name),
        class = state.to_ascii_lowercase(),
        description = escape(description),
    )
}

/// What a live process's description cell adds to its command: its
/// health (`healthy`, `unhealthy (2/3: HTTP 500)`), or what its held
/// restart waits for; with the class that colours it. An idle process's
/// description already says what it waits for.
fn readiness_note(p: &ProcessInfo) -> Option<(&'static str, String)> {
    if !p.state.is_alive() {
        return None;
    }
    let readiness = &p.readiness;
    if let Some(on) = &readiness.waiting_for {
        return Some(("waiting", format!("waiting: {on}")));
    }
    let health = readiness.health.as_ref()?;
    let class = if health == "healthy" {
        "healthy"
    } else {
        "unhealthy"
    };
    Some((class, health.clone()))
}

/// start, stop and restart for a process spec, as one form: it works
/// without JavaScript, and the script posts it in the background.
fn buttons(spec: &str, csrf: &str) -> String {
    let spec = escape(spec);
    let mut html = format!(
        "<form method=\"post\" action=\"/action\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <input type=\"hidden\" name=\"name\" value=\"{spec}\">",
        escape(csrf)
    );
    for action in ["start", "stop", "restart"] {
        let _ = write!(
            html,
            "<button name=\"action\" value=\"{action}\" aria-label=\"{action} {spec}\">{action}</button>"
        );
    }
    html.push_str("</form>");
    html
}

/// One log of a process, as the logs page shows it.
pub struct LogPane {
    pub stream: &'static str,
    /// The last lines, or why there are none.
    pub text: Result<String, String>,
}

/// `/logs/NAME`: the last lines of stdout and stderr, followed live by
/// the script.
pub fn logs(name: &str, panes: &[LogPane]) -> String {
    let mut html = head(&format!("{name} logs - Taskmaster"), "logs.js");
    let _ = writeln!(
        html,
        "<body><header><h1>{}</h1><span id=\"live\" class=\"live off\">static</span>\
         <nav><a href=\"/\">all processes</a></nav></header><main class=\"logs\">",
        escape(name)
    );
    for pane in panes {
        match &pane.text {
            Ok(text) => {
                let _ = writeln!(
                    html,
                    "<section><h2>{stream}</h2><pre class=\"log\" id=\"{stream}\" \
                     data-src=\"/logs/{path}/stream?stream={stream}\">{}</pre></section>",
                    escape(text),
                    stream = pane.stream,
                    path = path_segment(name),
                );
            }
            Err(why) => {
                let _ = writeln!(
                    html,
                    "<section><h2>{}</h2><p class=\"muted\">{}</p></section>",
                    pane.stream,
                    escape(why)
                );
            }
        }
    }
    html.push_str("</main></body></html>\n");
    html
}

/// A page for an error the user should read (401, 404, 503).
pub fn message(title: &str, text: &str) -> String {
    let mut html = head(title, "app.js");
    let _ = writeln!(
        html,
        "<body><header><h1>{}</h1></header><main><p class=\"notice error\">{}</p></main></body></html>",
        escape(title),
        escape(text)
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_protocol::ProcessState;

    fn process(name: &str, group: &str, state: ProcessState) -> ProcessInfo {
        ProcessInfo {
            pid: state.is_alive().then_some(42),
            uptime_secs: state.is_alive().then_some(3723),
            description: "Exited too quickly".into(),
            command: "/bin/sleep 100".into(),
            ..ProcessInfo::new(name, group, group, state)
        }
    }

    fn status() -> StatusContent {
        StatusContent {
            processes: vec![
                process("web", "web", ProcessState::Running),
                process("worker:0", "worker", ProcessState::Running),
                process("worker:1", "worker", ProcessState::Fatal),
            ],
            config_errors: vec!["app.toml:3: programs.x: unknown key 'comand'".into()],
            warnings: vec![],
        }
    }

    #[test]
    fn admin_page_has_named_buttons_for_processes_and_groups() {
        let all = |_: &str| true;
        let view = View {
            csrf: "C",
            may_act: &all,
            now_ms: 10_000_000,
        };
        let html = index(&status(), &view, None);
        for label in ["start web", "stop worker:1", "restart worker:*"] {
            assert!(html.contains(&format!("aria-label=\"{label}\"")), "{label}");
        }
        assert!(html.contains("name=\"csrf\" value=\"C\""));
        assert!(html.contains("1:02:03"), "uptime as a clock");
        assert!(html.contains("data-since=\"6277000\""));
        assert!(
            html.contains("unknown key &#39;comand&#39;"),
            "config errors on top"
        );
    }

    #[test]
    fn a_row_shows_health_and_a_held_restart() {
        let view = View {
            csrf: "C",
            may_act: &|_: &str| false,
            now_ms: 0,
        };
        let mut web = process("web", "web", ProcessState::Running);
        assert!(
            !row(&web, &view).contains("class=\"note"),
            "no health: no note"
        );
        web.readiness.health = Some("unhealthy (2/3: HTTP 500)".into());
        assert!(
            row(&web, &view).contains(
                "/bin/sleep 100 <span class=\"note unhealthy\">unhealthy (2/3: HTTP 500)</span></td>"
            ),
            "{}",
            row(&web, &view)
        );
        web.readiness.health = Some("healthy".into());
        assert!(row(&web, &view).contains("<span class=\"note healthy\">healthy</span>"));
        let mut api = process("api", "api", ProcessState::Starting);
        api.readiness.waiting_for = Some("db is BACKOFF".into());
        assert!(
            row(&api, &view).contains("<span class=\"note waiting\">waiting: db is BACKOFF</span>")
        );
    }

    #[test]
    fn a_viewer_gets_no_buttons() {
        let none = |_: &str| false;
        let view = View {
            csrf: "C",
            may_act: &none,
            now_ms: 0,
        };
        let html = index(&status(), &view, None);
        assert!(!html.contains("<button"), "{html}");
        assert!(!html.contains("<form"), "{html}");
    }

    #[test]
    fn names_are_escaped_in_text_and_links() {
        assert_eq!(
            escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
        assert_eq!(path_segment("web:0"), "web:0");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
    }
}
