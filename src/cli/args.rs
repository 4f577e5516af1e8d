//! Argument groups shared by several subcommands.

use std::ffi::OsString;

use anyhow::Result;
use clap::Args;

use redsafe::filter::{parse_type, ExpiryFilter, Glob, KeyFilter};
use redsafe::keyspace::Limits;

/// Key selection: flatten into a command with `#[command(flatten)]`, then call
/// [`KeyFilterArgs::to_filter`] once after parsing.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Key selection")]
pub struct KeyFilterArgs {
    /// Only keys of database N (repeatable, or comma-separated).
    #[arg(long = "db", value_name = "N", value_delimiter = ',')]
    pub db: Vec<u64>,
    /// Only keys matching this Redis glob (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes, as KEYS);
    /// repeatable: a key passes if any matches.
    #[arg(long = "key", value_name = "GLOB")]
    pub key: Vec<OsString>,
    /// Skip keys matching this Redis glob (repeatable).
    #[arg(long = "exclude-key", value_name = "GLOB")]
    pub exclude_key: Vec<OsString>,
    /// Only keys of these types: string, list, set, zset, hash, stream, module, array
    /// (repeatable, or comma-separated).
    #[arg(long = "type", value_name = "TYPE", value_delimiter = ',')]
    pub types: Vec<String>,
    /// Only keys whose serialized value is at least this big (bytes; k, M, G suffixes).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub min_size: Option<u64>,
    /// Only keys whose expiry has already passed.
    #[arg(long, conflicts_with = "not_expired")]
    pub expired: bool,
    /// Skip keys whose expiry has already passed.
    #[arg(long)]
    pub not_expired: bool,
}

fn os_bytes(s: &OsString) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        s.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        s.to_string_lossy().into_owned().into_bytes()
    }
}

/// Limits of the replay engine: flatten into a command that replays an AOF.
#[derive(Debug, Clone, Args)]
pub struct ReplayLimitArgs {
    /// Stop (exit 2) at a command that would build a string longer than this (bytes; k, M,
    /// G suffixes). The default is Redis's proto-max-bulk-len, the longest string SETBIT can
    /// make in Redis.
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_size)]
    pub max_value_size: u64,
}

impl ReplayLimitArgs {
    /// The library's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_string: usize::try_from(self.max_value_size).unwrap_or(usize::MAX),
        }
    }
}

/// Parses a byte size: a number with an optional k/M/G/T suffix (powers of 1024; a
/// trailing `B` or `iB` is accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid size {s:?} (expected e.g. 4096, 64k, 10M, 2G)"))
}

impl KeyFilterArgs {
    /// Builds the library filter ("now" from the system clock).
    pub fn to_filter(&self) -> Result<KeyFilter> {
        let mut f = KeyFilter::new();
        f.dbs = self.db.clone();
        f.include = self.key.iter().map(|k| Glob::new(&os_bytes(k))).collect();
        f.exclude = self
            .exclude_key
            .iter()
            .map(|k| Glob::new(&os_bytes(k)))
            .collect();
        f.types = self
            .types
            .iter()
            .map(|t| parse_type(t))
            .collect::<redsafe::Result<Vec<_>>>()?;
        f.min_size = self.min_size;
        f.expiry = if self.expired {
            ExpiryFilter::Expired
        } else if self.not_expired {
            ExpiryFilter::NotExpired
        } else {
            ExpiryFilter::Any
        };
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert!(parse_size("x").is_err());
    }
}
