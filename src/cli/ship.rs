//! `redsafe ship`: back up a Redis data directory to S3 (or a directory) on a schedule: full
//! sets plus incremental AOF segments, with retention.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use redsafe::backup::catalog::Catalog;
use redsafe::backup::cron::Cron;
use redsafe::backup::plan;
use redsafe::backup::ship::{DataDir, Event, ShipOptions, Shipper};
use redsafe::backup::{open_store, Store};
use redsafe::time::{format_duration, format_rfc3339, now, parse_duration};

use super::output::outln;
use super::s3args::{cfg_flag, fill, RetentionArgs, S3Args};
use super::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK};

/// Arguments of `redsafe ship`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each cycle either uploads a full backup set (when none exists, when the newest is \
older than --every or a --cron time passed since it was taken, or when the AOF chain broke) or the bytes Redis appended to its AOF since the last \
cycle, as a segment. Objects are zstd-compressed with their SHA-256 recorded; a set's manifest.json is \
written last, so an interrupted upload is never visible. Retention runs after each uploaded set.\n\n\
Exit status: 0 ok; 1 (--status) no complete set or the newest data is too old; 2 error.\n\n\
Examples:\n  redsafe ship --data-dir /var/lib/redis --to s3://backups/redis-1 --every 6h --aof-every 10s --keep-daily 7\n  \
redsafe ship --data-dir /var/lib/redis --to s3://backups/redis-1 --cron '30 2 * * *' --aof-every 10s   # 02:30 UTC\n  \
redsafe ship --data-dir /var/lib/redis --to s3://backups/redis-1 --once            # from cron\n  \
redsafe ship --to s3://backups/redis-1 --status --json"
)]
pub struct ShipArgs {
    /// Redis's data directory (`dir`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where to ship: s3://BUCKET/PREFIX, file:///DIR or a directory.
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,
    /// Take a full set when the newest is this old (default 1h).
    #[arg(long, value_name = "DURATION", conflicts_with = "cron")]
    pub every: Option<String>,
    /// Take full sets on a cron schedule instead of --every: 5 fields (minute hour
    /// day-of-month month day-of-week, `*`, lists, ranges, steps, JAN-DEC, SUN-SAT) or
    /// @hourly/@daily/@weekly/@monthly/@yearly, evaluated in UTC.
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// Testing only: the daemon's clock starts at this unix time (then runs at real speed).
    #[arg(long, value_name = "UNIX", hide = true)]
    pub clock_start: Option<i64>,
    /// Ship AOF segments this often (default 10s).
    #[arg(long, value_name = "DURATION")]
    pub aof_every: Option<String>,
    /// RDB file name inside the data directory (default dump.rdb; included when present).
    #[arg(long, value_name = "NAME")]
    pub rdb: Option<String>,
    /// Do not back up the RDB file.
    #[arg(long)]
    pub no_rdb: bool,
    /// Do not back up the AOF.
    #[arg(long)]
    pub no_aof: bool,
    /// AOF directory name (`appenddirname`, default appendonlydir).
    #[arg(long, value_name = "NAME")]
    pub appenddirname: Option<String>,
    /// zstd compression level (1–19, default 3).
    #[arg(long, value_name = "N")]
    pub zstd_level: Option<i32>,
    /// Threads compressing each upload, as independent 4 MiB zstd frames (0: one frame compressed
    /// on the main thread; default 2).
    #[arg(long, value_name = "N")]
    pub zstd_threads: Option<u32>,
    /// Largest AOF segment in bytes (default 256 MiB).
    #[arg(long, value_name = "BYTES", hide = true)]
    pub max_segment: Option<u64>,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Run one cycle and exit (for cron or systemd timers).
    #[arg(long)]
    pub once: bool,
    /// Upload a full set in the first cycle even if one is not due.
    #[arg(long)]
    pub full: bool,
    /// Print a summary of what the destination holds and exit.
    #[arg(long)]
    pub status: bool,
    /// With --status: the newest data may be at most this old (default: 2 × --every).
    #[arg(long, value_name = "DURATION")]
    pub max_age: Option<String>,
    /// With --status: print JSON.
    #[arg(long)]
    pub json: bool,
    /// Log format: one line per action, `human` or `json`.
    #[arg(long, value_name = "FORMAT", default_value = "human", value_parser = ["human", "json"])]
    pub log_format: String,
    #[command(flatten)]
    pub s3: S3Args,
}

fn log_line(json_fmt: bool, ev: &Event) {
    let t = format_rfc3339(now());
    let line = if json_fmt {
        let mut o = json!({"time": t, "action": ev.action});
        if let (Some(o), Some(f)) = (o.as_object_mut(), ev.fields.as_object()) {
            for (k, v) in f {
                o.insert(k.clone(), v.clone());
            }
        }
        o.to_string()
    } else {
        let mut s = format!("{t} {}", ev.action);
        if let Some(f) = ev.fields.as_object() {
            for (k, v) in f {
                match v {
                    serde_json::Value::Null => {}
                    serde_json::Value::String(x) => s.push_str(&format!(" {k}={x}")),
                    other => s.push_str(&format!(" {k}={other}")),
                }
            }
        }
        s
    };
    let mut out = std::io::stderr().lock();
    let _ = writeln!(out, "{line}");
}

/// Runs `redsafe ship`.
pub fn run(mut args: ShipArgs) -> Result<u8> {
    let cfg = args.s3.resolve()?;
    args.retention.fill_from(&cfg)?;
    let mut data_dir = args.data_dir.clone().map(|p| p.display().to_string());
    fill(&mut data_dir, &cfg, "data-dir");
    fill(&mut args.to, &cfg, "to");
    if args.cron.is_none() {
        fill(&mut args.every, &cfg, "every");
    }
    if args.every.is_none() {
        fill(&mut args.cron, &cfg, "cron");
    }
    fill(&mut args.aof_every, &cfg, "aof-every");
    fill(&mut args.rdb, &cfg, "rdb");
    fill(&mut args.appenddirname, &cfg, "appenddirname");
    args.no_rdb |= cfg_flag(&cfg, "no-rdb");
    args.no_aof |= cfg_flag(&cfg, "no-aof");
    if args.zstd_level.is_none() {
        args.zstd_level = cfg
            .get("zstd-level")
            .map(|v| v.parse())
            .transpose()
            .context("zstd-level")?;
    }
    let json_log = args.log_format == "json" || cfg.get("log-format").is_some_and(|v| v == "json");
    let Some(to) = args.to.clone() else {
        bail!("--to is required (s3://BUCKET/PREFIX or a directory)")
    };
    let dur = |v: &Option<String>, default: u64, flag: &str| -> Result<u64> {
        match v {
            Some(s) => parse_duration(s)
                .filter(|&d| d > 0)
                .with_context(|| format!("--{flag} {s:?}: expected a duration like 10s, 15m, 6h")),
            None => Ok(default),
        }
    };
    let cron = args
        .cron
        .as_deref()
        .map(|e| Cron::parse(e).map_err(|m| anyhow::anyhow!("--cron {e:?}: {m}")))
        .transpose()?;
    let every = match &cron {
        // The schedule's period (for the --status default age): between its next two fires.
        Some(c) => {
            let a = c
                .next_after(now())
                .with_context(|| format!("--cron {:?} never fires", c.source()))?;
            c.next_after(a).map(|b| (b - a) as u64).unwrap_or(86400)
        }
        None => dur(&args.every, 3600, "every")?,
    };
    let aof_every = dur(&args.aof_every, 10, "aof-every")?;
    let store = open_store(&to, &args.s3.options())?;

    if args.status {
        let max_age = match &args.max_age {
            Some(s) => parse_duration(s).with_context(|| format!("--max-age {s:?}"))?,
            None => 2 * every,
        };
        return status(
            store.as_ref(),
            max_age,
            args.json,
            clock_now(args.clock_start),
        );
    }

    let Some(dir) = data_dir else {
        bail!("--data-dir is required")
    };
    let level = args.zstd_level.unwrap_or(3);
    if !(1..=22).contains(&level) {
        bail!("--zstd-level {level}: expected 1–22");
    }
    redsafe::backup::codec::set_zstd_workers(args.zstd_threads.unwrap_or(2).min(64));
    let opts = ShipOptions {
        data: DataDir {
            dir: PathBuf::from(&dir),
            rdb: (!args.no_rdb).then(|| args.rdb.clone().unwrap_or_else(|| "dump.rdb".into())),
            aof_dir: (!args.no_aof).then(|| {
                args.appenddirname
                    .clone()
                    .unwrap_or_else(|| "appendonlydir".into())
            }),
        },
        zstd_level: level,
        full_every: cron.is_none().then_some(every),
        full_cron: cron.clone(),
        policy: args.retention.policy()?,
        max_segment: args.max_segment.unwrap_or(256 << 20),
        snapshot_attempts: 20,
    };
    if !opts.data.dir.is_dir() {
        bail!("{}: not a directory", opts.data.dir.display());
    }
    if let Some(root) = store.local_root() {
        // The backups go neither over the data directory nor into its AOF directory.
        let mut ins = redsafe::fsutil::Inputs::new();
        ins.file(&opts.data.dir);
        if let Some(a) = &opts.data.aof_dir {
            ins.tree(&opts.data.dir.join(a));
        }
        if let Some(r) = &opts.data.rdb {
            ins.file(&opts.data.dir.join(r));
        }
        ins.check_output(root)?;
    }
    // The clock (a fixed start plus real elapsed time when testing with --clock-start).
    let t_start = Instant::now();
    let clock_start = args.clock_start;
    let clock = move || match clock_start {
        Some(s) => s + t_start.elapsed().as_secs() as i64,
        None => now(),
    };
    let mut log = |ev: Event| log_line(json_log, &ev);
    let mut shipper = Shipper::new(store.as_ref(), opts);
    log(Event {
        action: "start",
        fields: json!({"to": store.url(), "data_dir": dir,
            "every": cron.is_none().then(|| format_duration(every)),
            "cron": cron.as_ref().map(|c| format!("{} (UTC)", c.source())),
            "aof_every": format_duration(aof_every),
            "once": args.once, "zstd_level": level}),
    });

    if args.once {
        return match shipper.cycle(clock(), args.full, &mut log) {
            Ok(r) => {
                log(Event {
                    action: "cycle",
                    fields: json!({"set": r.set.map(|s| s.id), "segments": r.segments, "bytes": r.bytes, "pruned": r.pruned}),
                });
                Ok(EXIT_OK)
            }
            Err(e) => {
                log(Event {
                    action: "error",
                    fields: json!({"message": e.to_string()}),
                });
                Ok(EXIT_ERROR)
            }
        };
    }

    // Daemon: graceful stop on SIGTERM / SIGINT after the current cycle.
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))
        .context("installing SIGTERM handler")?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))
        .context("installing SIGINT handler")?;
    let mut force = args.full;
    let mut failures: u32 = 0;
    let mut scheduled: Option<i64> = None;
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let mut wait = Duration::from_secs(aof_every);
        let t = clock();
        match shipper.cycle(t, force, &mut log) {
            Ok(r) => {
                force = false;
                failures = 0;
                if r.set.is_some() || r.segments > 0 {
                    log(Event {
                        action: "cycle",
                        fields: json!({"set": r.set.map(|s| s.id), "segments": r.segments, "bytes": r.bytes, "pruned": r.pruned}),
                    });
                }
            }
            Err(e) => {
                failures += 1;
                // Back off on repeated failures, up to 5 minutes.
                let backoff = aof_every.saturating_mul(1u64 << failures.min(5)).min(300);
                wait = Duration::from_secs(backoff.max(1));
                log(Event {
                    action: "error",
                    fields: json!({"message": e.to_string(), "retry_in_s": wait.as_secs(), "consecutive_failures": failures}),
                });
            }
        }
        // With --cron, wake up for the next scheduled full set even inside a long wait.
        let next_full = cron.as_ref().and_then(|c| c.next_after(t));
        if let (Some(n), Some(c)) = (next_full, &cron) {
            if next_full != scheduled {
                log(Event {
                    action: "scheduled",
                    fields: json!({"next_full_set": format_rfc3339(n), "cron": c.source()}),
                });
                scheduled = next_full;
            }
        }
        while started.elapsed() < wait
            && !stop.load(Ordering::SeqCst)
            && next_full.is_none_or(|n| clock() < n)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    log(Event {
        action: "stop",
        fields: json!({"reason": "signal"}),
    });
    Ok(EXIT_OK)
}

fn clock_now(start: Option<i64>) -> i64 {
    start.unwrap_or_else(now)
}

fn status(store: &dyn Store, max_age: u64, json_out: bool, t: i64) -> Result<u8> {
    let cat = Catalog::load(store)?;
    let sets: Vec<_> = cat.complete_sets().collect();
    let incomplete = cat.sets.iter().filter(|s| !s.complete()).count();
    let newest = sets.last();
    let latest_data = newest.map(|(s, m)| {
        let (segs, _) = plan::chain(m, cat.segments_of(&s.name.id));
        segs.last()
            .and_then(|g| g.modified)
            .unwrap_or(s.name.time)
            .max(s.name.time)
    });
    // A break in the newest set's chain with no newer set: what came since is not backed up.
    let newest_broken = newest.is_some_and(|(s, _)| cat.chain_break_of(&s.name.id).is_some());
    let healthy = latest_data.is_some_and(|d| t - d <= max_age as i64) && !newest_broken;
    let gaps = cat
        .complete_sets()
        .filter(|(s, _)| cat.chain_break_of(&s.name.id).is_some())
        .count();
    let v = json!({
        "store": store.url(),
        "complete_sets": sets.len(),
        "incomplete_sets": incomplete,
        "newest_set": newest.map(|(s, _)| json!({"id": s.name.id, "time": format_rfc3339(s.name.time), "age_s": t - s.name.time})),
        "segments": newest.map(|(s, _)| cat.segments_of(&s.name.id).len()).unwrap_or(0),
        "latest_upload": latest_data.map(format_rfc3339),
        "latest_upload_age_s": latest_data.map(|d| t - d),
        "max_age_s": max_age,
        "gaps": gaps,
        "newest_chain_broken": newest_broken,
        "healthy": healthy,
    });
    if json_out {
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        outln!("store:            {}", store.url());
        outln!(
            "complete sets:    {} ({} incomplete)",
            sets.len(),
            incomplete
        );
        match newest {
            Some((s, _)) => outln!(
                "newest set:       {} {} ({} ago)",
                s.name.id,
                format_rfc3339(s.name.time),
                format_duration((t - s.name.time).max(0) as u64)
            ),
            None => outln!("newest set:       none"),
        }
        if let Some(d) = latest_data {
            outln!(
                "latest upload:    {} ({} ago)",
                format_rfc3339(d),
                format_duration((t - d).max(0) as u64)
            );
        }
        if gaps > 0 {
            outln!("gaps:             {gaps} (see `redsafe backups list`)");
        }
        if newest_broken {
            outln!("chain:            BROKEN after the newest set (no newer set yet)");
        }
        outln!("healthy:          {}", if healthy { "yes" } else { "NO" });
    }
    Ok(if healthy { EXIT_OK } else { EXIT_DAMAGED })
}
