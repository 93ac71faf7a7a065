//! Tests of `[include]`: real files in a temporary directory, loaded as the
//! daemon loads them, and the errors a user reads.

use std::path::{Path, PathBuf};

use super::fixed_prefix;
use crate::test_dir::TestDir;
use crate::{check, load, Config};

fn loaded(path: &Path) -> Config {
    load(path).unwrap_or_else(|errors| panic!("unexpected errors:\n{errors}"))
}

/// The error lines of loading `path`, with the test directory written `D`.
fn errors(dir: &TestDir, path: &Path) -> Vec<String> {
    let errors = check(path).expect_err("expected errors");
    let prefix = dir.path().display().to_string();
    errors
        .0
        .iter()
        .map(|error| error.to_string().replace(&prefix, "D"))
        .collect()
}

#[test]
fn included_programs_and_groups_merge_in_sorted_order() {
    let dir = TestDir::new("include-merge");
    let main = dir.write(
        "main.toml",
        "[include]\nfiles = [\"conf.d/*.toml\", \"extra/web.toml\"]\n\n\
         [groups.front]\nprograms = [\"web\", \"b\"]\n",
    );
    dir.write("conf.d/b.toml", "[programs.b]\ncommand = \"b\"\n");
    dir.write(
        "conf.d/a.toml",
        "[programs.a]\ncommand = \"a\"\n[groups.back]\nprograms = [\"a\"]\npriority = 5\n",
    );
    dir.write("conf.d/.a.toml.swp", "not toml");
    dir.write("conf.d/notes.txt", "not toml either");
    std::fs::create_dir_all(dir.path().join("conf.d/sub.toml")).unwrap_or_else(|e| panic!("{e}"));
    dir.write("extra/web.toml", "[programs.web]\ncommand = \"web\"\n");
    let config = loaded(&main);
    let names: Vec<&String> = config.programs.keys().collect();
    assert_eq!(names, ["a", "b", "web"]);
    assert_eq!(config.groups["front"].programs, ["web", "b"]);
    assert_eq!(config.groups["back"].priority, 5);
    let d = dir.path();
    assert_eq!(
        config.sources,
        [
            main.clone(),
            d.join("conf.d/a.toml"),
            d.join("conf.d/b.toml"),
            d.join("extra/web.toml")
        ]
    );
    assert_eq!(
        config.watch_dirs,
        [d.to_owned(), d.join("conf.d"), d.join("extra")]
    );
    assert_eq!(
        config.include_patterns,
        [
            format!("{}/conf.d/*.toml", d.display()),
            format!("{}/extra/web.toml", d.display())
        ]
    );
}

#[test]
fn nested_includes_are_relative_to_the_including_file() {
    let dir = TestDir::new("include-nested");
    let main = dir.write("main.toml", "[include]\nfiles = [\"a/*.toml\"]\n");
    dir.write(
        "a/one.toml",
        "[include]\nfiles = [\"b/*.toml\"]\n[programs.one]\ncommand = \"one\"\n",
    );
    dir.write(
        "a/b/two.toml",
        "[programs.two]\ncommand = \"two\"\ndirectory = \"w\"\n",
    );
    let config = loaded(&main);
    assert_eq!(
        config.programs["two"].directory,
        Some(dir.path().join("a/b/w")),
        "relative paths are relative to the file that holds them"
    );
    assert_eq!(config.sources.len(), 3);
    assert!(config.watch_dirs.contains(&dir.path().join("a/b")));
}

#[test]
fn a_glob_matching_nothing_is_fine_and_its_directory_is_watched() {
    let dir = TestDir::new("include-none");
    let main = dir.write(
        "main.toml",
        "[include]\nfiles = [\"missing.d/*.toml\", \"empty/*.toml\"]\n",
    );
    std::fs::create_dir_all(dir.path().join("empty")).unwrap_or_else(|e| panic!("{e}"));
    let config = loaded(&main);
    assert!(config.programs.is_empty());
    assert_eq!(config.sources, [main]);
    assert!(config.watch_dirs.contains(&dir.path().join("missing.d")));
    assert!(config.watch_dirs.contains(&dir.path().join("empty")));
}

#[test]
fn errors_in_included_files_name_that_file_and_line() {
    let dir = TestDir::new("include-errors");
    let main = dir.write(
        "main.toml",
        "[include]\nfiles = [\"conf.d/*.toml\"]\n[programs.web]\ncommand = \"web\"\n",
    );
    dir.write(
        "conf.d/a.toml",
        "[programs.a]\ncommand = \"a\"\nstopsignl = 1\n\n[taskmasterd]\nloglevel = \"info\"\n",
    );
    dir.write("conf.d/b.toml", "[programs.b\ncommand = \"b\"\n");
    dir.write("conf.d/c.toml", "\n[programs.web]\ncommand = \"other\"\n");
    assert_eq!(
        errors(&dir, &main),
        [
            "D/conf.d/a.toml:3: programs.a.stopsignl: unknown key 'stopsignl' in [programs.a]; \
             did you mean 'stopsignal'?",
            "D/conf.d/a.toml:5: taskmasterd: [taskmasterd] belongs in the main config file; an \
             included file may hold only [programs.*], [groups.*] and [include]",
            "D/conf.d/b.toml:1: invalid TOML: unclosed table, expected `]`",
            "D/conf.d/c.toml:2: programs.web: program 'web' is already defined at \
             D/main.toml:3; define each program once",
        ]
    );
}

#[test]
fn groups_across_files_are_checked_together() {
    let dir = TestDir::new("include-groups");
    let main = dir.write(
        "main.toml",
        "[include]\nfiles = [\"g.toml\"]\n[programs.a]\ncommand = \"a\"\n\
         [groups.g]\nprograms = [\"a\"]\n",
    );
    dir.write(
        "g.toml",
        "[groups.g]\nprograms = [\"a\"]\n[groups.h]\nprograms = [\"a\", \"zz\"]\n",
    );
    assert_eq!(
        errors(&dir, &main),
        [
            "D/g.toml:1: groups.g: group 'g' is already defined at D/main.toml:5; define each \
             group once",
            "D/g.toml:4: groups.h.programs: program 'a' is already in group 'g'; a program \
             belongs to one group only",
            "D/g.toml:4: groups.h.programs: no program 'zz' in [programs]",
        ]
    );
}

#[test]
fn unreadable_and_twice_read_files_are_errors() {
    let dir = TestDir::new("include-unreadable");
    let main = dir.write(
        "main.toml",
        "[include]\nfiles = [\"*.toml\", \"conf.d/*\"]\n",
    );
    dir.write("conf.d/ok.toml", "[programs.ok]\ncommand = \"ok\"\n");
    // A dangling symlink is unreadable even for root, who reads any mode.
    std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("conf.d/dangling"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        errors(&dir, &main),
        [
            "D/main.toml: included again by D/main.toml:2, but it is already read (as \
             D/main.toml); a file is read once: make the globs not overlap, and not match the \
             main file",
            "D/conf.d/dangling: cannot read this file, included by D/main.toml:2: No such file \
             or directory (os error 2)",
        ]
    );
}

#[test]
fn include_is_checked_like_any_table() {
    let dir = TestDir::new("include-shape");
    let main = dir.write("main.toml", "[include]\nfile = [\"x\"]\n");
    assert_eq!(
        errors(&dir, &main),
        [
            "D/main.toml:1: include: missing required key 'files' (globs of the files to \
             include, such as [\"conf.d/*.toml\"])",
            "D/main.toml:2: include.file: unknown key 'file' in [include]; did you mean 'files'?",
        ]
    );
    let main = dir.write("main.toml", "[include]\nfiles = [\"[z\"]\n");
    let lines = errors(&dir, &main);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("D/main.toml:2: include.files: '[z' is not a valid glob: "),
        "{lines:?}"
    );
}

#[test]
fn globs_may_use_variables_and_absolute_paths() {
    let dir = TestDir::new("include-vars");
    let other = TestDir::new("include-vars-other");
    other.write("p.toml", "[programs.p]\ncommand = \"p\"\n");
    let main = dir.write(
        "main.toml",
        &format!(
            "[include]\nfiles = [\"{}/*.toml\", \"${{TM_TEST_UNSET_DIR:-none}}/*.toml\"]\n",
            other.path().display()
        ),
    );
    let config = loaded(&main);
    assert!(config.programs.contains_key("p"));
    assert!(config.watch_dirs.contains(&other.path().to_owned()));
    assert!(config.watch_dirs.contains(&dir.path().join("none")));
}

#[test]
fn the_fixed_prefix_is_the_directory_before_the_first_wildcard() {
    for (glob, prefix) in [
        ("conf.d/*.toml", "conf.d"),
        ("/etc/tm/conf.d/*.toml", "/etc/tm/conf.d"),
        ("*.toml", ""),
        ("a/b[0-9]/c.toml", "a"),
        ("a/web.toml", "a"),
    ] {
        assert_eq!(
            fixed_prefix(Path::new(glob)),
            PathBuf::from(prefix),
            "{glob}"
        );
    }
}

/// Only regular files are read: a FIFO would block the loader until
/// someone writes to it, and /dev/zero would be read until memory runs out.
#[test]
fn special_files_are_refused_before_they_are_read() {
    let dir = TestDir::new("include-special");
    let main = dir.write("main.toml", "[include]\nfiles = [\"conf.d/*.toml\"]\n");
    dir.write("conf.d/ok.toml", "[programs.ok]\ncommand = \"ok\"\n");
    nix::unistd::mkfifo(
        &dir.path().join("conf.d/fifo.toml"),
        nix::sys::stat::Mode::S_IRWXU,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("conf.d/zero.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        errors(&dir, &main),
        [
            "D/conf.d/fifo.toml: cannot read this file, included by D/main.toml:2: it is a FIFO, \
             not a regular file; name a regular file",
            "D/conf.d/zero.toml: cannot read this file, included by D/main.toml:2: it is a \
             character device, not a regular file; name a regular file",
        ]
    );
    let main = dir.write("zero.toml", "[include]\nfiles = [\"/dev/zero\"]\n");
    assert_eq!(
        errors(&dir, &main),
        [
            "/dev/zero: cannot read this file, included by D/zero.toml:2: it is a character \
          device, not a regular file; name a regular file"
        ]
    );
    let fifo = dir.path().join("conf.d/fifo.toml");
    assert_eq!(
        errors(&dir, &fifo),
        [
            "D/conf.d/fifo.toml: cannot read the config file: it is a FIFO, not a regular file; \
          name a regular file"
        ]
    );
    assert_eq!(
        errors(&dir, &dir.path().join("conf.d")),
        [
            "D/conf.d: cannot read the config file: it is a directory, not a regular file; name a \
          regular file"
        ]
    );
}

#[test]
fn the_main_file_and_includes_may_be_symlinks_to_regular_files() {
    let dir = TestDir::new("include-symlinks");
    let real = dir.write(
        "managed/main.toml",
        "[include]\nfiles = [\"conf.d/*.toml\"]\n[programs.a]\ncommand = \"a\"\n",
    );
    let b = dir.write("managed/b.toml", "[programs.b]\ncommand = \"b\"\n");
    std::fs::create_dir_all(dir.path().join("managed/conf.d")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(&b, dir.path().join("managed/conf.d/b.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let link = dir.path().join("taskmaster.conf");
    std::os::unix::fs::symlink(&real, &link).unwrap_or_else(|e| panic!("{e}"));
    // Relative globs are relative to the link's directory, as before.
    std::fs::create_dir_all(dir.path().join("conf.d")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(&b, dir.path().join("conf.d/b.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let config = loaded(&link);
    assert_eq!(config.programs.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(
        loaded(&real).programs.keys().collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[test]
fn a_file_larger_than_the_cap_is_refused() {
    let dir = TestDir::new("include-big");
    let main = dir.write("main.toml", "[include]\nfiles = [\"*.big\"]\n");
    let cap = super::MAX_FILE_BYTES as usize;
    // Comments: a file at the cap is valid TOML, and is read.
    let line = format!("#{}\n", "x".repeat(1022));
    dir.write("at-cap.big", &line.repeat(cap / line.len()));
    assert_eq!(
        std::fs::metadata(dir.path().join("at-cap.big"))
            .map(|m| m.len())
            .ok(),
        Some(super::MAX_FILE_BYTES)
    );
    assert!(loaded(&main).programs.is_empty());
    dir.write(
        "over-cap.big",
        &format!("{}\n", line.repeat(cap / line.len())),
    );
    assert_eq!(
        errors(&dir, &main),
        [
            "D/over-cap.big: cannot read this file, included by D/main.toml:2: it is larger than \
          the 4 MiB a config file may hold; split it with [include]"
        ]
    );
    let big = dir.path().join("over-cap.big");
    assert_eq!(
        errors(&dir, &big),
        [
            "D/over-cap.big: cannot read the config file: it is larger than the 4 MiB a config \
          file may hold; split it with [include]"
        ]
    );
}
