//! `cargo xtask`: the project's tasks that are not part of the build.

mod bench;
mod dist;
mod gen;
mod systemd_test;
mod tidy;

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Taskmaster's project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Measure Taskmaster against supervisord and a bare fork/exec loop on
    /// this machine; prints a markdown table and writes target/bench/results.md.
    Bench(BenchArgs),
    /// Regenerate packaging/: taskmasterctl's completion scripts and man pages.
    Gen,
    /// Build the Debian package target/dist/taskmaster_<version>_<arch>.deb
    /// (binaries, systemd unit, sysusers/tmpfiles, /etc/taskmaster, man
    /// pages, completions, docs, examples).
    Dist(DistArgs),
    /// Boot a Debian bookworm container with systemd-nspawn, install the
    /// package in it and check the service end to end (needs root,
    /// mmdebstrap and systemd-container).
    SystemdTest(SystemdTestArgs),
}

#[derive(Args)]
struct DistArgs {
    /// The cargo profile whose binaries are packed.
    #[arg(long, default_value = "release", value_name = "NAME")]
    profile: String,
    /// Pack the binaries already built instead of building them first.
    #[arg(long)]
    no_build: bool,
}

#[derive(Args)]
struct SystemdTestArgs {
    /// The cargo profile of the package tested (dev is quicker to build;
    /// the package is the same but for the binaries' optimisation).
    #[arg(long, default_value = "release", value_name = "NAME")]
    profile: String,
    /// Test the binaries already built instead of building them first.
    #[arg(long)]
    no_build: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// A smoke run: 200 programs, 5 s idle window, fewer repeats.
    #[arg(long)]
    quick: bool,
    /// Run only this daemon or metric; repeat to combine (a daemon and a
    /// metric select that metric of that daemon).
    #[arg(long, value_enum, value_name = "NAME")]
    only: Vec<bench::Only>,
    /// Programs to start for the start-up, status, memory and shutdown
    /// figures [default: 1000, or 200 with --quick].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    n: Option<u32>,
    /// Length of the idle window in seconds [default: 30, or 5 with --quick].
    #[arg(long, value_name = "SECS")]
    idle_secs: Option<u64>,
    /// Runs of the start-up and shutdown of N programs, each with a fresh
    /// daemon; their median and worst are reported [default: 5, or 1 with
    /// --quick].
    #[arg(long, value_name = "RUNS", value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: Option<u32>,
    /// Use the Taskmaster binaries already in target/release instead of
    /// building them first.
    #[arg(long)]
    no_build: bool,
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Bench(args) => bench::run(bench::Options {
            quick: args.quick,
            only: args.only,
            n: args.n.map(|n| n as usize),
            idle_secs: args.idle_secs,
            runs: args.runs.map(|r| r as usize),
            build: !args.no_build,
        }),
        Task::Gen => gen::run(),
        Task::Dist(args) => dist::run(&dist::Options {
            profile: args.profile,
            build: !args.no_build,
        })
        .map(|deb| println!("{}", deb.display())),
        Task::SystemdTest(args) => systemd_test::run(&dist::Options {
            profile: args.profile,
            build: !args.no_build,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bench_flags_parse() {
        let cli = Cli::try_parse_from([
            "xtask",
            "bench",
            "--quick",
            "--only",
            "supervisord",
            "--only",
            "idle",
            "--n",
            "50",
        ])
        .unwrap();
        let Task::Bench(args) = cli.task else {
            panic!("parsed as another task")
        };
        assert!(args.quick);
        assert_eq!(args.only, [bench::Only::Supervisord, bench::Only::Idle]);
        assert_eq!(args.n, Some(50));
        assert!(Cli::try_parse_from(["xtask", "bench", "--n", "0"]).is_err());
    }
}
