//! Recognises the `[eventlistener]` that container images carry to stop
//! supervisord when a process goes FATAL (so that the container exits and
//! its orchestrator restarts it). It is written in many ways: a shell loop
//! that answers `READY` and runs `kill -SIGQUIT $PPID`, a script named like
//! `kill_supervisor.py` or `stop-supervisor.sh`, or `supervisorctl
//! shutdown`. What they share: they listen to `PROCESS_STATE_FATAL`, and
//! their command kills supervisord.

use crate::ini::Section;

/// `Some(other events)` when `section` is such a listener: the other
/// process states it also stops supervisord on (empty when FATAL alone).
pub fn kills_on_fatal(section: &Section) -> Option<Vec<String>> {
    let events: Vec<String> = section
        .get("events")?
        .value
        .split(',')
        .map(|event| event.trim().to_uppercase())
        .filter(|event| !event.is_empty())
        .collect();
    if !events.iter().any(|event| event == "PROCESS_STATE_FATAL") {
        return None;
    }
    let command = section.get("command")?.value.to_lowercase();
    let kills = command.contains("kill")
        && ["$ppid", "supervisor"]
            .iter()
            .any(|target| command.contains(target));
    let shuts_down = command.contains("supervisorctl") && command.contains("shutdown");
    let script = command
        .split_whitespace()
        .filter_map(|word| word.rsplit('/').next())
        .any(|name| {
            name.contains("supervisor")
                && ["kill", "stop", "shutdown", "exit", "quit"]
                    .iter()
                    .any(|verb| name.contains(verb))
        });
    (kills || shuts_down || script).then(|| {
        events
            .into_iter()
            .filter(|event| event != "PROCESS_STATE_FATAL")
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn listener(body: &str) -> Option<Vec<String>> {
        let text = format!("[eventlistener:x]\n{body}");
        let sections = crate::ini::parse(&text, Path::new("s.conf")).unwrap();
        kills_on_fatal(&sections[0])
    }

    #[test]
    fn the_ways_of_killing_supervisord_on_fatal() {
        for command in [
            r#"bash -c "printf 'READY\n' && while read line; do kill -SIGQUIT $PPID; done < /dev/stdin""#,
            "/usr/local/bin/kill_supervisor.py",
            "python3 /opt/stop-supervisor.py",
            "sh -c 'echo READY; read x; supervisorctl shutdown'",
            "/bin/sh -c 'kill -TERM $(cat /run/supervisord.pid)'",
        ] {
            let body = format!("command={command}\nevents=PROCESS_STATE_FATAL\n");
            assert_eq!(listener(&body), Some(Vec::new()), "{command}");
        }
        assert_eq!(
            listener(
                "command=/bin/kill_supervisor\nevents=PROCESS_STATE_EXITED, process_state_fatal\n"
            ),
            Some(vec!["PROCESS_STATE_EXITED".to_string()])
        );
    }

    #[test]
    fn other_listeners_are_not_taken_for_it() {
        for body in [
            "command=/usr/bin/kill_supervisor\nevents=PROCESS_STATE_EXITED\n",
            "command=/usr/bin/crashmail -m ops@example.com\nevents=PROCESS_STATE_FATAL\n",
            "command=kill_supervisor\n",
            "events=PROCESS_STATE_FATAL\n",
        ] {
            assert_eq!(listener(body), None, "{body}");
        }
    }
}
