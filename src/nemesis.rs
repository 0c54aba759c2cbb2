//! The random nemesis: faults drawn from their own RNG stream (`"nemesis"`), so turning it on
//! never changes the workload's or the network's randomness. The whole schedule is drawn before
//! the run starts and then applied like a scheduled one, so it appears in the trace, the summary
//! and the human report exactly like hand-written faults.

use rand::RngExt;

use crate::fault::{FaultKind, FaultSpec};
use crate::sim::{ProcessId, SimRng};

/// Fault kinds the nemesis can draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NemesisKind {
    /// Split the servers into two random non-empty sides (clients stay with their region's side
    /// only if they are listed; by default clients are not partitioned).
    Partition,
    /// Cut one random server off from everyone.
    Isolate,
    /// kill -9 a random server; it restarts when the fault heals.
    Crash,
    /// Power loss of a random server; it restarts when the fault heals.
    MachineCrash,
    /// SIGSTOP a random server; SIGCONT when the fault heals.
    Pause,
    /// Packet loss between a random server and everyone else.
    Loss,
    /// Extra latency between a random server and everyone else.
    Latency,
    /// A random server's clock jumps forward.
    Clock,
    /// A random server's disk stops completing fsyncs.
    DiskStall,
    /// A random server's disk refuses writes (full).
    DiskError,
    /// A random server's fsyncs take `slow_fsync` each.
    SlowDisk,
}

impl NemesisKind {
    /// Names as in scenario files.
    pub const NAMES: &'static [(&'static str, NemesisKind)] = &[
        ("partition", NemesisKind::Partition),
        ("isolate", NemesisKind::Isolate),
        ("crash", NemesisKind::Crash),
        ("machine-crash", NemesisKind::MachineCrash),
        ("pause", NemesisKind::Pause),
        ("loss", NemesisKind::Loss),
        ("latency", NemesisKind::Latency),
        ("clock", NemesisKind::Clock),
        ("disk-stall", NemesisKind::DiskStall),
        ("disk-error", NemesisKind::DiskError),
        ("slow-disk", NemesisKind::SlowDisk),
    ];

    /// The kinds a nemesis draws from when the scenario names none (the disk's errors and
    /// slow fsyncs are drawn only when named, so schedules stay as they were before them).
    pub const DEFAULT: &'static [NemesisKind] = &[
        NemesisKind::Partition,
        NemesisKind::Isolate,
        NemesisKind::Crash,
        NemesisKind::MachineCrash,
        NemesisKind::Pause,
        NemesisKind::Loss,
        NemesisKind::Latency,
        NemesisKind::Clock,
        NemesisKind::DiskStall,
    ];

    /// The kind's scenario name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .expect("every kind is named")
    }
}

/// A nemesis configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NemesisSpec {
    /// Kinds to draw from, uniformly.
    pub kinds: Vec<NemesisKind>,
    /// Swarm testing: each seed draws from its own random non-empty subset of `kinds`, so seeds
    /// explore schedules dominated by different faults (Groce et al., "Swarm Testing", 2012).
    pub swarm: bool,
    /// Mean time between fault starts (gaps are uniform in [mean/2, 3·mean/2]).
    pub mean_interval_ns: u64,
    /// Shortest fault.
    pub min_duration_ns: u64,
    /// Longest fault.
    pub max_duration_ns: u64,
    /// No fault starts before this.
    pub start_ns: u64,
    /// Every fault heals by this time (the start of the quiet phase).
    pub end_ns: u64,
    /// Loss rate for `loss` faults (ppm).
    pub loss_ppm: u32,
    /// Extra latency for `latency` faults.
    pub extra_latency_ns: u64,
    /// Clock jump for `clock` faults.
    pub clock_jump_ns: i64,
    /// Extra time per fsync for `slow-disk` faults.
    pub slow_fsync_ns: u64,
}

/// Draws the schedule. `servers` are the candidate targets (with names), `everyone` all
/// processes (the other side of isolations).
pub fn draw(
    spec: &NemesisSpec,
    rng: &mut SimRng,
    servers: &[(ProcessId, String)],
    everyone: &[ProcessId],
) -> Vec<FaultSpec> {
    let mut out = Vec::new();
    if spec.kinds.is_empty() || servers.is_empty() {
        return out;
    }
    let kinds = if spec.swarm {
        swarm_subset(&spec.kinds, rng)
    } else {
        spec.kinds.clone()
    };
    let mut t = spec.start_ns;
    // A bound on the loop, whatever the configuration: at most one fault per millisecond.
    let max_faults = (spec.end_ns.saturating_sub(spec.start_ns) / 1_000_000).max(1);
    while (out.len() as u64) < max_faults {
        let mean = spec.mean_interval_ns.max(1);
        t += rng.random_range(mean / 2..=mean + mean / 2).max(1);
        if t >= spec.end_ns {
            break;
        }
        let kind = kinds[rng.random_range(0..kinds.len())];
        let dur =
            rng.random_range(spec.min_duration_ns..=spec.max_duration_ns.max(spec.min_duration_ns));
        let heal = (t + dur.max(1)).min(spec.end_ns);
        let victim = rng.random_range(0..servers.len());
        let (vid, vname) = (servers[victim].0, servers[victim].1.clone());
        let rest: Vec<ProcessId> = everyone.iter().copied().filter(|p| *p != vid).collect();
        let victim = Victim {
            index: victim,
            id: vid,
            name: vname,
            rest,
        };
        let (fk, targets) = fault_for(spec, kind, &victim, rng, servers);
        out.push(FaultSpec {
            kind: fk,
            targets,
            label: format!("nemesis {}", kind.name()),
            at_ns: t,
            heal_ns: Some(heal),
        });
    }
    out
}

/// A random non-empty subset of `kinds`, each kept with probability one half.
fn swarm_subset(kinds: &[NemesisKind], rng: &mut SimRng) -> Vec<NemesisKind> {
    loop {
        let subset: Vec<NemesisKind> = kinds
            .iter()
            .copied()
            .filter(|_| rng.random_range(0..2u32) == 1)
            .collect();
        if !subset.is_empty() {
            return subset;
        }
    }
}

/// The server a drawn fault hits, and everyone else.
struct Victim {
    index: usize,
    id: ProcessId,
    name: String,
    rest: Vec<ProcessId>,
}

/// The fault of `kind` on the victim (a partition draws its sides from `rng`).
fn fault_for(
    spec: &NemesisSpec,
    kind: NemesisKind,
    v: &Victim,
    rng: &mut SimRng,
    servers: &[(ProcessId, String)],
) -> (FaultKind, Vec<String>) {
    match kind {
        NemesisKind::Partition => split(v, rng, servers),
        NemesisKind::Isolate => (
            FaultKind::Partition {
                a: vec![v.id],
                b: v.rest.clone(),
                one_way: false,
            },
            vec![v.name.clone()],
        ),
        NemesisKind::Crash | NemesisKind::MachineCrash => (
            FaultKind::Crash {
                nodes: vec![v.id],
                machine: kind == NemesisKind::MachineCrash,
                wipe_disk: false,
            },
            vec![v.name.clone()],
        ),
        NemesisKind::Pause => (FaultKind::Pause { nodes: vec![v.id] }, vec![v.name.clone()]),
        NemesisKind::Loss => (
            FaultKind::Loss {
                a: vec![v.id],
                b: v.rest.clone(),
                ppm: spec.loss_ppm,
            },
            vec![v.name.clone()],
        ),
        NemesisKind::Latency => (
            FaultKind::Latency {
                a: vec![v.id],
                b: v.rest.clone(),
                extra_ns: spec.extra_latency_ns,
            },
            vec![v.name.clone()],
        ),
        NemesisKind::Clock => (
            FaultKind::Clock {
                nodes: vec![v.id],
                jump_ns: spec.clock_jump_ns,
                drift_ppm: 0,
            },
            vec![v.name.clone()],
        ),
        NemesisKind::DiskStall => (
            FaultKind::DiskStall { nodes: vec![v.id] },
            vec![v.name.clone()],
        ),
        NemesisKind::DiskError => (
            FaultKind::DiskError {
                nodes: vec![v.id],
                error: crate::fault::DiskError::Full,
            },
            vec![v.name.clone()],
        ),
        NemesisKind::SlowDisk => (
            FaultKind::SlowDisk {
                nodes: vec![v.id],
                fsync_ns: spec.slow_fsync_ns,
            },
            vec![v.name.clone()],
        ),
    }
}

/// Two random non-empty sides of the servers: the victim on one, its neighbour on the other.
fn split(
    v: &Victim,
    rng: &mut SimRng,
    servers: &[(ProcessId, String)],
) -> (FaultKind, Vec<String>) {
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut la = Vec::new();
    let mut lb = Vec::new();
    for (i, (p, n)) in servers.iter().enumerate() {
        if i == v.index || (i != (v.index + 1) % servers.len() && rng.random_bool(0.5)) {
            a.push(*p);
            la.push(n.clone());
        } else {
            b.push(*p);
            lb.push(n.clone());
        }
    }
    la.push("|".into());
    la.extend(lb);
    (
        FaultKind::Partition {
            a,
            b,
            one_way: false,
        },
        la,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::RngStreams;

    fn spec() -> NemesisSpec {
        NemesisSpec {
            kinds: NemesisKind::DEFAULT.to_vec(),
            swarm: false,
            mean_interval_ns: 5_000_000_000,
            min_duration_ns: 1_000_000_000,
            max_duration_ns: 10_000_000_000,
            start_ns: 0,
            end_ns: 100_000_000_000,
            loss_ppm: 100_000,
            extra_latency_ns: 100_000_000,
            clock_jump_ns: 5_000_000_000,
            slow_fsync_ns: 3_000_000_000,
        }
    }

    #[test]
    fn schedule_is_a_function_of_the_stream_and_heals_in_time() {
        let servers: Vec<(ProcessId, String)> =
            (0..3).map(|i| (ProcessId(i), format!("s{i}"))).collect();
        let everyone: Vec<ProcessId> = (0..5).map(ProcessId).collect();
        let a = draw(
            &spec(),
            &mut RngStreams::new(1).stream("nemesis"),
            &servers,
            &everyone,
        );
        let b = draw(
            &spec(),
            &mut RngStreams::new(1).stream("nemesis"),
            &servers,
            &everyone,
        );
        let c = draw(
            &spec(),
            &mut RngStreams::new(2).stream("nemesis"),
            &servers,
            &everyone,
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() > 5);
        for f in &a {
            assert!(f.heal_ns.unwrap() <= 100_000_000_000 && f.heal_ns.unwrap() > f.at_ns);
            if let FaultKind::Partition { a, b, .. } = &f.kind {
                assert!(!a.is_empty() && !b.is_empty());
            }
        }
    }

    #[test]
    fn swarm_seeds_draw_from_different_subsets_of_kinds() {
        let servers: Vec<(ProcessId, String)> =
            (0..3).map(|i| (ProcessId(i), format!("s{i}"))).collect();
        let everyone: Vec<ProcessId> = (0..5).map(ProcessId).collect();
        let swarm = NemesisSpec {
            swarm: true,
            ..spec()
        };
        let mut mixes = std::collections::BTreeSet::new();
        for seed in 1..=30 {
            let faults = draw(
                &swarm,
                &mut RngStreams::new(seed).stream("nemesis"),
                &servers,
                &everyone,
            );
            let kinds: std::collections::BTreeSet<String> =
                faults.iter().map(|f| f.label.clone()).collect();
            assert!(
                kinds.len() < NemesisKind::NAMES.len(),
                "seed {seed} drew every kind: {kinds:?}"
            );
            mixes.insert(kinds.into_iter().collect::<Vec<_>>().join(","));
        }
        assert!(mixes.len() >= 10, "only {} distinct mixes", mixes.len());
    }
}
