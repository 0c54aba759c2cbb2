//! Times the verdict of `simkv check` on every Porcupine test file in-process (parsing included,
//! the counterexample explanation excluded, as Porcupine's `CheckEvents` gives none), one line
//! per file (tab-separated: file, verdict, milliseconds), for comparison with Porcupine's own
//! checker.
//! `cargo run --release --example porcupine_times`

use std::time::Instant;

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/porcupine");
    let table = std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv");
    let mut total = 0.0;
    for line in table.lines().skip(1) {
        let file = line.split('\t').next().expect("a file column");
        let t = Instant::now();
        let r =
            simkv::check::linearizable::check_file_with(&dir.join(file), false).expect("readable");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        total += ms;
        println!("RS\t{file}\t{:?}\t{ms:.3}", r.verdict);
    }
    println!("RS\tTOTAL\t\t{total:.3}");
}
