//! A copy interrupted by signals still copies every byte.
//!
//! CI's fuzzer run found it: libFuzzer's timer signal (installed without `SA_RESTART`)
//! interrupted the kernel copy (`copy_file_range`) behind `std::io::copy`, and std returns
//! `EINTR` from that path instead of retrying, so `redsafe fix` failed to write its output.
//! This test interrupts the copying thread with a signal whose handler has no `SA_RESTART`,
//! as often as it can, while `fsutil::copy_range` copies files much larger than one kernel
//! copy chunk. Each output must equal its input.
#![cfg(target_os = "linux")]

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

fn install_handler_without_restart() {
    // SAFETY: a plain sigaction with an async-signal-safe handler and no SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

#[test]
fn copy_range_survives_signals() {
    install_handler_without_restart();
    let dir = std::env::temp_dir().join(format!("redsafe-eintr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src_path = dir.join("src");
    let size: u64 = 32 << 20;
    {
        let mut f = File::create(&src_path).unwrap();
        let block: Vec<u8> = (0..1u32 << 20)
            .map(|i| i.wrapping_mul(2_654_435_761) as u8)
            .collect();
        for i in 0..size >> 20 {
            let mut b = block.clone();
            b[..8].copy_from_slice(&i.to_le_bytes());
            f.write_all(&b).unwrap();
        }
    }
    let expected = std::fs::read(&src_path).unwrap();

    // SAFETY: pthread_self has no preconditions.
    let target = unsafe { libc::pthread_self() } as usize;
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: the target thread outlives this loop (joined before it returns).
                unsafe { libc::pthread_kill(target as libc::pthread_t, libc::SIGUSR1) };
                std::thread::yield_now();
            }
        })
    };
    let mut failures = Vec::new();
    for round in 0..4u64 {
        let start = (round * 4099) % (1 << 20);
        let end = size - (round * 7919) % (1 << 20);
        let dst_path = dir.join(format!("dst{round}"));
        let mut dst = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&dst_path)
            .unwrap();
        dst.write_all(b"prefix").unwrap();
        let mut src = File::open(&src_path).unwrap();
        match redsafe::fsutil::copy_range(&mut src, start..end, &mut dst) {
            Ok(n) => assert_eq!(n, end - start),
            Err(e) => failures.push(format!("round {round}: {e}")),
        }
        dst.seek(SeekFrom::Start(0)).unwrap();
        drop(dst);
        let got = std::fs::read(&dst_path).unwrap();
        if failures.is_empty() {
            assert_eq!(&got[..6], b"prefix");
            assert!(
                got[6..] == expected[start as usize..end as usize],
                "round {round}: copied bytes differ from the source range"
            );
        }
        std::fs::remove_file(&dst_path).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    killer.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        failures.is_empty(),
        "interrupted copies failed: {failures:?}"
    );
    eprintln!(
        "{} signals delivered during the copies",
        SIGNALS.load(Ordering::Relaxed)
    );
}
