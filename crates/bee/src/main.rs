//! `bee`: the companion CLI of beed — write, build, describe and run probes.

mod cli;
mod compile;
mod describe;
mod headers;
mod images;
mod init;
mod package;
mod progress;
mod run;
mod template;

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, Parser};

use cli::{Cli, Command, Format};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bee: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    let storage = cli.storage.as_deref();
    match cli.command {
        Command::Init(a) => init::init(&a),
        Command::Build(a) => {
            let outs = compile::build(&a)?;
            for (_, out) in &outs {
                check_built(out, &a.input)?;
            }
            match &a.image {
                Some(name) => {
                    let store = images::open_store(storage)?;
                    emit(&images::store_build(&store, name, &outs, &a)?)
                }
                None => Ok(()),
            }
        }
        Command::Describe(a) => {
            let probe = images::resolve(&a.object, storage, &a.registry)?;
            let mut d = describe::describe_bytes(&probe.bytes, &probe.what)?;
            d.image = probe.image;
            match a.output {
                Format::Text => emit(&describe::render_text(&d))?,
                Format::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&d)?))?,
            }
            if d.maps.is_empty() {
                // described all the same, but there is nothing to show
                bail!(
                    "{}: the probe has no watched map: beed and bee run show nothing of it (name a map print_, \
                     counter_, gauge_ or hist_)",
                    a.object
                );
            }
            Ok(())
        }
        Command::Run(a) => {
            let probe = images::resolve(&a.object, storage, &a.registry)?;
            run::run(&a, probe)
        }
        Command::Package(a) => {
            let probe = images::resolve(&a.probe, storage, &a.registry)?;
            let source = bee_runtime::ObjectSource::Bytes {
                name: probe.what.clone(),
                bytes: std::borrow::Cow::Owned(probe.bytes.clone()),
            };
            let maps = checked_maps(source, &probe.what)
                .with_context(|| format!("{}: beed would refuse this probe", probe.what))?;
            package::package(&a, &probe, &maps)
        }
        Command::Push(a) => images::push(&images::open_store(storage)?, &a),
        Command::Pull(a) => images::pull(&images::open_store(storage)?, &a),
        Command::List(a) => images::list(&images::open_store(storage)?, &a),
        Command::Tag { source, target } => images::tag(&images::open_store(storage)?, &source, &target),
        Command::Rm { refs } => images::rm(&images::open_store(storage)?, &refs),
        Command::Prune => images::prune(&images::open_store(storage)?),
        Command::Login(a) => images::login(&a),
        Command::Logout { server } => images::logout(&server),
        Command::Version => emit(&format!("bee {}\n", env!("CARGO_PKG_VERSION"))),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "bee", &mut script);
            emit(&String::from_utf8_lossy(&script))
        }
        Command::GenerateDocs { dir } => generate_docs(&dir),
    }
}

/// The checks beed runs before it loads anything, on a built object.
fn check_built(out: &std::path::Path, input: &std::path::Path) -> Result<()> {
    let maps = checked_maps(bee_runtime::ObjectSource::File(out.to_path_buf()), &out.display().to_string())?;
    emit(&format!("built {} from {}: watched maps {maps}\n", out.display(), input.display()))
}

/// Runs beed's checks on an object; its watched maps as `name (output), ...`
/// (a warning when it has none).
fn checked_maps(source: bee_runtime::ObjectSource, what: &str) -> Result<String> {
    let spec = bee_runtime::ProbeSpec::new("probe", source);
    let object = bee_runtime::probe::read_object(&spec)?;
    let checked = bee_runtime::probe::check(&spec, &object)?;
    if checked.specs().is_empty() {
        eprintln!(
            "bee: warning: {} has no watched map: beed and bee run show nothing of it (name a map print_, \
             counter_, gauge_ or hist_)",
            what
        );
    }
    let maps: Vec<String> = checked.specs().iter().map(|m| format!("{} ({})", m.name, m.output)).collect();
    Ok(if maps.is_empty() { "none".to_string() } else { maps.join(", ") })
}

/// Writes `text` to stdout. A closed stdout (`bee describe x.o | head`)
/// ends the output quietly: `print!` would panic there.
pub fn emit(text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// What the packages install besides the binary: man pages (bee.1,
/// bee-init.1, ...) in DIR/man1 and shell completions in DIR/completions,
/// rendered from the clap definitions, and the probe headers in DIR/include.
fn generate_docs(dir: &std::path::Path) -> Result<()> {
    headers::write_all(&dir.join("include")).with_context(|| format!("writing headers to {}", dir.display()))?;
    let man = dir.join("man1");
    let comp = dir.join("completions");
    std::fs::create_dir_all(&man).with_context(|| format!("{}", man.display()))?;
    std::fs::create_dir_all(&comp).with_context(|| format!("{}", comp.display()))?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd.clone(), &man).with_context(|| format!("writing man pages to {}", man.display()))?;
    for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "bee", &comp)
            .with_context(|| format!("writing {shell} completions to {}", comp.display()))?;
    }
    Ok(())
}
