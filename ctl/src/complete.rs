//! What to offer for a word being completed, in the interactive shell and
//! through `__complete-names` for the shells' completion scripts. Pure.

use taskmaster_protocol::ProcessInfo;

/// The commands that take process names.
pub const NAME_COMMANDS: &[&str] = &[
    "status", "start", "stop", "restart", "signal", "pid", "tail", "clear", "fg", "why",
];

/// Signal names `signal` is most often given; any other name or number works too.
pub const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "ALRM", "CONT", "STOP", "TSTP", "WINCH",
];

/// The interactive shell's own words.
pub const SHELL_WORDS: &[&str] = &["exit", "quit"];

/// The shells `completions` knows.
pub const SHELLS: &[&str] = &["bash", "elvish", "fish", "powershell", "zsh"];

/// The kind of word expected after `before`, the complete words typed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A command or a plugin.
    Command,
    /// A process, program or group name.
    Name,
    Signal,
    Shell,
    /// Nothing we can guess.
    Nothing,
}

pub fn kind(before: &[&str]) -> Kind {
    let Some((command, rest)) = before.split_first() else {
        return Kind::Command;
    };
    let positional = rest.iter().filter(|w| !w.starts_with('-')).count();
    match *command {
        "help" if positional == 0 => Kind::Command,
        "completions" if positional == 0 => Kind::Shell,
        "signal" if positional == 0 => Kind::Signal,
        // tail [-n N] NAME [stdout|stderr]: one name only.
        "tail" if positional > lines_values(rest) => Kind::Nothing,
        "fg" | "why" if positional > 0 => Kind::Nothing,
        c if NAME_COMMANDS.contains(&c) => Kind::Name,
        _ => Kind::Nothing,
    }
}

/// How many of `words` are the value of a `-n`/`--lines` option.
fn lines_values(words: &[&str]) -> usize {
    words
        .windows(2)
        .filter(|pair| matches!(pair[0], "-n" | "--lines") && !pair[1].starts_with('-'))
        .count()
}

/// Every name a process spec may be: each process, each program of several
/// instances, `GROUP:*` for each group, and `all`; in `status` order.
pub fn process_names(processes: &[ProcessInfo]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(processes.len() + 1);
    let mut push = |name: String| {
        if !names.contains(&name) {
            names.push(name);
        }
    };
    for p in processes {
        if p.program != p.name {
            push(p.program.clone());
        }
        push(p.name.clone());
    }
    for p in processes {
        push(format!("{}:*", p.group));
    }
    push("all".to_string());
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_protocol::ProcessState;

    fn process(name: &str, program: &str, group: &str) -> ProcessInfo {
        ProcessInfo::new(name, program, group, ProcessState::Running)
    }

    #[test]
    fn kinds_by_position() {
        assert_eq!(kind(&[]), Kind::Command);
        assert_eq!(kind(&["help"]), Kind::Command);
        assert_eq!(kind(&["help", "status"]), Kind::Nothing);
        assert_eq!(kind(&["completions"]), Kind::Shell);
        assert_eq!(kind(&["signal"]), Kind::Signal);
        assert_eq!(kind(&["signal", "--json"]), Kind::Signal);
        assert_eq!(kind(&["signal", "HUP"]), Kind::Name);
        assert_eq!(kind(&["restart", "web"]), Kind::Name);
        assert_eq!(kind(&["status", "--json"]), Kind::Name);
        assert_eq!(kind(&["avail"]), Kind::Nothing);
        assert_eq!(kind(&["tail", "-f"]), Kind::Name);
        assert_eq!(kind(&["tail", "web"]), Kind::Nothing);
        assert_eq!(kind(&["tail", "-n", "5"]), Kind::Name);
        assert_eq!(kind(&["clear", "web"]), Kind::Name);
        assert_eq!(kind(&["fg"]), Kind::Name);
        assert_eq!(kind(&["fg", "web"]), Kind::Nothing);
        assert_eq!(kind(&["why"]), Kind::Name);
        assert_eq!(kind(&["why", "--json", "web"]), Kind::Nothing);
        assert_eq!(kind(&["wait"]), Kind::Nothing);
    }

    #[test]
    fn names_programs_groups_and_all() {
        let processes = [
            process("web:0", "web", "front"),
            process("web:1", "web", "front"),
            process("db", "db", "db"),
        ];
        assert_eq!(
            process_names(&processes),
            ["web", "web:0", "web:1", "db", "front:*", "db:*", "all"]
        );
        assert_eq!(process_names(&[]), ["all"]);
    }
}
