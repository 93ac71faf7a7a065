//! `--recursive`: `[include]`s kept as includes. The main file becomes
//! `DIR/taskmaster.conf.toml` with an `[include]` of the same globs made
//! `.toml`, and each included file is translated beside where it sits
//! relative to the main file (`conf.d/web.conf` → `DIR/conf.d/web.toml`),
//! so that a file added to conf.d later is read once it is translated too.

use crate::include::{toml_file, toml_pattern, Pattern};
use crate::ini::Section;
use crate::translate;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of the main file's translation in the output directory: the
/// name taskmasterd looks for.
const MAIN_NAME: &str = "taskmaster.conf.toml";

/// One supervisord file and where its translation goes.
struct File {
    source: PathBuf,
    target: PathBuf,
    sections: Vec<Section>,
}

/// Each file's translation and where to write it: the main file's first.
/// `output` is the directory (default: the main file's).
pub fn translate(
    input: &Path,
    main: Vec<Section>,
    patterns: &[Pattern],
    output: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<Vec<(Option<PathBuf>, String)>, String> {
    let input = std::path::absolute(input).unwrap_or_else(|_| input.to_path_buf());
    let main_dir = input.parent().unwrap_or(Path::new("/")).to_path_buf();
    let out_dir = output.map_or_else(|| main_dir.clone(), Path::to_path_buf);
    let mut files = vec![File {
        source: input.clone(),
        target: out_dir.join(MAIN_NAME),
        sections: main.into_iter().filter(|s| s.name != "include").collect(),
    }];
    for source in patterns.iter().flat_map(|p| &p.files) {
        let target = match source.strip_prefix(&main_dir) {
            Ok(relative) => out_dir.join(toml_file(relative)),
            Err(_) => toml_file(source),
        };
        if files.iter().any(|f| f.source == *source) {
            continue;
        }
        if let Some(other) = files.iter().find(|f| f.target == target) {
            warnings.push(format!(
                "{}: its translation would be {}, which {} is translated to; left out: rename one",
                source.display(),
                target.display(),
                other.source.display()
            ));
            continue;
        }
        if target == *source {
            warnings.push(format!(
                "{}: already named .toml, its translation would replace it; left out: rename it",
                source.display()
            ));
            continue;
        }
        let sections = crate::read_included(source, warnings)?;
        files.push(File {
            source: source.clone(),
            target,
            sections,
        });
    }
    let owned = owners(&mut files, warnings);
    let mut globs: Vec<String> = Vec::new();
    for pattern in patterns {
        let glob = toml_pattern(relative_to(&pattern.written, &main_dir));
        // `*.conf` and `*.ini` both become `*.toml`: one glob, since
        // Taskmaster refuses a file matched twice.
        if !globs.contains(&glob) {
            globs.push(glob);
        }
    }
    let mut outputs = Vec::new();
    for (index, (file, sections)) in files.iter().zip(owned).enumerate() {
        let mut translation = translate::translate(&sections);
        if index == 0 && !globs.is_empty() {
            translation.include(&globs);
        }
        warnings.extend(translation.warnings.iter().map(ToString::to_string));
        outputs.push((Some(file.target.clone()), translation.to_toml(&file.source)));
    }
    Ok(outputs)
}

/// The sections each file's translation holds. supervisord merges a
/// section given in several files into one; Taskmaster defines a program
/// once, so the merged section goes to the file that has it first (with a
/// warning at the others). Sections other than programs and groups belong
/// to the main file in Taskmaster, and go there.
fn owners(files: &mut [File], warnings: &mut Vec<String>) -> Vec<Vec<Section>> {
    let mut owned: Vec<Vec<Section>> = vec![Vec::new(); files.len()];
    // Section name → (file index, position in owned[file]).
    let mut owner: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (index, file) in files.iter_mut().enumerate() {
        for section in std::mem::take(&mut file.sections) {
            match owner.get(&section.name) {
                Some(&(first, at)) => {
                    let kept = &mut owned[first][at];
                    if first != index && is_program_or_group(&section) {
                        warnings.push(format!(
                            "{}:{}: [{}] is also in {}:{}; merged into that file's \
                             translation, as supervisord merges them",
                            section.file.display(),
                            section.line,
                            section.name,
                            kept.file.display(),
                            kept.line
                        ));
                    }
                    crate::ini::add_entries(kept, section.entries);
                }
                None => {
                    let to = if is_program_or_group(&section) {
                        index
                    } else {
                        0
                    };
                    owner.insert(section.name.clone(), (to, owned[to].len()));
                    owned[to].push(section);
                }
            }
        }
    }
    owned
}

fn is_program_or_group(section: &Section) -> bool {
    let kind = section.name.split(':').next().unwrap_or_default();
    matches!(kind, "program" | "group")
}

/// `pattern` relative to `dir` when it is under it (`%(here)s/conf.d/*.conf`
/// gives an absolute one), else as it is.
fn relative_to<'p>(pattern: &'p str, dir: &Path) -> &'p str {
    let prefix = format!("{}/", dir.display().to_string().trim_end_matches('/'));
    pattern.strip_prefix(&prefix).unwrap_or(pattern)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn files_go_beside_their_place_and_programs_are_defined_once() {
        let root = std::env::temp_dir().join(format!("tm-import-rec-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let (main_dir, outside, out) = (root.join("s"), root.join("o"), root.join("out"));
        fs::create_dir_all(main_dir.join("conf.d")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        let main = main_dir.join("supervisord.conf");
        let write = |path: &Path, text: &str| fs::write(path, text).unwrap();
        write(
            &main,
            &format!(
                "[include]\nfiles = conf.d/*.conf %(here)s/conf.d/*.ini {}/*.ini\n\
                 [program:a]\ncommand = /bin/a\n",
                outside.display()
            ),
        );
        write(
            &main_dir.join("conf.d/b.conf"),
            "[program:b]\ncommand = /bin/b\n[program:a]\nautostart = false\n\
             [supervisord]\nnodaemon = true\n",
        );
        write(
            &main_dir.join("conf.d/c.conf"),
            "[program:c]\ncommand = /bin/c\n",
        );
        write(
            &main_dir.join("conf.d/c.ini"),
            "[program:c2]\ncommand = /bin/c\n",
        );
        write(&outside.join("x.ini"), "[program:x]\ncommand = /bin/x\n");

        let sections = crate::ini::merge(crate::read(&main).unwrap());
        let (patterns, mut warnings) = crate::include::patterns(&sections, &main);
        let outputs = translate(&main, sections, &patterns, Some(&out), &mut warnings).unwrap();
        let targets: Vec<PathBuf> = outputs.iter().filter_map(|(t, _)| t.clone()).collect();
        assert_eq!(
            targets,
            [
                out.join("taskmaster.conf.toml"),
                out.join("conf.d/b.toml"),
                out.join("conf.d/c.toml"),
                outside.join("x.toml"),
            ]
        );
        let main_toml = &outputs[0].1;
        for part in [
            "[programs.a]\ncommand = \"/bin/a\"\nautostart = false\n",
            "[taskmasterd]\nnodaemon = true\n",
            &format!(
                "[include]\nfiles = [\"conf.d/*.toml\", \"{}/*.toml\"]\n",
                outside.display()
            ),
        ] {
            assert!(main_toml.contains(part), "{part} not in\n{main_toml}");
        }
        assert!(outputs[1].1.contains("[programs.b]"), "{}", outputs[1].1);
        assert!(!outputs[1].1.contains("[programs.a]"), "{}", outputs[1].1);
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(
            warnings[0].contains("c.ini: its translation would be"),
            "{warnings:#?}"
        );
        assert!(
            warnings[1].contains("b.conf:3: [program:a] is also in"),
            "{warnings:#?}"
        );
        fs::remove_dir_all(&root).unwrap();
    }
}
