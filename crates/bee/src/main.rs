//! `bee`: the companion CLI of beed — write, build, describe and run probes.

mod cli;
mod compile;
mod describe;
mod headers;
mod init;
mod run;
mod template;

use std::process::ExitCode;

use anyhow::{Context, Result};
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
    match cli.command {
        Command::Init(a) => init::init(&a),
        Command::Build(a) => {
            let out = compile::build(&a)?;
            // the checks beed runs before it loads anything
            let spec = bee_runtime::ProbeSpec::new("probe", bee_runtime::ObjectSource::File(out.clone()));
            let object = bee_runtime::probe::read_object(&spec)?;
            let checked = bee_runtime::probe::check(&spec, &object)?;
            if checked.specs().is_empty() {
                eprintln!(
                    "bee: warning: {} has no watched map: beed and bee run show nothing of it (name a map print_, \
                     counter_, gauge_ or hist_)",
                    out.display()
                );
            }
            let maps: Vec<String> = checked.specs().iter().map(|m| format!("{} ({})", m.name, m.output)).collect();
            println!("built {} from {}: watched maps {}", out.display(), a.input.display(), maps.join(", "));
            Ok(())
        }
        Command::Describe(a) => {
            let d = describe::describe(&a.object)?;
            match a.output {
                Format::Text => print!("{}", describe::render_text(&d)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&d)?),
            }
            Ok(())
        }
        Command::Run(a) => run::run(&a),
        Command::Version => {
            println!("bee {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "bee", &mut std::io::stdout());
            Ok(())
        }
        Command::GenerateDocs { dir } => generate_docs(&dir),
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
