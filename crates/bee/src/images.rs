//! bee's image commands: the image `bee build` stores, `push`, `pull`,
//! `list`, `tag`, `rm`, `prune`, `login`, `logout`; and reading the probe a
//! command line names (a file, or an image ref, pulled when missing, as
//! bumblebee does).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bee_oci::auth::{self, Credentials};
use bee_oci::image::{self, Build};
use bee_oci::registry::{Client, Options};
use bee_oci::{media, platform, Ref, Store};
use serde::Serialize;

use crate::cli::{Arch, BuildArgs, Format, ListArgs, LoginArgs, PullArgs, PushArgs, RegistryArgs};
use crate::emit;
use crate::progress::Bars;

/// Opens the store (`--storage`, `$BEE_STORE` or the per-user default).
pub fn open_store(storage: Option<&Path>) -> Result<Store> {
    let dir = storage.map(Path::to_path_buf).unwrap_or_else(Store::user_default);
    Store::open(&dir).with_context(|| format!("opening the image store {}", dir.display()))
}

fn client(r: &RegistryArgs) -> Result<Client> {
    let opts =
        Options { plain_http: r.plain_http, insecure: r.insecure, max_blob: r.max_blob_size, ..Options::default() };
    Ok(Client::new(opts)?)
}

fn parse_ref(s: &str) -> Result<Ref> {
    Ok(Ref::parse(s)?)
}

/// Stores the objects `bee build` compiled as image `name`; returns the
/// line to print.
pub fn store_build(store: &Store, name: &str, outs: &[(Arch, PathBuf)], args: &BuildArgs) -> Result<String> {
    let r = parse_ref(name)?;
    let mut builds = Vec::new();
    for (arch, path) in outs {
        let program = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let d = crate::describe::describe_bytes(&program, &path.display().to_string())?;
        let oci = platform::oci_arch(arch.name()).unwrap_or("amd64");
        let config = serde_json::json!({
            "bee": {
                "configVersion": 1,
                "arch": arch.name(),
                "requires": requirements(&d),
                "programs": d.programs,
                "maps": d.maps,
                "vars": d.vars,
            }
        });
        builds.push(Build { arch: oci.into(), program, config });
    }
    let version = args.image_version.clone().or_else(|| r.digest().is_none().then(|| tag_of(&r)).flatten());
    let source_default = args.input.file_name().map(|f| f.to_string_lossy().into_owned());
    let annotations = image::annotations(&[
        (media::DESCRIPTION, args.description.as_deref()),
        (media::AUTHORS, args.authors.as_deref()),
        (media::SOURCE, args.source.as_deref().or(source_default.as_deref())),
        (media::VERSION, version.as_deref()),
    ]);
    let session = store.session()?;
    let top = image::store_built(&session, &r.name(), &builds, &annotations)?;
    let arches: Vec<&str> = outs.iter().map(|(a, _)| a.name()).collect();
    Ok(format!(
        "stored image {} ({}, {}) in {}\n",
        r.name(),
        short(&top.digest),
        arches.join(", "),
        store.root().display()
    ))
}

fn tag_of(r: &Ref) -> Option<String> {
    r.name().rsplit_once(':').map(|(_, t)| t.to_string()).filter(|t| !t.contains('/'))
}

fn short(d: &str) -> &str {
    d.get(..("sha256:".len() + 12)).unwrap_or(d)
}

/// What a probe needs of the kernel, from its description: BTF (CO-RE)
/// always, and the release that brought what it uses.
fn requirements(d: &crate::describe::Description) -> serde_json::Value {
    let mut min = (4, 18, "BTF and CO-RE relocations");
    let mut need = |v: (u32, u32), why: &'static str| {
        if (v.0, v.1) > (min.0, min.1) {
            min = (v.0, v.1, why);
        }
    };
    for m in &d.maps {
        if m.map_type.eq_ignore_ascii_case("ringbuf") {
            need((5, 8), "BPF ring buffer");
        }
    }
    for p in &d.programs {
        // section_kind stops at the first `.`: `uprobe.multi/…` is `uprobe`
        let section = p.section.trim_start_matches('?');
        if section.starts_with("kprobe.multi") || section.starts_with("kretprobe.multi") {
            need((5, 18), "multi-attach kprobes");
        }
        if section.starts_with("uprobe.multi") || section.starts_with("uretprobe.multi") {
            need((6, 6), "multi-attach uprobes");
        }
        match p.kind.as_str() {
            "fentry" | "fexit" | "tp_btf" | "fmod_ret" => need((5, 5), "BPF trampolines (fentry/fexit/tp_btf)"),
            "iter" => need((5, 8), "BPF iterators"),
            _ => {}
        }
    }
    serde_json::json!({ "btf": true, "min_kernel": format!("{}.{}", min.0, min.1), "min_kernel_for": min.2 })
}

/// `bee push REF`.
pub fn push(store: &Store, a: &PushArgs) -> Result<()> {
    let r = parse_ref(&a.image)?;
    let digest = client(&a.registry)?.push(store, &r, &Bars::new())?;
    emit(&format!("pushed {} ({digest})\n", r.name()))
}

/// `bee pull REF`.
pub fn pull(store: &Store, a: &PullArgs) -> Result<()> {
    let r = parse_ref(&a.image)?;
    let arch = a.arch.map_or(platform::host(), |x| platform::oci_arch(x.name()).unwrap_or("amd64"));
    let p = client(&a.registry)?.pull(store, &r, arch, &Bars::new())?;
    let what = if p.changed || p.downloaded > 0 { "pulled" } else { "up to date:" };
    emit(&format!("{what} {} ({}, {} bytes downloaded)\n", r.name(), p.digest, p.downloaded))
}

/// One row of `bee list --output json`.
#[derive(Serialize)]
struct Row {
    name: String,
    digest: String,
    arch: Vec<String>,
    size: u64,
    created: Option<String>,
}

/// `bee list`.
pub fn list(store: &Store, a: &ListArgs) -> Result<()> {
    let rows: Vec<Row> = store
        .refs()?
        .iter()
        .map(|e| {
            let s = image::summarize(store, e);
            let arch = s.arches.iter().map(|x| platform::bee_arch(x).to_string()).collect();
            Row { name: s.name, digest: s.digest, arch, size: s.size, created: s.created }
        })
        .collect();
    match a.output {
        Format::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&rows)?)),
        Format::Text => {
            let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(4);
            let mut out = format!("{:w$}  {:19}  {:16}  {:>9}  CREATED\n", "NAME", "DIGEST", "ARCH", "SIZE");
            for r in &rows {
                out.push_str(&format!(
                    "{:w$}  {:19}  {:16}  {:>9}  {}\n",
                    r.name,
                    short(&r.digest),
                    r.arch.join(","),
                    human_size(r.size),
                    r.created.as_deref().unwrap_or("-")
                ));
            }
            emit(&out)
        }
    }
}

fn human_size(n: u64) -> String {
    match n {
        0..=9_999 => format!("{n} B"),
        10_000..=9_999_999 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}

/// `bee tag SOURCE TARGET`.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<()> {
    let (s, t) = (parse_ref(source)?, parse_ref(target)?);
    let desc = store.resolve(&s.name())?.ok_or_else(|| bee_oci::Error::NotFound(s.name()))?;
    let mut desc = desc;
    desc.annotations.remove(media::REF_NAME);
    store.session()?.set_ref(&t.name(), &desc)?;
    emit(&format!("tagged {} as {}\n", s.name(), t.name()))
}

/// `bee rm REF...`: every ref is tried; a missing one fails the command.
pub fn rm(store: &Store, refs: &[String]) -> Result<()> {
    let mut missing = Vec::new();
    for s in refs {
        let r = parse_ref(s)?;
        if store.remove(&r.name())? {
            emit(&format!("removed {}\n", r.name()))?;
        } else {
            missing.push(r.name());
        }
    }
    if !missing.is_empty() {
        bail!("not in the local store: {} (`bee list` shows what is there)", missing.join(", "));
    }
    Ok(())
}

/// `bee prune`.
pub fn prune(store: &Store) -> Result<()> {
    let (n, bytes) = store.prune()?;
    emit(&format!("removed {n} unused blobs ({})\n", human_size(bytes)))
}

/// `bee login SERVER`: asks (or reads stdin), checks with the registry,
/// saves in bee's credentials file.
pub fn login(a: &LoginArgs) -> Result<()> {
    let server = registry_host(&a.server)?;
    let tty = std::io::stdin().is_terminal();
    let username = match &a.username {
        Some(u) => u.clone(),
        None if tty && !a.password_stdin => {
            inquire::Text::new("Username:").prompt().context("reading the user name")?
        }
        None => bail!("{server}: name the user with -u USER"),
    };
    let password = if a.password_stdin {
        let mut s = String::new();
        std::io::stdin().take(64 * 1024).read_to_string(&mut s).context("reading the password from stdin")?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if tty {
        inquire::Password::new("Password:").without_confirmation().prompt().context("reading the password")?
    } else {
        bail!("{server}: no terminal to ask the password: pass it with --password-stdin");
    };
    if password.is_empty() {
        bail!("{server}: empty password");
    }
    let creds = Credentials { username, password };
    client(&a.registry)?.login(&server, &creds)?;
    let file = auth::user_file();
    auth::save(&file, &server, &creds)?;
    emit(&format!("login succeeded: {server} (saved in {})\n", file.display()))
}

/// `bee logout SERVER`.
pub fn logout(server: &str) -> Result<()> {
    let server = registry_host(server)?;
    let file = auth::user_file();
    if auth::erase(&file, &server)? {
        emit(&format!("removed the credentials of {server} from {}\n", file.display()))
    } else {
        bail!("{server}: not logged in (no credentials in {})", file.display())
    }
}

/// `host[:port]` from what a user types (a URL is accepted).
fn registry_host(s: &str) -> Result<String> {
    let h = s.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    if h.is_empty() || h.contains('/') || h.chars().any(|c| c.is_whitespace()) {
        bail!("`{s}`: not a registry host (expected HOST[:PORT])");
    }
    Ok(h.to_string())
}

/// Where a probe came from, when it came from an image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub reference: String,
    pub digest: String,
    pub format: String,
    pub platform: Option<String>,
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// A probe named on the command line.
pub struct Probe {
    pub bytes: Vec<u8>,
    /// For messages: the path, or `image REF`.
    pub what: String,
    /// A probe name: the file's stem or the repository's last part.
    pub name: String,
    pub image: Option<ImageInfo>,
}

/// Reads `arg`: an existing file, else an image ref from the store (pulled
/// first when it is not there).
pub fn resolve(arg: &str, storage: Option<&Path>, registry: &RegistryArgs) -> Result<Probe> {
    let path = Path::new(arg);
    if path.exists() || arg.ends_with(".o") || arg.starts_with('.') || arg.starts_with('/') {
        let bytes = std::fs::read(path).with_context(|| arg.to_string())?;
        return Ok(Probe { bytes, what: arg.to_string(), name: file_probe_name(path), image: None });
    }
    let r = Ref::parse(arg).with_context(|| format!("{arg}: no such file"))?;
    let store = open_store(storage)?;
    let name = r.name();
    let arch = platform::host();
    let max = registry.max_blob_size;
    let program = match image::load(&store, &name, arch, max) {
        // `sudo bee run REF` after `bee build … REF` as the user: root's
        // store lacks it, the user's has it (bumblebee could not find it)
        Err(bee_oci::Error::NotFound(_)) if storage.is_none() && sudo_user_store(&name).is_some() => {
            let theirs = sudo_user_store(&name).ok_or_else(|| bee_oci::Error::NotFound(name.clone()))?;
            eprintln!("bee: {name}: from {}'s store {}", sudo_user().unwrap_or_default(), theirs.root().display());
            image::load(&theirs, &name, arch, max)?
        }
        Err(bee_oci::Error::NotFound(_)) => {
            eprintln!("bee: {name} is not in the local store: pulling it");
            client(registry)?.pull(&store, &r, arch, &Bars::new())?;
            image::load(&store, &name, arch, max)?
        }
        other => other?,
    };
    let repo_last = r.repository().rsplit('/').next().unwrap_or("probe");
    Ok(Probe {
        bytes: program.bytes,
        what: format!("image {name}"),
        name: sanitize(repo_last),
        image: Some(ImageInfo {
            reference: name,
            digest: program.digest.to_string(),
            format: program.format.name().into(),
            platform: program.platform.map(|p| p.to_string()),
            annotations: program.annotations,
        }),
    })
}

/// The user `sudo` ran bee for, when bee runs as root through sudo.
fn sudo_user() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty() && u != "root")
}

/// That user's default store, if it holds `name` (opened without creating
/// anything: it must already be a store).
fn sudo_user_store(name: &str) -> Option<Store> {
    let user = nix::unistd::User::from_name(&sudo_user()?).ok()??;
    let dir = user.dir.join(".local/share/bee/store");
    if !dir.join("index.json").is_file() {
        return None;
    }
    let store = Store::open(&dir).ok()?;
    matches!(store.resolve(name), Ok(Some(_))).then_some(store)
}

fn file_probe_name(path: &Path) -> String {
    let stem = path.file_name().and_then(|s| s.to_str()).unwrap_or("probe");
    sanitize(stem.split('.').next().unwrap_or(stem))
}

fn sanitize(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if s.is_empty() {
        "probe".into()
    } else {
        s
    }
}
