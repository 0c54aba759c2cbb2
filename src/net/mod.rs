//! The network: regions, a one-way latency matrix with jitter, bandwidth per link, and the fault
//! rules that cut links, lose packets or add latency.
//!
//! Connections behave like TCP: every directed link delivers in send order and never duplicates;
//! a message occupies the link for `size / bandwidth` (so a large RDB transfer delays what follows it);
//! packet loss never drops bytes but costs a retransmission timeout; a cut link holds messages
//! (the kernel keeps them) until the cut heals. Nobody is told that a link is cut: peers notice only
//! through their own timeouts, as Redis does.
//!
//! Architecture Invariant: `net` knows nothing about Redis; it sees processes, regions and sizes.

use rand::RngExt;

use crate::sim::{LinkPolicy, ProcessId, SimRng, SimTime};

/// One TCP segment's payload, used to turn a packet-loss rate into a per-message loss chance.
const SEGMENT_BYTES: u64 = 1460;
/// Linux's minimum retransmission timeout.
const MIN_RTO_NS: u64 = 200_000_000;
/// Retransmissions before the model stops doubling the timeout (TCP gives up much later).
const MAX_BACKOFFS: u32 = 6;

/// The one-way characteristics of traffic from one region to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathSpec {
    /// Base one-way latency in nanoseconds.
    pub latency_ns: u64,
    /// Extra latency drawn uniformly from `0..=jitter_ns` per message.
    pub jitter_ns: u64,
    /// Bytes per second a single connection carries.
    pub bandwidth_bytes_per_sec: u64,
}

/// Regions and the paths between them.
#[derive(Clone, Debug)]
pub struct Topology {
    regions: Vec<String>,
    paths: Vec<PathSpec>,
}

impl Topology {
    /// A topology with these regions, every path set to `default`.
    pub fn new(regions: Vec<String>, default: PathSpec) -> Self {
        let n = regions.len();
        Topology {
            regions,
            paths: vec![default; n * n],
        }
    }
    /// Sets the path both ways between regions `a` and `b` (indices).
    pub fn set_path(&mut self, a: usize, b: usize, spec: PathSpec) {
        let n = self.regions.len();
        self.paths[a * n + b] = spec;
        self.paths[b * n + a] = spec;
    }
    /// The path from region `a` to region `b`.
    pub fn path(&self, a: usize, b: usize) -> PathSpec {
        self.paths[a * self.regions.len() + b]
    }
    /// Region names in index order.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }
    /// The index of a region by name.
    pub fn region_index(&self, name: &str) -> Option<usize> {
        self.regions.iter().position(|r| r == name)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct LinkState {
    next_free_ns: u64,
    last_arrival_ns: u64,
    queued_bytes: u64,
    cuts: u16,
    /// The sum of the loss of every fault on the link (it may exceed 100%; clamped on use, so
    /// healing one of two overlapping losses leaves exactly the other).
    loss_ppm: i64,
    /// The sum of the extra latency of every fault on the link.
    extra_latency_ns: i64,
}

/// The network of one run: the topology, where each process lives, and per-link state.
pub struct Network {
    topology: Topology,
    region_of: Vec<usize>,
    links: Vec<LinkState>,
    rng: SimRng,
    bytes_sent: u64,
    retransmissions: u64,
}

impl Network {
    /// A network over `topology`; `region_of[p]` is the region of process `p`.
    pub fn new(topology: Topology, region_of: Vec<usize>, rng: SimRng) -> Self {
        let n = region_of.len();
        Network {
            topology,
            region_of,
            links: vec![LinkState::default(); n * n],
            rng,
            bytes_sent: 0,
            retransmissions: 0,
        }
    }

    fn link(&self, from: ProcessId, to: ProcessId) -> &LinkState {
        &self.links[from.index() * self.region_of.len() + to.index()]
    }
    fn link_mut(&mut self, from: ProcessId, to: ProcessId) -> &mut LinkState {
        let n = self.region_of.len();
        &mut self.links[from.index() * n + to.index()]
    }

    /// The region index of a process.
    pub fn region_of(&self, p: ProcessId) -> usize {
        self.region_of[p.index()]
    }
    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }
    /// Number of processes the network connects.
    pub fn process_count(&self) -> usize {
        self.region_of.len()
    }

    /// Cuts (`delta = 1`) or heals (`delta = -1`) the directed link. Cuts nest: a link is open
    /// only when every fault that cut it has healed.
    pub fn adjust_cut(&mut self, from: ProcessId, to: ProcessId, delta: i32) {
        let l = self.link_mut(from, to);
        let v = i32::from(l.cuts) + delta;
        assert!(v >= 0, "a link is healed more often than it was cut");
        l.cuts = u16::try_from(v).expect("fewer than 65536 overlapping cuts");
    }

    /// Adds (or with a negative value removes) packet loss in parts per million on a link.
    pub fn adjust_loss(&mut self, from: ProcessId, to: ProcessId, delta_ppm: i64) {
        let l = self.link_mut(from, to);
        l.loss_ppm += delta_ppm;
        assert!(
            l.loss_ppm >= 0,
            "a link's loss is healed more than it was added"
        );
    }

    /// Adds (or with a negative value removes) extra latency on a link.
    pub fn adjust_latency(&mut self, from: ProcessId, to: ProcessId, delta_ns: i64) {
        let l = self.link_mut(from, to);
        l.extra_latency_ns += delta_ns;
        assert!(
            l.extra_latency_ns >= 0,
            "a link's latency is healed more than it was added"
        );
    }

    /// Total bytes handed to the network.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }
    /// Messages that needed at least one retransmission.
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }

    fn loss_delay(&mut self, loss_ppm: u32, size: u64) -> u64 {
        if loss_ppm == 0 {
            return 0;
        }
        let segments = size.div_ceil(SEGMENT_BYTES).max(1);
        let chance = (u64::from(loss_ppm) * segments).min(1_000_000);
        let mut delay = 0;
        let mut rto = MIN_RTO_NS;
        for _ in 0..MAX_BACKOFFS {
            if self.rng.random_range(0..1_000_000u64) >= chance {
                break;
            }
            delay += rto;
            rto *= 2;
        }
        if delay > 0 {
            self.retransmissions += 1;
        }
        delay
    }
}

impl LinkPolicy for Network {
    fn transmit(
        &mut self,
        now: SimTime,
        from: ProcessId,
        to: ProcessId,
        size: u64,
    ) -> Option<SimTime> {
        let state = *self.link(from, to);
        if state.cuts > 0 {
            return None;
        }
        let path = self
            .topology
            .path(self.region_of[from.index()], self.region_of[to.index()]);
        let bandwidth = path.bandwidth_bytes_per_sec.max(1);
        // The same quotient in 64 bits whenever the product fits (any size below 18 GB).
        let serialize_ns = match size.checked_mul(1_000_000_000) {
            Some(bits) => bits / bandwidth,
            None => (u128::from(size) * 1_000_000_000 / u128::from(bandwidth)) as u64,
        };
        let start = now.0.max(state.next_free_ns);
        let done = start + serialize_ns;
        let jitter = if path.jitter_ns > 0 {
            self.rng.random_range(0..=path.jitter_ns)
        } else {
            0
        };
        let loss = self.loss_delay(state.loss_ppm.clamp(0, 1_000_000) as u32, size);
        let arrival = (done + path.latency_ns + jitter + state.extra_latency_ns as u64 + loss)
            .max(state.last_arrival_ns);
        let l = self.link_mut(from, to);
        l.next_free_ns = done;
        l.last_arrival_ns = arrival;
        self.bytes_sent += size;
        Some(SimTime(arrival))
    }

    fn is_open(&self, from: ProcessId, to: ProcessId) -> bool {
        self.link(from, to).cuts == 0
    }

    fn queued(&mut self, from: ProcessId, to: ProcessId, size: u64) {
        self.link_mut(from, to).queued_bytes += size;
    }

    fn dequeued(&mut self, from: ProcessId, to: ProcessId, size: u64) {
        let l = self.link_mut(from, to);
        assert!(
            l.queued_bytes >= size,
            "a link dequeues more than it queued"
        );
        l.queued_bytes -= size;
    }

    fn queued_bytes(&self, from: ProcessId, to: ProcessId) -> u64 {
        self.link(from, to).queued_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::RngStreams;

    fn net() -> Network {
        let spec = PathSpec {
            latency_ns: 1_000_000,
            jitter_ns: 500_000,
            bandwidth_bytes_per_sec: 1_000_000,
        };
        let topo = Topology::new(vec!["a".into()], spec);
        Network::new(topo, vec![0, 0], RngStreams::new(1).stream("net"))
    }

    #[test]
    fn link_delivers_in_order_despite_jitter() {
        let mut n = net();
        let mut last = 0;
        for i in 0..100 {
            let t = n
                .transmit(SimTime(i * 10), ProcessId(0), ProcessId(1), 1)
                .unwrap();
            assert!(t.0 >= last);
            last = t.0;
        }
    }

    #[test]
    fn bandwidth_delays_large_messages_and_what_follows() {
        let mut n = net();
        let big = n
            .transmit(SimTime(0), ProcessId(0), ProcessId(1), 1_000_000)
            .unwrap();
        assert!(big.0 >= 1_000_000_000, "1 MB at 1 MB/s takes a second");
        let small = n
            .transmit(SimTime(0), ProcessId(0), ProcessId(1), 1)
            .unwrap();
        assert!(small >= big);
    }

    #[test]
    fn cut_links_refuse_and_nested_cuts_heal_in_order() {
        let mut n = net();
        n.adjust_cut(ProcessId(0), ProcessId(1), 1);
        n.adjust_cut(ProcessId(0), ProcessId(1), 1);
        assert!(
            n.transmit(SimTime(0), ProcessId(0), ProcessId(1), 1)
                .is_none()
        );
        assert!(
            n.transmit(SimTime(0), ProcessId(1), ProcessId(0), 1)
                .is_some()
        );
        n.adjust_cut(ProcessId(0), ProcessId(1), -1);
        assert!(!n.is_open(ProcessId(0), ProcessId(1)));
        n.adjust_cut(ProcessId(0), ProcessId(1), -1);
        assert!(n.is_open(ProcessId(0), ProcessId(1)));
    }

    #[test]
    fn total_loss_costs_retransmission_time_not_bytes() {
        let mut n = net();
        n.adjust_loss(ProcessId(0), ProcessId(1), 1_000_000);
        let t = n
            .transmit(SimTime(0), ProcessId(0), ProcessId(1), 1)
            .unwrap();
        assert!(t.0 >= MIN_RTO_NS * 63, "six doubling timeouts");
        assert_eq!(n.retransmissions(), 1);
    }

    #[test]
    fn overlapping_losses_sum_unclamped_and_heal_exactly() {
        let (a, b) = (ProcessId(0), ProcessId(1));
        let mut n = net();
        n.adjust_loss(a, b, 1_000_000);
        n.adjust_loss(a, b, 500_000);
        assert_eq!(n.link(a, b).loss_ppm, 1_500_000, "summed, not clamped");
        n.adjust_loss(a, b, -1_000_000);
        assert_eq!(
            n.link(a, b).loss_ppm,
            500_000,
            "the other loss is left exactly"
        );
        n.adjust_latency(a, b, 5);
        n.adjust_latency(a, b, 7);
        n.adjust_latency(a, b, -5);
        assert_eq!(n.link(a, b).extra_latency_ns, 7);
    }
}
