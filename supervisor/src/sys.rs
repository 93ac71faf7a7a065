//! Every unsafe call of taskmasterd: fork, the code that runs in a child
//! between fork and exec, descriptor juggling and signal dispositions.
//!
//! Code that runs after fork uses only async-signal-safe calls on data
//! prepared before the fork ([`ExecPlan`], [`BrokerPlan`]): it allocates
//! nothing, so it is sound even if taskmasterd ever grows a thread.

use crate::pipes::ChildEnds;
use caps::{CapSet, Capability};
use nix::errno::Errno;
use nix::unistd::ForkResult;
use std::ffi::{c_char, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A NULL-terminated array of C strings for `execve`, built before fork.
pub struct CStringArray {
    /// Owns the strings `pointers` points into (moving the `Vec` does not
    /// move their heap buffers).
    _strings: Vec<CString>,
    pointers: Vec<*const c_char>,
}

impl CStringArray {
    pub fn new(strings: Vec<CString>) -> Self {
        let mut pointers: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        pointers.push(std::ptr::null());
        Self {
            _strings: strings,
            pointers,
        }
    }

    fn as_ptr(&self) -> *const *const c_char {
        self.pointers.as_ptr()
    }
}

/// The identity a child switches to: supplementary groups, then group, then
/// user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user's name, for messages.
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub groups: Vec<libc::gid_t>,
}

/// The step of a program's set-up that failed, reported through the errno
/// pipe as `(step, errno)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Session = 1,
    Stdio,
    Credentials,
    Directory,
    Exec,
}

impl Step {
    pub fn from_code(code: i32) -> Option<Step> {
        [
            Step::Session,
            Step::Stdio,
            Step::Credentials,
            Step::Directory,
            Step::Exec,
        ]
        .into_iter()
        .find(|step| *step as i32 == code)
    }
}

/// Everything a program's child needs, prepared before fork.
pub struct ExecPlan {
    pub stdio: ChildEnds,
    /// The program's limit of open files: what it would have had before
    /// taskmasterd raised its own (and the broker's) soft limit.
    pub open_files: libc::rlimit,
    pub credentials: Option<Credentials>,
    pub umask: Option<libc::mode_t>,
    pub directory: Option<CString>,
    /// Paths tried in order, as `execvp` does with `PATH`.
    pub candidates: Vec<CString>,
    pub argv: CStringArray,
    pub envp: CStringArray,
}

/// How the broker's child drops privilege.
pub enum Privilege {
    /// Switch to this user (taskmasterd is root), emptying the bounding set
    /// first so that nothing can regain a capability.
    User {
        credentials: Credentials,
        drop_bounding: Vec<Capability>,
    },
    /// taskmasterd is not root: nothing to drop.
    Unchanged,
}

/// Everything the broker's child needs, prepared before fork.
pub struct BrokerPlan {
    pub channel: OwnedFd,
    pub privilege: Privilege,
    /// taskmasterd's pid, to notice if it died before `PR_SET_PDEATHSIG`.
    pub parent: libc::pid_t,
    pub program: CString,
    pub argv: CStringArray,
    /// "taskmasterd: cannot execute taskmaster-broker '/path': "
    pub exec_error: Vec<u8>,
}

/// The stack a program's child runs on until it execs: `exec_program`
/// needs a few KiB.
const CHILD_STACK: usize = 64 * 1024;

thread_local! {
    /// The child's stack, allocated once: a new one for every spawn went
    /// through malloc's large-request path (which sorts its free lists) and
    /// faulted its pages in again.
    static STACK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Four descriptors taken at start-up, low in the table (normally 3 to 6),
/// that hold a program's stdin, stdout, stderr and report pipe while it is
/// being started. taskmasterd keeps three pipe ends per program (a new
/// broker gets them back), so its table grows with the programs; a child
/// that copied it (as fork and a plain `clone` do) and then closed it at
/// exec paid for every descriptor: with 1000 programs, spawning them all
/// closed 1.5 million descriptors. A child that shares our table
/// (`CLONE_FILES`) and unshares it with `close_range(CLOSE_RANGE_UNSHARE)`
/// from the first descriptor above the slots copies only the slots and the
/// standard three.
struct ChildSlots {
    /// `/dev/null`, duplicated onto a slot while no spawn uses it, so that
    /// we never hold a program's pipe end longer than its spawn.
    null: OwnedFd,
    /// stdin, stdout, stderr and the report pipe, in that order.
    slots: [RawFd; 4],
}

static CHILD_SLOTS: std::sync::OnceLock<ChildSlots> = std::sync::OnceLock::new();

/// Reserves the [`ChildSlots`]: called once, early, while the lowest free
/// descriptors are just above the standard three. Without them (a kernel
/// older than 5.9 has no `close_range`), programs start as before, with a
/// copied table.
pub fn reserve_child_slots() {
    // An empty range: supported kernels return 0 and close nothing.
    // SAFETY: close_range on a range above every descriptor closes nothing;
    // our table is not shared, so the unshare flag changes nothing either.
    let supported =
        unsafe { libc::syscall(libc::SYS_close_range, u32::MAX, u32::MAX, UNSHARE) } == 0;
    if !supported {
        return;
    }
    let open_null = || {
        nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
    };
    let Ok(null) = open_null() else { return };
    let mut held = Vec::new();
    for _ in 0..4 {
        match open_null() {
            Ok(fd) => held.push(fd),
            Err(_) => return,
        }
    }
    let mut slots = [0; 4];
    for (slot, fd) in slots.iter_mut().zip(held) {
        // Owned by the slots from now on: replaced, never closed.
        *slot = std::os::fd::IntoRawFd::into_raw_fd(fd);
    }
    let _ = CHILD_SLOTS.set(ChildSlots { null, slots });
}

const UNSHARE: libc::c_uint = libc::CLOSE_RANGE_UNSHARE;

/// Where the child finds its descriptors: the slots, or the plan's own.
#[derive(Clone, Copy)]
struct ChildFds {
    stdio: [RawFd; 3],
    report: RawFd,
    /// With slots: unshare the table from here up, closing what is above.
    unshare_from: Option<libc::c_uint>,
}

/// Starts a program as `posix_spawn` does: a child that shares our memory
/// until it execs (`clone` with `CLONE_VM | CLONE_VFORK`), on a stack of
/// its own, running only [`exec_program`]. No page table is copied and none
/// of our pages becomes copy-on-write: with fork, every spawn cost a fault
/// for each page taskmasterd touched afterwards (150 µs a spawn with 1000
/// programs). With the [`ChildSlots`] it shares our descriptor table too
/// (`CLONE_FILES`) until its first system call leaves it. We resume once
/// the child has exec'd or exited.
pub fn spawn_program(plan: &ExecPlan, report: &OwnedFd) -> nix::Result<nix::unistd::Pid> {
    extern "C" fn child(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` points at the pair below, alive while we run: the
        // parent is suspended until we exec or exit.
        let (plan, fds) = unsafe { &*(arg as *const (&ExecPlan, ChildFds)) };
        exec_program(plan, *fds)
    }
    debug_assert!(single_threaded(), "CLONE_VM needs a single-threaded parent");
    let stdio = &plan.stdio;
    let stderr = stdio.stderr.as_ref().unwrap_or(&stdio.stdout);
    let ends = [&stdio.stdin, &stdio.stdout, stderr, report].map(AsRawFd::as_raw_fd);
    let start = |fds: ChildFds, flags: libc::c_int| {
        let mut args: (&ExecPlan, ChildFds) = (plan, fds);
        let pid = STACK.with_borrow_mut(|stack| {
            stack.resize(CHILD_STACK, 0);
            clone_child(child, stack, flags, std::ptr::addr_of_mut!(args).cast())
        });
        if pid < 0 {
            return Err(Errno::last());
        }
        Ok(nix::unistd::Pid::from_raw(pid))
    };
    let Some(slots) = CHILD_SLOTS.get() else {
        let fds = ChildFds {
            stdio: [ends[0], ends[1], ends[2]],
            report: ends[3],
            unshare_from: None,
        };
        return start(fds, 0);
    };
    let fds = ChildFds {
        stdio: [slots.slots[0], slots.slots[1], slots.slots[2]],
        report: slots.slots[3],
        unshare_from: slots.slots.iter().max().map(|fd| *fd as libc::c_uint + 1),
    };
    let started = ends
        .iter()
        .zip(slots.slots)
        .try_for_each(|(end, slot)| replace_fd(*end, slot))
        .and_then(|()| start(fds, libc::CLONE_FILES));
    // The pipe ends go back to their owners only: a held stdout write end
    // would hide the program's exit from the broker.
    for slot in slots.slots {
        replace_fd(slots.null.as_raw_fd(), slot)?;
    }
    started
}

/// Runs `child(arg)` in a child sharing our memory, on `stack`, and
/// returns once it has exec'd or exited.
fn clone_child(
    child: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    stack: &mut [u8],
    flags: libc::c_int,
    arg: *mut libc::c_void,
) -> libc::c_int {
    // The stack grows down: its top, aligned as the ABI wants.
    let top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
    // SAFETY: the child runs `child` on `stack`, which outlives it (we are
    // suspended until it execs or exits, CLONE_VFORK), and touches our
    // memory only through `args`, read-only; it calls only
    // async-signal-safe functions and never returns into our frames. With
    // CLONE_FILES its first system call gives it a table of its own, so
    // what it does to descriptors afterwards never reaches ours.
    unsafe {
        libc::clone(
            child,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | flags | libc::SIGCHLD,
            arg,
        )
    }
}

/// Points the descriptor number `slot` (one of ours) at `fd`'s file,
/// close-on-exec.
fn replace_fd(fd: RawFd, slot: RawFd) -> nix::Result<()> {
    // SAFETY: `slot` is a ChildSlots descriptor, owned by the slots and
    // never by an OwnedFd, so replacing its file breaks no owner; `fd` is
    // open.
    if unsafe { libc::dup3(fd, slot, libc::O_CLOEXEC) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Whether this process has one thread (from /proc; debug builds only).
fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().nth(17).map(|n| n == "1")
        })
        .unwrap_or(true)
}

/// Forks taskmasterd. Private: sound only because taskmasterd is
/// single-threaded and each caller below runs only async-signal-safe code
/// in the child before exec or _exit (or, for the daemon, goes on as the
/// only process left).
fn fork() -> nix::Result<ForkResult> {
    debug_assert!(single_threaded(), "fork needs a single-threaded parent");
    // SAFETY: see above.
    unsafe { nix::unistd::fork() }
}

/// Starts the broker: a child that runs [`exec_broker`]. Returns its pid.
pub fn start_broker(plan: &BrokerPlan) -> nix::Result<nix::unistd::Pid> {
    match fork()? {
        ForkResult::Child => exec_broker(plan),
        ForkResult::Parent { child } => Ok(child),
    }
}

/// Daemonizes: the original process closes the write end of `pipe`, runs
/// `wait` on its read end (the daemon's report) and exits with its result;
/// the new process closes the read end and gets the write end back.
pub fn fork_daemon(pipe: (OwnedFd, OwnedFd), wait: fn(&OwnedFd) -> i32) -> nix::Result<OwnedFd> {
    let (read_end, write_end) = pipe;
    match fork()? {
        ForkResult::Parent { .. } => {
            drop(write_end);
            exit_now(wait(&read_end))
        }
        ForkResult::Child => {
            drop(read_end);
            Ok(write_end)
        }
    }
}

/// Ends a forked child (or the waiting daemon parent) without running exit
/// handlers or flushing buffers shared with the other side of the fork.
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and always sound to call.
    unsafe { libc::_exit(code) }
}

/// A pidfd for `pid`, which need not be our child: signals through it can
/// never reach another process that reused the pid, and it polls readable
/// once the process has exited.
pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags (0) and returns a new
    // descriptor, or -1 with errno set.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| std::io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor and nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `signal` to the process behind `pidfd`.
pub fn pidfd_send_signal(pidfd: &OwnedFd, signal: nix::sys::signal::Signal) -> std::io::Result<()> {
    // SAFETY: a valid pidfd, a signal number, no siginfo (null) and no
    // flags: the kernel reads nothing else.
    let result = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if result < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Makes sure descriptors 0, 1 and 2 are open (on /dev/null if they were
/// closed), so that no socket or pipe of ours ever lands on them.
pub fn ensure_std_fds_open() -> std::io::Result<()> {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only queries the descriptor table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            let devnull = std::fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            // SAFETY: both descriptors are valid; dup2 onto a closed slot
            // takes it without affecting any owned descriptor.
            if unsafe { libc::dup2(devnull.as_raw_fd(), fd) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Marks every descriptor above 2 that taskmasterd inherited as
/// close-on-exec, so that neither the broker nor any program inherits it
/// (ours are all created close-on-exec). Best effort.
pub fn close_inherited_fds_on_exec() {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on open
    // descriptors; it closes nothing and touches no memory.
    let marked = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if marked == 0 {
        return;
    }
    // Kernels older than 5.11: walk /proc/self/fd instead.
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: setting FD_CLOEXEC on a descriptor number; on the one
        // read_dir used (already closed) it fails with EBADF, harmlessly.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Points descriptors 0, 1 and 2 at `target` (the daemon detaching).
pub fn redirect_std_fds(target: &OwnedFd) -> std::io::Result<()> {
    for fd in 0..=2 {
        // SAFETY: `target` is open; replacing the standard descriptors does
        // not invalidate any OwnedFd, since none owns 0, 1 or 2.
        if unsafe { libc::dup2(target.as_raw_fd(), fd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Ignores SIGPIPE: a broker that vanished shows up as EPIPE, not death.
/// Children get the default back before exec.
pub fn ignore_sigpipe() -> nix::Result<()> {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_IGN installs no handler code.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }.map(drop)
}

/// Gives `signals` their default disposition before they are blocked and
/// read from a signalfd. A blocked signal is queued even when ignored, but
/// an ignored SIGCHLD has the kernel reap the children itself: taskmasterd
/// would never learn how a program ended. A parent may leave any of them
/// ignored (`nohup` SIGHUP, a script's background job SIGINT and SIGQUIT);
/// set to the default here, they are also not among those every spawn
/// must reset.
pub fn default_dispositions(signals: &[nix::sys::signal::Signal]) -> nix::Result<()> {
    use nix::sys::signal::{signal, SigHandler};
    for &sig in signals {
        // SAFETY: SIG_DFL installs no handler code.
        unsafe { signal(sig, SigHandler::SigDfl) }?;
    }
    Ok(())
}

/// Notes which signals taskmasterd ignores, for [`reset_signals`]. Called
/// once its dispositions are final: it catches no signal (it reads them
/// from a signalfd) and changes none after start-up.
pub fn note_ignored_signals() {
    let _ = IGNORED.set(ignored_now());
}

/// Signals whose disposition is "ignore", the only one that survives
/// exec besides the default (a caught signal is reset by exec itself).
struct Ignored {
    signals: [libc::c_int; 64],
    count: usize,
}

static IGNORED: std::sync::OnceLock<Ignored> = std::sync::OnceLock::new();

fn ignored_now() -> Ignored {
    let mut ignored = Ignored {
        signals: [0; 64],
        count: 0,
    };
    for signal in 1..libc::SIGRTMAX() {
        // SAFETY: reads this process's disposition of `signal` into a
        // zeroed plain-data struct; changes nothing.
        let disposition = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old);
            old.sa_sigaction
        };
        if disposition == libc::SIG_IGN && ignored.count < ignored.signals.len() {
            ignored.signals[ignored.count] = signal;
            ignored.count += 1;
        }
    }
    ignored
}

/// The child side of a program spawn: never returns. On failure it writes
/// `(step, errno)` to `report` and exits with status 127.
fn exec_program(plan: &ExecPlan, fds: ChildFds) -> ! {
    let report = fds.report;
    if let Some(first) = fds.unshare_from {
        // SAFETY: gives this child a descriptor table of its own holding
        // only the descriptors below `first` (the slots and the standard
        // three); the parent's table is left as it was. On failure nothing
        // changed, and the report is written through the shared table.
        let unshared = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, UNSHARE) };
        if unshared < 0 {
            fail_to_pipe(report, Step::Stdio, Errno::last_raw());
        }
    }
    // SAFETY: setsid only changes this (child) process's session.
    if unsafe { libc::setsid() } < 0 {
        fail_to_pipe(report, Step::Session, Errno::last_raw());
    }
    for (fd, target) in fds.stdio.into_iter().zip(0..) {
        if let Err(errno) = place_fd(fd, target) {
            fail_to_pipe(report, Step::Stdio, errno);
        }
    }
    // SAFETY: setrlimit reads a struct prepared before fork. Lowering a soft
    // limit cannot fail; if it did, the program would only keep the higher
    // limit, so the result is ignored.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &plan.open_files) };
    reset_signals();
    if let Some(credentials) = &plan.credentials {
        if let Err(errno) = switch_user(credentials) {
            fail_to_pipe(report, Step::Credentials, errno);
        }
    }
    if let Some(mask) = plan.umask {
        // SAFETY: umask cannot fail and touches only this process.
        unsafe { libc::umask(mask) };
    }
    if let Some(directory) = &plan.directory {
        // SAFETY: `directory` is a valid NUL-terminated string.
        if unsafe { libc::chdir(directory.as_ptr()) } < 0 {
            fail_to_pipe(report, Step::Directory, Errno::last_raw());
        }
    }
    // As execvp: skip candidates that do not exist, remember EACCES, stop at
    // any other error.
    let mut error = libc::ENOENT;
    for path in &plan.candidates {
        // SAFETY: path, argv and envp are NUL-terminated and outlive the call;
        // execve only returns on failure.
        unsafe { libc::execve(path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr()) };
        match Errno::last_raw() {
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => error = libc::EACCES,
            other => {
                error = other;
                break;
            }
        }
    }
    fail_to_pipe(report, Step::Exec, error)
}

/// The child side of starting the broker: never returns. Failures are
/// printed on the inherited stderr.
fn exec_broker(plan: &BrokerPlan) -> ! {
    let channel = taskmaster_ipc::BROKER_CHANNEL_FD;
    if let Err(errno) = place_fd(plan.channel.as_raw_fd(), channel) {
        fail_to_stderr(
            b"taskmasterd: cannot hand the channel to taskmaster-broker: ",
            errno,
            2,
        );
    }
    match &plan.privilege {
        Privilege::User {
            credentials,
            drop_bounding,
        } => {
            // Best effort: leaving root through setuid already empties the
            // permitted, effective and ambient sets; a container without
            // CAP_SETPCAP cannot empty the bounding set. The inheritable
            // set survives setuid, so it is emptied here.
            for cap in drop_bounding {
                let _ = caps::drop(None, CapSet::Bounding, *cap);
            }
            let _ = caps::clear(None, CapSet::Ambient);
            let _ = caps::clear(None, CapSet::Inheritable);
            if let Err(errno) = switch_user(credentials) {
                fail_to_stderr(
                    b"taskmasterd: cannot switch taskmaster-broker to its user: ",
                    errno,
                    2,
                );
            }
        }
        Privilege::Unchanged => {}
    }
    // Its own session: a terminal's Ctrl-C (SIGINT to the foreground
    // process group) never reaches the broker; taskmasterd asks it to stop.
    // The broker never needs to gain privilege through exec; the parent-death
    // signal is set after the identity change, which would clear it.
    let session = nix::unistd::setsid().map(|_| ());
    let no_new_privs = session.and_then(|()| nix::sys::prctl::set_no_new_privs());
    let death_signal = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    if let Err(errno) = no_new_privs.and(death_signal) {
        fail_to_stderr(
            b"taskmasterd: cannot set up taskmaster-broker: ",
            errno as i32,
            2,
        );
    }
    if nix::unistd::getppid().as_raw() != plan.parent {
        exit_now(1);
    }
    reset_signals();
    // SAFETY: program and argv are NUL-terminated and outlive the call; the
    // environment is the one taskmasterd inherited.
    unsafe { libc::execv(plan.program.as_ptr(), plan.argv.as_ptr()) };
    fail_to_stderr(&plan.exec_error, Errno::last_raw(), 2)
}

/// Makes `fd` available as `target` in this child, without close-on-exec.
fn place_fd(fd: RawFd, target: RawFd) -> Result<(), i32> {
    let result = if fd == target {
        // SAFETY: clearing the descriptor flags of an open descriptor.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }
    } else {
        // SAFETY: both are plain descriptor numbers; a dup2 onto `target` in
        // a child about to exec cannot break an owner in this process.
        unsafe { libc::dup2(fd, target) }
    };
    if result < 0 {
        Err(Errno::last_raw())
    } else {
        Ok(())
    }
}

/// setgroups, setgid, setuid: in that order, so that no group of the old
/// identity survives.
/// Raw system calls, not libc's wrappers: those may try to change every
/// thread of the process, which a child sharing our memory (see
/// [`spawn_program`]) must not do.
fn switch_user(credentials: &Credentials) -> Result<(), i32> {
    // SAFETY: the group list pointer and length come from one Vec.
    let mut result = unsafe {
        libc::syscall(
            libc::SYS_setgroups,
            credentials.groups.len(),
            credentials.groups.as_ptr(),
        )
    };
    if result == 0 {
        // SAFETY: setgid changes only this process's credentials.
        result = unsafe { libc::syscall(libc::SYS_setgid, credentials.gid) };
    }
    if result == 0 {
        // SAFETY: setuid changes only this process's credentials.
        result = unsafe { libc::syscall(libc::SYS_setuid, credentials.uid) };
    }
    if result < 0 {
        Err(Errno::last_raw())
    } else {
        Ok(())
    }
}

/// Unblocks every signal and gives the default disposition back to those
/// taskmasterd ignores (SIGPIPE, and any its parent left ignored): ignoring
/// survives exec. Two or three calls instead of one per signal (64 per
/// spawn); every signal when taskmasterd did not note them ([`IGNORED`]).
fn reset_signals() {
    // SAFETY: sigset and sigaction structs are plain data, zero is a valid
    // initial value, and these calls only change this process's signal
    // state; errors for SIGKILL/SIGSTOP are expected and harmless.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        let reset = |signal| libc::sigaction(signal, &default, std::ptr::null_mut());
        match IGNORED.get() {
            Some(ignored) => ignored.signals[..ignored.count].iter().for_each(|&s| {
                reset(s);
            }),
            None => (1..libc::SIGRTMAX()).for_each(|s| {
                reset(s);
            }),
        }
    }
}

fn fail_to_pipe(report: RawFd, step: Step, errno: i32) -> ! {
    let mut message = [0u8; 8];
    message[..4].copy_from_slice(&(step as i32).to_ne_bytes());
    message[4..].copy_from_slice(&errno.to_ne_bytes());
    // SAFETY: writing a stack buffer to a descriptor; a short or failed write
    // only makes the parent see a garbled report, which it handles.
    unsafe { libc::write(report, message.as_ptr().cast(), message.len()) };
    exit_now(127)
}

fn fail_to_stderr(prefix: &[u8], errno: i32, code: i32) -> ! {
    let description = Errno::from_raw(errno).desc().as_bytes();
    for part in [prefix, description, b"\n"] {
        // SAFETY: writing a borrowed buffer to stderr; failure is ignored
        // because there is nowhere else to report it.
        unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
    }
    exit_now(code)
}
