//! Comparisons: one scenario run in several variants (the cartesian product of `--vary` lists,
//! applied as `--set` overrides) over the same seeds, reduced to one row of figures per variant:
//! lost acknowledged writes, the data-loss window (RPO), write unavailability per client region
//! (RTO), failover timings, write latency and full resyncs.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::check::LostWrite;
use crate::check::figures::{ProcessTable, Role};
use crate::history::{EventType, History, Operation};
use crate::runner::{Provenance, RunReport, run_from};
use crate::scenario::Scenario;
use crate::stats::{Spread, percentile};

/// Parses one `--vary KEY=V1,V2,...` into the key and its values.
pub fn parse_vary(text: &str) -> Result<(String, Vec<String>), String> {
    let bad = || format!("\"{text}\" is not a variation; write KEY=V1,V2,... e.g. seed=1,2");
    let (key, values) = text.split_once('=').ok_or_else(bad)?;
    let key = key.trim();
    let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
    if key.is_empty() || values.iter().any(String::is_empty) {
        return Err(bad());
    }
    Ok((key.to_string(), values))
}

/// Every variant: the cartesian product of the variations, each as its `KEY=VALUE` overrides
/// (the first variation varies slowest).
pub fn variants(varies: &[(String, Vec<String>)]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for (key, values) in varies {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut o = prefix.clone();
                    o.push(format!("{key}={v}"));
                    o
                })
            })
            .collect();
    }
    out
}

/// One variant to run: its label, its effective scenario and where it came from.
pub struct Variant {
    /// The variant's overrides joined, e.g. `a=1 b=x`.
    pub label: String,
    /// The scenario with the variant's overrides applied.
    pub scenario: Scenario,
    /// The file and every override (the base ones, then the variant's).
    pub source: Provenance,
}

/// What one seed of one variant measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SeedFigures {
    /// The seed.
    pub seed: u64,
    /// Lost acknowledged writes.
    pub lost: u64,
    /// From the first to the last lost write's acknowledgement (ms), when one was lost.
    pub loss_window_ms: Option<u64>,
    /// Per client region, the longest span without a successful write (ms).
    pub unavailable_ms: BTreeMap<String, u64>,
    /// Each failover's detection and completion after the fault (ms).
    pub failovers: Vec<(u64, u64)>,
    /// Latency of every successful write (µs).
    #[serde(skip)]
    pub write_latency_us: Vec<u64>,
    /// Full resyncs.
    pub full_resyncs: u64,
}

/// The data-loss window: from the first to the last acknowledgement of a lost write.
pub fn loss_window_ms(lost: &[LostWrite]) -> Option<u64> {
    let first = lost.iter().map(|l| l.ack_ms).min()?;
    let last = lost.iter().map(|l| l.ack_ms).max()?;
    Some(last - first)
}

/// The span in which clients issued operations: the first and the last invocation (ns).
pub fn workload_span(history: &History) -> Option<(u64, u64)> {
    let mut invokes = history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Invoke)
        .map(|e| e.time_ns);
    let first = invokes.next()?;
    Some((first, invokes.next_back().unwrap_or(first)))
}

/// Per client region, the longest span without a successful write completing, within the span
/// in which clients issued operations (ms); the quiet end of a run, after the workloads stop,
/// is not unavailability. A region whose clients never wrote successfully is unavailable for
/// the whole span.
pub fn unavailability_ms(history: &History, processes: &ProcessTable) -> BTreeMap<String, u64> {
    unavailability_ms_in(history, &history.operations(), processes)
}

/// [`unavailability_ms`] over the history's operations, already paired.
fn unavailability_ms_in(
    history: &History,
    ops: &[Operation<'_>],
    processes: &ProcessTable,
) -> BTreeMap<String, u64> {
    let (start, end) = workload_span(history).unwrap_or((0, 0));
    let mut acks: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for p in processes
        .processes()
        .iter()
        .filter(|p| p.role == Role::Client)
    {
        acks.entry(p.region.clone()).or_default();
    }
    for op in ops {
        if op.outcome != EventType::Ok || crate::history::is_read(op.f) {
            continue;
        }
        if let Some(p) = processes.processes().get(op.process as usize) {
            acks.entry(p.region.clone())
                .or_default()
                .push(op.complete_ns);
        }
    }
    acks.into_iter()
        .map(|(region, mut times)| {
            times.sort_unstable();
            let mut last = start;
            let mut longest = 0;
            for t in times.into_iter().chain(std::iter::once(end)) {
                let t = t.clamp(start, end);
                longest = longest.max(t - last);
                last = last.max(t);
            }
            (region, longest / 1_000_000)
        })
        .collect()
}

/// The figures of one finished run.
pub fn seed_figures(report: &RunReport) -> SeedFigures {
    let s = &report.summary;
    let out = &report.output;
    let ops = out.history.operations();
    let mut write_latency_us: Vec<u64> = ops
        .iter()
        .filter(|op| op.outcome == EventType::Ok && !crate::history::is_read(op.f))
        .map(|op| (op.complete_ns - op.invoke_ns) / 1000)
        .collect();
    write_latency_us.sort_unstable();
    SeedFigures {
        seed: s.seed,
        lost: report.lost.len() as u64,
        loss_window_ms: loss_window_ms(&report.lost),
        unavailable_ms: unavailability_ms_in(&out.history, &ops, &s.processes),
        failovers: s
            .failovers
            .iter()
            .map(|f| (f.detected_after_ms, f.completed_after_ms))
            .collect(),
        write_latency_us,
        full_resyncs: s.replication.full_resyncs,
    }
}

/// Runs every (variant, seed) pair on up to `jobs` threads (the calling thread works too);
/// `on_done` is told after each run. Results come back per variant, in seed order.
pub fn run(
    variants: &[Variant],
    seeds: &[u64],
    jobs: usize,
    on_done: &(dyn Fn() + Sync),
) -> Vec<Vec<Result<SeedFigures, String>>> {
    let tasks: Vec<(usize, u64)> = (0..variants.len())
        .flat_map(|v| seeds.iter().map(move |&s| (v, s)))
        .collect();
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Result<SeedFigures, String>)>> = Mutex::new(Vec::new());
    let work = || {
        while let Some(&(v, seed)) = tasks.get(next.fetch_add(1, Ordering::Relaxed)) {
            let variant = &variants[v];
            let r = run_from(
                &variant.scenario,
                &variant.source,
                seed,
                &mut |_| {},
                &mut |_| {},
                &mut || 0,
            )
            .map(|r| seed_figures(&r))
            .map_err(|e| format!("seed {seed}: {e}"));
            done.lock().expect("no thread panicked").push((v, r));
            on_done();
        }
    };
    std::thread::scope(|s| {
        for _ in 1..jobs.max(1) {
            if std::thread::Builder::new().spawn_scoped(s, work).is_err() {
                break;
            }
        }
        work();
    });
    let mut per: Vec<Vec<Result<SeedFigures, String>>> = variants.iter().map(|_| vec![]).collect();
    for (v, r) in done.into_inner().expect("no thread panicked") {
        per[v].push(r);
    }
    let key = |r: &Result<SeedFigures, String>| r.as_ref().map(|f| f.seed).unwrap_or(u64::MAX);
    per.iter_mut().for_each(|rs| rs.sort_by_key(key));
    per
}

/// One row of the comparison: a variant's figures over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The variant's overrides.
    pub variant: String,
    /// Seeds that completed.
    pub seeds: usize,
    /// Runs that did not complete, with the reason.
    pub errors: Vec<String>,
    /// Lost acknowledged writes per seed.
    pub lost: Spread,
    /// Data-loss window per seed (ms; seeds without loss left out).
    pub loss_window_ms: Spread,
    /// Per client region, the longest span without a successful write per seed (ms).
    pub unavailable_ms: BTreeMap<String, Spread>,
    /// Failover detection after the fault (ms), over every failover.
    pub detection_ms: Spread,
    /// Failover completion after the fault (ms), over every failover.
    pub completion_ms: Spread,
    /// Failovers over all seeds.
    pub failovers: usize,
    /// Successful write latency p50 over all seeds' writes (µs).
    pub write_latency_p50_us: Option<u64>,
    /// Successful write latency p99 over all seeds' writes (µs).
    pub write_latency_p99_us: Option<u64>,
    /// Full resyncs per seed.
    pub full_resyncs: Spread,
}

/// Reduces one variant's seeds to its row.
pub fn row(variant: &str, results: &[Result<SeedFigures, String>]) -> Row {
    let ok: Vec<&SeedFigures> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let errors = results.iter().filter_map(|r| r.clone().err()).collect();
    let mut regions: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for f in &ok {
        for (r, ms) in &f.unavailable_ms {
            regions.entry(r.clone()).or_default().push(*ms);
        }
    }
    let failovers: Vec<(u64, u64)> = ok.iter().flat_map(|f| f.failovers.clone()).collect();
    let mut latency: Vec<u64> = ok.iter().flat_map(|f| f.write_latency_us.clone()).collect();
    latency.sort_unstable();
    Row {
        variant: variant.to_string(),
        seeds: ok.len(),
        errors,
        lost: Spread::of(ok.iter().map(|f| f.lost).collect()),
        loss_window_ms: Spread::of(ok.iter().filter_map(|f| f.loss_window_ms).collect()),
        unavailable_ms: regions
            .into_iter()
            .map(|(r, v)| (r, Spread::of(v)))
            .collect(),
        detection_ms: Spread::of(failovers.iter().map(|f| f.0).collect()),
        completion_ms: Spread::of(failovers.iter().map(|f| f.1).collect()),
        failovers: failovers.len(),
        write_latency_p50_us: percentile(&latency, 50),
        write_latency_p99_us: percentile(&latency, 99),
        full_resyncs: Spread::of(ok.iter().map(|f| f.full_resyncs).collect()),
    }
}

/// A whole comparison, as `--json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file.
    pub scenario_file: String,
    /// Overrides applied to every variant.
    pub overrides: Vec<String>,
    /// The seed range as given.
    pub seeds: String,
    /// One row per variant.
    pub variants: Vec<Row>,
}

fn cell(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

fn spread_cell(s: &Spread) -> String {
    match (s.p50, s.p95, s.max) {
        (Some(a), Some(b), Some(c)) => format!("{a} / {b} / {c}"),
        _ => "-".to_string(),
    }
}

fn ms_cell(v: Option<u64>) -> String {
    v.map_or("-".to_string(), |v| format!("{:.1}", v as f64 / 1000.0))
}

impl Comparison {
    /// Every client region that appears in a row.
    pub fn regions(&self) -> Vec<String> {
        let mut r: Vec<String> = Vec::new();
        for row in &self.variants {
            for k in row.unavailable_ms.keys() {
                if !r.contains(k) {
                    r.push(k.clone());
                }
            }
        }
        r
    }

    /// The comparison as a Markdown table (also what the terminal shows).
    pub fn markdown(&self) -> String {
        let regions = self.regions();
        let mut head = vec![
            "variant".to_string(),
            "seeds".into(),
            "lost p50/p95/max".into(),
            "loss window s p50/max".into(),
        ];
        head.extend(regions.iter().map(|r| format!("no writes {r} s p50/max")));
        head.extend(
            [
                "detect ms p50",
                "failover ms p50",
                "write µs p50",
                "write µs p99",
                "full resyncs p50",
            ]
            .map(String::from),
        );
        let mut s = format!(
            "# {}: {} variants over seeds {}\n\n| {} |\n|{}\n",
            self.scenario,
            self.variants.len(),
            self.seeds,
            head.join(" | "),
            "---|".repeat(head.len())
        );
        for row in &self.variants {
            s.push_str(&format!("| {} |\n", self.cells(row, &regions).join(" | ")));
        }
        let errors: Vec<&String> = self.variants.iter().flat_map(|r| &r.errors).collect();
        for e in errors {
            s.push_str(&format!("\nerror: {e}\n"));
        }
        s
    }

    fn cells(&self, row: &Row, regions: &[String]) -> Vec<String> {
        let mut c = vec![
            format!("`{}`", row.variant),
            row.seeds.to_string(),
            spread_cell(&row.lost),
            format!(
                "{} / {}",
                ms_cell(row.loss_window_ms.p50),
                ms_cell(row.loss_window_ms.max)
            ),
        ];
        for r in regions {
            let u = row.unavailable_ms.get(r).copied().unwrap_or_default();
            c.push(format!("{} / {}", ms_cell(u.p50), ms_cell(u.max)));
        }
        c.extend([
            cell(row.detection_ms.p50),
            cell(row.completion_ms.p50),
            cell(row.write_latency_p50_us),
            cell(row.write_latency_p99_us),
            cell(row.full_resyncs.p50),
        ]);
        c
    }

    /// One bar chart per figure (`(file name, SVG)`): each variant's median (or percentile).
    pub fn charts(&self) -> Result<Vec<(String, String)>, String> {
        let mut charts = vec![
            self.chart("lost", "Lost acknowledged writes (p50)", "writes", |r| {
                r.lost.p50
            }),
            self.chart("loss-window", "Data-loss window (p50)", "ms", |r| {
                r.loss_window_ms.p50
            }),
            self.chart("detection", "Failover detection (p50)", "ms", |r| {
                r.detection_ms.p50
            }),
            self.chart("failover", "Failover completion (p50)", "ms", |r| {
                r.completion_ms.p50
            }),
            self.chart("latency-p50", "Write latency p50", "µs", |r| {
                r.write_latency_p50_us
            }),
            self.chart("latency-p99", "Write latency p99", "µs", |r| {
                r.write_latency_p99_us
            }),
            self.chart("full-resyncs", "Full resyncs (p50)", "resyncs", |r| {
                r.full_resyncs.p50
            }),
        ];
        for region in self.regions() {
            let title = format!("Longest span without a successful write, {region} (p50)");
            let name = format!("unavailable-{region}");
            charts.push(self.chart(&name, &title, "ms", |r| {
                r.unavailable_ms.get(&region).and_then(|s| s.p50)
            }));
        }
        charts.into_iter().collect()
    }

    /// One chart: `figure` of every variant (0 where it has none).
    fn chart(
        &self,
        name: &str,
        title: &str,
        unit: &str,
        figure: impl Fn(&Row) -> Option<u64>,
    ) -> Result<(String, String), String> {
        let bars: Vec<(String, f64)> = self
            .variants
            .iter()
            .map(|r| (r.variant.clone(), figure(r).map_or(0.0, |v| v as f64)))
            .collect();
        let svg = crate::report::bar_chart_svg(title, unit, &bars)?;
        Ok((format!("{name}.svg"), svg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variations_multiply_in_order() {
        let v = variants(&[parse_vary("a=1,2").unwrap(), parse_vary("b=x,y,z").unwrap()]);
        assert_eq!(v.len(), 6);
        assert_eq!(v[0], vec!["a=1", "b=x"]);
        assert_eq!(v[5], vec!["a=2", "b=z"]);
        assert!(parse_vary("a").is_err());
        assert!(parse_vary("a=1,,2").is_err());
    }

    fn event(process: u32, kind: EventType, f: &str, ms: u64) -> crate::history::HistoryEvent {
        crate::history::HistoryEvent::new(
            process,
            kind,
            f,
            "k".into(),
            crate::history::Value::Null,
            ms * 1_000_000,
        )
    }

    fn client(id: u32, region: &str) -> crate::check::figures::Process {
        crate::check::figures::Process {
            id,
            role: Role::Client,
            name: format!("w/{id}"),
            region: region.into(),
            workload: Some("w".into()),
        }
    }

    #[test]
    fn unavailability_is_the_longest_gap_between_successful_writes_per_region() {
        use EventType::{Fail, Invoke, Ok};
        let table = ProcessTable::new(vec![client(0, "east"), client(1, "west")]);
        let history = History::merge(vec![
            event(0, Invoke, "set", 0),
            event(0, Ok, "set", 10),
            event(0, Invoke, "set", 20),
            event(0, Fail, "set", 3000),
            event(0, Invoke, "get", 3000),
            event(0, Ok, "get", 3010),
            event(0, Invoke, "set", 3020),
            event(0, Ok, "set", 4000),
            event(1, Invoke, "set", 100),
            event(1, Fail, "set", 200),
            event(1, Invoke, "set", 5000),
        ]);
        let u = unavailability_ms(&history, &table);
        // east: from its write at 10 ms to the next at 4000 ms (the read does not count).
        assert_eq!(u["east"], 3990);
        // west never wrote: unavailable from the first to the last invocation.
        assert_eq!(u["west"], 5000);
    }
}
