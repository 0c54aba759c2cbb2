//! Role changes (`REPLICAOF NO ONE`, `REPLICAOF host port`) and what a server tells Sentinel
//! about its role (`INFO replication`).

use super::Server;
use super::replica::ReplicaSide;
use crate::fact::Fact;
use crate::proto::{InfoReply, Msg};
use crate::redis::ReplId;
use crate::sim::{Ctx, ProcessId, SimTime};

use super::Role;

impl Server {
    pub(super) fn on_replicaof(&mut self, ctx: &mut Ctx<'_, Msg>, master: Option<ProcessId>) {
        match master {
            None => self.promote(ctx),
            Some(m) => self.demote(ctx, m),
        }
    }

    /// `REPLICAOF NO ONE`: keep the data, shift IDs, disconnect replicas so they learn the new ID.
    fn promote(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if self.replica.is_none() {
            return;
        }
        self.drop_link(ctx);
        self.replica = None;
        self.persistence.disk.replicaof = None;
        // replicationUnsetMaster: shiftReplicationId, and no backlog is created here (the
        // first replica's SYNC creates one under a fresh ID).
        self.data.repl.shift(ReplId::random(ctx.rng()));
        self.drop_all_replicas(ctx);
        self.primary.select_emitted = false;
        self.primary.no_replicas_since = Some(ctx.now());
        ctx.note(Fact::Promoted {
            server: self.name.clone(),
            replid: self.data.repl.replid.to_string(),
            replid2: self.data.repl.replid2.map(|r| r.to_string()),
            offset: self.data.repl.offset,
        });
    }

    /// `REPLICAOF host port`: follow a new primary, trying a partial resync with our own history.
    fn demote(&mut self, ctx: &mut Ctx<'_, Msg>, master: ProcessId) {
        if self.role() == Role::Replica(master) {
            return; // "+OK Already connected to specified master"
        }
        let was_master = self.replica.is_none();
        self.was_primary |= was_master;
        self.drop_link(ctx);
        // replicationCacheMasterUsingMyself: PSYNC with our own replid and offset.
        match self.replica.as_mut() {
            Some(r) => {
                r.master = master;
                r.psync_capable = true;
            }
            None => self.replica = Some(ReplicaSide::new(master, true)),
        }
        self.persistence.disk.replicaof = Some(master);
        for b in std::mem::take(&mut self.primary.blocked) {
            ctx.send(b.client, Msg::Close { conn: 0 });
        }
        let (server, primary, offset) = (
            self.name.clone(),
            self.peer(master).to_string(),
            self.data.repl.offset,
        );
        ctx.note(if was_master {
            Fact::Demoted {
                server,
                primary,
                offset,
            }
        } else {
            Fact::Repointed {
                server,
                primary,
                offset,
            }
        });
        self.connect(ctx, master);
    }

    pub(super) fn info(&self, now: SimTime) -> InfoReply {
        // server.c: genRedisInfoString: -1 while repl_down_since is 0.
        let link_down_since = self.replica.as_ref().and_then(|r| r.link_down_since);
        let link_down_secs = match link_down_since {
            _ if self.link_up() => 0,
            None => -1,
            Some(s) => (now.since(s) / SimTime::NANOS_PER_SEC) as i64,
        };
        InfoReply {
            is_master: self.replica.is_none(),
            master: self.replica.as_ref().map(|r| r.master),
            master_link_up: self.link_up(),
            master_link_down_secs: link_down_secs,
            offset: self.data.repl.offset,
            priority: self.cfg.replica_priority,
            replid: self.data.repl.replid,
            run_id: self.run_id,
            replicas: self.attached_replicas(),
        }
    }
}
