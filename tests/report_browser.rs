//! `report.html` in a real browser: Debian's headless Chromium loads the page of a
//! region-outage run, and the DOM it renders must hold the timeline, the fault band, the
//! failover marker and the lost-write marks, with the page's script finished and no script
//! error; a screenshot is kept under target/. Without Chromium the test is skipped (with the
//! reason printed), except when `CI` is set: there it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The browser to use, `None` (skip) when it is missing outside CI.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("SIMKV_CHROMIUM").map_or(PathBuf::from(CHROMIUM), PathBuf::from);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set and {} is missing: install it (apt-get install -y chromium)",
        path.display()
    );
    println!(
        "skipped: {} is missing (apt-get install -y chromium)",
        path.display()
    );
    None
}

/// Runs `cmd`, killing it after `limit`; returns its stdout.
fn run_with_limit(cmd: &mut Command, limit: Duration) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the command starts");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
    });
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait works").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} took longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("reader").expect("utf-8 output")
}

fn simkv_run(dir: &Path, extra: &[&str]) {
    simkv_run_of("scenarios/region-outage.toml", dir, extra);
}

fn simkv_run_of(scenario: &str, dir: &Path, extra: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_simkv"))
        .args(["run", scenario, "--out"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .status()
        .expect("simkv runs");
    assert!(status.code().is_some_and(|c| c <= 1), "{status}");
}

fn browser(chromium: &Path, profile: &Path) -> Command {
    let mut c = Command::new(chromium);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

#[test]
fn region_outage_report_renders_in_chromium() {
    let Some(chromium) = chromium() else { return };
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("run");
    simkv_run(&out, &[]);
    let page = out.join("report.html");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let dom = run_with_limit(
        browser(&chromium, &tmp.join("profile"))
            .arg("--dump-dom")
            .arg(&url),
        Duration::from_secs(30),
    );
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script did not finish"
    );
    assert!(!dom.contains("data-error="), "script error: {dom}");
    assert!(dom.contains("id=\"timeline-svg\""));
    assert!(dom.contains("id=\"throughput-svg\""));
    // The region outage is fault #0, labelled by its id on its band.
    assert!(dom.contains("class=\"fault-band\" data-tip=\"fault #0: region-outage of us-west"));
    assert!(dom.contains("data-fault-id=\"0\""));
    assert_eq!(count(&dom, "class=\"failover-marker\""), 1);
    assert!(dom.contains("failover: r2 promoted at"));
    assert_eq!(count(&dom, "class=\"split-band\""), 1);
    let marks = count(&dom, "class=\"lost-mark\"");
    assert!(
        marks > 10,
        "lost writes are marked along the outage: {marks}"
    );
    assert!(dom.contains("lost writes acknowledged by p1"));
    assert!(count(&dom, "class=\"sentinel-event\"") > 10);
    assert!(dom.contains("+switch-master"));
    for table in ["id=\"checks\"", "id=\"expectations\"", "id=\"losses\""] {
        assert!(dom.contains(table), "{table}");
    }
    // Zoomed on 100-200 s: inside the outage, after the failover.
    let zoomed = run_with_limit(
        browser(&chromium, &tmp.join("profile"))
            .arg("--dump-dom")
            .arg(format!("{url}#t=100,200")),
        Duration::from_secs(30),
    );
    assert!(zoomed.contains("data-ready=\"1\"") && !zoomed.contains("data-error="));
    assert!(
        zoomed.contains("data-from=\"100\" data-to=\"200\""),
        "the view follows #t"
    );
    assert_eq!(count(&zoomed, "class=\"failover-marker\""), 0);
    assert_eq!(count(&zoomed, "class=\"fault-band\""), 1);
    assert!(count(&zoomed, "class=\"lost-mark\"") > 10);
    let shot = tmp.join("report.png");
    run_with_limit(
        browser(&chromium, &tmp.join("profile"))
            .arg(format!("--screenshot={}", shot.display()))
            .arg("--window-size=1400,1800")
            .arg(&url),
        Duration::from_secs(30),
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{}",
        png.len()
    );
}

#[test]
fn a_cluster_report_shows_its_shards_and_elections() {
    let Some(chromium) = chromium() else { return };
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser-cluster");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("run");
    simkv_run_of("scenarios/cluster-minority-partition.toml", &out, &[]);
    let page = out.join("report.html");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let dom = run_with_limit(
        browser(&chromium, &tmp.join("profile"))
            .arg("--dump-dom")
            .arg(&url),
        Duration::from_secs(30),
    );
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script did not finish"
    );
    assert!(!dom.contains("data-error="), "script error: {dom}");
    assert_eq!(count(&dom, "class=\"shard-label\""), 3);
    assert!(dom.contains("data-tip=\"shard of c1p: slots 0-5460\""));
    assert!(dom.contains("data-tip=\"shard of c3p: slots 10923-16383\""));
    assert_eq!(count(&dom, "class=\"election election-won\""), 1);
    assert!(dom.contains("election for epoch 4 by c1r1: won with 2 votes"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Shards and elections"), "{md}");
    assert!(
        md.contains("c1r1 asks for votes in epoch 4, gets 2, wins"),
        "{md}"
    );
}

/// The operator's actions are drawn as the operator's (never as a failover): one mark on r2's
/// row (taken out), one on r3's (added), with their reasons in the tips, and a legend entry.
#[test]
fn a_replacement_shows_as_the_operators_actions() {
    let Some(chromium) = chromium() else { return };
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser-operator");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let out = tmp.join("run");
    simkv_run_of("scenarios/replace-replica.toml", &out, &[]);
    let page = out.join("report.html");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let dom = run_with_limit(
        browser(&chromium, &tmp.join("profile"))
            .arg("--dump-dom")
            .arg(&url),
        Duration::from_secs(30),
    );
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script did not finish"
    );
    assert!(!dom.contains("data-error="), "script error: {dom}");
    assert_eq!(count(&dom, "class=\"operator-mark\""), 2);
    assert!(dom.contains("operator removes r2 (its process stops): its disk reported an error"));
    assert!(dom.contains("operator adds r3 as a replica of p1 (empty disk): replaces r2"));
    assert!(dom.contains("operator action"), "legend");
    assert_eq!(count(&dom, "class=\"failover-marker\""), 0);
}

#[test]
fn the_page_is_self_contained_and_small_for_100k_operations() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-size");
    simkv_run(&dir, &["--set", "duration=460s"]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert!(summary["ops"]["invoked"].as_u64().unwrap() >= 100_000);
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.len() < 5_000_000, "{} bytes", page.len());
    for remote in ["src=\"http", "href=\"http", "url(http", "@import", "fetch("] {
        assert!(!page.contains(remote), "the page loads {remote}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
