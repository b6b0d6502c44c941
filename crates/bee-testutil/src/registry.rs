//! A real OCI registry for tests: Debian's `docker-registry` (CNCF
//! distribution 2.8.2) run as a child process on `127.0.0.1` and a free port,
//! with filesystem storage in a temporary directory it owns, optionally behind
//! htpasswd (bcrypt) basic auth. `make registry-tool` extracts the binary into
//! `target/tools/docker-registry/`; `BEE_TEST_REGISTRY` names another one.
//! [`Registry::get`] reads manifests and blobs back with a plain HTTP/1.1
//! client, independently of the project's own; [`Registry::put`] sends raw
//! manifests and [`Registry::blob_file`] names a blob's file on disk, for
//! tests that feed bad content. Any user; no root needed.

mod http;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use http::Response;

/// How long [`Registry::start`] and [`Registry::restart`] wait for `/v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `docker-registry serve`: killed, and its directory removed, on drop.
pub struct Registry {
    /// Holds `config.yml`, `registry.log`, `htpasswd` and `storage/`.
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
    /// Serving HTTPS with a self-signed certificate (`start_tls`).
    tls: bool,
}

impl Registry {
    /// Starts a registry without auth and waits until it answers.
    pub fn start() -> Result<Registry, String> {
        Self::launch(None)
    }

    /// Starts a registry that accepts only `user`/`password` (basic auth,
    /// realm `bee-test`, a bcrypt file from `htpasswd -Bbn`).
    pub fn start_with_auth(user: &str, password: &str) -> Result<Registry, String> {
        Self::launch(Some((user, password)))
    }

    /// Starts a registry serving HTTPS with a fresh self-signed certificate
    /// for 127.0.0.1 (made with `openssl req -x509`), as a registry on this
    /// machine may: clients must speak TLS and accept that certificate.
    pub fn start_tls() -> Result<Registry, String> {
        Self::launch_with(None, true)
    }

    /// `127.0.0.1:PORT`, as in `docker://ADDR/repo:tag`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the registry and waits for it; the storage stays for [`Self::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the registry if it runs, then starts it again on the same port
    /// with the same storage and waits until it answers.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()?;
        self.wait_ready()
    }

    /// `GET path` (e.g. `/v2/repo/manifests/tag`) with an optional basic-auth user.
    pub fn get(&self, path: &str, auth: Option<(&str, &str)>) -> Result<Response, String> {
        http::get(&self.addr(), path, None, auth)
    }

    /// [`Self::get`] with an `Accept` header (a manifest media type).
    pub fn get_accept(&self, path: &str, accept: &str, auth: Option<(&str, &str)>) -> Result<Response, String> {
        http::get(&self.addr(), path, Some(accept), auth)
    }

    /// `PUT path` with a raw body (e.g. a manifest of any media type, as a
    /// tool other than ours would send it).
    pub fn put(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        auth: Option<(&str, &str)>,
    ) -> Result<Response, String> {
        http::put(&self.addr(), path, content_type, body, auth)
    }

    /// The registry's filesystem storage (`docker/registry/v2/…`), for tests
    /// that damage what it serves.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The file holding the blob `digest` (`sha256:HEX`) in the storage:
    /// the registry serves its bytes as they are on disk.
    pub fn blob_file(&self, digest: &str) -> Result<PathBuf, String> {
        let hex = digest.strip_prefix("sha256:").filter(|h| h.len() == 64).ok_or(format!("`{digest}`: not sha256"))?;
        let path = self.storage_dir().join("docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data");
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!("blob {digest} is not in the registry's storage ({})", path.display()))
        }
    }

    /// The last lines of the registry's log (its stdout and stderr).
    pub fn log_tail(&self) -> String {
        tail(&self.dir.path().join("registry.log"))
    }

    fn launch(auth: Option<(&str, &str)>) -> Result<Registry, String> {
        Self::launch_with(auth, false)
    }

    fn launch_with(auth: Option<(&str, &str)>, tls: bool) -> Result<Registry, String> {
        let bin = binary()?;
        let dir = tempfile::Builder::new().prefix("bee-registry").tempdir().map_err(|e| format!("temp dir: {e}"))?;
        if let Some((user, password)) = auth {
            write_htpasswd(&dir.path().join("htpasswd"), user, password)?;
        }
        if tls {
            self_signed(dir.path())?;
        }
        let mut reg = Registry { dir, bin, port: 0, child: None, tls };
        // the free port is released before the registry binds it: if another
        // process takes it meanwhile, try another
        for attempt in 1..=3 {
            reg.port = free_port()?;
            reg.write_config(auth.is_some())?;
            reg.spawn()?;
            match reg.wait_ready() {
                Ok(()) => return Ok(reg),
                Err(e) if attempt < 3 && e.contains("address already in use") => reg.stop(),
                Err(e) => return Err(e),
            }
        }
        Err("no free port".into())
    }

    fn write_config(&self, auth: bool) -> Result<(), String> {
        let d = self.dir.path();
        let mut yml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {}\n  secret: bee-test-secret\n",
            quoted(&d.join("storage")),
            self.addr()
        );
        if self.tls {
            yml += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                quoted(&d.join("cert.pem")),
                quoted(&d.join("key.pem"))
            );
        }
        if auth {
            yml += &format!("auth:\n  htpasswd:\n    realm: bee-test\n    path: {}\n", quoted(&d.join("htpasswd")));
        }
        fs::write(d.join("config.yml"), yml).map_err(|e| format!("writing the registry config: {e}"))
    }

    fn spawn(&mut self) -> Result<(), String> {
        let d = self.dir.path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("registry.log"))
            .map_err(|e| format!("registry log: {e}"))?;
        let err = log.try_clone().map_err(|e| format!("registry log: {e}"))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve").arg(d.join("config.yml")).stdin(Stdio::null()).stdout(log).stderr(err);
        // REGISTRY_* variables override the config file
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd.spawn().map_err(|e| format!("running {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls `GET /v2/` until it answers 200 or 401.
    fn wait_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("docker-registry exited ({st}):\n{}", self.log_tail()));
            }
            // a TLS registry answers a plain request with 400
            if matches!(probe(self.port), Some(200 | 401)) || (self.tls && probe(self.port) == Some(400)) {
                return Ok(());
            }
            if start.elapsed() > READY_TIMEOUT {
                self.stop();
                return Err(format!("docker-registry not ready after {READY_TIMEOUT:?}:\n{}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `docker-registry` binary: `BEE_TEST_REGISTRY`, the one `make
/// registry-tool` extracts, or the one on `PATH`.
fn binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BEE_TEST_REGISTRY") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("BEE_TEST_REGISTRY={}: no such file", p.display())) };
    }
    let extracted = crate::repo().join("target/tools/docker-registry/usr/bin/docker-registry");
    if extracted.is_file() {
        return Ok(extracted);
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|d| d.join("docker-registry")).find(|p| p.is_file()));
    on_path.ok_or_else(|| {
        "docker-registry not found: run `make registry-tool` (extracts Debian's docker-registry into \
         target/tools/docker-registry/) or set BEE_TEST_REGISTRY"
            .into()
    })
}

fn write_htpasswd(path: &Path, user: &str, password: &str) -> Result<(), String> {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .map_err(|e| format!("running htpasswd: {e} (install apache2-utils: `make deps`)"))?;
    if !out.status.success() {
        return Err(format!("htpasswd -Bbn: {}", String::from_utf8_lossy(&out.stderr)));
    }
    fs::write(path, &out.stdout).map_err(|e| format!("{}: {e}", path.display()))
}

/// `path` as a single-quoted YAML scalar.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "''"))
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| format!("finding a free port: {e}"))
}

/// A self-signed certificate for 127.0.0.1 in `dir` (cert.pem, key.pem).
fn self_signed(dir: &Path) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bee-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout"])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .map_err(|e| format!("running openssl (install it: `make deps`): {e}"))?;
    if !out.status.success() {
        return Err(format!("openssl req failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// The status of `GET /v2/` (HTTP/1.0), if the registry answers.
fn probe(port: u16) -> Option<u16> {
    use std::io::Write;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()
}

/// The last 20 lines of `path`, or why it cannot be read.
fn tail(path: &Path) -> String {
    let mut bytes = Vec::new();
    let read = File::open(path).and_then(|mut f| {
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(8192)))?;
        f.read_to_end(&mut bytes)
    });
    match read {
        Ok(_) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return "(registry.log is empty)".into();
            }
            lines[lines.len().saturating_sub(20)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}
