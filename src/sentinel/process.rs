//! A Sentinel process: one [`Sentinel`] per `sentinel monitor` line, driven by one timer, with
//! replies routed back to the monitor that asked and hellos and votes routed by primary name.

use std::rc::Rc;

use rand::RngExt;

use super::{SLOT_SHIFT, Sentinel, SentinelConfig};
use crate::fault::AdminCommand;
use crate::proto::Msg;
use crate::sim::{Ctx, ProcessId, SimTime};

/// A Sentinel process: one monitor (a [`Sentinel`] state machine) per primary it watches.
/// Invariant: every monitor runs with the process's one current epoch (`sentinel.current_epoch`).
#[derive(Clone, Debug)]
pub struct SentinelProcess {
    monitors: Vec<Sentinel>,
    current_epoch: u64,
    label: String,
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
        SentinelProcess {
            monitors,
            current_epoch: 0,
            label: label.to_string(),
        }
    }

    /// Runs `f` on monitor `i` with the process's current epoch, and keeps what it adopted.
    fn with_epoch(&mut self, i: usize, f: impl FnOnce(&mut Sentinel)) {
        let m = &mut self.monitors[i];
        m.election.sync_epoch(self.current_epoch);
        f(m);
        self.current_epoch = m.election.current_epoch();
    }

    /// The sentinel's name.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The monitors, one per watched primary.
    pub fn monitors(&self) -> &[Sentinel] {
        &self.monitors
    }

    fn by_name(&self, name: &str) -> Option<usize> {
        self.monitors.iter().position(|m| m.cfg.name == name)
    }

    fn schedule_tick(ctx: &mut Ctx<'_, Msg>) {
        // sentinel.c: sentinelTimer runs at 10 + rand()%10 Hz, re-rolled every tick, to
        // desynchronise.
        let hz = 10 + ctx.rng().random_range(0..10u64);
        ctx.set_timer(SimTime::NANOS_PER_SEC / hz, 0);
    }

    /// Starts every monitor and the timer.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        for i in 0..self.monitors.len() {
            self.with_epoch(i, |m| m.start(ctx));
        }
        Self::schedule_tick(ctx);
    }

    /// The periodic timer: every monitor ticks.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Msg>, _tag: u64) {
        for i in 0..self.monitors.len() {
            self.with_epoch(i, |m| m.tick(ctx));
        }
        Self::schedule_tick(ctx);
    }

    /// Routes a message to the monitor it concerns.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        let slot = |id: u64| (id >> SLOT_SHIFT) as usize;
        let target = match &msg {
            // Another sentinel's PING.
            Msg::Ping { id } => {
                let (id, refused) = (*id, false);
                ctx.send(from, Msg::Pong { id, refused });
                return;
            }
            Msg::Pong { id, .. }
            | Msg::InfoReply { id, .. }
            | Msg::IsMasterDownReply { id, .. } => {
                Some(slot(*id)).filter(|i| *i < self.monitors.len())
            }
            Msg::Hello(h) => self.by_name(&h.name),
            Msg::IsMasterDown { name, .. } => self.by_name(name),
            Msg::Subscribe { name } => self.by_name(name),
            // An operator's `SENTINEL FAILOVER <name>` at this sentinel's console.
            Msg::Admin(AdminCommand::SentinelFailover(name)) => {
                let command = format!("SENTINEL FAILOVER {name}");
                let now = ctx.now();
                let reply = match self.by_name(name) {
                    // sentinelGetMasterByNameOrReplyError.
                    None => "(error) ERR No such master with that name".to_string(),
                    Some(i) => {
                        let mut reply = String::new();
                        self.with_epoch(i, |m| reply = m.manual_failover(ctx, now));
                        reply
                    }
                };
                let sentinel = self.label.clone();
                ctx.note(crate::fact::Fact::OperatorReply {
                    server: sentinel,
                    command,
                    reply,
                });
                return;
            }
            // sentinel.c: sentinelCommand "reset": sentinelResetMastersByPattern.
            Msg::Admin(AdminCommand::SentinelReset(pattern)) => {
                let command = format!("SENTINEL RESET {pattern}");
                let now = ctx.now();
                let mut reset = 0;
                for i in 0..self.monitors.len() {
                    if glob_match(pattern, &self.monitors[i].cfg.name) {
                        self.with_epoch(i, |m| m.reset_master(ctx, now));
                        reset += 1;
                    }
                }
                ctx.note(crate::fact::Fact::OperatorReply {
                    server: self.label.clone(),
                    command,
                    reply: format!("(integer) {reset}"),
                });
                return;
            }
            Msg::GetMasterAddr { id, name, .. } => {
                let found = self.by_name(name);
                if found.is_none() {
                    // `SENTINEL get-master-addr-by-name` of an unknown name replies nil.
                    ctx.send(
                        from,
                        Msg::MasterAddr {
                            id: *id,
                            master: None,
                        },
                    );
                }
                found
            }
            _ => None,
        };
        if let Some(i) = target {
            self.with_epoch(i, |m| m.on_message(ctx, from, msg));
        }
    }
}

/// util.c: stringmatchlen for the patterns operators type: `*`, `?` and literal characters.
fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((b'?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod glob_tests {
    use super::glob_match;

    #[test]
    fn patterns_match_as_redis_does() {
        assert!(glob_match("*", "mymaster"));
        assert!(glob_match("mymaster", "mymaster"));
        assert!(glob_match("my*", "mymaster"));
        assert!(glob_match("m?master", "mymaster"));
        assert!(!glob_match("other", "mymaster"));
        assert!(!glob_match("my?", "mymaster"));
    }
}
