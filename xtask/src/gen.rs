//! `cargo xtask gen`: the generated files kept in packaging/ (taskmasterctl's
//! completion scripts, the man pages of taskmasterctl and taskmasterd) and
//! in ctl/src/help/ (taskmasterctl's help texts), and the test that fails
//! when one is stale.

use anyhow::Context;
use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// taskmasterd's command line, shared with the supervisor without
/// depending on it (its crate is the privileged half).
#[path = "../../supervisor/src/cli.rs"]
mod taskmasterd_cli;
use taskmaster_ctl::Shell;

/// Writes every generated file, removing man pages of commands that are gone.
pub fn run() -> anyhow::Result<()> {
    let root = workspace_root();
    let files = artefacts()?;
    for dir in ["packaging/completions", "packaging/man"] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if !files.iter().any(|(p, _)| root.join(p) == path) {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
    }
    for (path, content) in &files {
        let path = root.join(path);
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Every generated file: its path from the workspace root and its content.
fn artefacts() -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let completions = [
        (Shell::Bash, "taskmasterctl.bash"),
        (Shell::Zsh, "_taskmasterctl"),
        (Shell::Fish, "taskmasterctl.fish"),
        (Shell::Elvish, "taskmasterctl.elv"),
        (Shell::PowerShell, "_taskmasterctl.ps1"),
    ];
    let mut files: Vec<(PathBuf, Vec<u8>)> = completions
        .into_iter()
        .map(|(shell, name)| {
            let path = Path::new("packaging/completions").join(name);
            (path, taskmaster_ctl::completion_script(shell).into_bytes())
        })
        .collect();
    for (name, long) in [("long.txt", true), ("short.txt", false)] {
        let path = Path::new("ctl/src/help").join(name);
        files.push((path, taskmaster_ctl::stored_help(long).into_bytes()));
    }
    for mut command in [taskmaster_ctl::command(), taskmasterd_cli::Cli::command()] {
        command.build();
        man_pages(&command, &mut files)?;
    }
    Ok(files)
}

/// The page of `command` and one per visible subcommand: taskmasterctl.1,
/// taskmasterctl-status.1...
fn man_pages(command: &clap::Command, files: &mut Vec<(PathBuf, Vec<u8>)>) -> anyhow::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, files)?;
    }
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    man.render(&mut page)
        .with_context(|| format!("rendering the man page of {}", command.get_name()))?;
    files.push((Path::new("packaging/man").join(man.get_filename()), page));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command that refreshes everything here; stale-file messages name it.
    const REFRESH: &str = "cargo xtask gen";

    #[test]
    fn generated_files_are_fresh() {
        let root = workspace_root();
        let files = artefacts().expect("generate");
        assert!(files.len() > 10, "completions and man pages");
        for (path, content) in &files {
            let on_disk = std::fs::read(root.join(path)).unwrap_or_default();
            assert!(
                on_disk == *content,
                "{} is stale or missing: run `{REFRESH}` and commit the result",
                path.display()
            );
        }
        for dir in ["packaging/completions", "packaging/man"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("packaging exists") {
                let path = entry.expect("directory entry").path();
                assert!(
                    files.iter().any(|(p, _)| root.join(p) == path),
                    "{} is no longer generated: run `{REFRESH}` to remove it",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn pages_cover_every_command() {
        let files = artefacts().expect("generate");
        let names: Vec<String> = files
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for page in [
            "taskmasterd.1",
            "taskmasterctl.1",
            "taskmasterctl-status.1",
            "taskmasterctl-completions.1",
        ] {
            assert!(names.iter().any(|n| n == page), "{page} in {names:?}");
        }
    }
}
