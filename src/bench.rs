//! Performance figures for `simkv bench`: the kernel's raw event rate on a timer-only workload
//! next to a bare binary-heap loop doing the same events, and how fast scenarios run (simulated
//! seconds per wall second, events per second). Timings repeat interleaved and report medians.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use crate::scenario::Scenario;
use crate::sim::{
    Ctx, Kernel, KernelLimits, LinkPolicy, Message, Process, ProcessId, SimTime, Step,
};
use crate::world::{RunError, World};
/// A large scenario for the scale benchmark: `servers` servers (one primary, the rest its
/// replicas, spread over three regions), `clients` clients, and a random nemesis.
pub fn scale_scenario(servers: usize, clients: usize, duration_s: u64) -> String {
    let mut s = format!(
        "name = \"scale\"\nduration = \"{duration_s}s\"\nquiet = \"10s\"\nregions = [\"a\", \"b\", \"c\"]\n\
         [servers.defaults]\nrepl-timeout = 20\nsave = \"\"\n"
    );
    for i in 0..servers {
        s.push_str(&format!(
            "[servers.n{i}]\nregion = \"{}\"\n",
            ["a", "b", "c"][i % 3]
        ));
        if i > 0 {
            s.push_str("replicaof = \"n0\"\n");
        }
    }
    s.push_str(&format!(
        "[workloads.app]\nregion = \"a\"\nclients = {clients}\ntarget = \"n0\"\nthink = \"50ms\"\nkeys = 1000\n\
         mix = {{ set = 50, get = 50 }}\n[nemesis]\ninterval = \"5s\"\nmax_duration = \"10s\"\n"
    ));
    s
}

/// Live timers in the kernel benchmark: one per process.
pub const BENCH_TIMERS: u32 = 1024;

/// The period of ticker `i`: 1,000 to 1,096 ns, so timers interleave and often tie.
pub fn ticker_period_ns(i: u32) -> u64 {
    1_000 + u64::from(i % 97)
}

/// A message type for the timer-only benchmark (never sent).
pub struct NoMessage;

impl Message for NoMessage {
    fn wire_size(&self) -> u64 {
        0
    }
    fn trace_word(&self) -> u64 {
        0
    }
}

impl crate::sim::Vocabulary for NoMessage {
    type Fact = crate::sim::NoFacts;
}

/// A process that re-arms a timer every time one fires.
pub struct Ticker {
    period_ns: u64,
    /// The sum of the times its timers fired at (wrapping), to compare with the bare loop.
    time_sum: u64,
}

impl Process for Ticker {
    type Msg = NoMessage;
    fn on_start(&mut self, ctx: &mut Ctx<'_, NoMessage>) {
        ctx.set_timer(self.period_ns, 0);
    }
    fn on_message(&mut self, _: &mut Ctx<'_, NoMessage>, _: ProcessId, _: NoMessage) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_, NoMessage>, tag: u64) {
        self.time_sum = self.time_sum.wrapping_add(ctx.now().0);
        ctx.set_timer(self.period_ns, tag);
    }
}

/// A network that never carries anything (the benchmark sends no messages).
pub struct NoNetwork;

impl LinkPolicy for NoNetwork {
    fn transmit(&mut self, now: SimTime, _: ProcessId, _: ProcessId, _: u64) -> Option<SimTime> {
        Some(now)
    }
    fn is_open(&self, _: ProcessId, _: ProcessId) -> bool {
        true
    }
    fn queued(&mut self, _: ProcessId, _: ProcessId, _: u64) {}
    fn dequeued(&mut self, _: ProcessId, _: ProcessId, _: u64) {}
    fn queued_bytes(&self, _: ProcessId, _: ProcessId) -> u64 {
        0
    }
}

/// What a timer workload did: events, the trace hash (or 0 for the bare loop) and the wrapping
/// sum of the times events fired at, equal for the kernel and the bare loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerRun {
    /// Events delivered.
    pub events: u64,
    /// The kernel's trace hash (0 for the bare loop, which keeps none).
    pub trace_hash: u64,
    /// The wrapping sum of every event's time.
    pub time_sum: u64,
}

/// Runs `processes` tickers in the kernel until `events` timers fired.
pub fn timer_workload(processes: u32, events: u64) -> TimerRun {
    let mut k: Kernel<Ticker, NoNetwork, ()> = Kernel::new(1, NoNetwork, KernelLimits::default());
    for i in 0..processes {
        let ticker = Ticker {
            period_ns: ticker_period_ns(i),
            time_sum: 0,
        };
        k.add(&format!("ticker/{i}"), ticker);
    }
    k.start();
    while k.delivered() < events {
        match k.step(SimTime(u64::MAX)).expect("no limits are reached") {
            Step::Handled => {}
            _ => break,
        }
    }
    let ids = (0..processes).map(ProcessId);
    let time_sum = ids.fold(0u64, |s, id| s.wrapping_add(k.process(id).time_sum));
    TimerRun {
        events: k.delivered(),
        trace_hash: k.trace().value(),
        time_sum,
    }
}

/// The reference: the same timers in a bare `BinaryHeap<Reverse<(time, sequence)>>` loop (the
/// low 16 bits of the sequence word name the ticker), with no processes, payloads or trace.
pub fn bare_heap_loop(processes: u32, events: u64) -> TimerRun {
    assert!(processes <= 1 << 16, "the ticker fits in 16 bits");
    let periods: Vec<u64> = (0..processes).map(ticker_period_ns).collect();
    let mut heap = BinaryHeap::with_capacity(periods.len());
    let mut seq = 0u64;
    for (i, p) in periods.iter().enumerate() {
        seq += 1;
        heap.push(Reverse((*p, seq << 16 | i as u64)));
    }
    let (mut fired, mut time_sum) = (0u64, 0u64);
    while fired < events {
        let Some(Reverse((t, word))) = heap.pop() else {
            break;
        };
        fired += 1;
        time_sum = time_sum.wrapping_add(t);
        let i = (word & 0xffff) as usize;
        seq += 1;
        heap.push(Reverse((t + periods[i], seq << 16 | i as u64)));
    }
    TimerRun {
        events: fired,
        trace_hash: 0,
        time_sum,
    }
}

/// The kernel next to the bare loop: median events per second of each over interleaved rounds.
#[derive(Clone, Copy, Debug)]
pub struct KernelFigures {
    /// Live timers (one per process).
    pub timers: u32,
    /// Events per round.
    pub events: u64,
    /// The kernel's median events per second.
    pub kernel_per_s: f64,
    /// The bare loop's median events per second.
    pub bare_per_s: f64,
    /// The kernel's trace hash (the same every round).
    pub trace_hash: u64,
}

impl KernelFigures {
    /// Kernel speed as a fraction of the bare loop's (the target is at least 0.85).
    pub fn ratio(&self) -> f64 {
        self.kernel_per_s / self.bare_per_s
    }
}

/// The wall clock, injected by the caller (the library never reads it itself).
pub type Clock<'a> = &'a dyn Fn() -> Duration;

/// Times the kernel and the bare loop in turn, `rounds` times each, on `events` events.
pub fn kernel_vs_bare(timers: u32, events: u64, rounds: usize, now: Clock) -> KernelFigures {
    let (mut kernel, mut bare, mut trace_hash) = (Vec::new(), Vec::new(), 0);
    for _ in 0..rounds.max(1) {
        let t = now();
        let k = timer_workload(timers, events);
        kernel.push(k.events as f64 / (now() - t).as_secs_f64());
        let t = now();
        let b = bare_heap_loop(timers, events);
        bare.push(b.events as f64 / (now() - t).as_secs_f64());
        assert_eq!(
            k.time_sum, b.time_sum,
            "the kernel and the bare loop do the same events"
        );
        trace_hash = k.trace_hash;
    }
    KernelFigures {
        timers,
        events,
        kernel_per_s: median(&mut kernel),
        bare_per_s: median(&mut bare),
        trace_hash,
    }
}

/// How fast one scenario's simulation runs, without checkers or reports.
#[derive(Clone, Debug)]
pub struct SimulationFigures {
    /// The scenario's name.
    pub scenario: String,
    /// Simulated seconds per run.
    pub sim_s: f64,
    /// Events per run.
    pub events: u64,
    /// Median wall seconds per run.
    pub wall_s: f64,
}

impl SimulationFigures {
    /// Events per wall second.
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.wall_s
    }
    /// Simulated seconds per wall second.
    pub fn times_real_time(&self) -> f64 {
        self.sim_s / self.wall_s
    }
}

/// Runs the simulation of `scenario` with `seed` `rounds` times (the world only: no checkers,
/// no reports) and takes the median wall time.
pub fn simulation_only(
    scenario: &Scenario,
    seed: u64,
    rounds: usize,
    now: Clock,
) -> Result<SimulationFigures, RunError> {
    let mut walls = Vec::new();
    let mut events = 0;
    for _ in 0..rounds.max(1) {
        let t = now();
        let out = World::new(scenario, seed).run(&mut |_| {})?;
        walls.push((now() - t).as_secs_f64());
        events = out.events;
    }
    Ok(SimulationFigures {
        scenario: scenario.name.clone(),
        sim_s: scenario.duration_ns as f64 / 1e9,
        events,
        wall_s: median(&mut walls),
    })
}

/// Where one run's wall time goes: the simulation, then each checker step (median of the
/// rounds for each figure; summaries and reports are not timed).
#[derive(Clone, Debug)]
pub struct CheckerFigures {
    /// The scenario's name.
    pub scenario: String,
    /// Operations in the history.
    pub operations: usize,
    /// Median wall seconds of the simulation.
    pub simulation_s: f64,
    /// Median wall seconds of gathering the final states and running every checker.
    pub checkers_s: f64,
    /// Each step of [`crate::check::STEPS`] with its median wall seconds.
    pub steps: Vec<(&'static str, f64)>,
}

impl CheckerFigures {
    /// The checkers' share of the simulation and checkers together.
    pub fn checker_share(&self) -> f64 {
        self.checkers_s / (self.simulation_s + self.checkers_s)
    }
}

/// Runs `scenario` with `seed` `rounds` times and times the simulation and each checker step.
pub fn checker_steps(
    scenario: &Scenario,
    seed: u64,
    rounds: usize,
    now: Clock,
) -> Result<CheckerFigures, RunError> {
    let rounds = rounds.max(1);
    let (mut simulation, mut checkers) = (Vec::new(), Vec::new());
    let mut steps: Vec<Vec<f64>> = vec![Vec::new(); crate::check::STEPS.len()];
    let mut operations = 0;
    for _ in 0..rounds {
        let t = now();
        let out = World::new(scenario, seed).run(&mut |_| {})?;
        let started = now();
        simulation.push((started - t).as_secs_f64());
        let finals = crate::runner::final_states(&out);
        let evidence = crate::check::Evidence {
            history: &out.history,
            notes: &out.notes,
            finals: &finals,
        };
        let mut last = now();
        let mut step = 0;
        crate::check::run_all_observed(&evidence, &mut |name| {
            assert_eq!(name, crate::check::STEPS[step], "steps end in order");
            let t = now();
            steps[step].push((t - last).as_secs_f64());
            (last, step) = (t, step + 1);
        });
        checkers.push((now() - started).as_secs_f64());
        operations = out.history.operations().len();
    }
    Ok(CheckerFigures {
        scenario: scenario.name.clone(),
        operations,
        simulation_s: median(&mut simulation),
        checkers_s: median(&mut checkers),
        steps: crate::check::STEPS
            .iter()
            .zip(&mut steps)
            .map(|(name, times)| (*name, median(times)))
            .collect(),
    })
}

/// The median of `xs` (the mean of the middle two for an even count).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => xs[n / 2],
        _ => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_workload_is_deterministic() {
        let a = timer_workload(10, 10_000);
        let b = timer_workload(10, 10_000);
        assert_eq!(a, b);
        assert_eq!(a.events, 10_000);
        assert_ne!(timer_workload(11, 10_000).trace_hash, a.trace_hash);
    }

    #[test]
    fn bare_loop_does_the_same_events_as_the_kernel() {
        for (processes, events) in [(1, 10), (97, 5_000), (BENCH_TIMERS, 50_000)] {
            let k = timer_workload(processes, events);
            let b = bare_heap_loop(processes, events);
            assert_eq!((k.events, k.time_sum), (b.events, b.time_sum));
        }
        assert_ne!(
            bare_heap_loop(97, 5_000).time_sum,
            bare_heap_loop(98, 5_000).time_sum
        );
    }

    #[test]
    fn checker_steps_time_every_step() {
        let text = "name = \"t\"\nduration = \"2s\"\nregions = [\"a\"]\n[servers.p1]\nregion = \"a\"\n\
                    [workloads.app]\nregion = \"a\"\nclients = 2\ntarget = \"p1\"\n";
        let sc = Scenario::parse("t.toml", text, &[]).unwrap();
        // A clock that moves 1 ms each time it is read: the simulation is read twice (1 ms),
        // each checker step once after the checkers start, and their end once more.
        let ticks = std::cell::Cell::new(0u64);
        let now = || {
            ticks.set(ticks.get() + 1);
            Duration::from_millis(ticks.get())
        };
        let f = checker_steps(&sc, 1, 3, &now).unwrap();
        assert!(f.operations > 0);
        let names: Vec<&str> = f.steps.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, crate::check::STEPS);
        assert!(f.steps.iter().all(|(_, s)| *s == 0.001), "{f:?}");
        let checkers = (crate::check::STEPS.len() + 2) as f64 / 1000.0;
        assert_eq!((f.simulation_s, f.checkers_s), (0.001, checkers), "{f:?}");
        assert_eq!(f.checker_share(), checkers / (checkers + 0.001));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
