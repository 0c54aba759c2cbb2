//! Epochs and votes: a sentinel's current epoch, the one vote it may cast per epoch
//! (`sentinelVoteLeader`), and the count that makes a leader (`sentinelGetLeader`).

use std::collections::BTreeMap;
use std::rc::Rc;

use rand::RngExt;

use super::Sentinel;
use super::failover::MAX_DESYNC;
use super::peers::ASK_PERIOD;
use crate::fact::{EventSubject as S, SentinelEventKind as K};
use crate::proto::Msg;
use crate::sim::{Ctx, ProcessId, SimTime};

/// A vote cast: for whom, in which epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vote {
    /// The sentinel voted for.
    pub leader: ProcessId,
    /// The epoch the vote belongs to.
    pub epoch: u64,
}

/// What a vote request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ballot {
    /// The request carried a higher epoch, now adopted.
    pub new_epoch: bool,
    /// A vote was granted by this request (not a repeat of an earlier one).
    pub granted: Option<Vote>,
}

/// Invariants: `leader_epoch <= current_epoch`; `leader_epoch` only grows, so at most one
/// vote is cast per epoch (a forgotten leader keeps its epoch).
#[derive(Clone, Debug, Default)]
pub(super) struct Election {
    current_epoch: u64,
    leader: Option<ProcessId>,
    leader_epoch: u64,
}

impl Election {
    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    /// The last vote cast (`leader`, `leader_epoch`).
    pub fn vote(&self) -> Option<Vote> {
        self.leader.map(|leader| Vote {
            leader,
            epoch: self.leader_epoch,
        })
    }

    fn leader_epoch(&self) -> u64 {
        self.leader_epoch
    }

    /// The leader and epoch an is-master-down-by-addr reply carries: the vote (cast now or
    /// before) only when the request asked for one (a runid, not `*`) about our primary; else
    /// `*` and 0 (sentinelCommand: `leader = NULL`, `leader_epoch = 0` unless
    /// sentinelVoteLeader ran).
    pub fn reported(&self, vote_requested: bool) -> (Option<ProcessId>, u64) {
        match self.vote() {
            Some(v) if vote_requested => (Some(v.leader), v.epoch),
            _ => (None, 0),
        }
    }

    // sentinel.c: sentinelResetMaster frees `leader` but keeps `leader_epoch`.
    /// Forgets whom it voted for, not in which epoch: no second vote in that epoch.
    pub fn forget_leader(&mut self) {
        self.leader = None;
    }

    /// Takes the process-wide current epoch (one per sentinel process, not per primary).
    pub fn sync_epoch(&mut self, epoch: u64) {
        assert!(epoch >= self.current_epoch, "the current epoch only grows");
        self.current_epoch = epoch;
    }

    /// Adopts `epoch` if it is newer (`+new-epoch`); true when it was.
    pub fn observe_epoch(&mut self, epoch: u64) -> bool {
        if epoch > self.current_epoch {
            self.current_epoch = epoch;
            return true;
        }
        false
    }

    /// `sentinelStartFailover`: a failover gets an epoch of its own.
    pub fn next_epoch(&mut self) -> u64 {
        self.current_epoch += 1;
        self.current_epoch
    }

    // sentinel.c: sentinelVoteLeader
    /// A vote request for `candidate` in `epoch`: adopt a newer epoch, then vote only if no vote
    /// was cast in this epoch yet. A repeated request leaves the first answer in place.
    pub fn request(&mut self, epoch: u64, candidate: ProcessId) -> Ballot {
        let new_epoch = self.observe_epoch(epoch);
        let mut granted = None;
        if self.leader_epoch() < epoch && self.current_epoch <= epoch {
            assert!(
                self.current_epoch > self.leader_epoch(),
                "a vote's epoch only grows"
            );
            self.leader = Some(candidate);
            self.leader_epoch = self.current_epoch;
            granted = self.vote();
        }
        assert!(self.leader_epoch() <= self.current_epoch);
        Ballot { new_epoch, granted }
    }
}

/// Votes per candidate in one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Tally(BTreeMap<ProcessId, u32>);

impl Tally {
    /// Counts the votes reported for `epoch` (others' votes in other epochs do not count).
    pub fn of(reported: impl Iterator<Item = Vote>, epoch: u64) -> Self {
        let mut t = Tally::default();
        for v in reported.filter(|v| v.epoch == epoch) {
            t.add(v.leader);
        }
        t
    }

    pub fn add(&mut self, leader: ProcessId) {
        *self.0.entry(leader).or_default() += 1;
    }

    /// The candidate with the most votes (ties: the smallest id).
    pub fn top(&self) -> Option<(ProcessId, u32)> {
        self.0
            .iter()
            .max_by_key(|(p, c)| (**c, std::cmp::Reverse(**p)))
            .map(|(p, c)| (*p, *c))
    }

    // sentinel.c: sentinelGetLeader
    /// The leader: the top candidate, if it has a majority of all `voters` (every sentinel
    /// ever known, this one included) and at least `quorum` votes.
    pub fn winner(&self, voters: u32, quorum: u32) -> Option<ProcessId> {
        let (winner, votes) = self.top()?;
        (votes > voters / 2 && votes >= quorum).then_some(winner)
    }
}

impl Sentinel {
    /// Casts this sentinel's vote for `candidate` in `epoch`, if it still may.
    pub(super) fn vote_leader(&mut self, ctx: &mut Ctx<'_, Msg>, epoch: u64, candidate: ProcessId) {
        let ballot = self.election.request(epoch, candidate);
        if ballot.new_epoch {
            self.event(ctx, K::NewEpoch, S::NewEpoch { epoch });
        }
        let Some(vote) = ballot.granted else { return };
        let leader = self.name(vote.leader).to_string();
        let subject = S::Vote {
            leader,
            epoch: vote.epoch,
        };
        self.event(ctx, K::VoteForLeader, subject);
        if candidate != self.me {
            let desync = ctx.rng().random_range(0..MAX_DESYNC);
            self.failover.delay_start(ctx.now().plus(desync));
        }
    }

    // sentinel.c: sentinelGetLeader
    /// Counts the others' votes cast in the current epoch, votes for the top candidate (or
    /// itself) in `epoch`, and returns the winner if it has a majority of all known sentinels
    /// and the quorum.
    pub(super) fn get_leader(&mut self, ctx: &mut Ctx<'_, Msg>, epoch: u64) -> Option<ProcessId> {
        let current = self.election.current_epoch();
        let mut tally = Tally::of(self.peers.votes(), current);
        let best = tally.top().map_or(self.me, |(p, _)| p);
        self.vote_leader(ctx, epoch, best);
        if let Some(v) = self.election.vote()
            && v.epoch == epoch
        {
            tally.add(v.leader);
        }
        let voters = self.peers.len() as u32 + 1;
        tally.winner(voters, self.cfg.quorum)
    }

    // sentinel.c: sentinelAskMasterStateToOtherSentinels
    pub(super) fn ask_others(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, force: bool) {
        let sdown = self.monitor.master_sdown();
        for p in self.peers.ids() {
            self.peers.expire(p, now);
            if !sdown {
                continue;
            }
            let peer = self.peers.get_mut(p);
            if !force && peer.last_ask.is_some_and(|t| now.since(t) < ASK_PERIOD) {
                continue;
            }
            peer.last_ask = Some(now);
            let vote_for = self.failover.in_progress().then_some(self.me);
            let msg = Msg::IsMasterDown {
                name: Rc::from(self.cfg.name.as_str()),
                id: self.requests.open(p),
                master: self.monitor.master,
                epoch: self.election.current_epoch(),
                vote_for,
            };
            ctx.send(p, msg);
        }
    }

    // sentinel.c: sentinelCommand (is-master-down-by-addr)
    pub(super) fn on_is_master_down(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        id: u64,
        master: ProcessId,
        epoch: u64,
        vote_for: Option<ProcessId>,
    ) {
        self.peers.get_mut(from);
        let ours = master == self.monitor.master;
        // In TILT the answer is "not down", but the vote is still cast.
        let down = !self.tilted() && ours && self.monitor.master_sdown();
        if let Some(c) = vote_for
            && ours
        {
            self.vote_leader(ctx, epoch, c);
        }
        let (leader, leader_epoch) = self.election.reported(vote_for.is_some() && ours);
        let reply = Msg::IsMasterDownReply {
            id,
            down,
            leader,
            leader_epoch,
        };
        ctx.send(from, reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ProcessId = ProcessId(1);
    const B: ProcessId = ProcessId(2);
    const C: ProcessId = ProcessId(3);

    #[test]
    fn one_vote_per_epoch() {
        let mut e = Election::default();
        let first = e.request(5, A);
        assert!(first.new_epoch);
        assert_eq!(
            first.granted,
            Some(Vote {
                leader: A,
                epoch: 5
            })
        );
        let second = e.request(5, B);
        assert_eq!(
            second.granted, None,
            "a second request in epoch 5 gets no vote"
        );
        assert_eq!(
            e.vote(),
            Some(Vote {
                leader: A,
                epoch: 5
            }),
            "the first answer stays"
        );
        // An older epoch gets nothing either; a newer one gets a new vote.
        assert_eq!(e.request(4, C).granted, None);
        assert_eq!(
            e.request(6, B).granted,
            Some(Vote {
                leader: B,
                epoch: 6
            })
        );
        assert_eq!(e.current_epoch(), 6);
    }

    #[test]
    fn vote_epoch_only_grows() {
        let mut e = Election::default();
        let mut last = 0;
        for (epoch, who) in [(3, A), (1, B), (3, C), (2, A), (7, B), (7, A), (4, C)] {
            e.request(epoch, who);
            let now = e.vote().map_or(0, |v| v.epoch);
            assert!(now >= last, "vote epoch went from {last} to {now}");
            last = now;
        }
        assert_eq!(
            e.vote(),
            Some(Vote {
                leader: B,
                epoch: 7
            })
        );
    }

    #[test]
    fn a_forgotten_leader_still_blocks_a_second_vote() {
        let mut e = Election::default();
        e.request(3, A);
        e.forget_leader();
        assert_eq!(e.vote(), None);
        assert_eq!(e.request(3, B).granted, None);
        assert_eq!(
            e.request(4, B).granted,
            Some(Vote {
                leader: B,
                epoch: 4
            })
        );
    }

    #[test]
    fn no_vote_below_current_epoch() {
        let mut e = Election::default();
        assert!(e.observe_epoch(9));
        assert!(!e.observe_epoch(8));
        assert_eq!(e.request(8, A).granted, None);
        assert_eq!(e.next_epoch(), 10);
        assert_eq!(
            e.request(10, A).granted,
            Some(Vote {
                leader: A,
                epoch: 10
            })
        );
    }

    fn votes(list: &[(ProcessId, u64)]) -> Vec<Vote> {
        list.iter()
            .map(|&(leader, epoch)| Vote { leader, epoch })
            .collect()
    }

    #[test]
    fn leader_needs_majority_of_all_known_and_quorum() {
        // 5 sentinels known, quorum 2: two votes are a quorum but not a majority.
        let t = Tally::of(votes(&[(A, 4), (A, 4)]).into_iter(), 4);
        assert_eq!(t.winner(5, 2), None);
        let t = Tally::of(votes(&[(A, 4), (A, 4), (A, 4)]).into_iter(), 4);
        assert_eq!(t.winner(5, 2), Some(A));
        // 3 sentinels, quorum 3: a majority (2) is not enough.
        let t = Tally::of(votes(&[(A, 4), (A, 4)]).into_iter(), 4);
        assert_eq!(t.winner(3, 3), None);
        assert_eq!(t.winner(3, 2), Some(A));
        // Votes of another epoch do not count.
        let t = Tally::of(votes(&[(A, 4), (A, 3), (A, 3)]).into_iter(), 4);
        assert_eq!(t.winner(3, 2), None);
        // A split: the top candidate still needs the majority.
        let mut t = Tally::of(votes(&[(A, 4), (B, 4)]).into_iter(), 4);
        t.add(C);
        assert_eq!(t.winner(3, 1), None);
        assert_eq!(t.top(), Some((A, 1)), "ties go to the smallest id");
    }

    /// is-master-down-by-addr with runid `*` (no vote requested) answers leader `*` and epoch
    /// 0, even after a vote was cast; a vote request gets the vote.
    #[test]
    fn a_state_query_reports_no_leader() {
        let mut e = Election::default();
        assert_eq!(e.reported(false), (None, 0));
        assert_eq!(e.reported(true), (None, 0), "no vote cast yet");
        e.observe_epoch(7);
        e.request(7, A);
        assert_eq!(e.reported(false), (None, 0));
        assert_eq!(e.reported(true), (Some(A), 7));
    }
}
