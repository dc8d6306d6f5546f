//! Runs small Java programs (Maven modules under tests/drivers/) that use the official Java
//! driver, the way tests/common/driver.rs runs the Python scripts: one JSON line on stdout.
//!
//! Why Maven modules and not a jar in the repository: the driver comes from Maven Central at
//! its pinned version, and `.ci/run` builds each module once (the Maven repository is cached);
//! a test builds a module itself only when its jar is missing (a developer's first run).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::{read_log, tail, ChildGuard};

/// Serialises builds within one test process (parallel tests may want the same module).
static BUILD: Mutex<()> = Mutex::new(());

/// tests/drivers/`module` in this checkout.
pub fn module_dir(module: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("drivers")
        .join(module)
}

/// The module's jar (`target/<module>.jar`, dependencies in `target/lib/`), built with
/// `mvn -q -B package` when it is missing or older than the pom or a source file.
pub fn jar(module: &str) -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = module_dir(module);
    let jar = dir.join("target").join(format!("{module}.jar"));
    if !is_fresh(&jar, &dir) {
        let log = std::env::temp_dir().join(format!("boltgate-mvn-{module}.log"));
        let out = std::fs::File::create(&log).expect("create mvn log");
        let status = Command::new("mvn")
            .args(["-q", "-B", "package", "-DskipTests"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("clone")))
            .stderr(Stdio::from(out))
            .status()
            .unwrap_or_else(|e| panic!("cannot run mvn (install Maven, see .ci/run): {e}"));
        assert!(
            status.success(),
            "mvn package in {} failed:\n{}",
            dir.display(),
            tail(&read_log(&log), 6000)
        );
    }
    jar
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// True when `jar` exists and is newer than the pom and every file under src/.
fn is_fresh(jar: &Path, dir: &Path) -> bool {
    let Some(built) = modified(jar) else {
        return false;
    };
    let mut stack = vec![dir.join("src")];
    let mut newest = modified(&dir.join("pom.xml"));
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                newest = newest.max(modified(&p));
            }
        }
    }
    newest.is_none_or(|n| n <= built)
}

/// What a Java program printed.
#[derive(Debug)]
pub struct JavaRun {
    /// The last non-empty stdout line, parsed; None when it was not JSON.
    pub json: Option<serde_json::Value>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `java -jar <jar of module> args` with a timeout (killed after it).
pub fn run(module: &str, args: &[&str], timeout: Duration) -> JavaRun {
    let jar = jar(module);
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut cmd = Command::new("java");
    cmd.arg("-jar")
        .arg(&jar)
        .args(args)
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()));
    let mut child = ChildGuard::spawn(&format!("java {module}"), &mut cmd)
        .unwrap_or_else(|e| panic!("cannot run java: {e}"));
    let finished = child.wait_timeout(timeout).is_some();
    child.kill();
    let stdout = read_log(&out_path);
    let stderr = read_log(&err_path);
    assert!(
        finished,
        "java {module} {args:?} ran longer than {timeout:?}\n{stdout}\n{}",
        tail(&stderr, 4000)
    );
    let json = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str(l).ok());
    JavaRun {
        json,
        stdout,
        stderr,
    }
}
