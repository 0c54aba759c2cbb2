//! Porcupine's test histories: every verdict in expected.tsv must match.

use simkv::check::linearizable::{
    CheckOptions, RegisterModel, check_file, parse_etcd, parse_text, shortest_failing_prefix,
};

#[test]
fn every_porcupine_verdict_matches() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/porcupine");
    let table = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, expected) = (cols[0], cols[2] == "true");
        let r = check_file(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        if r.verdict != Some(expected) {
            mismatches.push(format!("{file}: expected {expected}, got {:?}", r.verdict));
        }
        // The verdict alone (`--no-explain`), from the history read once: the same verdict.
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let bare = CheckOptions {
            explain: false,
            ..CheckOptions::default()
        };
        let v = parse_text(&text, &bare).unwrap().check(&bare).unwrap();
        if v.verdict != Some(expected) {
            mismatches.push(format!(
                "{file} (verdict only): expected {expected}, got {:?}",
                v.verdict
            ));
        }
        assert_eq!((v.operations, v.keys), (r.operations, r.keys), "{file}");
        if let Ok(n) = cols[3].parse::<usize>() {
            assert_eq!(r.operations, n, "{file}: operation count");
        }
        checked += 1;
    }
    assert!(checked >= 108, "all files checked");
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn each_etcd_explanation_is_the_shortest_failing_prefix_of_a_full_binary_search() {
    // The explanation starts from the search's bound on the failing prefix; a binary search over
    // every prefix length finds the same prefix.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/porcupine");
    let mut explained = 0;
    for entry in std::fs::read_dir(dir.join("test_data/jepsen")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(ops) = parse_etcd(&text) else { continue };
        let r = check_file(&path);
        let Ok(r) = r else { continue };
        if r.verdict != Some(false) {
            continue;
        }
        let n = shortest_failing_prefix(&RegisterModel::default(), &ops, 50_000_000);
        let said = format!("the first {n} operations (by call time)");
        assert!(
            r.detail.contains(&said),
            "{}: {said}: {}",
            path.display(),
            r.detail
        );
        explained += 1;
    }
    assert!(explained >= 79, "{explained}");
}
