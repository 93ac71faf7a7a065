//! Completion scripts: clap_complete's, plus (for bash, zsh and fish) the
//! names of the running daemon's processes and of the installed plugins,
//! asked of `taskmasterctl __complete-names` at each TAB.

use crate::cli::{Cli, Shell};
use clap::CommandFactory;

/// The script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut buffer = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "taskmasterctl", &mut buffer);
    String::from_utf8_lossy(&buffer).into_owned()
}
