//! `bee init`: write a probe from a template, asking for each choice (in
//! bumblebee's order: language, program type, map type, output, file) or
//! taking it from a flag, or copy an example of the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use inquire::{Select, Text};

use crate::cli::InitArgs;
use crate::template::{self, MapKind, OutputKind, ProgramType};

include!(concat!(env!("OUT_DIR"), "/examples.rs"));

/// The first line of an example's header comment (what it measures).
fn summary(src: &str) -> String {
    src.lines()
        .map(|l| l.trim_start_matches(['/', '*', ' ']).trim())
        .find(|l| !l.is_empty() && !l.starts_with("SPDX"))
        .unwrap_or("")
        .to_string()
}

/// Asks for one value of `T` (its variants and their help as choices).
fn ask<T: ValueEnum + Copy>(question: &str, flag: &str, tty: bool) -> Result<T> {
    if !tty {
        bail!("{flag} is needed when there is no terminal to ask on");
    }
    let choices: Vec<String> = T::value_variants()
        .iter()
        .filter_map(|v| {
            let p = v.to_possible_value()?;
            Some(match p.get_help() {
                Some(h) => format!("{}: {h}", p.get_name()),
                None => p.get_name().to_string(),
            })
        })
        .collect();
    let picked = Select::new(question, choices.clone()).prompt().context("bee init was interrupted")?;
    let i = choices.iter().position(|c| *c == picked).unwrap_or(0);
    T::value_variants().get(i).copied().context("no such choice")
}

fn write_new(path: &Path, text: &str, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!("{}: the file exists: choose another name with --file, or overwrite it with --force", path.display());
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Runs `bee init`.
pub fn init(args: &InitArgs) -> Result<()> {
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if args.list_examples {
        let list: String = EXAMPLES.iter().map(|(name, src)| format!("{name:<16} {}\n", summary(src))).collect();
        return crate::emit(&list);
    }
    if let Some(name) = &args.example {
        let Some((_, src)) = EXAMPLES.iter().find(|(n, _)| n == name) else {
            let names: Vec<&str> = EXAMPLES.iter().map(|(n, _)| *n).collect();
            if names.is_empty() {
                bail!(
                    "no example `{name}`: this bee was built without examples: write a template with \
                     --program-type, --map and --output-type"
                );
            }
            bail!("no example `{name}` (examples: {})", names.join(", "));
        };
        let file = args.file.clone().unwrap_or_else(|| PathBuf::from(format!("{name}.bpf.c")));
        write_new(&file, src, args.force)?;
        // an example may build on another (`#include "capable.bpf.c"`)
        for inc in src.lines().filter_map(|l| l.trim().strip_prefix("#include \"")?.strip_suffix(".bpf.c\"")) {
            if let Some((_, other)) = EXAMPLES.iter().find(|(n, _)| *n == inc) {
                let path = file.with_file_name(format!("{inc}.bpf.c"));
                if !path.exists() {
                    write_new(&path, other, false)?;
                    crate::emit(&format!("wrote {} (included by {name})\n", path.display()))?;
                }
            }
        }
        return crate::emit(&format!("wrote {} (example {name}); next: bee build {0}\n", file.display()));
    }
    if args.language.is_none() && tty {
        let _: crate::cli::Language = ask("What language do you wish to use for the probe?", "--language", tty)?;
    }
    let program = match args.program_type {
        Some(p) => p,
        None => ask::<ProgramType>("What should the probe watch?", "--program-type", tty)?,
    };
    let map = match args.map {
        Some(m) => m,
        None => ask::<MapKind>("What type of map should records go through?", "--map", tty)?,
    };
    let output = match args.output_type {
        Some(o) => o,
        None => ask::<OutputKind>("What should the map become?", "--output-type", tty)?,
    };
    let file = match &args.file {
        Some(f) => f.clone(),
        None if tty => PathBuf::from(
            Text::new("BPF program file location:")
                .with_default("probe.bpf.c")
                .prompt()
                .context("bee init was interrupted")?,
        ),
        None => PathBuf::from("probe.bpf.c"),
    };
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("probe.bpf.c");
    let src = template::generate(program, map, output, name);
    write_new(&file, &src, args.force)?;
    crate::emit(&format!(
        "wrote {} ({}): next, bee build {0} && sudo bee run {}\n",
        file.display(),
        template::map_name(program, output),
        crate::compile::default_output(&file).display()
    ))
}
