//! The other sentinels watching the same primary: what each last answered to
//! `SENTINEL is-master-down-by-addr` (down or not, and its vote), and when it was last asked.

use std::collections::BTreeMap;

use super::election::Vote;
use crate::sim::{ProcessId, ProcessIds, SimTime};

/// `sentinel_ask_period`.
pub(super) const ASK_PERIOD: u64 = 1000 * SimTime::NANOS_PER_MS;

/// One other sentinel. Invariant: `down` and `vote` come from a reply no older than
/// 5 × `ASK_PERIOD` (older replies are forgotten by [`Peers::expire`]).
#[derive(Clone, Debug, Default)]
pub(super) struct Peer {
    /// Its last reply said the primary is down (`SRI_MASTER_DOWN`).
    pub down: bool,
    /// When its last reply came.
    pub reply_time: Option<SimTime>,
    /// The vote its last reply reported (`leader`, `leader_epoch`).
    pub vote: Option<Vote>,
    /// When it was last asked.
    pub last_ask: Option<SimTime>,
    /// When the last PING went to it.
    pub last_ping_sent: Option<SimTime>,
    /// When the oldest unanswered PING was sent.
    pub act_ping_time: Option<SimTime>,
    /// SDOWN (it stopped answering PINGs for down-after-milliseconds).
    pub sdown: bool,
}

/// Every sentinel ever discovered (by hello or by a request), never forgotten.
#[derive(Clone, Debug, Default)]
pub(super) struct Peers(BTreeMap<ProcessId, Peer>);

impl Peers {
    /// Records a sentinel; true when it was not known yet (`+sentinel`).
    pub fn learn(&mut self, p: ProcessId) -> bool {
        if self.0.contains_key(&p) {
            return false;
        }
        self.0.insert(p, Peer::default());
        true
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn ids(&self) -> ProcessIds {
        self.0.keys().copied().collect()
    }

    pub fn get_mut(&mut self, p: ProcessId) -> &mut Peer {
        self.0.entry(p).or_default()
    }

    /// Records a PONG.
    pub fn on_pong(&mut self, from: ProcessId) {
        if let Some(p) = self.0.get_mut(&from) {
            p.act_ping_time = None;
        }
    }

    /// Whether `p` is a known sentinel.
    pub fn knows(&self, p: ProcessId) -> bool {
        self.0.contains_key(&p)
    }

    /// How many say the primary is down.
    pub fn down_count(&self) -> u32 {
        self.0.values().filter(|p| p.down).count() as u32
    }

    /// The votes they reported.
    pub fn votes(&self) -> impl Iterator<Item = Vote> + '_ {
        self.0.values().filter_map(|p| p.vote)
    }

    /// After a switch, nobody's "down" is about the new primary.
    pub fn clear_down(&mut self) {
        for p in self.0.values_mut() {
            p.down = false;
        }
    }

    /// Records a reply to is-master-down-by-addr; a reply without a vote keeps the last one.
    pub fn on_reply(&mut self, from: ProcessId, now: SimTime, down: bool, vote: Option<Vote>) {
        let p = self.get_mut(from);
        p.down = down;
        p.reply_time = Some(now);
        if vote.is_some() {
            p.vote = vote;
        }
    }

    // sentinel.c: sentinelAskMasterStateToOtherSentinels
    /// Forgets a reply older than 5 × `ASK_PERIOD`.
    pub fn expire(&mut self, p: ProcessId, now: SimTime) {
        let peer = self.get_mut(p);
        if peer
            .reply_time
            .is_some_and(|t| now.since(t) > ASK_PERIOD * 5)
        {
            peer.down = false;
            peer.vote = None;
            peer.reply_time = None;
        }
    }
}
