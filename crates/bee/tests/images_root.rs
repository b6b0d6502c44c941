//! ROOT ONLY: images loaded into the kernel. `bee run REF --no-tty` on a
//! store that does not hold REF pulls it from a real registry
//! (docker-registry), loads it and prints the decoded records of real exec
//! activity (/bin/true run while it runs): bumblebee's format built and
//! pushed by bee from another store (the seeds' story), this machine's
//! manifest of a multi-arch index, and a bpfman bytecode image pushed by
//! skopeo. Needs root, clang, skopeo, tar, gzip and `make registry-tool`.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;

use common::images::{
    arch_object, blob_files, blob_of_file, push_bpfman_execsnoop, Pushed, Registry, Sandbox, HOST, OTHER,
};
use common::{fail, require_root, Error, TestResult};

/// How long `bee run` of a pulled image may take in all (pull, load, 3 s
/// of records) before the test gives up.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// `bee run --no-tty --duration 3s REF` on `store` while /bin/true runs
/// every 100 ms; it must succeed and print a `print_execs` record of
/// /bin/true. Returns its stderr.
fn run_sees_true(sb: &Sandbox, store: &str, reference: &str) -> Result<String, Error> {
    let (out, err) = (sb.path().join(format!("{store}.jsonl")), sb.path().join(format!("{store}.err")));
    let mut child = sb
        .bee_command(store, &["run", "--no-tty", "--duration", "3s", reference])
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(&err)?)
        .spawn()?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("bee run {reference} still runs after {RUN_TIMEOUT:?}")));
        }
        std::process::Command::new("/bin/true").status()?;
        std::thread::sleep(Duration::from_millis(100));
    };
    let (stdout, stderr) = (std::fs::read_to_string(&out)?, std::fs::read_to_string(&err)?);
    let shown = format!("bee run {reference}: {status}\n--- stdout\n{stdout}--- stderr\n{stderr}");
    if !status.success() {
        return Err(fail(shown));
    }
    let mut seen = false;
    for line in stdout.lines() {
        let record: Value = serde_json::from_str(line).map_err(|e| fail(format!("{e} in {line:?}\n{shown}")))?;
        let entry = &record["entry"];
        seen |= record["mapName"] == "print_execs" && entry["comm"] == "true" && entry["filename"] == "/bin/true";
    }
    if !seen {
        return Err(fail(format!("no print_execs record of /bin/true:\n{shown}")));
    }
    Ok(stderr)
}

/// The seeds' story on two stores: built into A and pushed; `bee run` on B
/// pulls it and prints the execs.
#[test]
fn run_pulls_and_prints_records() -> TestResult {
    require_root()?;
    let p = Pushed::execsnoop("execsnoop:v1", &[])?;
    let (sb, r) = (&p.sb, p.reference.clone());
    let stderr = run_sees_true(sb, "B", &r)?;
    assert!(stderr.contains(&format!("{r} is not in the local store: pulling it")), "{stderr}");
    Ok(())
}

/// A multi-arch image: `bee run` pulls and loads this machine's manifest.
#[test]
fn run_multi_arch_picks_this_machine() -> TestResult {
    require_root()?;
    let p = Pushed::execsnoop("execsnoop:v2", &["--arch", "x86_64,aarch64"])?;
    let (sb, r, obj) = (&p.sb, p.reference.clone(), &p.obj);
    run_sees_true(sb, "B", &r)?;
    let blobs = blob_files(&sb.store("B"))?;
    let this = blob_of_file(&arch_object(obj, HOST.0))?;
    assert!(blobs.contains(&this), "this machine's object was not pulled: {blobs:?}");
    let other = blob_of_file(&arch_object(obj, OTHER.0))?;
    assert!(!blobs.contains(&other), "the other machine's object was pulled: {blobs:?}");
    Ok(())
}

/// A bpfman bytecode image (gzipped tar layer, io.ebpf.* labels) runs as
/// bee's own do.
#[test]
fn run_bpfman_image() -> TestResult {
    require_root()?;
    let reg = Registry::start()?;
    let sb = Sandbox::new()?;
    let object = sb.build_object("execsnoop")?;
    let r = format!("{}/bpfman-exec:v1", reg.addr());
    push_bpfman_execsnoop(&sb, &object, &r)?;
    run_sees_true(&sb, "B", &r)?;
    Ok(())
}

/// `sudo bee describe REF` finds an image the user built without sudo (in
/// their own store), as bumblebee could not: a real account made for the
/// test, whose home holds the store.
#[test]
fn sudo_finds_the_users_store() -> TestResult {
    require_root()?;
    let sb = Sandbox::new()?;
    let home = sb.path().join("user-home");
    let user = format!("beetest{}", std::process::id() % 100_000);
    let made = std::process::Command::new("useradd").args(["-M", "-d"]).arg(&home).arg(&user).status()?;
    if !made.success() {
        return Err(fail(format!("useradd {user} failed")));
    }
    let res = (|| -> TestResult {
        let store = home.join(".local/share/bee/store");
        let (src, s) = (common::images::example("execsnoop").display().to_string(), store.display().to_string());
        let obj = sb.path().join("exec.o").display().to_string();
        let r = "localhost:1/sudo-test:v1";
        let built = sb.command(&common::bee(), &["--storage", &s, "build", &src, r, "-o", &obj]).output()?;
        if !built.status.success() {
            return Err(fail(format!("bee build: {}", String::from_utf8_lossy(&built.stderr))));
        }
        // root's own store (the sandbox's HOME) does not have it
        let ran = sb.command(&common::bee(), &["describe", r]).env("SUDO_USER", &user).output()?;
        let err = String::from_utf8_lossy(&ran.stderr);
        assert!(ran.status.success(), "{err}");
        assert!(err.contains(&format!("from {user}'s store {s}")), "{err}");
        assert!(String::from_utf8_lossy(&ran.stdout).contains("print_execs"));
        // without sudo's variable it is not found (nothing to pull from)
        let ran = sb.command(&common::bee(), &["describe", r]).output()?;
        assert!(!ran.status.success());
        Ok(())
    })();
    let _ = std::process::Command::new("userdel").arg(&user).status();
    res
}
