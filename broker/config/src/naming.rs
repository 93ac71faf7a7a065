//! Process names: `NAME` for a program of one process, `NAME:N` for each
//! of several, or, with a `process_name` template, `NAME:` and the template
//! filled for each process: supervisord's
//! `process_name = %(program_name)s_%(process_num)02d` is written
//! `process_name = "${program_name}_${process_num:02}"` and names the
//! processes `worker:worker_00`, `worker:worker_01`, as supervisorctl does.

use toml_edit::Item;

use super::reader::{Ctx, Fields};
use super::values::{self, Problem, Read};
use super::variables::{self, Expansion};
use super::Program;

/// Reads `process_name`, the template (environment variables expanded,
/// placeholders kept), checked to name each of `numprocs` processes apart.
pub(super) fn read_template(
    ctx: &mut Ctx,
    fields: &mut Fields,
    program: &str,
    numprocs: u32,
) -> Option<String> {
    let field = fields.take("process_name")?;
    ctx.read_as(&field, Expansion::KeepInstance, |item| {
        check_template(item, program, numprocs)
    })
}

fn check_template(item: &Item, program: &str, numprocs: u32) -> Read<String> {
    let template = values::non_empty_string(item)?;
    for placeholder in ["${process_name}", "${group_name}"] {
        if template.contains(placeholder) {
            return Err(Problem::new(format!(
                "{placeholder} cannot be used in process_name, which makes the process name; \
                 use ${{program_name}} and ${{process_num}}"
            )));
        }
    }
    if numprocs > 1 && fill(&template, program, 0) == fill(&template, program, 1) {
        return Err(Problem::new(format!(
            "numprocs = {numprocs}, but every process would get the name '{}'; put \
             ${{process_num}} in it, such as \"${{program_name}}_${{process_num:02}}\"",
            fill(&template, program, 0)
        )));
    }
    let sample = fill(&template, program, 0);
    if sample.is_empty() || sample.contains(|c: char| c == ':' || c == '/' || c.is_whitespace()) {
        return Err(Problem::new(format!(
            "'{}' is not a valid process name: it must not be empty nor contain ':', '/' or spaces",
            sample.escape_debug()
        )));
    }
    Ok(template)
}

/// The template filled for process `number` of `program`.
fn fill(template: &str, program: &str, number: u32) -> String {
    let number = number.to_string();
    let instance = variables::Instance {
        process_num: &number,
        // Refused in templates by check_template.
        process_name: "",
        program_name: program,
        group_name: "",
    };
    variables::substitute_instance(template, &instance)
}

impl Program {
    /// The name of this program's process number `number`.
    pub fn process_name_of(&self, number: u32) -> String {
        match &self.process_name {
            None if self.numprocs == 1 => self.name.clone(),
            None => format!("{}:{number}", self.name),
            Some(template) => {
                let filled = fill(template, &self.name, number);
                // One process named like its program keeps the short name,
                // as supervisorctl shows it.
                if self.numprocs == 1 && filled == self.name {
                    filled
                } else {
                    format!("{}:{filled}", self.name)
                }
            }
        }
    }

    /// The number of this program's process called `name`, or `None` when
    /// no process of it has that name.
    pub fn number_of(&self, name: &str) -> Option<u32> {
        let first = u64::from(self.numprocs_start);
        let is_it = |number: u32| {
            let in_range = (first..first + u64::from(self.numprocs)).contains(&number.into());
            in_range && self.process_name_of(number) == name
        };
        if self.numprocs == 1 {
            return is_it(self.numprocs_start).then_some(self.numprocs_start);
        }
        // The number is written in the name: try each run of digits in it
        // (a template may put other digits beside it) rather than every
        // number of the program.
        let bytes = name.as_bytes();
        (0..bytes.len())
            .filter(|&start| bytes[start].is_ascii_digit())
            .flat_map(|start| {
                let end = (start..bytes.len())
                    .find(|&i| !bytes[i].is_ascii_digit())
                    .unwrap_or(bytes.len());
                (start + 1..=end).map(move |stop| (start, stop))
            })
            .filter_map(|(start, stop)| name[start..stop].parse::<u32>().ok())
            .find(|&number| is_it(number))
    }
}
