//! `etraq init`: writes `etraq.toml` with commented defaults and creates the store.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use etraq_core::config::default_config_toml;
use etraq_core::normalize_domain;
use etraq_core::{Config, StoreUrl};

use crate::cli::InitArgs;
use crate::context::{DEFAULT_CONFIG, describe, open_store};

pub async fn run(config: Option<&Path>, store: Option<&str>, args: &InitArgs) -> Result<()> {
    let path = config.unwrap_or(Path::new(DEFAULT_CONFIG));
    if path.exists() && !args.force {
        bail!(
            "{} already exists; use --force to overwrite it (the store is kept)",
            path.display()
        );
    }
    let mut domains = Vec::new();
    for d in &args.local_domains {
        domains.push(normalize_domain(d).with_context(|| format!("--local-domain {d:?}"))?);
    }
    if let Some(url) = store {
        StoreUrl::parse(url, Path::new(".")).with_context(|| "--store".to_string())?;
    }
    let text = default_config_toml(&domains, store);
    // The file must parse back to a valid configuration before it is written.
    let mut parsed = Config::from_toml(&text, path)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        parsed.base_dir = parent.to_path_buf();
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    let url = parsed.store_url()?;
    let s = open_store(&url).await?;
    s.close().await?;
    println!("wrote {}", path.display());
    println!("store ready at {}", describe(&url));
    if domains.is_empty() {
        println!(
            "next: set local_domains in {} to your company's mail domains",
            path.display()
        );
    }
    Ok(())
}
