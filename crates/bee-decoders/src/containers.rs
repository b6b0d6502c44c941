//! Containers behind a cgroup path: the container id (and Kubernetes pod
//! UID) that the systemd and cgroupfs layouts of containerd, CRI-O, Docker
//! and podman put in the path, and the names their state files hold.
//!
//! | runtime (cgroup manager) | last components of the path |
//! |---|---|
//! | Docker (cgroupfs) | `/docker/<id>` |
//! | Docker (systemd) | `/system.slice/docker-<id>.scope` |
//! | podman (cgroupfs) | `/libpod_parent/libpod-<id>` (or `…/libpod-<id>/container`) |
//! | podman (systemd) | `/machine.slice/libpod-<id>.scope` (rootless: under `user@UID.service`) |
//! | containerd, CRI (cgroupfs) | `/kubepods/burstable/pod<uid>/<id>` |
//! | containerd, CRI (systemd) | `/kubepods.slice/…/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope` |
//! | CRI-O (cgroupfs) | `/kubepods/…/pod<uid>/crio-<id>` |
//! | CRI-O (systemd) | `/kubepods.slice/…/crio-<id>.scope` |
//!
//! Names are not in paths: they come from the OCI bundle's `config.json`
//! annotations (Kubernetes pod, namespace and container names, set by
//! containerd's and CRI-O's CRI), found through the runc state of the
//! container, and else from the container stores (`containers.json` of
//! containers/storage for podman and CRI-O, `config.v2.json` for Docker).

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

/// What a cgroup path says about a container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FromPath {
    /// `docker`, `podman`, `containerd`, `cri-o`.
    pub runtime: &'static str,
    /// 64 hex digits.
    pub id: String,
    /// Kubernetes pod UID, when under `kubepods`.
    pub pod_uid: Option<String>,
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container id a path component carries, and its runtime.
fn component(c: &str, kube: bool) -> Option<(&'static str, &str)> {
    let c = c.strip_suffix(".scope").unwrap_or(c);
    for (prefix, runtime) in
        [("docker-", "docker"), ("libpod-", "podman"), ("cri-containerd-", "containerd"), ("crio-", "cri-o")]
    {
        if let Some(id) = c.strip_prefix(prefix) {
            return is_id(id).then_some((runtime, id));
        }
    }
    // bare ids: Docker's cgroupfs layout (/docker/<id>), containerd's under kubepods
    is_id(c).then_some((if kube { "containerd" } else { "docker" }, c))
}

/// The container of a cgroup path (relative to the cgroup2 root), if any.
pub fn parse_path(path: &str) -> Option<FromPath> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let kube = parts.iter().any(|p| p.starts_with("kubepods"));
    // the innermost container component (podman nests `container` under it)
    let (runtime, id) = parts.iter().rev().find_map(|c| component(c, kube))?;
    let pod_uid = parts.iter().rev().find_map(|p| {
        let p = p.strip_suffix(".slice").unwrap_or(p);
        let uid = p.rsplit_once("-pod").map(|(_, u)| u).or_else(|| p.strip_prefix("pod"))?;
        let uid = uid.replace('_', "-");
        (uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')).then_some(uid)
    });
    Some(FromPath { runtime, id: id.to_string(), pod_uid })
}

/// Names of a container, where its runtime keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Names {
    pub container: Option<String>,
    pub pod: Option<String>,
    pub namespace: Option<String>,
}

/// Where runtimes keep runc state (`<dir>/<id>/state.json`).
const RUNC_ROOTS: &[&str] = &[
    "run/runc",
    "run/containerd/runc/k8s.io",
    "run/containerd/runc/default",
    "run/containerd/runc/moby",
    "run/docker/runtime-runc/moby",
];
/// containerd's bundles (`<dir>/<id>/config.json`).
const BUNDLE_ROOTS: &[&str] =
    &["run/containerd/io.containerd.runtime.v2.task/k8s.io", "run/containerd/io.containerd.runtime.v2.task/default"];
/// containers/storage's list of containers (podman, CRI-O, buildah).
const STORAGE: &[&str] = &[
    "var/lib/containers/storage/overlay-containers/containers.json",
    "var/lib/containers/storage/vfs-containers/containers.json",
];
/// Bound on a state file read.
const MAX_FILE: u64 = 16 << 20;

fn read_json(path: &Path) -> Option<Json> {
    use std::io::Read as _;
    let mut buf = Vec::new();
    std::fs::File::open(path).ok()?.take(MAX_FILE).read_to_end(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

fn annotation(config: &Json, keys: &[&str]) -> Option<String> {
    let a = config.get("annotations")?;
    keys.iter().find_map(|k| a.get(*k)?.as_str().filter(|s| !s.is_empty()).map(str::to_string))
}

/// Names from an OCI `config.json`'s annotations.
pub fn names_from_config(config: &Json) -> Names {
    Names {
        container: annotation(
            config,
            &["io.kubernetes.cri.container-name", "io.kubernetes.container.name", "nerdctl/name"],
        ),
        pod: annotation(config, &["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]),
        namespace: annotation(config, &["io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"]),
    }
}

/// The bundle of runc state `state.json` (its `bundle=` label).
pub fn bundle_of_state(state: &Json) -> Option<PathBuf> {
    state
        .get("config")?
        .get("labels")?
        .as_array()?
        .iter()
        .find_map(|l| l.as_str()?.strip_prefix("bundle=").map(PathBuf::from))
}

/// The first name containers/storage's `containers.json` gives `id`.
pub fn name_in_storage(list: &Json, id: &str) -> Option<String> {
    list.as_array()?
        .iter()
        .find(|c| c.get("id").and_then(Json::as_str) == Some(id))?
        .get("names")?
        .as_array()?
        .first()?
        .as_str()
        .map(str::to_string)
}

/// Looks names up under a root directory (`/` on the host).
#[derive(Debug, Clone)]
pub struct Lookup {
    pub root: PathBuf,
}

impl Lookup {
    /// Names of container `id`, from whatever the runtimes left on disk.
    pub fn names(&self, id: &str) -> Names {
        let mut names = Names::default();
        let config = RUNC_ROOTS
            .iter()
            .find_map(|d| {
                let state = read_json(&self.root.join(d).join(id).join("state.json"))?;
                let bundle = bundle_of_state(&state)?;
                let rel = bundle.strip_prefix("/").unwrap_or(&bundle);
                read_json(&self.root.join(rel).join("config.json"))
            })
            .or_else(|| BUNDLE_ROOTS.iter().find_map(|d| read_json(&self.root.join(d).join(id).join("config.json"))));
        if let Some(c) = &config {
            names = names_from_config(c);
        }
        if names.container.is_none() {
            names.container =
                STORAGE.iter().find_map(|f| name_in_storage(&read_json(&self.root.join(f))?, id)).or_else(|| {
                    let c = read_json(&self.root.join("var/lib/docker/containers").join(id).join("config.v2.json"))?;
                    c.get("Name")?.as_str().map(|n| n.trim_start_matches('/').to_string())
                });
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const ID: &str = "b8ab19d0955637f362f14f1e3c8bd13e77070c4179d88e675f33d12ebe3d4480";
    const UID: &str = "0a1b2c3d-1111-2222-3333-444455556666";

    #[test]
    fn layouts() {
        let uid_ = UID.replace('-', "_");
        let fp = |runtime, pod: bool| Some(FromPath { runtime, id: ID.into(), pod_uid: pod.then(|| UID.to_string()) });
        for (path, want) in [
            (format!("/docker/{ID}"), fp("docker", false)),
            (format!("/system.slice/docker-{ID}.scope"), fp("docker", false)),
            (format!("/libpod_parent/libpod-{ID}"), fp("podman", false)),
            (format!("/libpod_parent/libpod-{ID}/container"), fp("podman", false)),
            (format!("/machine.slice/libpod-{ID}.scope"), fp("podman", false)),
            (format!("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container"), fp("podman", false)),
            (format!("/kubepods/burstable/pod{UID}/{ID}"), fp("containerd", true)),
            (format!("/kubepods/pod{UID}/{ID}"), fp("containerd", true)),
            (
                format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{ID}.scope"),
                fp("containerd", true),
            ),
            (format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/crio-{ID}.scope"), fp("cri-o", true)),
            (format!("/kubepods/besteffort/pod{UID}/crio-{ID}"), fp("cri-o", true)),
            (format!("/libpod_parent/libpod-conmon-{ID}"), None),
            ("/system.slice/sshd.service".into(), None),
            ("/".into(), None),
            ("/docker/abc".into(), None),
        ] {
            assert_eq!(parse_path(&path), want, "{path}");
        }
    }

    #[test]
    fn names_from_runtime_files() -> TestResult {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        // containerd: runc state → bundle → annotations
        let bundle = root.join("run/containerd/io.containerd.runtime.v2.task/k8s.io").join(ID);
        std::fs::create_dir_all(&bundle)?;
        std::fs::write(
            bundle.join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.container-name":"web","io.kubernetes.cri.sandbox-name":"web-7d9f","io.kubernetes.cri.sandbox-namespace":"shop"}}"#,
        )?;
        let state = root.join("run/containerd/runc/k8s.io").join(ID);
        std::fs::create_dir_all(&state)?;
        let label = format!("bundle=/run/containerd/io.containerd.runtime.v2.task/k8s.io/{ID}");
        std::fs::write(state.join("state.json"), serde_json::json!({"config": {"labels": [label]}}).to_string())?;
        let l = Lookup { root: root.to_path_buf() };
        let want =
            Names { container: Some("web".into()), pod: Some("web-7d9f".into()), namespace: Some("shop".into()) };
        assert_eq!(l.names(ID), want);
        // podman: the name from containers/storage
        let other = "c".repeat(64);
        let storage = root.join("var/lib/containers/storage/overlay-containers");
        std::fs::create_dir_all(&storage)?;
        std::fs::write(storage.join("containers.json"), format!(r#"[{{"id":"{other}","names":["dectest"]}}]"#))?;
        assert_eq!(l.names(&other), Names { container: Some("dectest".into()), ..Names::default() });
        // docker
        let d = "d".repeat(64);
        let dd = root.join("var/lib/docker/containers").join(&d);
        std::fs::create_dir_all(&dd)?;
        std::fs::write(dd.join("config.v2.json"), r#"{"Name":"/nginx"}"#)?;
        assert_eq!(l.names(&d).container.as_deref(), Some("nginx"));
        assert_eq!(l.names(&"e".repeat(64)), Names::default(), "nothing on disk: no names");
        Ok(())
    }
}
