//! `cargo xtask dist`: the Debian package, `target/dist/taskmaster_<version>_<arch>.deb`.
//!
//! The package is a tree staged under `target/dist/` and packed by
//! `dpkg-deb`, which every Debian system has: no packaging tool to install,
//! and every file's place is written here, in one list, where a reader sees
//! it. What goes in is found, not listed: every workspace binary named
//! `taskmasterctl-*` (the plugins), every `packaging/systemd/*.service`,
//! every man page in `packaging/man/`.

use anyhow::{bail, Context};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The package's name, and the user, group and directories it creates.
pub const PACKAGE: &str = "taskmaster";

pub struct Options {
    /// The cargo profile whose binaries are packed (`release`; `dev` makes
    /// a package quickly for the boot test).
    pub profile: String,
    /// Build them first.
    pub build: bool,
}

/// Builds the binaries, stages the tree and packs it; returns the .deb.
pub fn run(options: &Options) -> anyhow::Result<PathBuf> {
    let root = crate::gen::workspace_root();
    let metadata = cargo_metadata(&root)?;
    let binaries = packaged_binaries(&metadata);
    if options.build {
        build(&root, &options.profile, &binaries)?;
    }
    let target = metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata names no target directory")?;
    let built = target.join(profile_dir(&options.profile));
    let version = workspace_version(&metadata)?;
    let arch = command_output(Command::new("dpkg").arg("--print-architecture"))?;
    let dist = target.join("dist");
    let stage = dist.join(format!("{PACKAGE}_{version}_{arch}"));
    if stage.exists() {
        fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    }
    let mut files = Files {
        stage: stage.clone(),
    };
    for (_, binary) in &binaries {
        let from = built.join(binary);
        let to = if binary == "taskmaster-broker" {
            format!("usr/libexec/taskmaster/{binary}")
        } else {
            format!("usr/bin/{binary}")
        };
        files.copy(&from, &to, 0o755)?;
    }
    let units = stage_packaging(&root, &mut files)?;
    let installed_kib = installed_size(&stage)?;
    let control = Control {
        version: &version,
        arch: &arch,
        installed_kib,
        units: &units,
    };
    stage_control(&root, &mut files, &control)?;
    let deb = dist.join(format!("{PACKAGE}_{version}_{arch}.deb"));
    // A release package is compressed hard; a dev one (for the boot test,
    // ten times larger with debug info) fast.
    let compression: &[&str] = if options.profile == "release" {
        &["-Zxz"]
    } else {
        &["-Zgzip", "-z1"]
    };
    let status = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .args(compression)
        .arg(&stage)
        .arg(&deb)
        .status()
        .context("running dpkg-deb (Debian's dpkg package)")?;
    if !status.success() {
        bail!("dpkg-deb --build {} failed: {status}", stage.display());
    }
    Ok(deb)
}

/// `dev` builds into target/debug, every other profile into its own name.
fn profile_dir(profile: &str) -> &str {
    if profile == "dev" {
        "debug"
    } else {
        profile
    }
}

fn cargo_metadata(root: &Path) -> anyhow::Result<Value> {
    let text = command_output(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(root)
            .args(["metadata", "--no-deps", "--format-version", "1"]),
    )?;
    serde_json::from_str(&text).context("reading cargo metadata's output")
}

/// (package, binary) for every binary the package ships: taskmasterd,
/// taskmaster-broker, taskmasterctl and every `taskmasterctl-*` plugin of
/// the workspace, whatever crate holds it.
fn packaged_binaries(metadata: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let package_name = package["name"].as_str().unwrap_or_default();
        for target in package["targets"].as_array().into_iter().flatten() {
            let is_bin = target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
            let name = target["name"].as_str().unwrap_or_default();
            if is_bin && is_shipped(name) {
                found.push((package_name.to_owned(), name.to_owned()));
            }
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found
}

fn is_shipped(binary: &str) -> bool {
    matches!(
        binary,
        "taskmasterd" | "taskmaster-broker" | "taskmasterctl"
    ) || binary.starts_with("taskmasterctl-")
}

fn build(root: &Path, profile: &str, binaries: &[(String, String)]) -> anyhow::Result<()> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(root)
        .args(["build", "--locked", "--profile", profile]);
    for (package, binary) in binaries {
        command.args(["-p", package, "--bin", binary]);
    }
    let status = command.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --profile {profile} failed: {status}");
    }
    link_ctl_statically(root, profile)
}

/// Links taskmasterctl again, with glibc static: a command run from
/// scripts and prompts, it then starts without the dynamic loader's
/// relocations and libraries (`--help` 1.35 -> 1.06 ms, `/bin/true` 0.78).
/// Only it: it looks up no user or host, which a static glibc could not
/// do reliably (NSS loads shared libraries), while the daemons do.
pub fn link_ctl_statically(root: &Path, profile: &str) -> anyhow::Result<()> {
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(root)
        .args(["rustc", "--locked", "--quiet", "--profile", profile])
        .args(["-p", "taskmaster-ctl", "--bin", "taskmasterctl", "--"])
        .args(["-C", "target-feature=+crt-static"])
        .status()
        .context("running cargo rustc for taskmasterctl")?;
    if !status.success() {
        bail!(
            "linking taskmasterctl statically (cargo rustc --profile {profile}) failed: {status}"
        );
    }
    Ok(())
}

fn workspace_version(metadata: &Value) -> anyhow::Result<String> {
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "taskmaster-supervisor")
        .and_then(|p| p["version"].as_str())
        .map(str::to_owned)
        .context("cargo metadata has no taskmaster-supervisor package")
}

/// Everything from packaging/, docs/ and examples/, each in its Debian
/// place. Returns the names of the systemd units.
fn stage_packaging(root: &Path, files: &mut Files) -> anyhow::Result<Vec<String>> {
    let packaging = root.join("packaging");
    let mut units = Vec::new();
    for unit in sorted_entries(&packaging.join("systemd"), ".service")? {
        let name = file_name(&unit);
        files.copy(&unit, &format!("usr/lib/systemd/system/{name}"), 0o644)?;
        units.push(name);
    }
    files.copy(
        &packaging.join("sysusers.d/taskmaster.conf"),
        "usr/lib/sysusers.d/taskmaster.conf",
        0o644,
    )?;
    files.copy(
        &packaging.join("tmpfiles.d/taskmaster.conf"),
        "usr/lib/tmpfiles.d/taskmaster.conf",
        0o644,
    )?;
    files.copy(
        &packaging.join("etc/taskmaster.conf.toml"),
        "etc/taskmaster/taskmaster.conf.toml",
        0o644,
    )?;
    files.dir("etc/taskmaster/conf.d")?;
    for page in sorted_entries(&packaging.join("man"), ".1")? {
        let name = file_name(&page);
        files.gzip(&page, &format!("usr/share/man/man1/{name}.gz"))?;
    }
    let completions = packaging.join("completions");
    for (from, to) in [
        (
            "taskmasterctl.bash",
            "usr/share/bash-completion/completions/taskmasterctl",
        ),
        (
            "_taskmasterctl",
            "usr/share/zsh/vendor-completions/_taskmasterctl",
        ),
        (
            "taskmasterctl.fish",
            "usr/share/fish/vendor_completions.d/taskmasterctl.fish",
        ),
    ] {
        files.copy(&completions.join(from), to, 0o644)?;
    }
    let doc = format!("usr/share/doc/{PACKAGE}");
    files.copy(
        &packaging.join("debian/copyright"),
        &format!("{doc}/copyright"),
        0o644,
    )?;
    files.copy(&root.join("README.md"), &format!("{doc}/README.md"), 0o644)?;
    for page in sorted_entries(&root.join("docs"), ".md")? {
        let name = file_name(&page);
        files.copy(&page, &format!("{doc}/{name}"), 0o644)?;
    }
    files.copy(
        &root.join("examples/taskmaster.conf.toml"),
        &format!("{doc}/examples/taskmaster.conf.toml"),
        0o644,
    )?;
    for example in sorted_entries(&root.join("examples/conf.d"), "")? {
        let name = file_name(&example);
        files.copy(&example, &format!("{doc}/examples/conf.d/{name}"), 0o644)?;
    }
    Ok(units)
}

/// What DEBIAN/ says of the package.
struct Control<'a> {
    version: &'a str,
    arch: &'a str,
    installed_kib: u64,
    /// The systemd units shipped, which the maintainer scripts enable,
    /// stop and forget.
    units: &'a [String],
}

/// DEBIAN/: control, conffiles, md5sums and the maintainer scripts (their
/// `#UNITS#` replaced by the units' names, as debhelper fills its snippets).
fn stage_control(root: &Path, files: &mut Files, control: &Control) -> anyhow::Result<()> {
    let md5sums = md5sums(&files.stage)?;
    let libc = command_output(Command::new("dpkg-query").args(["-W", "-f=${Version}", "libc6"]))?;
    files.write(
        "DEBIAN/control",
        &control_file(control.version, control.arch, control.installed_kib, &libc),
        0o644,
    )?;
    files.write(
        "DEBIAN/conffiles",
        "/etc/taskmaster/taskmaster.conf.toml\n",
        0o644,
    )?;
    files.write("DEBIAN/md5sums", &md5sums, 0o644)?;
    for script in ["postinst", "prerm", "postrm"] {
        let path = root.join("packaging/debian").join(script);
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let text = text.replace("#UNITS#", &control.units.join(" "));
        files.write(&format!("DEBIAN/{script}"), &text, 0o755)?;
    }
    Ok(())
}

/// The control file. The binaries link only to the C library (Rust links
/// the rest statically), built against this machine's: that version or later.
fn control_file(version: &str, arch: &str, installed_kib: u64, libc: &str) -> String {
    // "2.36-9+deb12u4" -> "2.36": the upstream version is what symbols need.
    let libc = libc.split(['-', '+']).next().unwrap_or(libc);
    format!(
        "Package: {PACKAGE}\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: Taskmaster developers <taskmaster@localhost>\n\
         Installed-Size: {installed_kib}\n\
         Depends: libc6 (>= {libc}), passwd\n\
         Recommends: systemd\n\
         Section: admin\n\
         Priority: optional\n\
         Description: process supervisor (supervisord's model, in Rust)\n \
         Taskmaster keeps a declared set of programs running and lets people\n \
         and scripts control them: taskmasterd, a small privileged supervisor\n \
         (fork/exec, user switching, reaping); taskmaster-broker, unprivileged\n \
         (config, state machine, control socket, logs); taskmasterctl, the\n \
         client, with plugins.\n \
         .\n \
         The package runs taskmasterd as a systemd service; programs go in\n \
         /etc/taskmaster/conf.d/.\n"
    )
}

/// `md5sum`'s lines for every file outside DEBIAN/, as dpkg keeps them.
fn md5sums(stage: &Path) -> anyhow::Result<String> {
    let mut paths = Vec::new();
    walk(stage, &mut |path| {
        if !path.starts_with(stage.join("DEBIAN")) {
            paths.push(path.strip_prefix(stage).unwrap_or(path).to_path_buf());
        }
    })?;
    paths.sort();
    if paths.is_empty() {
        return Ok(String::new());
    }
    let mut command = Command::new("md5sum");
    command.current_dir(stage).args(&paths);
    command_output(&mut command).map(|text| text + "\n")
}

/// Kibibytes the files take once installed, for `Installed-Size`.
fn installed_size(stage: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    walk(stage, &mut |path| {
        bytes += fs::metadata(path).map_or(0, |m| m.len().div_ceil(1024));
    })?;
    Ok(bytes)
}

/// Calls `each` with every regular file under `dir`.
fn walk(dir: &Path, each: &mut dyn FnMut(&Path)) -> anyhow::Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, each)?;
        } else {
            each(&path);
        }
    }
    Ok(())
}

/// The files of `dir` whose names end with `suffix`, in name order.
fn sorted_entries(dir: &Path, suffix: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() && file_name(&path).ends_with(suffix) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn command_output(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim_end().to_owned())
}

/// The staged tree: every file placed with its mode.
struct Files {
    stage: PathBuf,
}

impl Files {
    fn place(&self, to: &str) -> anyhow::Result<PathBuf> {
        let path = self.stage.join(to);
        let parent = path.parent().expect("a staged path has a parent");
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        Ok(path)
    }

    fn copy(&mut self, from: &Path, to: &str, mode: u32) -> anyhow::Result<()> {
        let path = self.place(to)?;
        fs::copy(from, &path)
            .with_context(|| format!("copying {} to {}", from.display(), path.display()))?;
        set_mode(&path, mode)
    }

    fn write(&mut self, to: &str, content: &str, mode: u32) -> anyhow::Result<()> {
        let path = self.place(to)?;
        fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        set_mode(&path, mode)
    }

    /// `gzip -9n` (no name or time stamp inside: the same input makes the
    /// same bytes), as Debian compresses man pages.
    fn gzip(&mut self, from: &Path, to: &str) -> anyhow::Result<()> {
        let path = self.place(to)?;
        let output =
            fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let status = Command::new("gzip")
            .args(["-9n", "--stdout"])
            .arg(from)
            .stdout(output)
            .status()
            .context("running gzip")?;
        if !status.success() {
            bail!("gzip {} failed: {status}", from.display());
        }
        set_mode(&path, 0o644)
    }

    fn dir(&mut self, to: &str) -> anyhow::Result<()> {
        let path = self.stage.join(to);
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))
    }
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_are_found_by_name() {
        let metadata = serde_json::json!({"packages": [
            {"name": "taskmaster-ctl", "targets": [{"kind": ["bin"], "name": "taskmasterctl"}]},
            {"name": "web", "targets": [{"kind": ["bin"], "name": "taskmasterctl-web"}]},
            {"name": "taskmaster-tests", "targets": [{"kind": ["bin"], "name": "tm-testprog"}]},
            {"name": "xtask", "targets": [{"kind": ["bin"], "name": "xtask"}]},
            {"name": "lib", "targets": [{"kind": ["lib"], "name": "taskmasterctl-lib"}]},
        ]});
        let names: Vec<String> = packaged_binaries(&metadata)
            .into_iter()
            .map(|(_, binary)| binary)
            .collect();
        assert_eq!(names, ["taskmasterctl", "taskmasterctl-web"]);
    }

    #[test]
    fn control_depends_on_the_upstream_libc_version() {
        let text = control_file("0.1.0", "amd64", 12, "2.36-9+deb12u4");
        assert!(
            text.contains("Depends: libc6 (>= 2.36), passwd\n"),
            "{text}"
        );
        assert!(text.contains("Installed-Size: 12\n"), "{text}");
        // Every continuation line of the description starts with a space.
        let description = text.split_once("Description:").unwrap().1;
        assert!(description.lines().skip(1).all(|l| l.starts_with(' ')));
    }
}
