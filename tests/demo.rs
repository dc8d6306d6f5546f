//! examples/demo.sh, the README's first command, as on a fresh Debian 12 / Ubuntu 24.04
//! (issue 16, item 4): a fresh HOME (no virtual environment, no pip packages), a system Python
//! that refuses `pip install` (PEP 668), nothing on the upstream port. The demo must make its
//! own virtual environment, start FalkorDB, find boltgate through cargo, print a sample command
//! that works with what it installed, and on SIGTERM stop everything and remove its temp dir.
//!
//! The PEP 668 refusal is played by a `python3` first on PATH that answers `-m pip install`
//! as Debian's does and passes everything else to the real interpreter: the machine's own
//! Python is shared and must not be marked.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, free_port_in, ChildGuard};

const PEP668_PYTHON: &str = r#"#!/bin/sh
# Debian's answer to `pip install` into the system Python (PEP 668), then the real python3.
if [ "$1" = "-m" ] && [ "$2" = "pip" ] && [ "$3" = "install" ]; then
    echo "error: externally-managed-environment" >&2
    echo "This environment is externally managed (EXTERNALLY-MANAGED, PEP 668)." >&2
    exit 1
fi
exec REAL "$@"
"#;

fn real_python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn stderr_so_far(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

#[test]
fn the_demo_works_with_a_pep668_python_and_cleans_up() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    let bin = root.path().join("bin");
    let tmp = root.path().join("tmp");
    for d in [&home, &bin, &tmp] {
        std::fs::create_dir_all(d).unwrap();
    }
    let python3 = bin.join("python3");
    std::fs::write(&python3, PEP668_PYTHON.replace("REAL", &real_python())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&python3, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The PEP 668 stand-in works: the system pip refuses.
    let refused = Command::new(&python3)
        .args(["-m", "pip", "install", "neo4j"])
        .output()
        .unwrap();
    assert!(!refused.status.success());

    let bolt_port = free_port();
    let upstream_port = free_port_in(20000, 32767, &["127.0.0.1", "0.0.0.0"]);
    let log_path = root.path().join("demo.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.sh"))
        .env("HOME", &home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("BOLTGATE_DEMO_VENV")
        .env("PATH", &path)
        .env("TMPDIR", &tmp)
        .env("DEMO_BOLT_PORT", bolt_port.to_string())
        .env("DEMO_UPSTREAM_PORT", upstream_port.to_string())
        // The test build is the dev profile: building it again is a no-op, where a release
        // build would take minutes. Where the binary is still comes from cargo.
        .env("BOLTGATE_PROFILE", "dev")
        .env("CARGO_TARGET_DIR", target_dir())
        .env("NO_COLOR", "1")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    // Downloads reuse the machine's pip cache (not an installed package: the venv is fresh).
    if let Ok(real_home) = std::env::var("HOME") {
        cmd.env("PIP_CACHE_DIR", Path::new(&real_home).join(".cache/pip"));
    }
    let mut demo = ChildGuard::spawn("demo.sh", &mut cmd).expect("start demo.sh");

    let deadline = Instant::now() + Duration::from_secs(400);
    let sample = loop {
        let out = stderr_so_far(&log_path);
        if let Some(line) = out.lines().find_map(|l| l.strip_prefix("demo: try:  ")) {
            break line.to_string();
        }
        if !demo.is_running() || Instant::now() > deadline {
            panic!("the demo printed no sample command:\n{out}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = stderr_so_far(&log_path);
    assert!(
        out.contains(&format!("connect with bolt://127.0.0.1:{bolt_port}")),
        "{out}"
    );
    assert!(out.contains("stop: Ctrl-C"), "says how to stop it:\n{out}");
    let venv = home.join(".cache/boltgate-demo/venv");
    assert!(
        sample.starts_with(&venv.join("bin/python").display().to_string()),
        "the sample uses the venv's python: {sample}"
    );
    let falkordb_pid: u32 = out
        .lines()
        .find_map(|l| l.strip_prefix("demo: started FalkorDB (pid "))
        .and_then(|rest| rest.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("FalkorDB was not started by the demo:\n{out}"));

    // The printed command, as a user would paste it, twice: each run's driver ends with GOODBYE,
    // after which FalkorDB 4.16 serves no further connection unless boltgate keeps it from the
    // server (the demo sets boltgate.upstream.forward_goodbye=false when it starts FalkorDB).
    for attempt in 1..=2 {
        let query = Command::new("timeout")
            .args(["60", "sh", "-c", &sample])
            .env("HOME", &home)
            .output()
            .unwrap();
        assert!(
            query.status.success(),
            "run {attempt}: {sample}\n{}\n{}",
            String::from_utf8_lossy(&query.stderr),
            stderr_so_far(&log_path)
        );
        assert_eq!(
            String::from_utf8_lossy(&query.stdout).trim(),
            "[<Record one=1>]"
        );
    }

    demo.signal("TERM");
    let status = demo.wait_timeout(Duration::from_secs(40));
    let out = stderr_so_far(&log_path);
    assert!(status.is_some(), "the demo did not stop on SIGTERM:\n{out}");
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    assert!(!alive(falkordb_pid), "FalkorDB still runs:\n{out}");
    assert!(
        !common::wait_for_port(
            format!("127.0.0.1:{bolt_port}").parse().unwrap(),
            Duration::from_millis(200)
        ),
        "boltgate still listens:\n{out}"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "temp files left behind: {left:?}\n{out}");
}

/// The target directory this test binary was built in (…/target/debug/deps/demo-…).
fn target_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}
