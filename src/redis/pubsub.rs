//! Pub/Sub messages that enter the replication stream: Sentinel's hellos. A sentinel publishes
//! one on `__sentinel__:hello` of every server it monitors every 2 s (sentinel.c:
//! sentinelSendHello), and in 7.0 a primary propagates `PUBLISH` to its replicas like a write
//! (pubsub.c: publishCommand calls forceCommandPropagation(c, PROPAGATE_REPL) outside Cluster),
//! so hellos advance the primary's replication offset.

use std::rc::Rc;

use super::command::decimal_len;
use super::resp_array_len;
use crate::sim::ProcessId;

/// The channel Sentinel's hellos travel on (`SENTINEL_HELLO_CHANNEL`).
pub const HELLO_CHANNEL: &str = "__sentinel__:hello";

/// The payload of a Sentinel hello message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sentinel that sent it.
    pub sentinel: ProcessId,
    /// The monitored primary's name.
    pub name: Rc<str>,
    /// Its current epoch.
    pub current_epoch: u64,
    /// The primary it believes in.
    pub master: ProcessId,
    /// The configuration epoch of that belief.
    pub config_epoch: u64,
}

/// The address a hello announces for a process: the loopback address and a five-digit port,
/// as on a test machine with ports from the ephemeral range (a 4-digit port such as 6379 makes
/// the command one byte shorter).
const ANNOUNCED_ADDRESS: &str = "127.0.0.1,00000";
/// A run ID: 40 hex digits (`CONFIG_RUN_ID_SIZE`).
const RUN_ID: &str = "0000000000000000000000000000000000000000";

impl Hello {
    /// The hello as sentinelSendHello formats it: `<ip>,<port>,<runid>,<current_epoch>,
    /// <master name>,<master ip>,<master port>,<master config epoch>`, with stand-in addresses
    /// of the announced length.
    pub fn payload(&self) -> String {
        format!(
            "{ANNOUNCED_ADDRESS},{RUN_ID},{},{},{ANNOUNCED_ADDRESS},{}",
            self.current_epoch, self.name, self.config_epoch
        )
    }

    /// Bytes of `PUBLISH __sentinel__:hello <payload>` in RESP: on the wire to the server, and
    /// what the command adds to the primary's replication stream.
    pub fn publish_len(&self) -> u64 {
        // The payload's length without formatting it (a hello is measured on every send):
        // five commas between two addresses, the run ID, the two epochs and the name.
        let payload = 5
            + 2 * ANNOUNCED_ADDRESS.len() as u64
            + RUN_ID.len() as u64
            + self.name.len() as u64
            + decimal_len(self.current_epoch)
            + decimal_len(self.config_epoch);
        debug_assert_eq!(payload, self.payload().len() as u64);
        // `*3` takes as many bytes as `*2`: the two fixed arguments, then the payload as a
        // bulk string (`$<len>\r\n<payload>\r\n`).
        resp_array_len(&[b"PUBLISH", HELLO_CHANNEL.as_bytes()])
            + 1
            + decimal_len(payload)
            + 2
            + payload
            + 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_publish_has_the_length_of_redis_formatting() {
        let h = Hello {
            sentinel: ProcessId(3),
            name: Rc::from("mymaster"),
            current_epoch: 0,
            master: ProcessId(0),
            config_epoch: 0,
        };
        // "127.0.0.1,26379,<40 hex>,0,mymaster,127.0.0.1,16379,0" is 85 bytes; the command is
        // *3\r\n $7\r\nPUBLISH\r\n $18\r\n__sentinel__:hello\r\n $85\r\n...\r\n.
        assert_eq!(h.payload().len(), 85);
        assert_eq!(h.publish_len(), 4 + 13 + 25 + 5 + 85 + 2);
    }

    #[test]
    fn a_hello_publish_is_measured_as_the_formatted_command() {
        for (epoch, config, name) in [(0, 0, "m"), (9, 10, "mymaster"), (123456, 99, "a-b-c")] {
            let h = Hello {
                sentinel: ProcessId(1),
                name: Rc::from(name),
                current_epoch: epoch,
                master: ProcessId(0),
                config_epoch: config,
            };
            let formatted = h.payload();
            let expected =
                resp_array_len(&[b"PUBLISH", HELLO_CHANNEL.as_bytes(), formatted.as_bytes()]);
            assert_eq!(h.publish_len(), expected, "{formatted}");
        }
    }
}
