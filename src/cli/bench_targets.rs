//! `simkv bench`'s table of performance targets: each figure measured in this run next to its
//! reference (a bare loop, the same work done another way, Porcupine's published-by-us timings),
//! as a ratio where there is one, with the target and whether it is met. Figures that need a
//! whole process (peak memory, a sweep's jobs) run `simkv` itself as a child.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Clock;
use super::emit_out;

/// One row of the table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Target {
    /// What is measured.
    pub figure: String,
    /// The measurement, in words and units.
    pub measured: String,
    /// What it is compared with, measured in the same run (or read from a file, which says so).
    pub reference: String,
    /// measured / reference, where the two are the same kind of quantity.
    pub ratio: Option<f64>,
    /// The target.
    pub target: String,
    /// Whether the target is met (`None`: not measured in this run).
    pub met: Option<bool>,
}

impl Target {
    /// A row without a reference.
    pub fn new(figure: &str, measured: String, target: &str, met: bool) -> Self {
        Target {
            figure: figure.to_string(),
            measured,
            reference: "-".to_string(),
            ratio: None,
            target: target.to_string(),
            met: Some(met),
        }
    }

    /// The row with a reference and the ratio of the measurement to it.
    pub fn against(mut self, reference: String, ratio: f64) -> Self {
        self.reference = reference;
        self.ratio = Some(ratio);
        self
    }
}

/// Prints the rows as a table.
pub fn print(rows: &[Target]) {
    outln!("\nTargets (measured in this run):");
    outln!("| figure | measured | reference | ratio | target | met |");
    outln!("|---|---|---|---|---|---|");
    for r in rows {
        outln!(
            "| {} | {} | {} | {} | {} | {} |",
            r.figure,
            r.measured,
            r.reference,
            r.ratio.map_or("-".to_string(), |x| format!("{x:.3}")),
            r.target,
            match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            }
        );
    }
}

/// What a finished child process took.
#[derive(Clone, Copy, Debug)]
pub struct ChildCost {
    /// Wall seconds from spawn to exit.
    pub wall_s: f64,
    /// Its peak resident memory, in bytes.
    pub peak_bytes: u64,
}

/// Runs `simkv` (this executable) with `args` and measures it: wall time with the injected
/// clock, peak memory from the kernel's accounting of the child (`wait4`). Gives back what it
/// printed on stdout.
pub fn run_self(args: &[&str], now: Clock) -> Result<(ChildCost, String), String> {
    use std::io::Read;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find simkv itself: {e}"))?;
    let started = now();
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run simkv {}: {e}", args.join(" ")))?;
    let pid = child.id() as libc::pid_t;
    let mut out = String::new();
    if let Some(mut o) = child.stdout.take() {
        o.read_to_string(&mut out)
            .map_err(|e| format!("reading simkv {}: {e}", args.join(" ")))?;
    }
    let mut status = 0;
    // SAFETY: `rusage` is plain data the kernel fills; `pid` is our own unreaped child (the
    // `Child` handle is never waited on, so it is reaped exactly once, here).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall_s = (now() - started).as_secs_f64();
    if waited != pid {
        return Err(format!("waiting for simkv {} failed", args.join(" ")));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) == 2 {
        return Err(format!(
            "simkv {} did not finish (status {status})",
            args.join(" ")
        ));
    }
    // Linux reports ru_maxrss in kilobytes.
    let cost = ChildCost {
        wall_s,
        peak_bytes: usage.ru_maxrss.max(0) as u64 * 1024,
    };
    Ok((cost, out))
}

/// The operations a run's JSON summary counts (`ops.invoked`).
fn invoked(summary: &str) -> Result<u64, String> {
    let v: serde_json::Value =
        serde_json::from_str(summary).map_err(|e| format!("a run's summary: {e}"))?;
    v["ops"]["invoked"]
        .as_u64()
        .ok_or_else(|| "a run's summary has no ops.invoked".to_string())
}

/// `simkv sweep FILE --seeds 1..=N --jobs 1` against `--jobs 2`: how close two jobs come to
/// twice the seeds per second.
pub fn sweep_scaling(file: &Path, seeds: u32, now: Clock) -> Result<Target, String> {
    let f = file.display().to_string();
    let range = format!("1..={seeds}");
    let (one, _) = run_self(&["sweep", &f, "--seeds", &range, "--jobs", "1"], now)?;
    let (two, _) = run_self(&["sweep", &f, "--seeds", &range, "--jobs", "2"], now)?;
    let speedup = one.wall_s / two.wall_s;
    Ok(Target::new(
        "`sweep --jobs 2` vs `--jobs 1`",
        format!(
            "{seeds} seeds of {}: {:.2} s with 2 jobs",
            file_stem(file),
            two.wall_s
        ),
        ">= 1.9x",
        speedup >= 1.9,
    )
    .against(format!("{:.2} s with 1 job", one.wall_s), speedup))
}

/// Peak memory of a whole run (`simkv run FILE --json --set duration=D` as its own process),
/// per operation.
pub fn long_run_memory(
    file: &Path,
    duration: &str,
    target_bytes: u64,
    now: Clock,
) -> Result<(Target, ChildCost), String> {
    let f = file.display().to_string();
    let set = format!("duration={duration}");
    let (cost, summary) = run_self(&["run", &f, "--json", "--set", &set], now)?;
    let operations = invoked(&summary)?;
    let row = Target::new(
        &format!("{} for {duration} simulated: peak memory", file_stem(file)),
        format!(
            "{:.0} MB ({:.0} bytes per operation, {operations} operations)",
            cost.peak_bytes as f64 / 1e6,
            cost.peak_bytes as f64 / operations.max(1) as f64
        ),
        &format!("<= {} MB", target_bytes / 1_000_000),
        cost.peak_bytes <= target_bytes,
    );
    Ok((row, cost))
}

fn file_stem(file: &Path) -> String {
    file.file_stem().map_or_else(
        || file.display().to_string(),
        |s| s.to_string_lossy().into(),
    )
}

/// Porcupine's timings on its own data, from `bench/porcupine-go.tsv` (GOMAXPROCS=1 rows):
/// file (relative to `test_data`) and median milliseconds.
pub fn porcupine_reference(path: &Path) -> Result<Vec<(String, f64)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.starts_with("file\t") || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, model, _, _, median, _, procs] = cols.as_slice() else {
            return Err(format!("{}:{}: expected 7 columns", path.display(), i + 1));
        };
        if *procs != "1" || *model == "kv-no-partition" {
            continue;
        }
        let ms: f64 = median
            .parse()
            .map_err(|_| format!("{}:{}: median_ms `{median}`", path.display(), i + 1))?;
        rows.push((file.to_string(), ms));
    }
    Ok(rows)
}

/// `simkv check` on every Porcupine file the reference times (partitioned kv logs and the etcd
/// logs), median of `rounds`, against Porcupine's total; two rows.
///
/// Like for like with the reference, which times `CheckEvents` on histories already parsed:
/// the first row times the verdict alone (`--no-explain`), parsing timed apart and not counted.
/// The second adds what Porcupine does not do: the counterexample of each non-linearizable
/// file (its shortest failing prefix), with that cost as its own figure.
pub fn porcupine(
    data: &Path,
    reference: &[(String, f64)],
    rounds: usize,
    now: Clock,
) -> Result<Vec<Target>, String> {
    use simkv::check::linearizable::{CheckOptions, parse_text};
    let verdict_only = CheckOptions {
        explain: false,
        ..CheckOptions::default()
    };
    let explained = CheckOptions::default();
    let median_ms = |f: &mut dyn FnMut() -> Result<(), String>| -> Result<f64, String> {
        let mut times = Vec::new();
        for _ in 0..rounds.max(1) {
            let t = now();
            f()?;
            times.push((now() - t).as_secs_f64() * 1000.0);
        }
        Ok(simkv::bench::median(&mut times))
    };
    let (mut ours, mut theirs, mut parsing, mut explaining) = (0.0, 0.0, 0.0, 0.0);
    let (mut files, mut violations) = (0, 0);
    let mut detail = Vec::new();
    for (file, their_ms) in reference {
        let path: PathBuf = data.join(file);
        if !path.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{file}: {e}"))?;
        let fail = |e: String| format!("{file}: {e}");
        parsing += median_ms(&mut || parse_text(&text, &verdict_only).map(drop).map_err(fail))?;
        let parsed = parse_text(&text, &verdict_only).map_err(fail)?;
        let verdict = parsed.check(&verdict_only).map_err(fail)?.verdict;
        let ms = median_ms(&mut || parsed.check(&verdict_only).map(drop).map_err(fail))?;
        if verdict == Some(false) {
            // The counterexample: the same check, then the search for the failing prefix.
            let with = median_ms(&mut || parsed.check(&explained).map(drop).map_err(fail))?;
            explaining += (with - ms).max(0.0);
            violations += 1;
        }
        // The files that take Porcupine longest.
        if *their_ms >= 50.0 {
            let name = file.rsplit('/').next().unwrap_or(file);
            detail.push(format!("{name} {ms:.1} vs {their_ms:.1}"));
        }
        ours += ms;
        theirs += their_ms;
        files += 1;
    }
    if files == 0 {
        return Err(format!("no Porcupine data under {}", data.display()));
    }
    let reference = format!(
        "{theirs:.0} ms (Porcupine's CheckEvents, parsing not timed, GOMAXPROCS=1, bench/porcupine-go.tsv)"
    );
    let ratio = ours / theirs;
    let verdicts = Target::new(
        "`simkv check --no-explain` on Porcupine's data vs Porcupine (Go), checking time (the verdict, parsing not counted)",
        format!(
            "{ours:.0} ms over {files} files ({} ms; parsing, not counted: {parsing:.0} ms)",
            detail.join(", ")
        ),
        "<= 0.4x",
        ratio <= 0.4,
    )
    .against(reference.clone(), ratio);
    let mut explained = Target::new(
        "same with the counterexample (the shortest failing prefix, which Porcupine does not compute)",
        format!(
            "{:.0} ms: the verdicts' {ours:.0} ms + {explaining:.0} ms explaining {violations} violations",
            ours + explaining
        ),
        "-",
        true,
    )
    .against(reference, (ours + explaining) / theirs);
    explained.met = None;
    Ok(vec![verdicts, explained])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcupine_reference_reads_single_process_partitioned_rows() {
        let dir = std::env::temp_dir().join(format!("simkv-pref-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("ref.tsv");
        std::fs::write(
            &p,
            "# comment\nfile\tmodel\toperations\tlinearizable\tmedian_ms\tmin_ms\tgomaxprocs\n\
             kv/a.txt\tkv-partitioned\t5\ttrue\t2.5\t2\t1\n\
             kv/a.txt\tkv-no-partition\t5\ttrue\t9\t9\t1\n\
             kv/a.txt\tkv-partitioned\t5\ttrue\t7\t7\t2\n\
             jepsen/e.log\tetcd\t3\tfalse\t0.5\t0.4\t1\n",
        )
        .unwrap();
        let rows = porcupine_reference(&p).unwrap();
        assert_eq!(
            rows,
            vec![
                ("kv/a.txt".to_string(), 2.5),
                ("jepsen/e.log".to_string(), 0.5)
            ]
        );
        std::fs::write(&p, "kv/a.txt\tkv-partitioned\t5\n").unwrap();
        assert!(porcupine_reference(&p).unwrap_err().contains("7 columns"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
