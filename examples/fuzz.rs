//! The fuzzer's command line: runs the seeded mutation loop of `simkv::fuzz` on each target,
//! shows progress, watches for executions over the time limit and for memory growth, saves
//! findings, and prints executions per second and every finding's location. See
//! docs/fuzzing.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use simkv::fuzz::{Finding, Fuzzer, Hooks, Stats, Target, corpus, engine::SLOW_NS};

/// Live heap bytes one execution may add before it is a finding.
const MEMORY_LIMIT_BYTES: usize = 512 * 1024 * 1024;

/// Counts live heap bytes and their peak, to catch inputs that make a parser allocate without
/// bound.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[derive(Parser)]
#[command(about = "Fuzz the scenario parser, --set overrides and the history readers")]
struct Args {
    /// `all`, or one of scenario, set, jsonl, kv, etcd (comma-separated).
    #[arg(long, default_value = "all")]
    target: String,
    /// Executions per target.
    #[arg(long, default_value_t = 1_000_000)]
    execs: u64,
    /// The seed of the mutation loop (equal seeds give equal inputs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where findings are written (`<dir>/<target>/<location>.input` and `.panic`).
    #[arg(long, default_value = "target/fuzz-findings")]
    findings: PathBuf,
    /// The repository root (scenarios/, tests/data/).
    #[arg(long, default_value = env!("CARGO_MANIFEST_DIR"))]
    root: PathBuf,
    /// The Porcupine data folder (default: ../shared/data/porcupine, else tests/data/porcupine).
    #[arg(long)]
    porcupine: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Run this one input through the (single) target and print what it did, instead of fuzzing.
    #[arg(long)]
    reproduce: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    let targets = match parse_targets(&args.target) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Some(path) = &args.reproduce {
        reproduce(&targets, path);
    }
    let mut sources = corpus::Sources::at(&args.root);
    if let Some(p) = &args.porcupine {
        sources.porcupine = p.clone();
    }
    println!(
        "seed {} | {} executions per target | findings in {}",
        args.seed,
        args.execs,
        args.findings.display()
    );
    let mut total = 0;
    for target in targets {
        recover_in_flight(&args.findings, target);
        total += fuzz_one(target, &args, &sources);
    }
    println!("{total} distinct findings");
    std::process::exit(i32::from(total > 0));
}

/// Runs one saved input and exits: 0 when the parser returned, 1 when it panicked (then the
/// input is minimised again, to `FILE.min`).
fn reproduce(targets: &[Target], path: &Path) -> ! {
    let [target] = targets else {
        eprintln!("error: --reproduce needs exactly one --target");
        std::process::exit(2);
    };
    let input = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("error: cannot read {}: {e}", path.display());
        std::process::exit(2);
    });
    let started = Instant::now();
    let outcome = simkv::fuzz::execute(*target, &input);
    println!("{}: {outcome:?} in {:?}", target.name(), started.elapsed());
    let simkv::fuzz::Outcome::Panicked { location, .. } = outcome else {
        std::process::exit(0);
    };
    let small = simkv::fuzz::minimise::minimise(
        &input,
        20_000,
        |c| matches!(simkv::fuzz::execute(*target, c), simkv::fuzz::Outcome::Panicked { location: l, .. } if l == location),
    );
    let out = path.with_extension("min");
    match std::fs::write(&out, &small) {
        Ok(()) => println!("minimised to {} bytes: {}", small.len(), out.display()),
        Err(e) => eprintln!("cannot write {}: {e}", out.display()),
    }
    std::process::exit(1);
}

fn parse_targets(text: &str) -> Result<Vec<Target>, String> {
    if text == "all" {
        return Ok(Target::ALL.to_vec());
    }
    text.split(',')
        .map(|n| {
            Target::from_name(n.trim()).ok_or(format!(
                "unknown target `{n}` (scenario, set, jsonl, kv, etcd or all)"
            ))
        })
        .collect()
}

/// Runs one target and prints its figures and findings; returns its number of findings.
fn fuzz_one(target: Target, args: &Args, sources: &corpus::Sources) -> usize {
    let seeds = corpus::load(target, sources);
    let mut fuzzer = Fuzzer::new(target, args.seed, seeds);
    if target == Target::Set {
        fuzzer.add_seeds(corpus::saved_findings(&sources.root, target));
    }
    let mut hooks = Watch::new(target, args);
    let started = Instant::now();
    fuzzer.run(args.execs, &mut hooks);
    let wall = started.elapsed().as_secs_f64();
    hooks.finish();
    let s = fuzzer.stats();
    println!(
        "{:<8} {:>9} execs in {:>6.1} s = {:>7.0} execs/s | accepted {} rejected {} panics {} | corpus {} | slowest {:.1} ms | peak heap {} KiB | digest {:016x}",
        s.target,
        s.execs,
        wall,
        s.execs as f64 / wall,
        s.accepted,
        s.rejected,
        s.panics,
        s.corpus,
        s.slowest_ns as f64 / 1e6,
        hooks.worst_peak / 1024,
        s.digest
    );
    for f in fuzzer.findings() {
        report(f, &args.findings, fuzzer.seed());
    }
    let _ = std::fs::remove_file(in_flight_path(&args.findings, target));
    s.findings
}

fn report(f: &Finding, dir: &Path, seed: u64) {
    let saved = f
        .save(dir, seed)
        .map_or_else(|e| format!("(not saved: {e})"), |p| p.display().to_string());
    println!(
        "  FINDING {} at {} ({} hits): {}\n          input {} bytes (from {}): {}",
        f.target.name(),
        f.location,
        f.hits,
        f.message.lines().next().unwrap_or(""),
        f.input.len(),
        f.original_len,
        saved
    );
}

fn in_flight_path(dir: &Path, target: Target) -> PathBuf {
    dir.join(format!("in-flight-{}.input", target.name()))
}

/// An in-flight file left by an earlier run means that run died on that input (a stack
/// overflow or an abort cannot be caught): keep it as a finding.
fn recover_in_flight(dir: &Path, target: Target) {
    let path = in_flight_path(dir, target);
    let Ok(bytes) = std::fs::read(&path) else {
        return;
    };
    if bytes.len() < 8 {
        return;
    }
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let input = &bytes[8..(8 + len).min(bytes.len())];
    let folder = dir.join(target.name());
    let _ = std::fs::create_dir_all(&folder);
    let saved = folder.join(format!("died-{:016x}.input", simkv::sim::fnv1a(input)));
    let _ = std::fs::write(&saved, input);
    println!(
        "  FINDING {}: an earlier run died while executing {}",
        target.name(),
        saved.display()
    );
    let _ = std::fs::remove_file(&path);
}

/// The wall clock, the in-flight file, the watchdog, the memory check and the progress bar.
struct Watch {
    started: Instant,
    in_flight: Option<std::fs::File>,
    exec_started_ns: Arc<AtomicU64>,
    stop: Arc<AtomicU64>,
    watchdog: Option<std::thread::JoinHandle<()>>,
    bar: Option<ProgressBar>,
    base: usize,
    worst_peak: usize,
}

impl Watch {
    fn new(target: Target, args: &Args) -> Watch {
        let _ = std::fs::create_dir_all(&args.findings);
        let path = in_flight_path(&args.findings, target);
        let in_flight = std::fs::File::create(&path).ok();
        let exec_started_ns = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let watchdog = Some(spawn_watchdog(
            target,
            path,
            started,
            exec_started_ns.clone(),
            stop.clone(),
        ));
        let bar = (!args.quiet).then(|| {
            let b = ProgressBar::new(args.execs);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix:>8} [{bar:30}] {pos}/{len} {per_sec} {msg} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(target.name());
            b
        });
        Watch {
            started,
            in_flight,
            exec_started_ns,
            stop,
            watchdog,
            bar,
            base: 0,
            worst_peak: 0,
        }
    }

    fn finish(&mut self) {
        self.stop.store(1, Ordering::Relaxed);
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Hooks for Watch {
    fn now_ns(&mut self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    fn before(&mut self, input: &[u8]) {
        if let Some(f) = &self.in_flight {
            let mut record = (input.len() as u64).to_le_bytes().to_vec();
            record.extend_from_slice(input);
            let _ = f.write_at(&record, 0);
        }
        self.base = LIVE.load(Ordering::Relaxed);
        PEAK.store(self.base, Ordering::Relaxed);
        let now = self.now_ns().max(1);
        self.exec_started_ns.store(now, Ordering::Relaxed);
    }

    fn after(&mut self) -> Option<String> {
        self.exec_started_ns.store(0, Ordering::Relaxed);
        let grew = PEAK.load(Ordering::Relaxed).saturating_sub(self.base);
        self.worst_peak = self.worst_peak.max(grew);
        (grew > MEMORY_LIMIT_BYTES)
            .then(|| format!("one execution allocated {} MiB live", grew >> 20))
    }

    fn progress(&mut self, s: &Stats) {
        if let Some(b) = &self.bar {
            b.set_position(s.execs);
            b.set_message(format!("findings {} panics {}", s.findings, s.panics));
        }
    }
}

/// Warns (once per execution) when one execution runs past the time limit, and copies its
/// input to the findings folder, in case it never returns.
fn spawn_watchdog(
    target: Target,
    in_flight: PathBuf,
    started: Instant,
    exec_started_ns: Arc<AtomicU64>,
    stop: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut warned = 0;
        while stop.load(Ordering::Relaxed) == 0 {
            std::thread::sleep(Duration::from_millis(200));
            let at = exec_started_ns.load(Ordering::Relaxed);
            let now = started.elapsed().as_nanos() as u64;
            if at != 0 && at != warned && now.saturating_sub(at) > SLOW_NS {
                warned = at;
                let copy =
                    in_flight.with_file_name(format!("timeout-{}-{at}.input", target.name()));
                let _ = std::fs::copy(&in_flight, &copy);
                eprintln!(
                    "{}: one execution has run for over {} s; its input (8-byte length, then the bytes) is in {}",
                    target.name(),
                    SLOW_NS / 1_000_000_000,
                    copy.display()
                );
            }
        }
    })
}
