//! Registry credentials, in docker's `config.json` shape
//! (`{"auths": {"SERVER": {"auth": base64("user:password")}}}`): bee's own
//! file (written by `bee login`, mode 0600), then docker's and podman's, so
//! a user logged in with either needs nothing more. beed reads one
//! root-only file named in its config.

use crate::{Error, Result};
use base64::Engine as _;
use serde_json::{Map, Value};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A user name and password (or token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

/// bee's own file: `$XDG_CONFIG_HOME/bee/auth.json` or
/// `~/.config/bee/auth.json`.
pub fn user_file() -> PathBuf {
    config_home().join("bee/auth.json")
}

fn config_home() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("/nonexistent"))
}

/// Where `bee` looks, in order: its own file, docker's
/// (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`), podman's
/// (`$REGISTRY_AUTH_FILE` or `$XDG_RUNTIME_DIR/containers/auth.json`).
pub fn default_files() -> Vec<PathBuf> {
    let mut files = vec![user_file()];
    match std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        Some(d) => files.push(PathBuf::from(d).join("config.json")),
        None => files.extend(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))),
    }
    match std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        Some(f) => files.push(PathBuf::from(f)),
        None => {
            files.extend(std::env::var_os("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("containers/auth.json")))
        }
    }
    files
}

/// The keys a registry may be stored under (docker keeps Docker Hub's under
/// its v1 URL).
fn keys(registry: &str) -> Vec<String> {
    let mut k = vec![registry.to_string(), format!("https://{registry}"), format!("http://{registry}")];
    if registry == "docker.io" || registry == "index.docker.io" || registry == "registry-1.docker.io" {
        k.push("https://index.docker.io/v1/".into());
        k.push("index.docker.io".into());
    }
    k
}

fn read(path: &Path) -> Result<Option<Map<String, Value>>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(Error::Auth(format!("{}: not a JSON object", path.display()))),
        Err(e) => Err(Error::Auth(format!("{}: not JSON: {e}", path.display()))),
    }
}

/// The credentials for `registry` in the first of `files` that has them.
pub fn lookup(files: &[PathBuf], registry: &str) -> Result<Option<Credentials>> {
    for f in files {
        let Some(doc) = read(f)? else { continue };
        let Some(auths) = doc.get("auths").and_then(Value::as_object) else { continue };
        for k in keys(registry) {
            let Some(entry) = auths.get(&k) else { continue };
            return decode(entry).map(Some).map_err(|e| Error::Auth(format!("{}: auths.{k}: {e}", f.display())));
        }
    }
    Ok(None)
}

fn decode(entry: &Value) -> std::result::Result<Credentials, String> {
    if let (Some(u), Some(p)) =
        (entry.get("username").and_then(Value::as_str), entry.get("password").and_then(Value::as_str))
    {
        return Ok(Credentials { username: u.into(), password: p.into() });
    }
    let auth = entry.get("auth").and_then(Value::as_str).ok_or("no `auth` field")?;
    let raw =
        base64::engine::general_purpose::STANDARD.decode(auth).map_err(|e| format!("`auth` is not base64: {e}"))?;
    let s = String::from_utf8(raw).map_err(|_| "`auth` is not UTF-8".to_string())?;
    let (u, p) = s.split_once(':').ok_or("`auth` is not user:password")?;
    Ok(Credentials { username: u.into(), password: p.into() })
}

/// Saves credentials for `registry` in `file` (created 0600, other entries
/// kept).
pub fn save(file: &Path, registry: &str, c: &Credentials) -> Result<()> {
    let mut doc = read(file)?.unwrap_or_default();
    let auths = doc.entry("auths").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(auths) = auths else {
        return Err(Error::Auth(format!("{}: `auths` is not an object", file.display())));
    };
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
    auths.insert(registry.into(), serde_json::json!({ "auth": token }));
    write(file, &Value::Object(doc))
}

/// Removes `registry` from `file`; returns whether it was there.
pub fn erase(file: &Path, registry: &str) -> Result<bool> {
    let Some(mut doc) = read(file)? else { return Ok(false) };
    let removed = match doc.get_mut("auths").and_then(Value::as_object_mut) {
        Some(a) => keys(registry).iter().filter(|k| a.remove(k.as_str()).is_some()).count() > 0,
        None => false,
    };
    if removed {
        write(file, &Value::Object(doc))?;
    }
    Ok(removed)
}

fn write(file: &Path, doc: &Value) -> Result<()> {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = file.with_extension("json.tmp");
    let res = (|| {
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(doc).unwrap_or_default())?;
        f.sync_all()?;
        fs::rename(&tmp, file)
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(file, e)
    })
}

#[cfg(test)]
mod tests {
    use super::{erase, lookup, save, Credentials};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn save_lookup_erase() -> crate::Result<()> {
        let dir = tempfile::tempdir().map_err(|e| crate::Error::io("tmp", e))?;
        let mine = dir.path().join("bee/auth.json");
        let docker = dir.path().join("docker.json");
        std::fs::write(&docker, r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnNlY3JldA=="},"q.io":{"username":"u","password":"p"}}}"#)
            .map_err(|e| crate::Error::io(&docker, e))?;
        let files = vec![mine.clone(), docker.clone()];
        let c = Credentials { username: "bee".into(), password: "pa:ss".into() };
        save(&mine, "127.0.0.1:5000", &c)?;
        let mode = std::fs::metadata(&mine).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
        assert_eq!(lookup(&files, "127.0.0.1:5000")?, Some(c));
        assert_eq!(lookup(&files, "docker.io")?.map(|c| c.password), Some("secret".into()));
        assert_eq!(lookup(&files, "q.io")?.map(|c| c.username), Some("u".into()));
        assert_eq!(lookup(&files, "none.io")?, None);
        assert!(erase(&mine, "127.0.0.1:5000")?);
        assert!(!erase(&mine, "127.0.0.1:5000")?);
        assert_eq!(lookup(&files, "127.0.0.1:5000")?, None);
        std::fs::write(&docker, "{").map_err(|e| crate::Error::io(&docker, e))?;
        let e = lookup(&files, "q.io").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("docker.json: not JSON"), "{e}");
        Ok(())
    }
}
