//! Porcupine's test histories: every verdict in expected.tsv must match.

use simkv::check::linearizable::{CheckOptions, check_file, parse_text};

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
