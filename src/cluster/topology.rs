//! One node's view of the cluster: the nodes it knows, who serves each slot, shards (a primary
//! and its replicas) and the epochs (`currentEpoch`, `configEpoch` per node), as `clusterState`
//! and `clusterNode` of `cluster.h` hold them.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use super::slot::CLUSTER_SLOTS;

/// A cluster node's identity (Redis uses a 40-character name; the simulator uses an index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node{}", self.0)
    }
}

/// Where clients reach a node: what MOVED and ASK print (`cluster.c: clusterRedirectClient`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The announced host or IP (may be empty, as in `-MOVED 3999 :6380`).
    pub host: String,
    /// The client port (the bus port is this plus 10000).
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A set of hash slots as a 16384-bit bitmap, like `myslots` in `clusterMsg` (2048 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet {
    words: Box<[u64; 256]>,
}

impl fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotSet({} slots)", self.count())
    }
}

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet {
            words: Box::new([0; 256]),
        }
    }
}

impl SlotSet {
    /// The size of the bitmap on the bus, in bytes.
    pub const WIRE_BYTES: usize = CLUSTER_SLOTS as usize / 8;

    /// The slots of `range`.
    pub fn from_range(range: RangeInclusive<u16>) -> SlotSet {
        let mut set = SlotSet::default();
        for slot in range {
            set.insert(slot);
        }
        set
    }
    /// Adds `slot`.
    pub fn insert(&mut self, slot: u16) {
        assert!(slot < CLUSTER_SLOTS, "slot {slot} out of range");
        self.words[usize::from(slot / 64)] |= 1u64 << (slot % 64);
    }
    /// Removes `slot`.
    pub fn remove(&mut self, slot: u16) {
        self.words[usize::from(slot / 64)] &= !(1u64 << (slot % 64));
    }
    /// Whether `slot` is in the set.
    pub fn contains(&self, slot: u16) -> bool {
        self.words[usize::from(slot / 64)] & (1u64 << (slot % 64)) != 0
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }
    /// How many slots are in the set.
    pub fn count(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }
    /// The slots in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.words
            .iter()
            .enumerate()
            .filter(|(_, word)| **word != 0)
            .flat_map(|(i, &word)| {
                (0..64u16)
                    .filter(move |bit| word & (1u64 << bit) != 0)
                    .map(move |bit| i as u16 * 64 + bit)
            })
    }
}

/// A node's role as this node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A primary (`CLUSTER_NODE_MASTER`); it may serve no slots.
    Primary,
    /// A replica (`CLUSTER_NODE_SLAVE`) of `of`, when that node is known.
    Replica { of: Option<NodeId> },
}

/// Failure flags as this node sees them (`CLUSTER_NODE_PFAIL`, `CLUSTER_NODE_FAIL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// Possibly failing: no pong within node_timeout (local opinion).
    pub pfail: bool,
    /// Failing: agreed by a majority of primaries, or told by a FAIL message.
    pub fail: bool,
    /// `cluster-replica-no-failover yes` on that node (`CLUSTER_NODE_NOFAILOVER`).
    pub no_failover: bool,
    /// A primary that has (or had) replicas, or took over from one that had: a valid target of
    /// replica migration (`CLUSTER_NODE_MIGRATE_TO`).
    pub migrate_to: bool,
}

/// What one node knows about another (`cluster.h: clusterNode`, minus the link state).
#[derive(Clone, Debug)]
pub struct NodeInfo {
    /// The node.
    pub id: NodeId,
    /// Its client endpoint.
    pub endpoint: Endpoint,
    /// Primary or replica of whom.
    pub role: Role,
    /// The version of its slot claim (`configEpoch`).
    pub config_epoch: u64,
    /// PFAIL / FAIL / no-failover.
    pub flags: Flags,
    /// Its last advertised replication offset (`repl_offset`).
    pub repl_offset: u64,
    /// The slots it serves in this view.
    pub slots: SlotSet,
}

impl NodeInfo {
    /// A primary without slots at configEpoch 0.
    pub fn new(id: NodeId, endpoint: Endpoint) -> NodeInfo {
        NodeInfo {
            id,
            endpoint,
            role: Role::Primary,
            config_epoch: 0,
            flags: Flags::default(),
            repl_offset: 0,
            slots: SlotSet::default(),
        }
    }
    /// Whether it is a primary.
    pub fn is_primary(&self) -> bool {
        self.role == Role::Primary
    }
    /// The primary it replicates, if it is a replica.
    pub fn primary(&self) -> Option<NodeId> {
        match self.role {
            Role::Replica { of } => of,
            Role::Primary => None,
        }
    }
    /// Whether it is flagged FAIL (`nodeFailed`).
    pub fn failed(&self) -> bool {
        self.flags.fail
    }
}

/// A shard to build: a primary with its replicas.
#[derive(Clone, Debug)]
pub struct Shard {
    /// The primary and its endpoint.
    pub primary: (NodeId, Endpoint),
    /// The replicas and their endpoints.
    pub replicas: Vec<(NodeId, Endpoint)>,
}

/// One node's view of the cluster (`cluster.h: clusterState`).
#[derive(Clone, Debug, Default)]
pub struct Topology {
    /// Every known node, itself included.
    pub nodes: BTreeMap<NodeId, NodeInfo>,
    /// The owner of each slot (`slots[]`), `None` when unassigned.
    owners: Vec<Option<NodeId>>,
    /// Slots this node is migrating to another (`migrating_slots_to`).
    pub migrating_to: BTreeMap<u16, NodeId>,
    /// Slots this node is importing from another (`importing_slots_from`).
    pub importing_from: BTreeMap<u16, NodeId>,
    /// The cluster-wide logical clock as this node knows it (`currentEpoch`).
    pub current_epoch: u64,
}

/// The slot ranges `redis-cli --cluster create` gives `primaries` primaries
/// (`redis-cli.c: clusterManagerCommandCreate`): 0-5460, 5461-10922, 10923-16383 for three.
pub fn even_split(primaries: usize) -> Vec<RangeInclusive<u16>> {
    assert!(primaries > 0 && primaries <= usize::from(CLUSTER_SLOTS));
    let per_node = f64::from(CLUSTER_SLOTS) / primaries as f64;
    let mut ranges = Vec::with_capacity(primaries);
    let (mut first, mut cursor) = (0u16, 0.0f64);
    for i in 0..primaries {
        let mut last = (cursor + per_node - 1.0).round() as u16;
        if last > CLUSTER_SLOTS - 1 || i == primaries - 1 {
            last = CLUSTER_SLOTS - 1;
        }
        last = last.max(first);
        ranges.push(first..=last);
        first = last + 1;
        cursor += per_node;
    }
    ranges
}

impl Topology {
    /// An empty view: no nodes, no slots assigned.
    pub fn new() -> Topology {
        Topology {
            owners: vec![None; usize::from(CLUSTER_SLOTS)],
            ..Topology::default()
        }
    }

    /// The view every node has right after `redis-cli --cluster create`: slots split evenly,
    /// primary `i` at configEpoch `i + 1`, currentEpoch the number of shards.
    pub fn from_shards(shards: &[Shard]) -> Topology {
        let mut topology = Topology::new();
        for (shard, range) in shards.iter().zip(even_split(shards.len())) {
            let (primary, endpoint) = shard.primary.clone();
            topology.add_node(NodeInfo::new(primary, endpoint));
            for slot in range {
                topology.assign_slot(slot, primary);
            }
            for (replica, endpoint) in &shard.replicas {
                topology.add_node(NodeInfo::new(*replica, endpoint.clone()));
                topology.set_replica_of(*replica, primary);
            }
        }
        for (i, shard) in shards.iter().enumerate() {
            topology.node_mut(shard.primary.0).config_epoch = i as u64 + 1;
        }
        topology.current_epoch = shards.len() as u64;
        topology
    }

    /// Adds (or replaces) a node.
    pub fn add_node(&mut self, info: NodeInfo) {
        self.nodes.insert(info.id, info);
    }
    /// A known node; panics on an unknown id (callers look up ids they got from this view).
    pub fn node(&self, id: NodeId) -> &NodeInfo {
        self.nodes
            .get(&id)
            .unwrap_or_else(|| panic!("unknown {id}"))
    }
    /// A known node, mutably.
    pub fn node_mut(&mut self, id: NodeId) -> &mut NodeInfo {
        self.nodes
            .get_mut(&id)
            .unwrap_or_else(|| panic!("unknown {id}"))
    }
    /// Who serves `slot`.
    pub fn owner(&self, slot: u16) -> Option<NodeId> {
        self.owners[usize::from(slot)]
    }
    /// Gives `slot` to `node` (`cluster.c: clusterDelSlot` then `clusterAddSlot`). A primary
    /// getting its first slot becomes a migration target if any primary has replicas
    /// (`clusterNodeSetSlotBit`).
    pub fn assign_slot(&mut self, slot: u16, node: NodeId) {
        self.unassign_slot(slot);
        let first = self.node(node).slots.is_empty();
        self.node_mut(node).slots.insert(slot);
        self.owners[usize::from(slot)] = Some(node);
        if first && self.primaries_have_replicas() {
            self.node_mut(node).flags.migrate_to = true;
        }
    }
    /// Whether any primary has a replica (`clusterMastersHaveSlaves`).
    fn primaries_have_replicas(&self) -> bool {
        self.nodes
            .values()
            .any(|n| n.primary().is_some_and(|p| self.node(p).is_primary()))
    }
    /// Leaves `slot` unassigned (`cluster.c: clusterDelSlot`).
    pub fn unassign_slot(&mut self, slot: u16) {
        if let Some(old) = self.owners[usize::from(slot)].take() {
            self.node_mut(old).slots.remove(slot);
        }
    }
    /// The slots in runs of one owner, in slot order (`None`: unassigned), as
    /// `CLUSTER SLOTS` groups them.
    pub fn owner_ranges(&self) -> Vec<(u16, u16, Option<NodeId>)> {
        let mut out: Vec<(u16, u16, Option<NodeId>)> = Vec::new();
        for (slot, owner) in self.owners.iter().enumerate() {
            let slot = slot as u16;
            match out.last_mut() {
                Some(last) if last.2 == *owner && last.1 + 1 == slot => last.1 = slot,
                _ => out.push((slot, slot, *owner)),
            }
        }
        out
    }
    /// How many slots `node` serves (`numslots`).
    pub fn num_slots(&self, node: NodeId) -> u32 {
        self.nodes.get(&node).map_or(0, |n| n.slots.count())
    }
    /// The cluster size: primaries serving at least one slot (`clusterUpdateState`).
    pub fn size(&self) -> usize {
        self.nodes
            .values()
            .filter(|n| n.is_primary() && n.slots.count() > 0)
            .count()
    }
    /// A majority of the cluster size, `size / 2 + 1` (`needed_quorum`).
    pub fn quorum(&self) -> usize {
        self.size() / 2 + 1
    }
    /// The replicas of `primary`, in id order (`slaves[]`).
    pub fn replicas_of(&self, primary: NodeId) -> Vec<NodeId> {
        let of = Some(primary);
        self.nodes
            .values()
            .filter(|n| n.primary() == of)
            .map(|n| n.id)
            .collect()
    }
    /// The replicas of `primary` that `CLUSTER SLOTS` lists beside its slots
    /// (`cluster.c: addNodeReplyForClusterSlot` → `isReplicaAvailable`): not flagged FAIL and
    /// with a replication offset other than 0; the asking node `me` counts its own `offset`.
    pub fn available_replicas_of(&self, primary: NodeId, me: NodeId, offset: u64) -> Vec<NodeId> {
        let of = Some(primary);
        self.nodes
            .values()
            .filter(|n| n.primary() == of && !n.failed())
            .filter(|n| if n.id == me { offset } else { n.repl_offset } != 0)
            .map(|n| n.id)
            .collect()
    }
    /// Makes `node` a primary (`cluster.c: clusterSetNodeAsMaster`): a replica that takes
    /// over becomes a migration target.
    pub fn set_primary(&mut self, node: NodeId) {
        let Some(old) = self.node(node).primary() else {
            self.node_mut(node).role = Role::Primary;
            return;
        };
        self.node_mut(node).role = Role::Primary;
        self.node_mut(node).flags.migrate_to = true;
        self.forget_replica(old);
    }
    /// Makes `node` a replica of `primary`, dropping the slots it served
    /// (`cluster.c: clusterProcessPacket`, role change, `clusterDelNodeSlots`,
    /// `clusterNodeAddSlave`, `clusterNodeRemoveSlave`).
    pub fn set_replica_of(&mut self, node: NodeId, primary: NodeId) {
        let slots: Vec<u16> = self.node(node).slots.iter().collect();
        for slot in slots {
            self.unassign_slot(slot);
        }
        let old = self.node(node).primary();
        let info = self.node_mut(node);
        info.role = Role::Replica { of: Some(primary) };
        info.flags.migrate_to = false;
        if let Some(old) = old.filter(|&o| o != primary) {
            self.forget_replica(old);
        }
        self.node_mut(primary).flags.migrate_to = true;
    }
    /// `clusterNodeRemoveSlave`: a primary left without replicas is no migration target.
    fn forget_replica(&mut self, primary: NodeId) {
        if self.nodes.contains_key(&primary) && self.replicas_of(primary).is_empty() {
            self.node_mut(primary).flags.migrate_to = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(port: u16) -> Endpoint {
        Endpoint {
            host: "10.0.0.1".into(),
            port,
        }
    }

    fn three_shards() -> Topology {
        let shards: Vec<Shard> = (0..3)
            .map(|i| Shard {
                primary: (NodeId(i), endpoint(7000 + i as u16)),
                replicas: vec![(NodeId(10 + i), endpoint(7100 + i as u16))],
            })
            .collect();
        Topology::from_shards(&shards)
    }

    #[test]
    fn even_split_matches_redis_cli() {
        assert_eq!(even_split(3), vec![0..=5460, 5461..=10922, 10923..=16383]);
        assert_eq!(even_split(1), vec![0..=16383]);
        let five = even_split(5);
        assert_eq!(five.len(), 5);
        assert_eq!(*five[4].end(), 16383);
        for pair in five.windows(2) {
            assert_eq!(*pair[0].end() + 1, *pair[1].start());
        }
    }

    #[test]
    fn shards_epochs_and_size() {
        let t = three_shards();
        assert_eq!(t.size(), 3);
        assert_eq!(t.quorum(), 2);
        assert_eq!(t.current_epoch, 3);
        assert_eq!(t.node(NodeId(2)).config_epoch, 3);
        assert_eq!(t.node(NodeId(12)).config_epoch, 0);
        assert_eq!(t.owner(0), Some(NodeId(0)));
        assert_eq!(t.owner(5461), Some(NodeId(1)));
        assert_eq!(t.owner(16383), Some(NodeId(2)));
        assert_eq!(t.num_slots(NodeId(0)), 5461);
        assert_eq!(t.replicas_of(NodeId(1)), vec![NodeId(11)]);
        assert_eq!(t.node(NodeId(11)).primary(), Some(NodeId(1)));
    }

    #[test]
    fn cluster_slots_lists_only_available_replicas() {
        let mut t = three_shards();
        // isReplicaAvailable: a replica that never advertised an offset is left out...
        assert_eq!(t.available_replicas_of(NodeId(1), NodeId(0), 0), vec![]);
        t.node_mut(NodeId(11)).repl_offset = 500;
        assert_eq!(
            t.available_replicas_of(NodeId(1), NodeId(0), 0),
            vec![NodeId(11)]
        );
        // ...and so is one flagged FAIL; the asking node counts its own offset.
        t.node_mut(NodeId(11)).flags.fail = true;
        assert_eq!(t.available_replicas_of(NodeId(1), NodeId(0), 0), vec![]);
        assert_eq!(t.available_replicas_of(NodeId(0), NodeId(10), 0), vec![]);
        assert_eq!(
            t.available_replicas_of(NodeId(0), NodeId(10), 42),
            vec![NodeId(10)]
        );
    }

    #[test]
    fn reassigning_slots_moves_ownership() {
        let mut t = three_shards();
        t.set_primary(NodeId(10));
        for slot in 0..=5460 {
            t.assign_slot(slot, NodeId(10));
        }
        assert_eq!(t.num_slots(NodeId(0)), 0);
        assert_eq!(t.size(), 3, "node0 no longer counts: it serves no slot");
        t.set_replica_of(NodeId(0), NodeId(10));
        assert_eq!(t.replicas_of(NodeId(10)), vec![NodeId(0)]);
        t.unassign_slot(7);
        assert_eq!(t.owner(7), None);
        assert_eq!(t.num_slots(NodeId(10)), 5460);
    }

    #[test]
    fn migration_targets_follow_cluster_node_add_and_remove_slave() {
        let mut t = three_shards();
        // Every primary got a replica: every primary is a migration target.
        assert!((0..3).all(|i| t.node(NodeId(i)).flags.migrate_to));
        // node10 takes over node0: it becomes a target, node0 (no replica left) does not.
        t.set_primary(NodeId(10));
        assert!(t.node(NodeId(10)).flags.migrate_to);
        assert!(!t.node(NodeId(0)).flags.migrate_to);
        // node0 rejoins as node10's replica: node0 is no target, node10 still is.
        t.set_replica_of(NodeId(0), NodeId(10));
        assert!(!t.node(NodeId(0)).flags.migrate_to);
        assert!(t.node(NodeId(10)).flags.migrate_to);
        // node11 migrates from node1 to node10: node1 has none left.
        t.set_replica_of(NodeId(11), NodeId(10));
        assert!(!t.node(NodeId(1)).flags.migrate_to);
        assert_eq!(t.replicas_of(NodeId(10)), vec![NodeId(0), NodeId(11)]);
    }
}
