//! Shared S3 options (`--endpoint-url`, `--region`, …), the `key = value` config file, and
//! retention flags, flattened into `ship`, `backups` and `restore`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use redsafe::backup::retention::Policy;
use redsafe::backup::S3Options;
use redsafe::time::parse_duration;

/// S3 connection options. Credentials come from the standard AWS environment variables and
/// profiles; they are never logged.
#[derive(Debug, Clone, Default, Args)]
pub struct S3Args {
    /// S3-compatible endpoint, e.g. http://127.0.0.1:9000 (implies path-style addressing).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// AWS region (default: from the environment or profile; us-east-1 with --endpoint-url).
    #[arg(long)]
    pub region: Option<String>,
    /// Use path-style addressing (endpoint/bucket/key).
    #[arg(long)]
    pub path_style: bool,
    /// Request checksums: `when-supported` (SDK default: CRC32, aws-chunked uploads) or
    /// `when-required` (for S3 clones that reject those). Default: when-required with
    /// --endpoint-url, else when-supported.
    #[arg(long, value_name = "MODE", value_parser = ["when-supported", "when-required"])]
    pub checksum_mode: Option<String>,
    /// Server-side encryption for uploads: AES256 or aws:kms.
    #[arg(long, value_name = "ALG", value_parser = ["AES256", "aws:kms"])]
    pub sse: Option<String>,
    /// KMS key id for --sse aws:kms.
    #[arg(long, value_name = "ID")]
    pub sse_kms_key_id: Option<String>,
    /// Read options from a file of `name = value` lines (names are the long flags without
    /// `--`; `#` starts a comment). Flags on the command line win.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// A parsed config file.
pub type Config = BTreeMap<String, String>;

/// Reads a `name = value` config file.
pub fn read_config(path: &Path) -> Result<Config> {
    let data = redsafe::mmap::MappedFile::read(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    let text = std::str::from_utf8(data.bytes())
        .with_context(|| format!("reading config {}: not UTF-8 text", path.display()))?;
    let mut out = Config::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            bail!("{}:{}: expected `name = value`", path.display(), i + 1);
        };
        let v = v.trim().trim_matches('"').to_string();
        out.insert(k.trim().trim_start_matches("--").to_string(), v);
    }
    Ok(out)
}

/// `cfg[name]` if the flag was not given.
pub fn fill(opt: &mut Option<String>, cfg: &Config, name: &str) {
    if opt.is_none() {
        if let Some(v) = cfg.get(name) {
            *opt = Some(v.clone());
        }
    }
}

/// True when a boolean flag is set in the config.
pub fn cfg_flag(cfg: &Config, name: &str) -> bool {
    cfg.get(name)
        .is_some_and(|v| matches!(v.as_str(), "true" | "yes" | "1" | "on"))
}

impl S3Args {
    /// Loads the config file (if any) and fills unset options from it.
    pub fn resolve(&mut self) -> Result<Config> {
        let cfg = match &self.config {
            Some(p) => read_config(p)?,
            None => Config::new(),
        };
        fill(&mut self.endpoint_url, &cfg, "endpoint-url");
        fill(&mut self.region, &cfg, "region");
        fill(&mut self.checksum_mode, &cfg, "checksum-mode");
        fill(&mut self.sse, &cfg, "sse");
        fill(&mut self.sse_kms_key_id, &cfg, "sse-kms-key-id");
        self.path_style |= cfg_flag(&cfg, "path-style");
        Ok(cfg)
    }

    /// The library options.
    pub fn options(&self) -> S3Options {
        let custom = self.endpoint_url.is_some();
        S3Options {
            endpoint_url: self.endpoint_url.clone(),
            region: self.region.clone(),
            path_style: self.path_style || custom,
            checksum_when_required: match self.checksum_mode.as_deref() {
                Some("when-required") => true,
                Some(_) => false,
                None => custom,
            },
            sse: self.sse.clone(),
            sse_kms_key_id: self.sse_kms_key_id.clone(),
            credentials: None,
            part_size: std::env::var("REDSAFE_S3_PART_SIZE")
                .ok()
                .and_then(|v| v.parse().ok()),
            concurrency: std::env::var("REDSAFE_S3_CONCURRENCY")
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }
}

/// Retention flags.
#[derive(Debug, Clone, Default, Args)]
pub struct RetentionArgs {
    /// Keep the N newest sets.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<usize>,
    /// Keep the newest set of each of the last N hours that have one.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<usize>,
    /// Keep the newest set of each of the last N days (UTC) that have one.
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<usize>,
    /// Keep the newest set of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<usize>,
    /// Keep every set younger than this (e.g. 36h, 14d).
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
}

impl RetentionArgs {
    /// Fills unset flags from the config.
    pub fn fill_from(&mut self, cfg: &Config) -> Result<()> {
        let num = |k: &str| -> Result<Option<usize>> {
            cfg.get(k)
                .map(|v| {
                    v.parse::<usize>()
                        .with_context(|| format!("config {k} = {v:?}: not a number"))
                })
                .transpose()
        };
        if self.keep_last.is_none() {
            self.keep_last = num("keep-last")?;
        }
        if self.keep_hourly.is_none() {
            self.keep_hourly = num("keep-hourly")?;
        }
        if self.keep_daily.is_none() {
            self.keep_daily = num("keep-daily")?;
        }
        if self.keep_weekly.is_none() {
            self.keep_weekly = num("keep-weekly")?;
        }
        fill(&mut self.keep_within, cfg, "keep-within");
        Ok(())
    }

    /// The policy.
    pub fn policy(&self) -> Result<Policy> {
        let keep_within = match &self.keep_within {
            Some(d) => Some(parse_duration(d).with_context(|| {
                format!("--keep-within {d:?}: expected a duration like 36h or 14d")
            })?),
            None => None,
        };
        Ok(Policy {
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_within,
        })
    }
}
