//! The taskmasterctl binary; everything is in the library (src/lib.rs).

fn main() -> std::process::ExitCode {
    taskmaster_ctl::main()
}
