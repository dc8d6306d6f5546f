//! The CPU time a process spent, read from /proc: every thread of the process and of its
//! children (nginx's workers are children of the master the load tool started).
//!
//! The load tool reports each proxy's CPU per operation with it: rates on this shared, noisy
//! machine move by tens of percent between runs, CPU per connection or per query far less.
//! Tests use it to tell a spinning process from a sleeping one. Time on CPU comes from each
//! thread's `schedstat` (nanoseconds, not the 10 ms ticks of `stat`); a thread that exits
//! during a measurement takes its time with it.

use std::path::Path;

/// Nanoseconds on CPU of `pid`'s threads and of its descendants' threads; None when the
/// process is gone or /proc cannot say.
pub fn on_cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    let mut pending = vec![pid];
    let mut seen = 0;
    while let Some(p) = pending.pop() {
        seen += 1;
        if seen > 1024 {
            break;
        }
        let tasks = Path::new("/proc").join(p.to_string()).join("task");
        let Ok(threads) = std::fs::read_dir(&tasks) else {
            if p == pid {
                return None;
            }
            continue; // a child that has just exited
        };
        for task in threads.flatten() {
            let dir = task.path();
            // A thread that has just exited has no schedstat left: its time went with it.
            let Some(ns) = std::fs::read_to_string(dir.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            else {
                continue;
            };
            total += ns;
            if let Ok(children) = std::fs::read_to_string(dir.join("children")) {
                pending.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_process_has_time_on_cpu_and_it_grows() {
        let me = std::process::id();
        let before = on_cpu_ns(me).expect("own schedstat");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let after = on_cpu_ns(me).expect("own schedstat");
        assert!(after > before, "{before} -> {after}");
        assert_eq!(on_cpu_ns(u32::MAX), None);
    }
}
