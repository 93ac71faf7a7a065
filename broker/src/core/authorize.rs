//! The roles of the config applied to one request (the rules are in
//! `access.rs`): the request is refused whole, or its wildcards are
//! narrowed to the processes the caller may touch, the others noted as
//! skipped.

use tokio::sync::oneshot;

use super::Core;
use crate::access::{self, Caller, Decision, Policy};
use crate::server::Peer;
use crate::targets;
use taskmaster_protocol::{ActionContent, Request, Response, Skipped, Target};

/// What one request may touch once the roles are applied.
#[derive(Debug, Default)]
pub(super) struct Scope {
    /// For each process (by index), whether the caller may touch it;
    /// `None` for all of them.
    pub allowed: Option<Vec<bool>>,
    /// What a wildcard named that the caller may not touch.
    pub skipped: Vec<Skipped>,
}

/// `all`, `group:*` and the like: they ask for "what I may touch", so they
/// are narrowed, where a name the caller may not touch is refused.
fn is_wildcard(target: Option<Target>, spec: &str) -> bool {
    matches!(target, Some(Target::All | Target::Group))
        || spec.is_empty()
        || spec == "all"
        || spec.ends_with(":*")
        || spec.ends_with(':')
}

impl Core {
    /// The scope of `request` from `peer`, or the 403 that refuses it.
    pub(super) fn authorize(&self, request: &Request, peer: &Peer) -> Result<Scope, Response> {
        let roles = &self.config.server.roles;
        let broker_uid = nix::unistd::getuid().as_raw();
        // The usual case, open roles, costs no look-up in the user database.
        if roles.is_open() || peer.uid == Some(0) || peer.uid == Some(broker_uid) {
            return Ok(Scope::default());
        }
        let policy = Policy { roles, broker_uid };
        let caller = Caller::lookup(peer.uid);
        if access::is_admin(policy, &caller) {
            return Ok(Scope::default());
        }
        let command = &request.command;
        let refuse = |what: &str, rule: &str| {
            let message = format!("{caller} may not {}{what}: {rule}", command.name());
            Response::error(403, "forbidden", message)
        };
        // The commands about the daemon as a whole have no selection.
        let selection = command.selection().filter(|selection| {
            !selection.is_empty() || super::requests::unnamed_means_every_process(command)
        });
        let Some(selection) = selection else {
            return match access::decide(policy, &caller, command, None) {
                Decision::Allowed => Ok(Scope::default()),
                Decision::Denied(rule) => Err(refuse("", &rule)),
            };
        };
        let mut specs: Vec<String> = selection.specs().map(str::to_owned).collect();
        // Naming nothing, or `target: all` alone, names every process.
        if specs.is_empty() {
            specs.push(String::new());
        }
        let mut allowed: Vec<Option<bool>> = vec![None; self.table.len()];
        let mut skipped = Vec::new();
        for spec in &specs {
            let target = selection.target;
            let indices: Vec<usize> = if spec.is_empty() && target != Some(Target::All) {
                (0..self.table.len()).collect()
            } else {
                // A name that matches nothing is the handler's 404.
                targets::resolve(self.table.as_slice(), target, std::slice::from_ref(spec))
                    .map(|selected| selected.iter().map(|s| s.index).collect())
                    .unwrap_or_default()
            };
            for index in indices {
                if allowed[index].is_some() {
                    continue;
                }
                let proc = &self.table[index];
                let operators = self
                    .config
                    .programs
                    .get(&proc.program)
                    .map(|program| program.operators.as_slice())
                    .unwrap_or_default();
                let on = access::Target {
                    program: &proc.program,
                    operators,
                };
                match access::decide(policy, &caller, command, Some(on)) {
                    Decision::Allowed => allowed[index] = Some(true),
                    Decision::Denied(rule) if !is_wildcard(target, spec) => {
                        return Err(refuse(&format!(" {spec}"), &rule).about(spec, None));
                    }
                    Decision::Denied(rule) => {
                        allowed[index] = Some(false);
                        skipped.push(Skipped {
                            name: proc.name.clone(),
                            reason: rule,
                        });
                    }
                }
            }
        }
        if skipped.is_empty() {
            return Ok(Scope::default());
        }
        if !allowed.contains(&Some(true)) {
            let first = &skipped[0];
            return Err(refuse(&format!(" {}", first.name), &first.reason));
        }
        Ok(Scope {
            allowed: Some(allowed.into_iter().map(|a| a == Some(true)).collect()),
            skipped,
        })
    }
}

/// A reply channel that adds `skipped` to the action reply sent through it:
/// a job answers long after the request was dispatched, so the note rides
/// with the reply rather than with the job.
pub(super) fn report_skipped(
    reply: oneshot::Sender<Response>,
    skipped: Vec<Skipped>,
) -> oneshot::Sender<Response> {
    let (sender, answer) = oneshot::channel::<Response>();
    tokio::spawn(async move {
        let Ok(mut response) = answer.await else {
            return;
        };
        let content = response.content.as_ref().map(|raw| raw.get());
        if let Some(Ok(mut action)) = content.map(serde_json::from_str::<ActionContent>) {
            action.skipped = skipped;
            response.content = serde_json::value::to_raw_value(&action).ok();
        }
        let _ = reply.send(response);
    });
    sender
}
