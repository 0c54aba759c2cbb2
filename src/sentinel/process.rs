//! A Sentinel process: one [`Sentinel`] per `sentinel monitor` line, driven by one timer, with
//! replies routed back to the monitor that asked and hellos and votes routed by primary name.

use std::rc::Rc;

use rand::RngExt;

use super::{SLOT_SHIFT, Sentinel, SentinelConfig};
use crate::proto::Msg;
use crate::sim::{Ctx, ProcessId, SimTime};

/// A Sentinel process: one monitor (a [`Sentinel`] state machine) per primary it watches.
#[derive(Clone, Debug)]
pub struct SentinelProcess {
    monitors: Vec<Sentinel>,
}

impl SentinelProcess {
    /// A process named `label` watching each of `configs` (`sentinel monitor` lines).
    pub fn new(label: &str, configs: Vec<SentinelConfig>, names: Rc<Vec<String>>) -> Self {
        let monitors = configs
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut s = Sentinel::new(label, c, names.clone());
                s.requests.slot = i as u64;
                s
            })
            .collect();
        SentinelProcess { monitors }
    }

    /// The monitors, one per watched primary.
    pub fn monitors(&self) -> &[Sentinel] {
        &self.monitors
    }

    fn by_name(&mut self, name: &str) -> Option<&mut Sentinel> {
        self.monitors.iter_mut().find(|m| m.cfg.name == name)
    }

    fn schedule_tick(ctx: &mut Ctx<'_, Msg>) {
        // sentinel.c: sentinelTimer runs at 10 + rand()%10 Hz, re-rolled every tick, to
        // desynchronise.
        let hz = 10 + ctx.rng().random_range(0..10u64);
        ctx.set_timer(SimTime::NANOS_PER_SEC / hz, 0);
    }

    /// Starts every monitor and the timer.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        for m in &mut self.monitors {
            m.start(ctx);
        }
        Self::schedule_tick(ctx);
    }

    /// The periodic timer: every monitor ticks.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Msg>, _tag: u64) {
        for m in &mut self.monitors {
            m.tick(ctx);
        }
        Self::schedule_tick(ctx);
    }

    /// Routes a message to the monitor it concerns.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        let slot = |id: u64| (id >> SLOT_SHIFT) as usize;
        let target = match &msg {
            Msg::Pong { id } | Msg::InfoReply { id, .. } | Msg::IsMasterDownReply { id, .. } => {
                self.monitors.get_mut(slot(*id))
            }
            Msg::Hello(h) => {
                let name = h.name.clone();
                self.by_name(&name)
            }
            Msg::IsMasterDown { name, .. } => {
                let name = name.clone();
                self.by_name(&name)
            }
            Msg::GetMasterAddr { id, name } => {
                let (id, name) = (*id, name.clone());
                if self.by_name(&name).is_none() {
                    // `SENTINEL get-master-addr-by-name` of an unknown name replies nil.
                    ctx.send(from, Msg::MasterAddr { id, master: None });
                    return;
                }
                self.by_name(&name)
            }
            _ => None,
        };
        if let Some(m) = target {
            m.on_message(ctx, from, msg);
        }
    }
}
