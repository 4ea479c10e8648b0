//! `[extractor]`: the email extractor's settings, with the same names as `etraq extract`'s flags.

use serde::{Deserialize, Serialize};

/// `[extractor]`: defaults for `etraq extract` (same names as its flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractorConfig {
    /// Parallel fetches.
    pub threads: usize,
    /// Retries per page.
    pub retries: u32,
    /// Pages fetched per domain at most.
    #[serde(alias = "links-per-domain")]
    pub links_per_domain: usize,
    /// Sites visited at most (0: unlimited).
    #[serde(alias = "max-sites")]
    pub max_sites: usize,
    /// Follow links to other sites.
    #[serde(alias = "follow-external")]
    pub follow_external: bool,
    /// URL path suffixes never fetched.
    #[serde(alias = "exclude-ext")]
    pub exclude_ext: Vec<String>,
    /// Link depth from the seeds.
    pub depth: u32,
    /// Ignore robots.txt.
    #[serde(alias = "no-robots")]
    pub no_robots: bool,
    /// Delay between requests to one host, in milliseconds.
    pub delay: u64,
    /// Timeout per request, in seconds.
    pub timeout: u64,
    /// Largest page read, in bytes; a larger page is skipped and reported.
    #[serde(alias = "max-page-bytes")]
    pub max_page_bytes: u64,
    /// Redirects followed per request; more is reported as a loop.
    #[serde(alias = "max-redirects")]
    pub max_redirects: usize,
}

impl ExtractorConfig {
    /// Checks the values a crawl cannot run with; the error names the key (as in the file and
    /// as the flag's name with `-`).
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, why: &str| Err((key.to_string(), why.to_string()));
        if !(1..=1024).contains(&self.threads) {
            return bad("threads", "must be between 1 and 1024");
        }
        if self.timeout == 0 {
            return bad("timeout", "must be at least 1 second");
        }
        if self.max_page_bytes < 1024 {
            return bad("max_page_bytes", "must be at least 1024");
        }
        if self.max_redirects > 100 {
            return bad("max_redirects", "must be at most 100");
        }
        if self.retries > 20 {
            return bad("retries", "must be at most 20");
        }
        Ok(())
    }
}

/// Link extensions the extractor skips by default: images, media, fonts, archives, documents,
/// scripts and styles never hold a page's addresses in a form it reads.
pub const DEFAULT_EXCLUDED_EXTENSIONS: &[&str] = &[
    ".jpg", ".jpeg", ".png", ".gif", ".svg", ".webp", ".ico", ".bmp", ".css", ".js", ".pdf",
    ".zip", ".gz", ".tgz", ".rar", ".7z", ".exe", ".dmg", ".iso", ".mp3", ".mp4", ".avi", ".mov",
    ".webm", ".woff", ".woff2", ".ttf", ".eot",
];

impl Default for ExtractorConfig {
    fn default() -> Self {
        ExtractorConfig {
            threads: 8,
            retries: 2,
            links_per_domain: 200,
            max_sites: 10,
            follow_external: false,
            exclude_ext: DEFAULT_EXCLUDED_EXTENSIONS
                .iter()
                .map(|e| e.to_string())
                .collect(),
            depth: 3,
            no_robots: false,
            delay: 500,
            timeout: 20,
            max_page_bytes: 5 * 1024 * 1024,
            max_redirects: 5,
        }
    }
}
