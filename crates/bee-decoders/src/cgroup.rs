//! `cgroup`: a cgroup id (`bpf_get_current_cgroup_id()`, the cgroup v2
//! directory's inode number) to its path in the cgroup2 hierarchy, and to
//! the container id and names that path leads to ([`crate::containers`]).
//!
//! An id seen for the first time is looked up in the index of the last walk
//! of the hierarchy (every directory it saw, by id, up to [`MAX_INDEXED`]),
//! and only an id missing there walks the hierarchy again (bounded depth and
//! directory count), which rebuilds the index: starting with thousands of
//! cgroups costs one walk, not one per cgroup. What is resolved is cached,
//! bounded by [`MAX_CACHED`] entries (the cache starts over when full). An id
//! a walk did not find is remembered as unknown (cgroup ids are never reused,
//! and the cgroup existed when the kernel recorded the event: if it is gone
//! at the walk, it is gone for good), also bounded.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bee_object::decode::{Render, Value};

use crate::containers::{self, Lookup};
use crate::value::{int_of, push_int};

/// Bound on cached cgroups, and on remembered unknown ids.
pub const MAX_CACHED: usize = 16_384;
/// Bound on directories one walk visits, and on its depth.
const MAX_WALK: usize = 200_000;
/// Bound on the directories a walk keeps in its index (the walk goes on
/// looking for its id past it).
pub const MAX_INDEXED: usize = 65_536;
const MAX_DEPTH: usize = 32;

/// What one cgroup resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Info {
    /// Relative to the cgroup2 root, starting with `/`.
    pub path: String,
    pub container_id: String,
    pub container: String,
    pub pod: String,
    pub namespace: String,
}

/// A part of a cgroup's [`Info`] a field shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Path,
    ContainerId,
    Container,
    Pod,
    Namespace,
}

impl Part {
    /// Every part, in the default order.
    pub const ALL: [Part; 5] = [Part::Path, Part::ContainerId, Part::Container, Part::Pod, Part::Namespace];

    /// The part's name in configuration (and the suffix of its field).
    pub fn name(self) -> &'static str {
        match self {
            Part::Path => "path",
            Part::ContainerId => "container_id",
            Part::Container => "container",
            Part::Pod => "pod",
            Part::Namespace => "namespace",
        }
    }

    /// The part called `s`.
    pub fn parse(s: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == s)
    }

    fn of(self, i: &Info) -> &str {
        match self {
            Part::Path => &i.path,
            Part::ContainerId => &i.container_id,
            Part::Container => &i.container,
            Part::Pod => &i.pod,
            Part::Namespace => &i.namespace,
        }
    }
}

#[derive(Default)]
struct Cache {
    known: HashMap<u64, Arc<Info>>,
    unknown: HashSet<u64>,
    /// Every directory of the last walk, by id.
    index: HashMap<u64, PathBuf>,
    /// Walks of the hierarchy so far (for tests).
    walks: usize,
    /// The cgroup2 mount, once found (`Some(None)`: there is none).
    root: Option<Option<PathBuf>>,
}

/// The cgroup cache shared by every `cgroup` field.
pub struct Cgroups {
    /// The cgroup2 mount; `None`: found in /proc/self/mountinfo.
    root: Option<PathBuf>,
    lookup: Lookup,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for Cgroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cgroups").field("root", &self.root).finish()
    }
}

/// The cgroup2 mount point in a mountinfo text.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mount = left.split_whitespace().nth(4)?;
        (right.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(mount))
    })
}

impl Cgroups {
    /// The running system's cgroup2 hierarchy, and names from `/`.
    pub fn system() -> Self {
        Cgroups { root: None, lookup: Lookup { root: "/".into() }, cache: Mutex::default() }
    }

    /// A hierarchy mounted at `root`, names looked up under `names_root`.
    pub fn at(root: PathBuf, names_root: PathBuf) -> Self {
        Cgroups { root: Some(root), lookup: Lookup { root: names_root }, cache: Mutex::default() }
    }

    fn mount(&self, c: &mut Cache) -> Option<PathBuf> {
        if c.root.is_none() {
            let found = self.root.clone().or_else(|| {
                let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
                cgroup2_mount(&text)
            });
            c.root = Some(found);
        }
        c.root.clone().flatten()
    }

    fn info(&self, root: &Path, dir: &Path) -> Info {
        let rel = dir.strip_prefix(root).unwrap_or(dir);
        let path = format!("/{}", rel.display());
        let mut info = Info { path, ..Info::default() };
        if let Some(c) = containers::parse_path(&info.path) {
            let names = self.lookup.names(&c.id);
            info.container_id = c.id;
            info.container = names.container.unwrap_or_default();
            info.pod = names.pod.unwrap_or_default();
            info.namespace = names.namespace.unwrap_or_default();
        }
        info
    }

    /// Walks the hierarchy under `root` depth first, bounded, until it has
    /// found `id`: every directory seen goes into the returned index (up to
    /// [`MAX_INDEXED`]), and the walk goes on past `id` to index the rest.
    fn walk(root: &Path, id: u64) -> (Option<PathBuf>, HashMap<u64, PathBuf>) {
        let mut stack = vec![(root.to_path_buf(), 0usize)];
        let mut index = HashMap::new();
        let mut found = None;
        let mut visited = 0usize;
        while let Some((dir, depth)) = stack.pop() {
            visited += 1;
            if visited > MAX_WALK || (found.is_some() && index.len() >= MAX_INDEXED) {
                break;
            }
            let Ok(meta) = std::fs::metadata(&dir) else { continue };
            if meta.ino() == id {
                found = Some(dir.clone());
            }
            if depth < MAX_DEPTH {
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    for e in entries.flatten() {
                        if e.file_type().is_ok_and(|t| t.is_dir()) {
                            stack.push((e.path(), depth + 1));
                        }
                    }
                }
            }
            if index.len() < MAX_INDEXED {
                index.insert(meta.ino(), dir);
            }
        }
        (found, index)
    }

    /// What cgroup `id` resolves to; `None` when no cgroup has it.
    pub fn resolve(&self, id: u64) -> Option<Arc<Info>> {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = c.known.get(&id) {
            return Some(i.clone());
        }
        if c.unknown.contains(&id) {
            return None;
        }
        let root = self.mount(&mut c)?;
        let dir = match c.index.get(&id) {
            Some(dir) => dir.clone(),
            None => {
                c.walks += 1;
                let (found, index) = Self::walk(&root, id);
                c.index = index;
                match found {
                    Some(dir) => dir,
                    None => {
                        if c.unknown.len() >= MAX_CACHED {
                            c.unknown.clear();
                        }
                        c.unknown.insert(id);
                        return None;
                    }
                }
            }
        };
        let info = Arc::new(self.info(&root, &dir));
        if c.known.len() >= MAX_CACHED {
            c.known.clear();
        }
        c.known.insert(id, info.clone());
        Some(info)
    }

    /// Walks of the hierarchy so far (for tests).
    #[cfg(test)]
    fn walks(&self) -> usize {
        self.cache.lock().map_or(0, |c| c.walks)
    }
}

/// The `cgroup` decoder of one part.
#[derive(Debug)]
pub struct Cgroup {
    pub cgroups: Arc<Cgroups>,
    pub part: Part,
}

impl Render for Cgroup {
    fn text(&self, v: Value<'_>, out: &mut String) {
        let Some(id) = int_of(&v) else { return v.write_text(out) };
        match u64::try_from(id).ok().and_then(|id| self.cgroups.resolve(id)) {
            Some(info) => out.push_str(self.part.of(&info)),
            // an unknown cgroup keeps its id where the path would be
            None if self.part == Part::Path => push_int(out, id),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const ID: &str = "b8ab19d0955637f362f14f1e3c8bd13e77070c4179d88e675f33d12ebe3d4480";

    fn text(d: &Cgroup, id: u64) -> String {
        let mut s = String::new();
        d.text(Value::U(id), &mut s);
        s
    }

    #[test]
    fn ids_to_paths_and_containers() -> TestResult {
        // a directory tree stands in for the hierarchy: ids are inode numbers
        let dir = tempfile::tempdir()?;
        let (cg, names) = (dir.path().join("cg"), dir.path().join("root"));
        let container = cg.join("libpod_parent").join(format!("libpod-{ID}"));
        std::fs::create_dir_all(&container)?;
        std::fs::create_dir_all(cg.join("system.slice/sshd.service"))?;
        let storage = names.join("var/lib/containers/storage/overlay-containers");
        std::fs::create_dir_all(&storage)?;
        std::fs::write(storage.join("containers.json"), format!(r#"[{{"id":"{ID}","names":["dectest"]}}]"#))?;
        let cgroups = Arc::new(Cgroups::at(cg.clone(), names));
        let d = |part| Cgroup { cgroups: cgroups.clone(), part };
        let ino = |p: &Path| std::fs::metadata(p).map(|m| m.ino());
        let (c, sshd, root) = (ino(&container)?, ino(&cg.join("system.slice/sshd.service"))?, ino(&cg)?);
        assert_eq!(text(&d(Part::Path), c), format!("/libpod_parent/libpod-{ID}"));
        assert_eq!(text(&d(Part::ContainerId), c), ID);
        assert_eq!(text(&d(Part::Container), c), "dectest");
        assert_eq!(text(&d(Part::Pod), c), "");
        assert_eq!(text(&d(Part::Path), sshd), "/system.slice/sshd.service");
        assert_eq!(text(&d(Part::Container), sshd), "");
        assert_eq!(text(&d(Part::Path), root), "/");
        assert_eq!(cgroups.walks(), 1, "one walk indexed every cgroup");
        // an id no cgroup has keeps its number, and is not walked for again
        assert_eq!(text(&d(Part::Path), 1), "1");
        assert_eq!(text(&d(Part::Container), 1), "");
        let new = cg.join("late");
        std::fs::create_dir(&new)?;
        assert_eq!(text(&d(Part::Path), ino(&new)?), "/late", "a new cgroup is found by a new walk");
        assert_eq!(cgroups.walks(), 3, "the unknown id and the new cgroup walked again");
        assert_eq!(text(&d(Part::Path), 1), "1");
        assert_eq!(cgroups.walks(), 3, "an unknown id is remembered");
        Ok(())
    }

    #[test]
    fn the_cgroup2_mount_of_mountinfo() {
        let hybrid = "35 25 0:30 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
                      36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n\
                      37 35 0:32 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(cgroup2_mount(hybrid), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        let unified = "30 23 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(cgroup2_mount(unified), Some(PathBuf::from("/sys/fs/cgroup")));
        assert_eq!(cgroup2_mount("1 0 0:1 / / rw - ext4 /dev/sda rw\n"), None);
    }
}
