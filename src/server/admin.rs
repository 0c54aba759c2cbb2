//! Commands an operator types at a server's console, with the replies Redis gives.

use super::Server;
use crate::fact::Fact;
use crate::fault::AdminCommand;
use crate::proto::Msg;
use crate::redis::BACKLOG_MIN_SIZE;
use crate::sim::Ctx;

impl Server {
    pub(super) fn on_admin(&mut self, ctx: &mut Ctx<'_, Msg>, command: &AdminCommand) {
        let (text, reply) = match *command {
            // The console sends REPLICAOF as `Msg::ReplicaOf`, as Sentinel does.
            AdminCommand::ReplicaOf(master) => {
                self.on_replicaof(ctx, master);
                return;
            }
            // networking.c: clientKillCommand with TYPE replica frees every replica client
            // and replies with how many it killed.
            AdminCommand::KillReplicas => {
                let n = self.primary.replicas.len();
                self.drop_all_replicas(ctx);
                self.refresh_good_replicas(ctx.now());
                (
                    "CLIENT KILL TYPE replica".to_string(),
                    format!("(integer) {n}"),
                )
            }
            // config.c: repl-backlog-size applies through resizeReplicationBacklog, which
            // raises a size below CONFIG_REPL_BACKLOG_MIN_SIZE to it and trims the backlog to
            // the new size (incrementalTrimReplicationBacklog).
            AdminCommand::SetBacklogSize(bytes) => {
                let size = bytes.max(BACKLOG_MIN_SIZE);
                self.cfg.repl_backlog_size = size;
                let tcp = self.cfg.tcp_send_buffer_bytes;
                let pinned = self
                    .primary
                    .pinned_from(ctx, self.data.repl.offset + 1, tcp);
                if let Some(b) = self.data.backlog.as_mut() {
                    b.resize(size, pinned);
                }
                (
                    format!("CONFIG SET repl-backlog-size {bytes}"),
                    "OK".to_string(),
                )
            }
        };
        ctx.note(Fact::OperatorReply {
            server: self.name.clone(),
            command: text,
            reply,
        });
    }
}
