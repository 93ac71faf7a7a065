//! Reads `[programs.NAME]` and `[groups.NAME]`, and puts every program in
//! exactly one group.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::reader::{entries, Ctx, Field, Fields};
use super::readiness::{self, Readiness};
use super::values::{self, did_you_mean, Span};
use super::variables::{self, Expansion};
use super::{accounts, command_line, naming, AutoRestart, Group, LogSpec, Program, Retry};

const PROGRAM_KEYS: &[&str] = &[
    "command",
    "args",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "directory",
    "umask",
    "stdout",
    "stderr",
    "redirect_stderr",
    "stdout_maxbytes",
    "stdout_backups",
    "stderr_maxbytes",
    "stderr_backups",
    "stdout_timestamps",
    "stderr_timestamps",
    "stdout_prefix",
    "stderr_prefix",
    "serverurl",
    "operators",
    "env",
    "process_name",
    "command_line",
    "backoff",
    "backoff_reset",
    "depends_on",
    "ready",
    "ready_timeout",
    "ready_interval",
    "healthcheck",
];
/// The seed project's names, still accepted.
const PROGRAM_ALIASES: &[(&str, &str)] = &[
    ("cmd", "command"),
    ("workingdir", "directory"),
    ("starttime", "startsecs"),
    ("stoptime", "stopwaitsecs"),
];
const GROUP_KEYS: &[&str] = &["programs", "priority"];

const DEFAULT_PRIORITY: i32 = 999;
/// How the values that differ per process are expanded at load.
const INSTANCE: Expansion = Expansion::KeepInstance;
pub(super) const DEFAULT_MAXBYTES: u64 = 50 << 20;
pub(super) const DEFAULT_BACKUPS: u32 = 10;
/// The most processes one program may have. Far beyond what one host
/// runs of one program, and small enough that a typo (`numprocs =
/// 4294967295` once made the broker ask for 103 GB at every start) is an
/// error rather than an allocation that aborts.
pub(super) const MAX_NUMPROCS: u32 = 10_000;
/// The most processes of a whole config. Each process costs a pipe per
/// stream in taskmasterd and in the broker (3 file descriptors in each)
/// and an entry in their tables: 100 000 processes stay under the usual
/// `fs.nr_open` of 1 048 576 descriptors and the default `pid_max` of
/// 4 194 304, while ten programs at the per-program limit still fit.
pub(super) const MAX_PROCESSES: u64 = 100_000;

/// Reads the `[programs]` of one file into `programs`; `places` says where
/// each was defined (`file:line`), to name both places of a duplicate.
pub(super) fn read_programs(
    ctx: &mut Ctx,
    field: Option<Field>,
    programs: &mut BTreeMap<String, Arc<Program>>,
    places: &mut BTreeMap<String, String>,
) {
    let Some(table) = field.as_ref().and_then(|field| ctx.table(field)) else {
        return;
    };
    // Counted over the files read so far, so that the program that passes
    // the limit, and only it, is named.
    let mut total: u64 = programs.values().map(|p| u64::from(p.numprocs)).sum();
    for (name, field) in entries(table, "programs") {
        check_name(ctx, "program", name, &field);
        if let Some(first) = places.get(name) {
            let message =
                format!("program '{name}' is already defined at {first}; define each program once");
            ctx.error(field.span.clone(), &field.path, message);
            continue;
        }
        places.insert(name.to_owned(), ctx.place(field.span.clone()));
        if let Some(program) = read_program(ctx, name, &field) {
            let before = total;
            total += u64::from(program.numprocs);
            if before <= MAX_PROCESSES && total > MAX_PROCESSES {
                let message = format!(
                    "with this program the config has {total} processes, more than the \
                     {MAX_PROCESSES} Taskmaster runs; lower numprocs"
                );
                ctx.error(field.span.clone(), &field.path, message);
            }
            programs.insert(name.to_owned(), Arc::new(program));
        }
    }
}

/// Program and group names appear in commands (`web:3`, `group:*`) and in
/// log file names, hence the forbidden characters.
fn check_name(ctx: &mut Ctx, kind: &str, name: &str, field: &Field) {
    let problem = if name.is_empty() {
        Some(format!("a {kind} name must not be empty"))
    } else if name.contains(char::is_control) {
        // Escaped: the name goes to terminals and logs.
        Some(format!(
            "'{}' is not a valid {kind} name: it must not contain control characters",
            name.escape_debug()
        ))
    } else if name.contains(|c: char| c == ':' || c == '/' || c.is_whitespace()) {
        Some(format!(
            "'{name}' is not a valid {kind} name: it must not contain ':', '/' or spaces"
        ))
    } else if name == "all" {
        Some(format!(
            "'all' cannot be a {kind} name: commands read it as every program"
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        ctx.error(field.span.clone(), &field.path, problem);
    }
}

/// `None` only when the entry is not a table; a program with errors is
/// still returned so that groups can name it without more errors.
fn read_program(ctx: &mut Ctx, name: &str, field: &Field) -> Option<Program> {
    let table = ctx.table(field)?;
    let mut fields = ctx.split(table, &field.path, PROGRAM_KEYS, PROGRAM_ALIASES);
    let args_given = fields.contains("args");
    let command_at = ["command", "command_line"]
        .into_iter()
        .find_map(|key| fields.get(key))
        .map(|command| ctx.place(command.span.clone()));
    let line = command_line::read(ctx, &mut fields);
    let command = match &line {
        Some((command, _)) => command.clone(),
        None => read_command(ctx, &mut fields, field, args_given),
    };
    // `None` inside: "infinite".
    let retries = ctx.value(&mut fields, "startretries", values::retries);
    let retry = Retry {
        forever: matches!(retries, Some(None)),
        backoff: ctx.value(&mut fields, "backoff", values::backoff),
        reset: ctx
            .value(&mut fields, "backoff_reset", values::duration)
            .unwrap_or(Retry::default().reset),
    };
    let numprocs: u32 = ctx
        .value(&mut fields, "numprocs", |item| {
            values::whole(item, 1, MAX_NUMPROCS.into())
        })
        .unwrap_or(1);
    let numprocs_start: u32 = ctx
        .value(&mut fields, "numprocs_start", |item| {
            values::whole(item, 0, u32::MAX.into())
        })
        .unwrap_or(0);
    // The last process number is numprocs_start + numprocs - 1, but the
    // range of numbers ends at the sum, which must be a u32 too.
    if numprocs_start.checked_add(numprocs).is_none() {
        ctx.error(
            field.span.clone(),
            &format!("{}.numprocs_start", field.path),
            format!(
                "numprocs_start + numprocs must be at most {}, found {numprocs_start} + \
                 {numprocs}; lower numprocs_start",
                u32::MAX
            ),
        );
    }
    let priority = read_priority(ctx, &mut fields);
    let stopasgroup = ctx
        .value(&mut fields, "stopasgroup", values::boolean)
        .unwrap_or(false);
    let log_fields: Vec<(String, Span)> = ["stdout", "stderr"]
        .into_iter()
        .filter_map(|stream| fields.get(stream))
        .map(|field| (field.path.clone(), field.span.clone()))
        .collect();
    let mut program = Program {
        name: name.to_owned(),
        command,
        args: ctx
            .value_as(&mut fields, "args", INSTANCE, values::string_array)
            .unwrap_or_default(),
        numprocs,
        numprocs_start,
        priority,
        autostart: ctx
            .value(&mut fields, "autostart", values::boolean)
            .unwrap_or(true),
        startsecs: ctx
            .value(&mut fields, "startsecs", values::seconds)
            .unwrap_or(Duration::from_secs(1)),
        startretries: retries.map_or(3, |r| r.unwrap_or(u32::MAX)),
        autorestart: ctx
            .value(&mut fields, "autorestart", values::autorestart)
            .unwrap_or(AutoRestart::Unexpected),
        exitcodes: ctx
            .value(&mut fields, "exitcodes", values::exitcodes)
            .unwrap_or_else(|| vec![0]),
        stopsignal: ctx
            .value(&mut fields, "stopsignal", values::signal)
            .unwrap_or(Signal::SIGTERM as i32),
        stopwaitsecs: ctx
            .value(&mut fields, "stopwaitsecs", values::seconds)
            .unwrap_or(Duration::from_secs(10)),
        stopasgroup,
        // As in supervisord: stopping the group without killing it would
        // leave the stragglers of a group that ignores the stop signal.
        killasgroup: ctx
            .value(&mut fields, "killasgroup", values::boolean)
            .unwrap_or(false)
            || stopasgroup,
        user: ctx.value(&mut fields, "user", accounts::user),
        directory: ctx.path_as(&mut fields, "directory", INSTANCE),
        umask: ctx.mode(&mut fields, "umask"),
        stdout: read_log_spec(ctx, &mut fields, "stdout"),
        stderr: read_log_spec(ctx, &mut fields, "stderr"),
        redirect_stderr: ctx
            .value(&mut fields, "redirect_stderr", values::boolean)
            .unwrap_or(false),
        serverurl: ctx.value(&mut fields, "serverurl", values::server_url),
        operators: ctx
            .value(&mut fields, "operators", accounts::principals)
            .unwrap_or_default(),
        env: fields
            .take("env")
            .map(|env| ctx.env(&env, INSTANCE))
            .unwrap_or_default(),
        process_name: naming::read_template(ctx, &mut fields, name, numprocs),
        retry,
        command_at,
        readiness: read_readiness(ctx, &mut fields),
    };
    if let Some((_, args)) = line {
        program.args = args;
    }
    check_shared_logs(ctx, &program, &log_fields);
    Some(program)
}

/// A log path that is the same for every process of a program would have
/// them all append to one file, their lines mixed and each rotating it
/// under the others (supervisord refuses it too). `/dev/null` is the one
/// file they may share.
fn check_shared_logs(ctx: &mut Ctx, program: &Program, log_fields: &[(String, Span)]) {
    if program.numprocs < 2 {
        return;
    }
    let streams = [("stdout", &program.stdout), ("stderr", &program.stderr)];
    for (stream, spec) in streams {
        if stream == "stderr" && program.redirect_stderr {
            continue;
        }
        let Some(path) = &spec.path else {
            continue;
        };
        if path.as_os_str() == "/dev/null" || differs_per_process(program, path) {
            continue;
        }
        let suffix = format!(".{stream}");
        let Some((key, span)) = log_fields.iter().find(|(key, _)| key.ends_with(&suffix)) else {
            continue;
        };
        let message = format!(
            "numprocs = {}, but every process would write this one file; put ${{process_num}} \
             (or ${{process_name}}) in the path, such as \"{}\"",
            program.numprocs,
            numbered(path).display()
        );
        ctx.error(span.clone(), key, message);
    }
}

/// `path` with `-${process_num}` before its extension.
fn numbered(path: &std::path::Path) -> std::path::PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(extension) => format!("{stem}-${{process_num}}.{}", extension.to_string_lossy()),
        None => format!("{stem}-${{process_num}}"),
    };
    path.with_file_name(name)
}

/// Whether two processes of `program` get two paths from `path`.
fn differs_per_process(program: &Program, path: &std::path::Path) -> bool {
    let Some(text) = path.to_str() else {
        // Not UTF-8, so not expanded per process.
        return false;
    };
    let fill = |number: u32| {
        let (number, name) = (number.to_string(), format!("{}:{number}", program.name));
        let instance = variables::Instance {
            process_num: &number,
            process_name: &name,
            program_name: &program.name,
            group_name: "",
        };
        variables::substitute_instance(text, &instance)
    };
    fill(0) != fill(1)
}

/// `command` is required and holds the executable only: `"nginx -g x"`
/// would be looked up as one file name, so say where arguments go.
fn read_command(ctx: &mut Ctx, fields: &mut Fields, table: &Field, args_given: bool) -> String {
    let Some(field) = fields.take("command") else {
        ctx.error(
            table.span.clone(),
            &table.path,
            "missing required key 'command' (the executable to run)",
        );
        return String::new();
    };
    let Some(command) = ctx.read_as(&field, INSTANCE, values::non_empty_string) else {
        return String::new();
    };
    let mut words = command.split_whitespace();
    if let (Some(first), false) = (words.next(), args_given) {
        let rest: Vec<String> = words.map(|word| format!("{word:?}")).collect();
        if !rest.is_empty() {
            ctx.error(
                field.span.clone(),
                &field.path,
                format!(
                    "'{command}' has spaces, but command is the executable alone; \
                     write command = {first:?} and args = [{}]",
                    rest.join(", ")
                ),
            );
        }
    }
    command
}

/// `depends_on`, `ready`, `ready_timeout`, `ready_interval`, `healthcheck`.
fn read_readiness(ctx: &mut Ctx, fields: &mut Fields) -> Readiness {
    let (depends_on, depends_place) = match fields.take("depends_on") {
        Some(field) => {
            let (names, place) = readiness::read_depends_on(ctx, &field);
            (names, Some(place))
        }
        None => (Vec::new(), None),
    };
    let (ready, watchdog) = match fields.take("ready") {
        Some(field) => readiness::read_ready(ctx, &field),
        None => (None, None),
    };
    Readiness {
        depends_on,
        depends_place,
        ready,
        watchdog,
        ready_timeout: fields
            .take("ready_timeout")
            .and_then(|field| readiness::read_positive_duration(ctx, &field)),
        ready_interval: fields
            .take("ready_interval")
            .and_then(|field| readiness::read_positive_duration(ctx, &field))
            .unwrap_or(Readiness::default().ready_interval),
        healthcheck: fields
            .take("healthcheck")
            .and_then(|field| readiness::read_healthcheck(ctx, &field)),
    }
}

fn read_priority(ctx: &mut Ctx, fields: &mut Fields) -> i32 {
    ctx.value(fields, "priority", |item| {
        values::whole(item, i32::MIN.into(), i32::MAX.into())
    })
    .unwrap_or(DEFAULT_PRIORITY)
}

fn read_log_spec(ctx: &mut Ctx, fields: &mut Fields, stream: &str) -> LogSpec {
    LogSpec {
        path: ctx.path_as(fields, stream, INSTANCE),
        maxbytes: ctx
            .value(fields, &format!("{stream}_maxbytes"), values::byte_size)
            .unwrap_or(DEFAULT_MAXBYTES),
        backups: ctx
            .value(fields, &format!("{stream}_backups"), |item| {
                values::whole(item, 0, u32::MAX.into())
            })
            .unwrap_or(DEFAULT_BACKUPS),
        timestamps: ctx
            .value(fields, &format!("{stream}_timestamps"), values::boolean)
            .unwrap_or(false),
        prefix: ctx
            .value(fields, &format!("{stream}_prefix"), values::boolean)
            .unwrap_or(false),
    }
}

/// The groups declared so far, over every file.
#[derive(Default)]
pub(super) struct Groups {
    groups: BTreeMap<String, Group>,
    /// Program -> its group.
    member_of: BTreeMap<String, String>,
    /// Group -> where it was declared (`file:line`).
    places: BTreeMap<String, String>,
}

/// Reads the `[groups]` of one file into `declared`.
pub(super) fn read_groups(
    ctx: &mut Ctx,
    field: Option<Field>,
    programs: &BTreeMap<String, Arc<Program>>,
    declared: &mut Groups,
) {
    let Some(table) = field.as_ref().and_then(|field| ctx.table(field)) else {
        return;
    };
    for (name, field) in entries(table, "groups") {
        check_name(ctx, "group", name, &field);
        if programs.contains_key(name) {
            ctx.error(
                field.span.clone(),
                &field.path,
                format!(
                    "group '{name}' has the name of a program, so commands could not \
                     tell them apart; rename the group"
                ),
            );
        }
        if let Some(first) = declared.places.get(name) {
            let message =
                format!("group '{name}' is already defined at {first}; define each group once");
            ctx.error(field.span.clone(), &field.path, message);
            continue;
        }
        declared
            .places
            .insert(name.to_owned(), ctx.place(field.span.clone()));
        if let Some(group) = read_group(ctx, name, &field, programs, &mut declared.member_of) {
            declared.groups.insert(name.to_owned(), group);
        }
    }
}

/// The declared groups, then a group of its own for each other program.
pub(super) fn implicit_groups(
    declared: Groups,
    programs: &BTreeMap<String, Arc<Program>>,
) -> BTreeMap<String, Group> {
    let mut groups = declared.groups;
    for (name, program) in programs {
        if !declared.member_of.contains_key(name) {
            groups.entry(name.clone()).or_insert_with(|| Group {
                name: name.clone(),
                programs: vec![name.clone()],
                priority: program.priority,
            });
        }
    }
    groups
}

fn read_group(
    ctx: &mut Ctx,
    name: &str,
    field: &Field,
    programs: &BTreeMap<String, Arc<Program>>,
    member_of: &mut BTreeMap<String, String>,
) -> Option<Group> {
    let table = ctx.table(field)?;
    let mut fields = ctx.split(table, &field.path, GROUP_KEYS, &[]);
    let priority = read_priority(ctx, &mut fields);
    let members = match fields.take("programs") {
        Some(list) => read_members(ctx, name, &list, programs, member_of),
        None => {
            ctx.error(
                field.span.clone(),
                &field.path,
                "missing required key 'programs' (the names of the group's programs)",
            );
            Vec::new()
        }
    };
    Some(Group {
        name: name.to_owned(),
        programs: members,
        priority,
    })
}

/// The programs of one group, each checked to exist and to be in no other group.
fn read_members(
    ctx: &mut Ctx,
    group: &str,
    list: &Field,
    programs: &BTreeMap<String, Arc<Program>>,
    member_of: &mut BTreeMap<String, String>,
) -> Vec<String> {
    let names = ctx.read(list, values::string_array).unwrap_or_default();
    let Some(array) = list.item.as_array() else {
        return Vec::new();
    };
    if names.is_empty() {
        ctx.error(
            list.span.clone(),
            &list.path,
            "a group must list at least one program",
        );
    }
    let mut members = Vec::new();
    for (program, value) in names.iter().zip(array.iter()) {
        let problem = membership_problem(program, group, programs, member_of);
        match problem {
            Some(problem) => ctx.error(value.span(), &list.path, problem),
            None => {
                member_of.insert(program.clone(), group.to_owned());
                members.push(program.clone());
            }
        }
    }
    members
}

/// Why `program` cannot join `group`, if it cannot.
fn membership_problem(
    program: &str,
    group: &str,
    programs: &BTreeMap<String, Arc<Program>>,
    member_of: &BTreeMap<String, String>,
) -> Option<String> {
    if !programs.contains_key(program) {
        let hint = did_you_mean(program, programs.keys().map(String::as_str), ("'", "'"));
        return Some(format!("no program '{program}' in [programs]{hint}"));
    }
    let other = member_of.get(program)?;
    Some(if other == group {
        format!("program '{program}' is listed twice")
    } else {
        format!("program '{program}' is already in group '{other}'; a program belongs to one group only")
    })
}
