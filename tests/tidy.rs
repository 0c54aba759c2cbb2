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
        // The search's memo table, the string interner, the string model's APPEND results,
        // the key index of the operations, the stale-reads check's written values, a client's
        // key names and the keyspace's table only look up (the keyspace is walked in key order
        // through a sort): their order never reaches an output or the simulation.
        if p.ends_with("search.rs")
            || p.ends_with("interner.rs")
            || p.ends_with("redis_string.rs")
            || p.ends_with("check/operations.rs")
            || p.ends_with("check/staleness.rs")
            || p.ends_with("src/client.rs")
            || p.ends_with("redis/keyspace.rs")
        {
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

/// The layers of docs/ARCHITECTURE.md's "Layers" section: `N: a, b, c` per line.
fn documented_layers() -> Vec<(u32, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let section = doc
        .split("## Layers")
        .nth(1)
        .expect("docs/ARCHITECTURE.md has a Layers section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the layers in a code block");
    let mut out = Vec::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let (n, mods) = line.split_once(':').expect("`N: modules`");
        let n: u32 = n.trim().parse().expect("a layer number");
        for m in mods.split(',') {
            out.push((n, m.trim().to_string()));
        }
    }
    out
}

/// Every `crate::<module>` a top-level module's files name, as (from, to) edges.
fn module_edges() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut edges = std::collections::BTreeSet::new();
    for (p, text) in all() {
        let rel = p.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy();
        let from = top.trim_end_matches(".rs").to_string();
        // `main.rs` and `cli/` are the binary's: for them `crate::` is the binary crate.
        if from == "main" || from == "lib" || from == "cli" {
            continue;
        }
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != from {
                edges.insert((from.clone(), name));
            }
        }
    }
    edges.into_iter().collect()
}

/// Edges that do not point to a strictly lower layer, and modules no layer names.
fn layering_violations(layers: &[(u32, String)], edges: &[(String, String)]) -> Vec<String> {
    let layer = |m: &str| layers.iter().find(|(_, x)| x == m).map(|(n, _)| *n);
    let mut out = Vec::new();
    for (from, to) in edges {
        match (layer(from), layer(to)) {
            (Some(a), Some(b)) if b < a => {}
            (Some(a), Some(b)) => out.push(format!("{from} (layer {a}) uses {to} (layer {b})")),
            _ => out.push(format!("{from} -> {to}: a module with no layer")),
        }
    }
    out
}

#[test]
fn modules_depend_only_on_lower_layers() {
    let layers = documented_layers();
    let edges = module_edges();
    assert!(edges.len() > 30, "found only {} edges", edges.len());
    let bad = layering_violations(&layers, &edges);
    assert!(
        bad.is_empty(),
        "upward or sideways edges:\n{}",
        bad.join("\n")
    );
    // Every top-level module is placed.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for e in std::fs::read_dir(src).unwrap() {
        let name = e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if name != "main" && name != "lib" {
            assert!(
                layers.iter().any(|(_, m)| *m == name),
                "{name} has no layer in docs/ARCHITECTURE.md"
            );
        }
    }
}

#[test]
fn the_layering_check_catches_an_upward_edge_and_a_cycle() {
    let layers = vec![(0, "sim".to_string()), (1, "net".to_string())];
    let up = vec![("sim".to_string(), "net".to_string())];
    assert_eq!(layering_violations(&layers, &up).len(), 1);
    let cycle = vec![
        ("net".to_string(), "sim".to_string()),
        ("sim".to_string(), "net".to_string()),
    ];
    assert_eq!(
        layering_violations(&layers, &cycle).len(),
        1,
        "one of the two edges points up"
    );
    let fine = vec![("net".to_string(), "sim".to_string())];
    assert!(layering_violations(&layers, &fine).is_empty());
}
