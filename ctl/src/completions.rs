//! Completion scripts: clap_complete's, plus (for bash, zsh and fish) the
//! names of the running daemon's processes and of the installed plugins,
//! asked of `taskmasterctl __complete-names` at each TAB, and signal names.

use crate::cli::{Cli, Shell};
use crate::complete::SIGNALS;
use clap::CommandFactory;

const BASH: &str = include_str!("completions/dynamic.bash");
const ZSH: &str = include_str!("completions/dynamic.zsh");
const FISH: &str = include_str!("completions/dynamic.fish");

/// The script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut buffer = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "taskmasterctl", &mut buffer);
    let generated = String::from_utf8_lossy(&buffer).into_owned();
    let signals = SIGNALS.join(" ");
    match shell {
        Shell::Bash => bash(&generated, &BASH.replace("@SIGNALS@", &signals)),
        Shell::Zsh => zsh(&generated, &signals),
        Shell::Fish => generated + &FISH.replace("@SIGNALS@", &signals),
        _ => generated,
    }
}

/// Registers our function, which falls back on clap's, in place of clap's.
fn bash(generated: &str, dynamic: &str) -> String {
    let register = "if [[ \"${BASH_VERSINFO[0]}\" -eq 4";
    let at = generated.rfind(register).unwrap_or(generated.len());
    let (functions, registration) = generated.split_at(at);
    format!(
        "{functions}{dynamic}{}",
        registration.replace(
            "complete -F _taskmasterctl ",
            "complete -F _taskmasterctl_dynamic "
        )
    )
}

/// Points clap's process-name arguments at our function, its signal argument
/// at the signal names, and adds the plugins to the commands.
fn zsh(generated: &str, signals: &str) -> String {
    let mut script = String::with_capacity(generated.len() + ZSH.len());
    for line in generated.lines() {
        let line = if line.starts_with("'*::names -- ") || line.starts_with("':name -- ") {
            line.replace(":_default'", ":_taskmasterctl_names'")
        } else if line.starts_with("':signal -- ") {
            line.replace(":_default'", &format!(":({signals})'"))
        } else if line.trim_start()
            == "_describe -t commands 'taskmasterctl commands' commands \"$@\""
        {
            "    local plugin\n    for plugin in ${(f)\"$(taskmasterctl __complete-names --plugins 2>/dev/null)\"}; do\n        commands+=(\"$plugin:plugin\")\n    done\n".to_string() + line
        } else {
            line.to_string()
        };
        script.push_str(&line);
        script.push('\n');
    }
    let dispatch = "if [ \"$funcstack[1]\" = \"_taskmasterctl\" ]; then";
    match script.rfind(dispatch) {
        Some(at) => format!("{}{ZSH}\n{}", &script[..at], &script[at..]),
        None => script + ZSH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_registers_the_dynamic_function() {
        let text = script(Shell::Bash);
        assert!(text.contains("_taskmasterctl_dynamic() {"));
        assert!(text.contains("complete -F _taskmasterctl_dynamic -o nosort"));
        assert!(!text.contains("complete -F _taskmasterctl -o"));
        assert!(text.contains("choices=(HUP INT QUIT"));
        assert!(text.contains("choices=(stdout stderr)"));
    }

    #[test]
    fn zsh_completes_names_signals_and_plugins() {
        let text = script(Shell::Zsh);
        assert_eq!(text.matches(":_taskmasterctl_names'").count(), 10, "{text}");
        assert!(text.contains(":(HUP INT QUIT KILL"));
        assert!(text.contains("__complete-names --plugins"));
        let defined = text.find("_taskmasterctl_names() {").unwrap();
        let dispatch = text.rfind("if [ \"$funcstack[1]\"").unwrap();
        assert!(defined < dispatch);
    }

    #[test]
    fn fish_and_the_others() {
        assert!(script(Shell::Fish).contains("(__taskmasterctl_names)"));
        assert!(script(Shell::Fish).contains("using_subcommand tail\" -f -a \"stdout stderr\""));
        for shell in [Shell::Elvish, Shell::PowerShell] {
            assert!(script(shell).contains("taskmasterctl"));
        }
    }

    #[test]
    fn the_hidden_helper_is_not_offered() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let text = script(shell);
            assert!(!text.contains("__complete__subcmd"), "{shell}");
        }
    }
}
