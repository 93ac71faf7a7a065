//! Every transition of the state machine, with a fake clock.

use super::*;
use taskmaster_config::{Backoff, LogSpec, Program, Retry};
use ProcessState::*;

const TERM: i32 = 15;

pub(crate) fn program() -> Program {
    let log = LogSpec {
        path: None,
        maxbytes: 0,
        backups: 0,
        timestamps: false,
        prefix: false,
    };
    Program {
        name: "web".into(),
        command: "sleep".into(),
        args: vec![],
        numprocs: 1,
        numprocs_start: 0,
        priority: 999,
        autostart: true,
        startsecs: Duration::from_secs(1),
        startretries: 3,
        autorestart: AutoRestart::Unexpected,
        exitcodes: vec![0],
        stopsignal: TERM,
        stopwaitsecs: Duration::from_secs(10),
        stopasgroup: false,
        killasgroup: false,
        user: None,
        directory: None,
        umask: None,
        stdout: log.clone(),
        stderr: log,
        redirect_stderr: false,
        serverurl: None,
        operators: Vec::new(),
        env: vec![],
        process_name: None,
        retry: Retry::default(),
        command_at: None,
        readiness: Default::default(),
    }
}

fn code(code: i32) -> ExitStatus {
    ExitStatus::Code { code }
}

fn killed(signal: i32) -> ExitStatus {
    ExitStatus::Signal {
        signal,
        core_dumped: false,
    }
}

/// Drives one process through events, keeping the clock.
struct Sim {
    program: Program,
    process: Process,
    now: Instant,
}

impl Sim {
    fn new(program: Program) -> Self {
        Sim {
            program,
            process: Process::new(),
            now: Instant::now(),
        }
    }

    fn on(&mut self, event: Event) -> Outcome {
        step(&mut self.process, &self.program, event, self.now)
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Advances to the pending deadline and fires it.
    fn fire(&mut self) -> Outcome {
        let deadline = self.process.deadline.expect("a deadline is pending");
        assert!(deadline >= self.now, "deadline in the past");
        self.now = deadline;
        self.on(Event::Deadline)
    }

    /// Start, spawned as `pid`.
    fn started(&mut self, pid: i32) {
        let out = self.on(Event::Start);
        assert_eq!(out.actions, vec![Action::Spawn]);
        self.on(Event::Spawned { pid });
    }

    fn running(&mut self, pid: i32) {
        self.started(pid);
        self.fire();
        assert_eq!(self.process.state, Running);
    }
}

#[test]
fn start_spawns_and_enters_starting() {
    let mut sim = Sim::new(program());
    let out = sim.on(Event::Start);
    assert_eq!(out.entered, vec![Starting]);
    assert_eq!(out.actions, vec![Action::Spawn]);
    assert!(sim.process.spawning);
    assert_eq!(sim.process.pid, None);
}

#[test]
fn running_after_startsecs_not_before() {
    let mut sim = Sim::new(program());
    sim.started(10);
    assert_eq!(sim.process.pid, Some(10));
    assert_eq!(sim.process.deadline, Some(sim.now + Duration::from_secs(1)));
    sim.advance(Duration::from_millis(999));
    let early = sim.on(Event::Deadline);
    assert_eq!(early, Outcome::default());
    assert_eq!(sim.process.state, Starting);
    let out = sim.fire();
    assert_eq!(out.entered, vec![Running]);
    assert_eq!(sim.process.deadline, None);
}

#[test]
fn startsecs_zero_is_running_at_once() {
    let mut p = program();
    p.startsecs = Duration::ZERO;
    let mut sim = Sim::new(p);
    sim.on(Event::Start);
    let out = sim.on(Event::Spawned { pid: 5 });
    assert_eq!(out.entered, vec![Running]);
    assert_eq!(sim.process.deadline, None);
}

#[test]
fn backoff_waits_one_two_three_seconds_then_fatal() {
    let mut sim = Sim::new(program());
    sim.started(1);
    for attempt in 1..=3u64 {
        sim.advance(Duration::from_millis(100));
        let out = sim.on(Event::Exited { status: code(0) });
        assert_eq!(out.entered, vec![Backoff], "attempt {attempt}");
        assert_eq!(
            sim.process.deadline,
            Some(sim.now + Duration::from_secs(attempt)),
            "retry delay after failure {attempt}"
        );
        let retry = sim.fire();
        assert_eq!(retry.entered, vec![Starting]);
        assert_eq!(retry.actions, vec![Action::Spawn]);
        sim.on(Event::Spawned {
            pid: 1 + attempt as i32,
        });
    }
    // The fourth attempt (1 + startretries) fails: no more retries.
    let out = sim.on(Event::Exited { status: code(1) });
    assert_eq!(out.entered, vec![Fatal]);
    assert_eq!(out.actions, vec![]);
    assert_eq!(sim.process.deadline, None);
}

#[test]
fn startretries_zero_means_one_attempt() {
    let mut p = program();
    p.startretries = 0;
    let mut sim = Sim::new(p);
    sim.started(1);
    let out = sim.on(Event::Exited { status: code(1) });
    assert_eq!(out.entered, vec![Fatal]);
}

#[test]
fn spawn_failure_counts_as_failed_attempt() {
    let mut sim = Sim::new(program());
    sim.on(Event::Start);
    let out = sim.on(Event::SpawnFailed {
        error: "cannot execute 'x': No such file or directory".into(),
    });
    assert_eq!(out.entered, vec![Backoff]);
    assert!(!sim.process.spawning);
    assert_eq!(
        sim.process.spawn_error.as_deref(),
        Some("cannot execute 'x': No such file or directory")
    );
}

#[test]
fn successful_start_clears_spawn_error_and_failures() {
    let mut sim = Sim::new(program());
    sim.on(Event::Start);
    sim.on(Event::SpawnFailed { error: "x".into() });
    sim.fire();
    sim.on(Event::Spawned { pid: 3 });
    assert_eq!(sim.process.spawn_error, None);
    sim.fire();
    assert_eq!(sim.process.state, Running);
    assert_eq!(sim.process.failures, 0);
}

#[test]
fn exit_before_startsecs_is_failure_even_with_expected_code() {
    let mut p = program();
    p.autorestart = AutoRestart::Never;
    let mut sim = Sim::new(p);
    sim.started(1);
    let out = sim.on(Event::Exited { status: code(0) });
    assert_eq!(out.entered, vec![Backoff]);
}

#[test]
fn autorestart_unexpected_follows_exitcodes() {
    let mut p = program();
    p.exitcodes = vec![0, 2];
    let mut sim = Sim::new(p);
    sim.running(1);
    let out = sim.on(Event::Exited { status: code(2) });
    assert_eq!(out.entered, vec![Exited]);
    assert_eq!(out.actions, vec![]);

    sim.running(2);
    let out = sim.on(Event::Exited { status: code(1) });
    assert_eq!(out.entered, vec![Exited, Starting]);
    assert_eq!(out.actions, vec![Action::Spawn]);
}

#[test]
fn autorestart_unexpected_restarts_after_signal_death() {
    let mut sim = Sim::new(program());
    sim.running(1);
    let out = sim.on(Event::Exited { status: killed(9) });
    assert_eq!(out.entered, vec![Exited, Starting]);
}

#[test]
fn autorestart_true_restarts_any_exit() {
    let mut p = program();
    p.autorestart = AutoRestart::Always;
    let mut sim = Sim::new(p);
    sim.running(1);
    let out = sim.on(Event::Exited { status: code(0) });
    assert_eq!(out.entered, vec![Exited, Starting]);
    assert_eq!(out.actions, vec![Action::Spawn]);
    assert_eq!(sim.process.last_exit, Some(code(0)));
}

#[test]
fn autorestart_false_never_restarts() {
    let mut p = program();
    p.autorestart = AutoRestart::Never;
    let mut sim = Sim::new(p);
    sim.running(1);
    let out = sim.on(Event::Exited { status: killed(9) });
    assert_eq!(out.entered, vec![Exited]);
    assert_eq!(out.actions, vec![]);
}

#[test]
fn stop_sends_stopsignal_then_sigkill_after_stopwaitsecs() {
    let mut p = program();
    p.stopsignal = 2;
    let mut sim = Sim::new(p);
    sim.running(7);
    let out = sim.on(Event::Stop);
    assert_eq!(out.entered, vec![Stopping]);
    assert_eq!(
        out.actions,
        vec![Action::Signal {
            signal: 2,
            group: false
        }]
    );
    assert_eq!(
        sim.process.deadline,
        Some(sim.now + Duration::from_secs(10))
    );
    let out = sim.fire();
    assert_eq!(
        out.actions,
        vec![Action::Signal {
            signal: 9,
            group: false
        }]
    );
    assert!(sim.process.killed);
    assert_eq!(sim.process.state, Stopping);
    let out = sim.on(Event::Exited { status: killed(9) });
    assert_eq!(out.entered, vec![Stopped]);
    assert_eq!(sim.process.pid, None);
}

#[test]
fn stop_as_group_signals_the_group_and_kills_it() {
    let mut p = program();
    p.stopasgroup = true;
    let mut sim = Sim::new(p);
    sim.running(7);
    let out = sim.on(Event::Stop);
    assert_eq!(
        out.actions,
        vec![Action::Signal {
            signal: TERM,
            group: true
        }]
    );
    let out = sim.fire();
    assert_eq!(
        out.actions,
        vec![Action::Signal {
            signal: 9,
            group: true
        }]
    );
}

#[test]
fn killasgroup_alone_only_widens_the_kill() {
    let mut p = program();
    p.killasgroup = true;
    let mut sim = Sim::new(p);
    sim.running(7);
    let out = sim.on(Event::Stop);
    assert_eq!(
        out.actions,
        vec![Action::Signal {
            signal: TERM,
            group: false
        }]
    );
    let out = sim.fire();
    assert_eq!(
        out.actions,
        vec![Action::Signal {
            signal: 9,
            group: true
        }]
    );
}

#[test]
fn exit_while_stopping_is_stopped_without_restart() {
    let mut p = program();
    p.autorestart = AutoRestart::Always;
    let mut sim = Sim::new(p);
    sim.running(7);
    sim.on(Event::Stop);
    let out = sim.on(Event::Exited { status: code(0) });
    assert_eq!(out.entered, vec![Stopped]);
    assert_eq!(out.actions, vec![]);
    assert_eq!(sim.process.deadline, None);
}

#[test]
fn stop_while_starting_signals_the_process() {
    let mut sim = Sim::new(program());
    sim.started(4);
    let out = sim.on(Event::Stop);
    assert_eq!(out.entered, vec![Stopping]);
    assert_eq!(
        out.actions,
        vec![Action::Signal {
            signal: TERM,
            group: false
        }]
    );
}

#[test]
fn stop_during_spawn_signals_once_the_pid_is_known() {
    let mut sim = Sim::new(program());
    sim.on(Event::Start);
    let out = sim.on(Event::Stop);
    assert_eq!(out.entered, vec![Stopping]);
    assert_eq!(out.actions, vec![]);
    let out = sim.on(Event::Spawned { pid: 8 });
    assert_eq!(
        out.actions,
        vec![Action::Signal {
            signal: TERM,
            group: false
        }]
    );
    let out = sim.on(Event::Exited { status: killed(15) });
    assert_eq!(out.entered, vec![Stopped]);
}

#[test]
fn stop_during_spawn_that_fails_is_stopped() {
    let mut sim = Sim::new(program());
    sim.on(Event::Start);
    sim.on(Event::Stop);
    let out = sim.on(Event::SpawnFailed { error: "e".into() });
    assert_eq!(out.entered, vec![Stopped]);
    assert_eq!(sim.process.deadline, None);
}

#[test]
fn stop_in_backoff_cancels_the_retry() {
    let mut sim = Sim::new(program());
    sim.started(1);
    sim.on(Event::Exited { status: code(1) });
    let out = sim.on(Event::Stop);
    assert_eq!(out.entered, vec![Stopped]);
    assert_eq!(out.actions, vec![]);
    assert_eq!(sim.process.deadline, None);
}

#[test]
fn stop_is_a_no_op_when_not_running() {
    for state in [Stopped, Exited, Fatal] {
        let mut process = Process {
            state,
            ..Process::new()
        };
        let out = step(&mut process, &program(), Event::Stop, Instant::now());
        assert_eq!(out, Outcome::default(), "{state}");
        assert_eq!(process.state, state);
    }
}

#[test]
fn start_is_a_no_op_when_alive() {
    let mut sim = Sim::new(program());
    sim.started(3);
    assert_eq!(sim.on(Event::Start), Outcome::default());
    sim.fire();
    assert_eq!(sim.on(Event::Start), Outcome::default());
    sim.on(Event::Stop);
    assert_eq!(sim.on(Event::Start), Outcome::default());
}

#[test]
fn start_from_fatal_resets_failures() {
    let mut p = program();
    p.startretries = 0;
    let mut sim = Sim::new(p);
    sim.started(1);
    sim.on(Event::Exited { status: code(1) });
    assert_eq!(sim.process.state, Fatal);
    let out = sim.on(Event::Start);
    assert_eq!(out.entered, vec![Starting]);
    assert_eq!(sim.process.failures, 0);
}

#[test]
fn start_from_backoff_retries_now() {
    let mut sim = Sim::new(program());
    sim.started(1);
    sim.on(Event::Exited { status: code(1) });
    let out = sim.on(Event::Start);
    assert_eq!(out.entered, vec![Starting]);
    assert_eq!(out.actions, vec![Action::Spawn]);
    assert_eq!(sim.process.deadline, None);
}

#[test]
fn unexplained_exit_is_unknown() {
    let mut sim = Sim::new(program());
    let out = sim.on(Event::Exited { status: code(0) });
    assert_eq!(out.entered, vec![Unknown]);
    let out = sim.on(Event::Start);
    assert_eq!(out.entered, vec![Starting]);
}

#[test]
fn adopted_process_resumes_its_startsecs() {
    let p = program();
    let now = Instant::now();
    let young = Process::adopted(5, now - Duration::from_millis(300), &p, now);
    assert_eq!(young.state, Starting);
    assert_eq!(young.deadline, Some(now + Duration::from_millis(700)));
    let old = Process::adopted(5, now - Duration::from_secs(30), &p, now);
    assert_eq!(old.state, Running);
    assert_eq!(old.pid, Some(5));
}

#[test]
fn expected_exit_codes() {
    assert!(expected(code(2), &[0, 2]));
    assert!(!expected(code(1), &[0, 2]));
    assert!(!expected(killed(15), &[0]));
}

fn curved(mut p: Program, factor: f64) -> Program {
    p.retry.backoff = Some(Backoff {
        initial: Duration::from_secs(1),
        factor,
        max: Duration::from_secs(300),
        jitter: 0.0,
    });
    p
}

#[test]
fn backoff_factor_2_waits_1_2_4_between_failed_starts_then_fatal() {
    let mut sim = Sim::new(curved(program(), 2.0));
    sim.started(1);
    for (n, wait) in [1u64, 2, 4].into_iter().enumerate() {
        sim.advance(Duration::from_millis(100));
        let out = sim.on(Event::Exited { status: code(1) });
        assert_eq!(out.entered, vec![Backoff]);
        assert_eq!(sim.process.attempt(), n as u32 + 1);
        assert_eq!(sim.process.wait, Some(Duration::from_secs(wait)));
        assert_eq!(
            sim.process.deadline,
            Some(sim.now + Duration::from_secs(wait))
        );
        sim.fire();
        sim.on(Event::Spawned { pid: 2 + n as i32 });
    }
    assert_eq!(
        sim.on(Event::Exited { status: code(1) }).entered,
        vec![Fatal]
    );
}

#[test]
fn infinite_startretries_never_goes_fatal() {
    let mut p = curved(program(), 2.0);
    p.retry.forever = true;
    p.startretries = 0;
    let mut sim = Sim::new(p);
    sim.on(Event::Start);
    for n in 1..=40u32 {
        let out = sim.on(Event::SpawnFailed { error: "x".into() });
        assert_eq!(out.entered, vec![Backoff], "failure {n}");
        sim.fire();
    }
    // The wait stops growing at max.
    assert_eq!(sim.process.wait, Some(Duration::from_secs(300)));
}

#[test]
fn without_backoff_a_crash_restarts_at_once_as_in_supervisord() {
    let mut sim = Sim::new(program());
    sim.running(1);
    for pid in 2..6 {
        let out = sim.on(Event::Exited { status: code(1) });
        assert_eq!(out.entered, vec![Exited, Starting]);
        assert_eq!(out.actions, vec![Action::Spawn]);
        sim.on(Event::Spawned { pid });
        sim.fire();
    }
}

#[test]
fn a_crash_loop_with_backoff_waits_0_1_2_4() {
    let mut p = curved(program(), 2.0);
    p.startsecs = Duration::ZERO;
    p.autorestart = AutoRestart::Always;
    let mut sim = Sim::new(p);
    sim.started(1);
    let mut waits = Vec::new();
    for pid in 2..6 {
        sim.advance(Duration::from_millis(200));
        let out = sim.on(Event::Exited { status: code(1) });
        if out.entered == vec![Exited, Starting] {
            waits.push(0);
        } else {
            assert_eq!(out.entered, vec![Exited, Backoff]);
            waits.push(sim.process.wait.unwrap().as_secs());
            assert_eq!(sim.fire().entered, vec![Starting]);
        }
        sim.on(Event::Spawned { pid });
    }
    assert_eq!(waits, [0, 1, 2, 4]);
    assert_eq!(sim.process.attempt(), 4);
}

#[test]
fn staying_up_backoff_reset_makes_the_next_crash_restart_at_once() {
    let mut p = curved(program(), 2.0);
    p.startsecs = Duration::ZERO;
    p.retry.reset = Duration::from_secs(60);
    let mut sim = Sim::new(p);
    sim.started(1);
    sim.on(Event::Exited { status: code(1) });
    sim.on(Event::Spawned { pid: 2 });
    assert_eq!(
        sim.on(Event::Exited { status: code(1) }).entered,
        vec![Exited, Backoff]
    );
    sim.fire();
    sim.on(Event::Spawned { pid: 3 });
    sim.advance(Duration::from_secs(60));
    let out = sim.on(Event::Exited { status: code(1) });
    assert_eq!(out.entered, vec![Exited, Starting]);
    assert_eq!(sim.process.crashes, 1);
}

#[test]
fn an_operator_start_forgets_the_crash_count() {
    let mut p = curved(program(), 2.0);
    p.startsecs = Duration::ZERO;
    let mut sim = Sim::new(p);
    sim.started(1);
    sim.on(Event::Exited { status: code(1) });
    sim.on(Event::Spawned { pid: 2 });
    sim.on(Event::Exited { status: code(1) });
    assert_eq!(sim.process.state, Backoff);
    sim.on(Event::Stop);
    sim.on(Event::Start);
    assert_eq!((sim.process.crashes, sim.process.failures), (0, 0));
}

fn probed(timeout: Option<u64>) -> Program {
    let mut p = program();
    p.readiness.ready = Some(taskmaster_config::Probe::Tcp("127.0.0.1:1".into()));
    p.readiness.ready_timeout = timeout.map(Duration::from_secs);
    p
}

#[test]
fn with_a_probe_running_needs_startsecs_and_the_probe() {
    let mut sim = Sim::new(probed(None));
    sim.started(7);
    // startsecs elapses first: still STARTING, and nothing left to wait
    // for but the probe (no timer: no wake-up).
    assert_eq!(sim.fire().entered, vec![]);
    assert_eq!(sim.process.state, Starting);
    assert_eq!(sim.process.deadline, None);
    sim.advance(Duration::from_secs(30));
    assert_eq!(sim.on(Event::Ready).entered, vec![Running]);
    assert_eq!(sim.process.failures, 0);
}

#[test]
fn a_probe_that_succeeds_early_waits_for_startsecs() {
    let mut sim = Sim::new(probed(Some(10)));
    sim.started(7);
    sim.advance(Duration::from_millis(200));
    assert_eq!(sim.on(Event::Ready).entered, vec![]);
    assert_eq!(sim.process.state, Starting);
    assert_eq!(sim.fire().entered, vec![Running]);
    assert_eq!(
        sim.now - sim.process.started_at.unwrap(),
        Duration::from_secs(1)
    );
}

#[test]
fn no_probe_and_zero_startsecs_is_running_at_once_but_a_probe_is_awaited() {
    let mut p = probed(None);
    p.startsecs = Duration::ZERO;
    let mut sim = Sim::new(p);
    sim.started(7);
    assert_eq!(sim.process.state, Starting);
    assert_eq!(sim.on(Event::Ready).entered, vec![Running]);
}

#[test]
fn not_ready_by_the_timeout_is_killed_and_counts_as_a_failed_start() {
    let mut sim = Sim::new(probed(Some(5)));
    sim.started(7);
    assert_eq!(sim.fire().actions, vec![]);
    let out = sim.fire();
    assert_eq!(
        sim.now - sim.process.started_at.unwrap(),
        Duration::from_secs(5)
    );
    assert_eq!(
        out.actions,
        vec![Action::Signal {
            signal: SIGKILL,
            group: false
        }]
    );
    assert_eq!(
        sim.process.spawn_error.as_deref(),
        Some("not ready after 5 s (ready_timeout); killed")
    );
    let out = sim.on(Event::Exited {
        status: killed(SIGKILL),
    });
    assert_eq!(out.entered, vec![Backoff]);
    assert_eq!(sim.process.failures, 1);
    // The next attempt probes afresh.
    sim.fire();
    sim.on(Event::Spawned { pid: 8 });
    assert!(!sim.process.ready);
    assert_eq!(sim.process.spawn_error, None);
}

#[test]
fn ready_means_nothing_outside_starting() {
    let mut sim = Sim::new(probed(None));
    assert_eq!(sim.on(Event::Ready), Outcome::default());
    sim.started(7);
    sim.on(Event::Ready);
    sim.fire();
    assert_eq!(sim.process.state, Running);
    assert_eq!(sim.on(Event::Ready), Outcome::default());
}
