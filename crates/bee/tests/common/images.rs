//! Helpers of the image tests (images.rs, images_root.rs): a sandbox whose
//! HOME, XDG directories and docker/podman credential files are temporary
//! (nothing of the real user leaks in), `bee` run against stores in it,
//! example probes built into images, stores compared before and after a
//! refused command, and OCI image layouts written by hand (tar and gzip do
//! the layer) and pushed with skopeo.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::{bee, fail, failed_with, tempdir, Error, Ran};

pub use bee_testutil::registry::Registry;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const BEE_CONFIG: &str = "application/ebpf.oci.image.config.v1+json";
pub const BEE_PROGRAM: &str = "application/ebpf.oci.image.program.v1+binary";
pub const TITLE: &str = "org.opencontainers.image.title";

/// This machine's `--arch` and OCI names, and the other architecture's.
pub const HOST: (&str, &str) = if cfg!(target_arch = "aarch64") { ("aarch64", "arm64") } else { ("x86_64", "amd64") };
pub const OTHER: (&str, &str) = if cfg!(target_arch = "aarch64") { ("x86_64", "amd64") } else { ("aarch64", "arm64") };

/// `examples/NAME.bpf.c` of the repo.
pub fn example(name: &str) -> PathBuf {
    bee_testutil::repo().join("examples").join(format!("{name}.bpf.c"))
}

/// `sha256:HEX` of `bytes` (skopeo and the registry check every digest the
/// tests write, independently of bee).
pub fn digest(bytes: &[u8]) -> String {
    bee_oci::digest::Digest::of(bytes).to_string()
}

/// The name of the blob file (`HEX`) holding the file `path`.
pub fn blob_of_file(path: &Path) -> Result<String, Error> {
    Ok(digest(&std::fs::read(path)?).trim_start_matches("sha256:").to_string())
}

/// The object `bee build -o OBJ --arch A,B` wrote for `arch`.
pub fn arch_object(obj: &Path, arch: &str) -> PathBuf {
    obj.with_extension(format!("{arch}.o"))
}

/// A registry, a sandbox, and `examples/execsnoop.bpf.c` built (with
/// `extra` flags) into the sandbox's store A as `reference` and pushed.
pub struct Pushed {
    pub reg: Registry,
    pub sb: Sandbox,
    /// `ADDR/REPO:TAG`.
    pub reference: String,
    /// The object `bee build` wrote.
    pub obj: PathBuf,
}

impl Pushed {
    /// `repo_tag` (`REPO:TAG`) on a fresh registry.
    pub fn execsnoop(repo_tag: &str, extra: &[&str]) -> Result<Pushed, Error> {
        let reg = Registry::start()?;
        let sb = Sandbox::new()?;
        let reference = format!("{}/{repo_tag}", reg.addr());
        let obj = sb.build_push("A", "execsnoop", &reference, extra)?;
        Ok(Pushed { reg, sb, reference, obj })
    }
}

/// A temporary home for one test: stores, objects, credentials.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Result<Sandbox, Error> {
        Ok(Sandbox { dir: tempdir()? })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The store `name` (`--storage`).
    pub fn store(&self, name: &str) -> PathBuf {
        self.path().join("stores").join(name)
    }

    /// bee's credentials file (`$XDG_CONFIG_HOME/bee/auth.json`).
    pub fn auth_file(&self) -> PathBuf {
        self.path().join("config/bee/auth.json")
    }

    /// `$DOCKER_CONFIG` (docker's `config.json` goes there).
    pub fn docker_dir(&self) -> PathBuf {
        self.path().join("docker")
    }

    /// podman's credentials file (`$REGISTRY_AUTH_FILE`).
    pub fn podman_auth_file(&self) -> PathBuf {
        self.path().join("containers-auth.json")
    }

    /// `PROGRAM ARGS` with every user-specific path inside the sandbox.
    pub fn command(&self, program: &Path, args: &[&str]) -> Command {
        let p = self.path();
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(p)
            .stdin(Stdio::null())
            .env("HOME", p.join("home"))
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("XDG_DATA_HOME", p.join("data"))
            .env("XDG_CACHE_HOME", p.join("cache"))
            .env("XDG_RUNTIME_DIR", p.join("run"))
            .env("DOCKER_CONFIG", self.docker_dir())
            .env("REGISTRY_AUTH_FILE", self.podman_auth_file())
            .env_remove("BEE_STORE")
            .env_remove("RUST_BACKTRACE");
        cmd
    }

    /// `bee --storage STORE ARGS`, no terminal.
    pub fn bee(&self, store: &str, args: &[&str]) -> Result<Ran, Error> {
        self.bee_input(store, args, None)
    }

    /// The command `bee --storage STORE ARGS` (to spawn).
    pub fn bee_command(&self, store: &str, args: &[&str]) -> Command {
        let s = self.store(store).display().to_string();
        let mut all = vec!["--storage", s.as_str()];
        all.extend_from_slice(args);
        self.command(&bee(), &all)
    }

    /// [`Self::bee`] with `input` on stdin.
    pub fn bee_input(&self, store: &str, args: &[&str], input: Option<&str>) -> Result<Ran, Error> {
        let mut cmd = self.bee_command(store, args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|e| format!("running {}: {e}", bee().display()))?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes())?;
        }
        Ok(Ran::from(child.wait_with_output()?))
    }

    /// [`Self::bee`], which must succeed.
    pub fn ok(&self, store: &str, args: &[&str]) -> Result<Ran, Error> {
        let ran = self.bee(store, args)?;
        if ran.code != Some(0) {
            return Err(fail(format!("bee {}:\n{}", args.join(" "), ran.show())));
        }
        Ok(ran)
    }

    /// `bee build examples/NAME.bpf.c REF -o OBJ EXTRA...` into `store`;
    /// returns OBJ (`objects/FILE.o`, FILE from the ref's last part; with
    /// several `--arch`, bee writes `FILE.ARCH.o` beside it).
    pub fn build(&self, store: &str, name: &str, reference: &str, extra: &[&str]) -> Result<PathBuf, Error> {
        let file = reference.rsplit('/').next().unwrap_or(reference).replace(':', "-");
        let obj = self.path().join("objects").join(format!("{file}.o"));
        std::fs::create_dir_all(self.path().join("objects"))?;
        let (src, o) = (example(name).display().to_string(), obj.display().to_string());
        let mut args = vec!["build", src.as_str(), reference, "-o", o.as_str()];
        args.extend_from_slice(extra);
        self.ok(store, &args)?;
        Ok(obj)
    }

    /// `bee build examples/NAME.bpf.c -o objects/NAME.o` (no image).
    pub fn build_object(&self, name: &str) -> Result<Vec<u8>, Error> {
        let obj = self.path().join("objects").join(format!("{name}.o"));
        std::fs::create_dir_all(self.path().join("objects"))?;
        let (src, o) = (example(name).display().to_string(), obj.display().to_string());
        self.ok("unused", &["build", &src, "-o", &o])?;
        Ok(std::fs::read(&obj)?)
    }

    /// Builds `examples/NAME.bpf.c` as REF into `store` and pushes it.
    pub fn build_push(&self, store: &str, name: &str, reference: &str, extra: &[&str]) -> Result<PathBuf, Error> {
        let obj = self.build(store, name, reference, extra)?;
        self.ok(store, &["push", reference])?;
        Ok(obj)
    }

    /// Creates `store` (empty) if it is not there.
    pub fn init_store(&self, store: &str) -> Result<(), Error> {
        self.ok(store, &["list"]).map(|_| ())
    }

    /// `bee ARGS` must fail cleanly (see [`failed_with`]) naming every one of
    /// `needles`, and leave `store` as it was: the same blob files, the same
    /// `index.json`. Returns the error line.
    pub fn refused(&self, store: &str, args: &[&str], needles: &[&str]) -> Result<String, Error> {
        let before = Snapshot::of(&self.store(store))?;
        let ran = self.bee(store, args)?;
        let line = failed_with(&ran, needles, false).map_err(|e| format!("bee {}: {e}", args.join(" ")))?;
        let after = Snapshot::of(&self.store(store))?;
        if after != before {
            return Err(fail(format!(
                "bee {} changed the store {store}:\nbefore: {before:?}\nafter:  {after:?}\n{}",
                args.join(" "),
                ran.show()
            )));
        }
        Ok(line)
    }

    /// Runs `program ARGS` (skopeo, tar, gzip) in the sandbox; it must succeed.
    pub fn tool(&self, program: &str, args: &[&str]) -> Result<String, Error> {
        let out = self
            .command(Path::new(program), args)
            .output()
            .map_err(|e| format!("running {program}: {e} (`make deps` installs it)"))?;
        if !out.status.success() {
            return Err(fail(format!(
                "{program} {}: {}\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `skopeo copy` of the layout `dir` (tag `tag`) to `docker://REF`.
    pub fn skopeo_push(&self, dir: &Path, tag: &str, reference: &str) -> Result<(), Error> {
        let src = format!("oci:{}:{tag}", dir.display());
        let dest = format!("docker://{reference}");
        self.tool("skopeo", &["copy", "--quiet", "--insecure-policy", "--dest-tls-verify=false", &src, &dest])?;
        Ok(())
    }

    /// The manifest of `docker://REF` as skopeo reads it (raw, as stored).
    pub fn skopeo_manifest(&self, reference: &str) -> Result<Value, Error> {
        let raw = self.tool("skopeo", &["inspect", "--raw", "--tls-verify=false", &format!("docker://{reference}")])?;
        Ok(serde_json::from_str(&raw)?)
    }
}

/// The blob files and `index.json` of a store.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub blobs: BTreeSet<String>,
    pub index: String,
}

impl Snapshot {
    pub fn of(store: &Path) -> Result<Snapshot, Error> {
        Ok(Snapshot { blobs: blob_files(store)?, index: std::fs::read_to_string(store.join("index.json"))? })
    }
}

/// The names of the files under `STORE/blobs/sha256`.
pub fn blob_files(store: &Path) -> Result<BTreeSet<String>, Error> {
    let mut names = BTreeSet::new();
    for f in std::fs::read_dir(store.join("blobs/sha256"))? {
        names.insert(f?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// The JSON on stdout of a successful `bee ... --output json`.
pub fn json_out(ran: &Ran) -> Result<Value, Error> {
    serde_json::from_str(&ran.stdout).map_err(|e| fail(format!("not JSON: {e}\n{}", ran.show())))
}

/// One file of a hand-written layer.
pub struct File<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
}

/// Writes an OCI image layout at `dir` holding one image, tagged `tag`:
/// the image config `config` (its `rootfs` added) and one layer, a tar of
/// `files` made by `tar` and compressed by `gzip -n` (as an ordinary
/// container build would). Returns the layer's digest.
pub fn write_layout(
    sb: &Sandbox,
    dir: &Path,
    tag: &str,
    mut config: Value,
    files: &[File<'_>],
) -> Result<String, Error> {
    let src = dir.with_extension("src");
    std::fs::create_dir_all(&src)?;
    std::fs::create_dir_all(dir.join("blobs/sha256"))?;
    for f in files {
        std::fs::write(src.join(f.name), f.bytes)?;
    }
    let tar = dir.with_extension("tar");
    let (src_s, tar_s) = (src.display().to_string(), tar.display().to_string());
    let mut args = vec!["--owner=0", "--group=0", "--numeric-owner", "-C", src_s.as_str(), "-cf", tar_s.as_str()];
    args.extend(files.iter().map(|f| f.name));
    sb.tool("tar", &args)?;
    let diff_id = digest(&std::fs::read(&tar)?);
    sb.tool("gzip", &["-n", "-f", &tar_s])?;
    let layer = std::fs::read(dir.with_extension("tar.gz"))?;
    config["rootfs"] = json!({"type": "layers", "diff_ids": [diff_id]});
    let config = serde_json::to_vec(&config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": put_blob(dir, OCI_CONFIG, &config)?,
        "layers": [put_blob(dir, TAR_GZIP, &layer)?],
    }))?;
    let mut top = put_blob(dir, OCI_MANIFEST, &manifest)?;
    top["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [top]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(digest(&layer))
}

/// Writes `bytes` as a blob of the layout (or store) `dir`; returns its
/// descriptor.
pub fn put_blob(dir: &Path, media_type: &str, bytes: &[u8]) -> Result<Value, Error> {
    let d = digest(bytes);
    let hex = d.trim_start_matches("sha256:");
    std::fs::write(dir.join("blobs/sha256").join(hex), bytes)?;
    Ok(json!({"mediaType": media_type, "digest": d, "size": bytes.len()}))
}

/// A bpfman bytecode image of `object` (execsnoop: `on_exec` on a
/// tracepoint, `print_execs` a ring buffer), as bpfman's
/// shipping-bytecode guide builds one, pushed to `reference`.
pub fn push_bpfman_execsnoop(sb: &Sandbox, object: &[u8], reference: &str) -> Result<(), Error> {
    let config = json!({
        "architecture": HOST.1,
        "os": "linux",
        "config": {"Labels": {
            "io.ebpf.programs": "{\"on_exec\":\"tracepoint\"}",
            "io.ebpf.maps": "{\"print_execs\":\"ringbuf\"}",
        }},
    });
    let dir = sb.path().join("bpfman-layout");
    write_layout(sb, &dir, "v1", config, &[File { name: "execsnoop.bpf.o", bytes: object }])?;
    sb.skopeo_push(&dir, "v1", reference)
}
