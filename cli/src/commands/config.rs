//! `abacus config`: shows the effective configuration with secrets redacted.

use anyhow::Result;
use clap::Subcommand;

use crate::config::{redacted_toml, Loaded};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (after file, environment and flags) as TOML,
    /// with passwords and other secrets replaced by <redacted>.
    Show,
}

pub fn run(cmd: ConfigCommand, loaded: &Loaded) -> Result<()> {
    match cmd {
        ConfigCommand::Show => {
            match &loaded.file {
                Some(path) => println!("# config file: {}", path.display()),
                None => println!("# config file: none (defaults)"),
            }
            if !loaded.env_applied.is_empty() {
                println!("# from environment: {}", loaded.env_applied.join(", "));
            }
            print!("{}", redacted_toml(&loaded.config)?);
            Ok(())
        }
    }
}
