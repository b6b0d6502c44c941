//! Helpers shared by bee's integration tests: the real `bee` binary, the
//! repo's fixtures, `bee init` templates built with `bee build`, and the
//! checks every error message must pass; [`images`] for the image tests.
// each test binary uses some of these
#![allow(dead_code, unused_imports)]

pub mod images;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type Error = Box<dyn std::error::Error>;

/// A failure whose Debug (what the test harness prints of an `Err`) is
/// its text, newlines and all, rather than a quoted string.
pub struct Fail(pub String);

impl std::fmt::Debug for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fail {}

/// A multi-line failure, shown as written.
pub fn fail(text: String) -> Error {
    Box::new(Fail(text))
}

/// The `bee` binary under test.
pub fn bee() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bee"))
}

pub use bee_testutil::fixture;

/// `crates/bee/tests/fixtures/NAME`: bee's own fixtures.
pub fn bee_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Fails a root-only test run without root, saying so.
pub fn require_root() -> TestResult {
    if is_root() {
        Ok(())
    } else {
        Err("this test loads probes: run it as root".into())
    }
}

/// What a finished `bee` said.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn from(out: Output) -> Self {
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// For assertion messages.
    pub fn show(&self) -> String {
        format!("exit {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `bee ARGS` in `dir` with no terminal (stdin empty, output captured).
pub fn bee_in(dir: &Path, args: &[&str]) -> Result<Ran, Error> {
    let out = Command::new(bee())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("RUST_BACKTRACE")
        .output()
        .map_err(|e| format!("running {}: {e}", bee().display()))?;
    Ok(Ran::from(out))
}

/// Checks that `bee` failed cleanly: exit code 1, no panic, and stderr's
/// `bee: error:` line mentions every one of `needles`. With `only_line`
/// that line is all of stderr. Returns the error line.
pub fn failed_with(ran: &Ran, needles: &[&str], only_line: bool) -> Result<String, Error> {
    let shown = ran.show();
    assert!(ran.code.is_some_and(|c| c != 0), "bee should have failed:\n{shown}");
    assert!(ran.code != Some(101), "exit code 101 is a panic:\n{shown}");
    assert!(!ran.stderr.contains("panicked"), "bee panicked:\n{shown}");
    assert!(!ran.stderr.contains("RUST_BACKTRACE"), "bee panicked:\n{shown}");
    let lines: Vec<&str> = ran.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let Some(line) = lines.iter().find(|l| l.starts_with("bee: error: ")) else {
        return Err(fail(format!("no `bee: error:` line on stderr:\n{shown}")));
    };
    if only_line {
        assert_eq!(lines.len(), 1, "the error should be one line:\n{shown}");
    }
    for n in needles {
        assert!(line.contains(n), "the error line should mention {n:?}:\n{shown}");
    }
    Ok((*line).to_string())
}

/// `bee build SRC -o DIR/NAME.o`, failing with bee's output if it fails.
pub fn bee_build(src: &Path, dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let out = dir.join(format!("{name}.o"));
    let (s, o) = (src.display().to_string(), out.display().to_string());
    let ran = bee_in(dir, &["build", &s, "-o", &o])?;
    if ran.code != Some(0) {
        return Err(fail(format!("bee build {s}:\n{}", ran.show())));
    }
    Ok(out)
}

/// Writes the `bee init` template PROGRAM/MAP/OUTPUT into `dir` and builds
/// it: returns the object, `DIR/PROGRAM-MAP-OUTPUT.bpf.o`.
pub fn build_template(dir: &Path, program: &str, map: &str, output: &str) -> Result<PathBuf, Error> {
    let name = format!("{program}-{map}-{output}.bpf");
    let src = dir.join(format!("{name}.c"));
    let s = src.display().to_string();
    let ran = bee_in(
        dir,
        &["init", "--program-type", program, "--map", map, "--output-type", output, "--file", &s, "--force"],
    )?;
    if ran.code != Some(0) {
        return Err(fail(format!("bee init {name}:\n{}", ran.show())));
    }
    bee_build(&src, dir, &name)
}

/// Compiles the C program `tests/fixtures/NAME.c` into `dir/NAME`.
pub fn build_tool(dir: &Path, name: &str) -> Result<PathBuf, Error> {
    Ok(bee_testutil::build_tool(dir, name)?)
}

/// A temporary directory everyone may read (a test runs bee as `nobody`).
pub fn tempdir() -> Result<tempfile::TempDir, Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::Builder::new().prefix("bee-test-").tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    Ok(dir)
}
