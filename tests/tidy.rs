//! Tidiness rules that keep the code base readable: every source file opens with a `//!` line
//! saying what it owns, simulated code never reads the wall clock or the OS's randomness, and no
//! hash-ordered collection is used outside the linearizability checker's memo table.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn all() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

#[test]
fn every_module_says_what_it_owns() {
    for (p, text) in all() {
        assert!(text.starts_with("//!"), "{} has no //! header", p.display());
    }
}

#[test]
fn simulated_code_has_no_wall_clock_or_os_randomness() {
    for (p, text) in all() {
        if p.ends_with("main.rs") {
            continue; // the CLI measures wall_ms and drives progress bars
        }
        if p.parent().is_some_and(|d| d.ends_with("src/real")) {
            continue; // the real backend waits on real processes in real time
        }
        for banned in [
            "Instant::now",
            "SystemTime",
            "thread_rng",
            "rand::rng()",
            "OsRng",
            "from_entropy",
        ] {
            assert!(!text.contains(banned), "{} uses {banned}", p.display());
        }
    }
}

#[test]
fn hash_ordered_collections_only_in_the_memo_table() {
    for (p, text) in all() {
        if p.ends_with("search.rs") {
            continue;
        }
        assert!(
            !text.contains("HashMap") && !text.contains("HashSet"),
            "{}",
            p.display()
        );
    }
}

#[test]
fn every_fact_kind_is_documented_in_the_trace_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/trace.md")).unwrap();
    let src = std::fs::read_to_string(root.join("src/fact.rs")).unwrap();
    let mut kinds = 0;
    for line in src.lines() {
        let Some((_, rest)) = line.split_once("=> \"") else {
            continue;
        };
        let kind = rest.split('"').next().unwrap();
        kinds += 1;
        assert!(
            doc.contains(&format!("`{kind}`")),
            "fact kind {kind} is not in docs/trace.md"
        );
    }
    assert!(kinds >= 50, "found only {kinds} kinds in src/fact.rs");
    for k in simkv::fact::SentinelEventKind::ALL {
        assert!(doc.contains(&format!("`{}`", k.as_str())), "{}", k.as_str());
    }
}
