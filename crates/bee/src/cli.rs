//! `bee`'s command line (also read by build.rs, which renders the man
//! pages and shell completions from it).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::template::{MapKind, OutputKind, ProgramType};

/// bee writes, builds, describes and runs eBPF probes in the BumbleBee
/// convention: kernel C whose maps are named print_, counter_, gauge_ or
/// hist_ (or sit in sections .maps.print, ...), with no user-space code.
/// The same objects run in beed, the daemon, from /etc/bee/probes.d.
#[derive(Parser, Debug)]
#[command(name = "bee", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Workflow: bee init → bee build probe.c → sudo bee run probe.o → copy probe.o to \
                        /etc/bee/probes.d/ and list it in a [probes.NAME] table for beed.\n\
                        With images: bee build probe.c REGISTRY/probe:v1 → bee push REGISTRY/probe:v1 → \
                        sudo bee run REGISTRY/probe:v1 on any host, or image = \"REGISTRY/probe:v1\" in beed.")]
pub struct Cli {
    /// The local image store (an OCI image layout; default
    /// $XDG_DATA_HOME/bee/store or ~/.local/share/bee/store).
    #[arg(long, global = true, env = "BEE_STORE", value_name = "DIR")]
    pub storage: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a new probe from a template (asks, or takes every choice as a flag).
    Init(InitArgs),
    /// Compile a probe with the local clang and check that beed can run it.
    Build(BuildArgs),
    /// Show what beed will do with a probe, without loading it.
    Describe(DescribeArgs),
    /// Load a probe and show its maps live (needs root).
    Run(RunArgs),
    /// Build a container image that runs one probe with beed (needs podman
    /// and beed's image, `make image`).
    Package(PackageArgs),
    /// Send an image of the local store to its registry.
    Push(PushArgs),
    /// Fetch an image from its registry into the local store.
    Pull(PullArgs),
    /// List the images of the local store.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Give an image of the local store another name.
    Tag { source: String, target: String },
    /// Remove images from the local store (their blobs go with `bee prune`).
    #[command(visible_alias = "rmi")]
    Rm {
        #[arg(required = true)]
        refs: Vec<String>,
    },
    /// Delete every blob of the local store that no image uses.
    Prune,
    /// Save credentials for a registry (checked against it first).
    Login(LoginArgs),
    /// Forget the credentials saved for a registry.
    Logout { server: String },
    /// Print bee's version.
    Version,
    /// Print a shell completion script (bash, zsh, fish, ...).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages, completions and headers into DIR (used by the packages).
    #[command(hide = true)]
    GenerateDocs { dir: PathBuf },
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Language of the probe (only C).
    #[arg(long, short = 'l', value_enum)]
    pub language: Option<Language>,
    /// What the probe watches.
    #[arg(long, value_enum)]
    pub program_type: Option<ProgramType>,
    /// How records leave the kernel.
    #[arg(long, short = 'm', value_enum)]
    pub map: Option<MapKind>,
    /// What the map becomes: events or metrics.
    #[arg(long, short = 'o', value_enum)]
    pub output_type: Option<OutputKind>,
    /// The file to write (default: asked, or probe.bpf.c without a terminal).
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// Copy an example of the library instead (see --list-examples).
    #[arg(long, conflicts_with_all = ["program_type", "map", "output_type"])]
    pub example: Option<String>,
    /// List the examples and exit.
    #[arg(long)]
    pub list_examples: bool,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    C,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The probe's C source.
    pub input: PathBuf,
    /// Also store the probe as an image named REF in the local store (then
    /// `bee push REF`), in bumblebee's image format.
    #[arg(value_name = "REF")]
    pub image: Option<String>,
    /// Output object (default: INPUT with .o for .c, e.g. probe.bpf.o).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Target architectures, comma-separated (default: this machine's);
    /// several make a multi-arch image (needs REF).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub arch: Vec<Arch>,
    /// The image's description (org.opencontainers.image.description).
    #[arg(long, requires = "image")]
    pub description: Option<String>,
    /// The image's authors (org.opencontainers.image.authors).
    #[arg(long, requires = "image")]
    pub authors: Option<String>,
    /// Where the probe's source lives (org.opencontainers.image.source).
    #[arg(long, requires = "image")]
    pub source: Option<String>,
    /// The probe's version (org.opencontainers.image.version; default: REF's tag).
    #[arg(long = "image-version", requires = "image")]
    pub image_version: Option<String>,
    /// Extra flags for clang (e.g. --cflags="-DDEBUG -I include").
    #[arg(long, allow_hyphen_values = true)]
    pub cflags: Option<String>,
    /// Keep the DWARF debug info (BTF is always kept).
    #[arg(long)]
    pub keep_debug: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    #[value(name = "x86_64", alias = "amd64")]
    X86_64,
    #[value(name = "aarch64", alias = "arm64")]
    Aarch64,
}

impl Arch {
    /// The `--arch` name (the kernel's, `uname -m`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// A compiled probe (.o), or an image REF (pulled when not in the store).
    #[arg(value_name = "OBJECT|REF")]
    pub object: String,
    /// Text for people, JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How to reach registries.
#[derive(Args, Debug, Clone, Default)]
pub struct RegistryArgs {
    /// Speak plain HTTP to the registry (automatic for 127.0.0.1, ::1 and localhost).
    #[arg(long)]
    pub plain_http: bool,
    /// Accept the registry's TLS certificate even if it is self-signed or invalid.
    #[arg(long)]
    pub insecure: bool,
    /// Refuse blobs larger than this many bytes, before downloading them.
    #[arg(long, value_name = "BYTES", default_value_t = bee_oci::store::DEFAULT_MAX_BLOB)]
    pub max_blob_size: u64,
}

#[derive(Args, Debug)]
#[command(after_help = "The image holds beed (FROM --base), the probe's object and a beed.toml that runs it \
alone: events as JSON lines on stdout, metrics on --metrics-listen. Run it as beed's own image is run \
(README \"Run in a container\"): host network, --cap-drop=ALL --cap-add=BPF,PERFMON,DAC_READ_SEARCH, \
the seccomp profile of deploy/container/seccomp.json, tracefs and /sys/kernel/btf mounted read-only.")]
pub struct PackageArgs {
    /// The probe: an image REF (pulled when not in the store) or a compiled object (.o).
    #[arg(value_name = "REF|OBJECT")]
    pub probe: String,
    /// The container image to build (e.g. localhost/beed-exits:1.0).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The beed image to build from [default: localhost/beed:<bee's version>].
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,
    /// Where beed serves /metrics, /healthz and /readyz in the container.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:9091")]
    pub metrics_listen: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The image to push (as built or tagged in the local store).
    #[arg(value_name = "REF")]
    pub image: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// The image to fetch.
    #[arg(value_name = "REF")]
    pub image: String,
    /// The platform to fetch from a multi-arch image (default: this machine's).
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Text for people, JSON for programs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The registry (host[:port]).
    pub server: String,
    /// The user name (asked when missing and on a terminal).
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read the password from standard input (else it is asked).
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A compiled probe (.o), or an image REF (pulled when not in the store).
    #[arg(value_name = "OBJECT|REF")]
    pub object: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Show only records whose FIELD matches REGEX in MAP (repeatable;
    /// the last filter of a map wins), as bumblebee: MAP,FIELD,REGEX.
    #[arg(long, short = 'f', value_name = "MAP,FIELD,REGEX")]
    pub filter: Vec<String>,
    /// Render FIELD of MAP with a decoder (repeatable), as beed's
    /// `decode = "…"`: ksym, cgroup, errno, signal, exit_status, syscall,
    /// hex, uint, int, inet_ip, ktime, ktime_boot. MAP,FIELD,DECODER.
    #[arg(long, value_name = "MAP,FIELD,DECODER")]
    pub decode: Vec<String>,
    /// JSON lines on stdout instead of the terminal UI (automatic when
    /// stdout is not a terminal).
    #[arg(long)]
    pub no_tty: bool,
    /// Set a `const volatile` variable before load (repeatable): NAME=VALUE.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Kernel BTF to relocate against (kernels without /sys/kernel/btf/vmlinux).
    #[arg(long)]
    pub btf_path: Option<PathBuf>,
    /// Attach target of a program that needs one (uprobes, usdt, xdp, tc,
    /// perf_event), as beed's [probes.NAME.attach.PROGRAM]:
    /// PROGRAM:KEY=VALUE[,KEY=VALUE...], e.g. handler:binary=/bin/bash,func=readline.
    #[arg(long, value_name = "PROGRAM:KEY=VALUE,...")]
    pub attach: Vec<String>,
    /// Serve the probe's metrics, bumblebee-compatible (ebpf_solo_io_<map>),
    /// on http://127.0.0.1:PORT/metrics while it runs (default: off;
    /// bumblebee uses 9091). For a permanent endpoint, run the probe in beed.
    #[arg(long, value_name = "PORT")]
    pub prom_port: Option<u16>,
    /// Show what each program costs the kernel (runs, ns per run), from the
    /// kernel's BPF statistics, which bee turns on while it runs (every BPF
    /// program on the host then pays for two clock reads per run). With
    /// --no-tty: a `programStats` JSON line every second.
    #[arg(long)]
    pub program_stats: bool,
    /// How often hash maps are read.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: std::time::Duration,
    /// Stop after this long (default: until Ctrl-C or q).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
}

/// `500ms`, `2s`, `1m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a duration (examples: 500ms, 2s, 1m)"))?;
    let d = match unit {
        "ms" => std::time::Duration::from_millis(n),
        "s" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s or m)")),
    };
    if d.is_zero() {
        return Err("a duration must be more than 0".into());
    }
    Ok(d)
}
