//! One process (one instance of a program) as the broker tracks it: its
//! definition, placement, state machine record, pipes and times. The core
//! owns the table of them; jobs and requests read them.

use crate::capture::{Capture, Totals};
use crate::history::History;
use crate::state::Process;
use crate::targets::Named;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::SystemTime;
use taskmaster_config::{Config, Program};
use taskmaster_ipc::Stream;
use taskmaster_protocol::Cause;

/// One process (one instance of a program) as the broker tracks it.
pub struct Proc {
    pub name: String,
    pub program: String,
    /// The program's definition as this process runs it.
    pub def: Arc<Program>,
    pub group: String,
    /// Start order: the group's priority, then the program's.
    pub order: (i32, i32),
    pub process: Process,
    pub started_wall: Option<SystemTime>,
    pub stopped_wall: Option<SystemTime>,
    /// When the state last changed.
    pub changed_wall: Option<SystemTime>,
    /// A reload changed the program: the next spawn uses this definition.
    pub pending: Option<Arc<Program>>,
    /// A reload removed it: dropped once stopped.
    pub retired: bool,
    /// The pumps of the current process's stdout and stderr (one when
    /// stderr is redirected); an earlier process's pumps drain on their own.
    pub captures: Vec<(Stream, Capture)>,
    /// What earlier processes' pumps logged and dropped, for `status`.
    pub output_totals: Totals,
    /// The write end of the current process's stdin pipe.
    pub stdin: Option<OwnedFd>,
    /// Its last transitions and why, for `why`.
    pub history: History,
    /// Who asked for the `Start` or `Stop` about to be applied (a job's
    /// requester); taken by the next one.
    pub cause: Option<Cause>,
    /// `depends_on`, `ready` and `healthcheck` as they apply to it now.
    pub watch: crate::ready::Watch,
}

impl Proc {
    /// The process `name` of `program`, as placed by `config`.
    pub fn new(config: &Config, program: &Arc<Program>, name: String) -> Proc {
        let (group, order) = placement(config, program);
        let def = program.instance(&name, &group);
        let seed = jitter_seed(&name);
        Proc {
            name,
            program: program.name.clone(),
            def,
            group,
            order,
            process: Process {
                jitter_seed: seed,
                ..Process::new()
            },
            started_wall: None,
            stopped_wall: None,
            changed_wall: None,
            pending: None,
            retired: false,
            captures: Vec::new(),
            output_totals: Totals::default(),
            stdin: None,
            history: History::default(),
            cause: None,
            watch: Default::default(),
        }
    }
}

/// A seed for the jitter of one process's retry waits: random per process
/// and per broker, so that programs failing together spread out.
fn jitter_seed(name: &str) -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(name)
}

/// The group a program belongs to in `config`, and its start order: the
/// group's priority, then the program's.
pub fn placement(config: &Config, program: &Program) -> (String, (i32, i32)) {
    let group = config.group_name_of(program).to_string();
    (group, config.start_order(program))
}

impl Named for Proc {
    fn process_name(&self) -> &str {
        &self.name
    }
    fn program_name(&self) -> &str {
        &self.program
    }
    fn group_name(&self) -> &str {
        &self.group
    }
}
