//! `tcbatch completions` and `tcbatch man`: shell completions and manual pages, both generated
//! from the same clap definitions as `--help`, so they cannot drift from the flags.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
#[command(after_help = "Install, for example:\n  tcbatch completions bash > \
                        ~/.local/share/bash-completion/completions/tcbatch\n  tcbatch \
                        completions zsh > ~/.zfunc/_tcbatch\n  tcbatch completions fish > \
                        ~/.config/fish/completions/tcbatch.fish\n\nExit status: 0 when the \
                        script was written; 2 on a usage error or when standard output cannot \
                        be written.")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL", value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without --dir, prints tcbatch(1), the page of every command, on \
                        standard output (read it with `tcbatch man | man -l -`).\n\nExit \
                        status: 0 when the pages were written; 2 on a usage error or when a page \
                        cannot be written."
)]
pub struct ManArgs {
    /// Write tcbatch.1 and one tcbatch-COMMAND.1 per command into this directory (created if
    /// missing), as a package installs them.
    #[arg(long, value_name = "PATH")]
    pub dir: Option<PathBuf>,
}

pub fn completions(args: CompletionsArgs, mut command: clap::Command) -> Result<()> {
    let name = command.get_name().to_owned();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, name, &mut out);
    out.flush()?;
    Ok(())
}

pub fn man(args: ManArgs, command: clap::Command) -> Result<()> {
    match args.dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(command).render(&mut out)?;
            out.flush()?;
            Ok(())
        }
        Some(dir) => write_pages(&dir, command),
    }
}

/// `tcbatch.1`, then `tcbatch-validate.1` and so on: the names `man tcbatch-validate` finds.
fn write_pages(dir: &Path, command: clap::Command) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    clap_mangen::generate_to(command, dir)
        .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
    eprintln!(
        "wrote tcbatch.1 and tcbatch-COMMAND.1 for each command into {}",
        dir.display()
    );
    Ok(())
}
