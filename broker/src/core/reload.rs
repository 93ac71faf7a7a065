//! Applying a new version of the config: load it, compare it with the one
//! in force ([`taskmaster_config::plan`]), and touch only what changed. A config with
//! errors changes nothing: the errors are logged, published and shown by
//! `status` until a good version is loaded.

use super::{Core, Proc};
use crate::jobs::Job;
use crate::targets::Selected;
use crate::watch::spawn_watcher;
use std::collections::HashMap;
use std::sync::Arc;
use taskmaster_config::{self, ChangeKind, Config, ConfigErrors, Plan};
use taskmaster_ipc::{ServicePhase, ToSupervisor};
use taskmaster_protocol::{Cause, EventBody, ProcessState, Response};
use tokio::sync::oneshot;

impl Core {
    /// The watcher saw the config change. An empty main file is a save
    /// caught between its truncation and its write (an editor writing in
    /// place): read as a config, it would remove every program and move the
    /// control socket. It is left alone; the write that follows is another
    /// change. `reload` and SIGHUP still read it as it is.
    pub(super) fn on_config_changed(&mut self) {
        let path = &self.config.path;
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            self.log.warn(&format!(
                "{} is empty: not applied (a save in progress?); run `taskmasterctl reload` to apply it anyway",
                path.display()
            ));
            return;
        }
        self.reload(None, "the config file changed");
    }

    /// Loads the config again and applies what changed. With `reply`, answers
    /// once every restarted process has settled.
    pub(super) fn reload(&mut self, reply: Option<oneshot::Sender<Response>>, why: &str) {
        if self.shutting_down {
            if let Some(reply) = reply {
                let _ = reply.send(Response::error(
                    409,
                    "shutting_down",
                    "taskmasterd is shutting down",
                ));
            }
            return;
        }
        self.log
            .info(&format!("reloading {}: {why}", self.config.path.display()));
        self.report_reload(ServicePhase::Reloading);
        // Reading the config, applied or refused, churns the heap.
        self.heap.reloaded();
        let new = match self.load_new() {
            Ok(new) => new,
            Err(errors) => {
                self.report_reload(ServicePhase::Ready);
                if let Some(reply) = reply {
                    let _ = reply.send(config_invalid(&errors));
                }
                return;
            }
        };
        let plan = taskmaster_config::plan(&self.config, &new);
        let text = plan.render();
        for line in text.lines().filter(|line| !line.ends_with(": unchanged")) {
            self.log.info(&format!("reload: {line}"));
        }
        let mut job = self.apply_plan(&plan, new);
        self.forget_unconfigured_intents();
        self.note_reload_causes(&plan, why);
        self.report_reload(ServicePhase::Ready);
        job.reply = reply;
        job.plan = Some(text);
        self.publish(EventBody::Reload {
            ok: true,
            errors: Vec::new(),
        });
        self.advance(job);
        self.reconsider_held();
        self.drain();
    }

    /// `reread`: what a reload would change, without changing anything.
    pub(super) fn reread(&mut self) -> Result<Response, Response> {
        let new = self.load_new().map_err(|errors| config_invalid(&errors))?;
        let plan = taskmaster_config::plan(&self.config, &new);
        Ok(Response::ok(serde_json::json!({ "plan": plan.render() })))
    }

    /// Loads the config file; on errors, records them for `status` and the
    /// event stream and returns them.
    fn load_new(&mut self) -> Result<Config, ConfigErrors> {
        match taskmaster_config::load(&self.config.path) {
            Ok(config) => {
                self.config_errors.clear();
                Ok(config)
            }
            Err(errors) => {
                let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
                for line in &lines {
                    self.log.error(&format!("config error: {line}"));
                }
                self.log
                    .error("the config in force is unchanged; fix the file and it is applied");
                self.config_errors = lines.clone();
                self.publish(EventBody::Reload {
                    ok: false,
                    errors: lines,
                });
                Err(errors)
            }
        }
    }

    /// Puts `new` in force and returns the job that stops and starts what
    /// the plan says.
    fn apply_plan(&mut self, plan: &Plan, new: Config) -> Job {
        let old = std::mem::replace(&mut self.config, new);
        if !plan.restart_needed.is_empty() {
            self.log.warn(&format!(
                "[taskmasterd] {} changed: restart taskmasterd to apply",
                plan.restart_needed.join(", ")
            ));
        }
        if plan.daemon_changed.iter().any(|k| k.starts_with("log")) {
            let daemon = &self.config.daemon;
            if let Err(e) = self.log.reopen(&daemon.logfile, daemon.loglevel) {
                let path = daemon.logfile.display().to_string();
                self.log.error(&format!(
                    "cannot open the new activity log {path}: {e}; still logging here"
                ));
            }
            self.log
                .set_rotation(daemon.logfile_maxbytes, daemon.logfile_backups);
        }
        self.server
            .set_idle_timeout(self.config.server.idle_timeout);
        let old_socket = (&old.server.file, old.server.chmod, &old.server.chown);
        let new_socket = (
            &self.config.server.file,
            self.config.server.chmod,
            &self.config.server.chown,
        );
        if old_socket != new_socket {
            // taskmasterd binds it (it may chown to anyone; we may not) and
            // answers with the new listener.
            let generation = self.config.generation;
            self.link
                .send(&ToSupervisor::Rebind { generation }, Vec::new());
        }
        if (&old.watch_dirs, &old.sources, &old.include_patterns)
            != (
                &self.config.watch_dirs,
                &self.config.sources,
                &self.config.include_patterns,
            )
        {
            self.watch_config();
        }

        self.graph = crate::deps::Graph::new(&self.config);
        let mut stop = Vec::new();
        let mut start = Vec::new();
        // Each program's processes, found in one pass: a scan of the table
        // per program made a reload of 1000 programs compare a million
        // names (15 % of its time). Adding processes to one program leaves
        // the others' indices as they are.
        let mut current: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, proc) in self.table.iter().enumerate().filter(|(_, p)| !p.retired) {
            current.entry(proc.program.clone()).or_default().push(i);
        }
        for change in &plan.programs {
            if change.kind == ChangeKind::Unchanged {
                continue;
            }
            let procs = current.remove(&change.name).unwrap_or_default();
            self.apply_change(&change.name, &change.kind, procs, &mut stop, &mut start);
        }
        // Group membership and priorities may have moved for anyone.
        for proc in self.table.iter_mut().filter(|p| !p.retired) {
            if let Some(program) = self.config.programs.get(&proc.program) {
                (proc.group, proc.order) = crate::proc::placement(&self.config, program);
            }
        }
        let as_wildcard = |indices: Vec<usize>| -> Vec<Selected> {
            indices
                .into_iter()
                .map(|index| Selected {
                    index,
                    explicit: false,
                })
                .collect()
        };
        for i in 0..self.table.len() {
            self.refresh_probe(i);
        }
        let mut phases = self.stop_phases(&as_wildcard(stop));
        let start = as_wildcard(start);
        if !start.is_empty() {
            phases.push(self.start_phase(&start));
        }
        Job::new(None, phases)
    }

    /// One program's part of the plan, given its processes (`current`):
    /// which of them to stop and which to start.
    fn apply_change(
        &mut self,
        name: &str,
        kind: &ChangeKind,
        current: Vec<usize>,
        stop: &mut Vec<usize>,
        start: &mut Vec<usize>,
    ) {
        let Some(program) = self.config.programs.get(name).cloned() else {
            // Removed: stop its processes, then forget them.
            for i in current {
                self.table[i].retired = true;
                stop.push(i);
            }
            return;
        };
        let wanted = program.process_names();
        match kind {
            // A removed program has no definition left: handled above.
            ChangeKind::Unchanged | ChangeKind::Removed => {}
            ChangeKind::Added => self.add_processes(&program, &wanted, start),
            ChangeKind::Changed { restart, .. } => {
                // Instances the new config no longer has, and new ones.
                for &i in &current {
                    if !wanted.contains(&self.table[i].name) {
                        self.table[i].retired = true;
                        stop.push(i);
                    }
                }
                let missing: Vec<String> = wanted
                    .iter()
                    .filter(|n| !current.iter().any(|&i| &self.table[i].name == *n))
                    .cloned()
                    .collect();
                self.add_processes(&program, &missing, start);
                let kept: Vec<usize> = current
                    .into_iter()
                    .filter(|&i| !self.table[i].retired)
                    .collect();
                for i in kept {
                    let proc = &mut self.table[i];
                    let def = program.instance(&proc.name, &proc.group);
                    if !*restart {
                        proc.def = def;
                        // A changed ready probe, health check or watchdog
                        // runs anew.
                        proc.watch.probe = None;
                        proc.watch.watchdog = None;
                        // Rotation and timestamps apply to the running pumps.
                        for (stream, capture) in &proc.captures {
                            if let Some(target) = super::log_target(&self.config, proc, *stream) {
                                capture.retarget(target);
                            }
                        }
                        continue;
                    }
                    // Stopped with its old settings, started with the new.
                    proc.pending = Some(def);
                    let state = proc.process.state;
                    if state.is_alive() || state == ProcessState::Backoff {
                        stop.push(i);
                        start.push(i);
                    } else if program.autostart {
                        start.push(i);
                    }
                }
            }
        }
    }

    /// Tells each process the reload stops or starts why, for `why`: what
    /// changed in its program, and where the program is (`file:line` of
    /// its command).
    fn note_reload_causes(&mut self, plan: &Plan, why: &str) {
        let file = self.config.path.display().to_string();
        for change in &plan.programs {
            let place = self
                .config
                .programs
                .get(&change.name)
                .and_then(|program| program.command_at.clone())
                .unwrap_or_else(|| file.clone());
            let what = match &change.kind {
                ChangeKind::Unchanged => continue,
                ChangeKind::Added => format!("added at {place}"),
                ChangeKind::Removed => format!("removed from {file}"),
                ChangeKind::Changed { keys, .. } => {
                    format!("{} changed at {place}", keys.join(", "))
                }
            };
            let cause = Cause::Reload {
                reason: format!("{why}; {what}"),
            };
            for proc in self.table.iter_mut().filter(|p| p.program == change.name) {
                proc.cause = Some(cause.clone());
            }
        }
    }

    fn add_processes(
        &mut self,
        program: &Arc<taskmaster_config::Program>,
        names: &[String],
        start: &mut Vec<usize>,
    ) {
        for name in names {
            let index = self
                .table
                .push(Proc::new(&self.config, program, name.clone()));
            if program.autostart {
                start.push(index);
            }
        }
    }

    /// Forgets the processes a reload removed once they have stopped.
    /// Only between jobs, since jobs hold indices.
    pub(super) fn compact(&mut self) {
        self.table
            .remove_where(|p| p.retired && !p.process.state.is_alive() && !p.process.spawning);
    }

    /// (Re)starts watching the config file and its includes.
    pub(super) fn watch_config(&mut self) {
        self.watcher = None;
        let config = &self.config;
        match spawn_watcher(
            config.watch_dirs.clone(),
            config.sources.clone(),
            config.include_patterns.clone(),
            self.config_changes.sender.clone(),
        ) {
            Ok(watcher) => self.watcher = Some(watcher),
            Err(e) => self.log.warn(&format!(
                "cannot watch {} for changes ({e}); reload with SIGHUP or `taskmasterctl reload`",
                config.path.display()
            )),
        }
    }
}

/// The reply to a reload or reread of a config with errors.
fn config_invalid(errors: &ConfigErrors) -> Response {
    Response::error(
        409,
        "config_invalid",
        format!("the config has errors; nothing was changed:\n{errors}"),
    )
}
