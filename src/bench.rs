//! Performance figures for `simkv bench`: the kernel's raw event rate on a timer-only workload,
//! and how fast scenarios run (simulated seconds per wall second, events per second).

use crate::sim::{
    Ctx, Kernel, KernelLimits, LinkPolicy, Message, Process, ProcessId, SimTime, Step,
};

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
    fired: u64,
}

impl Process for Ticker {
    type Msg = NoMessage;
    fn on_start(&mut self, ctx: &mut Ctx<'_, NoMessage>) {
        ctx.set_timer(self.period_ns, 0);
    }
    fn on_message(&mut self, _: &mut Ctx<'_, NoMessage>, _: ProcessId, _: NoMessage) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_, NoMessage>, tag: u64) {
        self.fired += 1;
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

/// Runs `processes` tickers until `events` timers fired; returns the events delivered and the
/// trace hash (so the work cannot be optimised away and is itself deterministic).
pub fn timer_workload(processes: u32, events: u64) -> (u64, u64) {
    let mut k: Kernel<Ticker, NoNetwork, ()> = Kernel::new(1, NoNetwork, KernelLimits::default());
    for i in 0..processes {
        k.add(
            &format!("ticker/{i}"),
            Ticker {
                period_ns: 1_000 + u64::from(i % 97),
                fired: 0,
            },
        );
    }
    k.start();
    while k.delivered() < events {
        match k.step(SimTime(u64::MAX)).expect("no limits are reached") {
            Step::Handled => {}
            _ => break,
        }
    }
    (k.delivered(), k.trace().value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_workload_is_deterministic() {
        let a = timer_workload(10, 10_000);
        let b = timer_workload(10, 10_000);
        assert_eq!(a, b);
        assert_eq!(a.0, 10_000);
        assert_ne!(timer_workload(11, 10_000).1, a.1);
    }
}
