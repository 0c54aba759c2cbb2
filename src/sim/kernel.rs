//! The event loop: a queue of messages, timers and control events ordered by `(time, sequence)`,
//! processes as state machines, per-process local clocks, pause/crash/restart, and messages held
//! on cut links until they heal.

use std::collections::BTreeMap;

use super::clock::Clock;
use super::queue::{EventQueue, Key, MAX_SLOTS};
use super::rng::{RngStreams, SimRng};
use super::time::SimTime;
use super::trace::{KIND_CONTROL, KIND_MESSAGE, KIND_TIMER, Note, Observation, TraceHasher};

/// The identity of a simulated process (server, sentinel or client): its index in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ProcessId(pub u32);

impl ProcessId {
    /// The index as `usize`, for dense tables.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What the kernel needs to know about a message.
pub trait Message {
    /// Bytes on the wire, for bandwidth and send-queue accounting.
    fn wire_size(&self) -> u64;
    /// A stable 64-bit digest folded into the trace hash.
    fn trace_word(&self) -> u64;
    /// What the operating system answers when this message reaches a process that was killed
    /// while its machine stays up (the port is closed: an RST, or ECONNREFUSED for a new
    /// connection), sent back to the sender; `None` when the sender notices nothing (it finds
    /// out by its own timeouts).
    fn refusal(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

/// A simulation's vocabulary: the facts its processes observe (see [`Ctx::note`]).
pub trait Vocabulary: Message {
    /// The fact type.
    type Fact: Observation;
}

/// A simulated process: a plain state machine driven by the kernel.
pub trait Process {
    /// The message type exchanged between processes.
    type Msg: Vocabulary;
    /// Called once when the process starts (and again after each restart, on a fresh state).
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self::Msg>);
    /// Called when a message arrives.
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self::Msg>, from: ProcessId, msg: Self::Msg);
    /// Called when a timer set with [`Ctx::set_timer`] fires.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self::Msg>, tag: u64);
}

/// The network as the kernel sees it: when bytes arrive, whether a link is open, and how many bytes
/// wait in each send queue. Implemented by `net`.
pub trait LinkPolicy {
    /// When a message of `size` bytes sent now from `from` to `to` arrives, or `None` when the link
    /// is cut (the kernel then holds it until [`Kernel::release_held`]).
    fn transmit(
        &mut self,
        now: SimTime,
        from: ProcessId,
        to: ProcessId,
        size: u64,
    ) -> Option<SimTime>;
    /// Whether the link lets a message through at delivery time.
    fn is_open(&self, from: ProcessId, to: ProcessId) -> bool;
    /// Called when a message was queued on the link (sent, whether in flight or held).
    fn queued(&mut self, from: ProcessId, to: ProcessId, size: u64);
    /// Called when a queued message left the link (delivered or discarded).
    fn dequeued(&mut self, from: ProcessId, to: ProcessId, size: u64);
    /// Bytes sent on the link and not yet delivered (the sender's socket send queue).
    fn queued_bytes(&self, from: ProcessId, to: ProcessId) -> u64;
}

/// Whether a process runs, is paused (SIGSTOP) or is down (crashed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessState {
    /// Handles events.
    Running,
    /// Events wait until it resumes.
    Paused,
    /// Events addressed to it are discarded.
    Crashed,
}

/// Limits that turn a runaway run into a clear error instead of a hang.
#[derive(Clone, Copy, Debug)]
pub struct KernelLimits {
    /// The most events one run may deliver.
    pub max_events: u64,
    /// The most events that may wait in the queue at once.
    pub max_queue: usize,
}

impl Default for KernelLimits {
    fn default() -> Self {
        KernelLimits {
            max_events: 2_000_000_000,
            max_queue: 50_000_000,
        }
    }
}

/// What one call of [`Kernel::step`] did.
#[derive(Debug)]
pub enum Step<C> {
    /// A message or timer was handled (or discarded).
    Handled,
    /// A control event is due: the caller acts on it (faults, world actions).
    Control(SimTime, C),
    /// The queue is empty.
    Idle,
    /// The next event lies past the horizon given to `step`.
    Horizon,
}

/// A process's view of the kernel while it handles one event.
pub struct Ctx<'a, M: Vocabulary> {
    now: SimTime,
    local_now: SimTime,
    me: ProcessId,
    rng: &'a mut SimRng,
    effects: &'a mut Vec<Effect<M>>,
    notes: &'a mut Vec<Note<<M as Vocabulary>::Fact>>,
    links: &'a dyn LinkPolicy,
}

enum Effect<M> {
    Send(ProcessId, M),
    Timer(u64, u64),
    Block(u64),
    Exit(Vec<(ProcessId, M)>),
}

/// The timer tag that ends a [`Ctx::block_for`] (never dispatched to the process).
const TAG_BUSY_END: u64 = u64::MAX;

impl<M: Vocabulary> Ctx<'_, M> {
    /// This process's local clock (the global clock shifted by its drift and jumps).
    #[allow(clippy::misnamed_getters)] // `now` is the process's local view of time, by design
    pub fn now(&self) -> SimTime {
        self.local_now
    }
    /// The global simulated time (for the history and the trace; processes use [`Ctx::now`]).
    pub fn global_now(&self) -> SimTime {
        self.now
    }
    /// This process's identity.
    pub fn me(&self) -> ProcessId {
        self.me
    }
    /// This process's random stream.
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }
    /// Sends `msg` to `to` over the network.
    pub fn send(&mut self, to: ProcessId, msg: M) {
        self.effects.push(Effect::Send(to, msg));
    }
    /// Fires [`Process::on_timer`] with `tag` after `after_ns` of this process's local time.
    pub fn set_timer(&mut self, after_ns: u64, tag: u64) {
        self.effects.push(Effect::Timer(after_ns, tag));
    }
    /// The process's event loop is busy for `ns` of its local time (a blocking `SAVE`, `DEBUG
    /// SLEEP`): messages and timers wait, as for a paused process, and run in arrival order after.
    pub fn block_for(&mut self, ns: u64) {
        self.effects.push(Effect::Block(ns));
    }
    /// The process exits once this event is handled (`SHUTDOWN`): as [`Kernel::kill`] with
    /// `closes`, the FINs its OS sends.
    pub fn exit(&mut self, closes: Vec<(ProcessId, M)>) {
        self.effects.push(Effect::Exit(closes));
    }
    /// Records an observed fact in the trace.
    pub fn note(&mut self, fact: M::Fact) {
        self.notes.push(Note {
            time: self.now,
            process: self.me.0,
            fact,
        });
    }
    /// Bytes this process sent to `to` that have not been delivered yet (its socket send queue).
    pub fn unsent_bytes(&self, to: ProcessId) -> u64 {
        self.links.queued_bytes(self.me, to)
    }
}

struct Slot<P> {
    process: P,
    state: ProcessState,
    incarnation: u32,
    clock: Clock,
    rng: SimRng,
    deferred: Vec<u32>,
    /// Killed while its machine is up: the OS answers messages to it with [`Message::refusal`].
    refuses: bool,
    /// Inside a [`Ctx::block_for`]: events wait as for a paused process.
    busy: bool,
}

impl<P> Slot<P> {
    /// Whether events for it wait (SIGSTOP, or an event loop blocked in a command).
    fn waits(&self) -> bool {
        self.state == ProcessState::Paused || self.busy
    }
}

enum Payload<M, C> {
    Deliver {
        from: ProcessId,
        to: ProcessId,
        msg: M,
        size: u64,
        seq: u64,
    },
    Timer {
        to: ProcessId,
        tag: u64,
        incarnation: u32,
    },
    Control(C),
}

/// Messages held on cut links, per directed link, in send order.
type Held<M> = BTreeMap<(ProcessId, ProcessId), HeldQueue<M>>;

/// The messages held on one link with their sizes, in send-sequence order. A message sent on a
/// cut link comes after every one held there (sequences only grow), so it is appended; one
/// pulled off the link in flight finds its place by its sequence.
struct HeldQueue<M>(Vec<(u64, (M, u64))>);

impl<M> Default for HeldQueue<M> {
    fn default() -> Self {
        HeldQueue(Vec::new())
    }
}

impl<M> HeldQueue<M> {
    /// Holds `item` (a message and its size) sent with sequence `seq`.
    fn insert(&mut self, seq: u64, item: (M, u64)) {
        match self.0.last() {
            Some((last, _)) if *last > seq => {
                let at = self.0.partition_point(|(s, _)| *s < seq);
                debug_assert!(self.0.get(at).is_none_or(|(s, _)| *s != seq), "held once");
                self.0.insert(at, (seq, item));
            }
            _ => self.0.push((seq, item)),
        }
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<M> IntoIterator for HeldQueue<M> {
    type Item = (u64, (M, u64));
    type IntoIter = std::vec::IntoIter<(u64, (M, u64))>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The kernel: owns the processes, the queue, the network policy, the trace and the notes.
pub struct Kernel<P: Process, N: LinkPolicy, C> {
    now: SimTime,
    seq: u64,
    queue: EventQueue,
    /// The key of the last event taken from the queue: keys leave in strictly increasing order.
    last_key: Option<Key>,
    /// Messages the links were told were queued and not yet told were dequeued.
    pending_messages: u64,
    slab: Vec<Option<Payload<P::Msg, C>>>,
    free: Vec<u32>,
    slots: Vec<Slot<P>>,
    links: N,
    held: Held<P::Msg>,
    effects: Vec<Effect<P::Msg>>,
    notes: Vec<Note<<P::Msg as Vocabulary>::Fact>>,
    trace: TraceHasher,
    streams: RngStreams,
    delivered: u64,
    limits: KernelLimits,
    overflowed: bool,
}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// More events than [`KernelLimits::max_events`].
    TooManyEvents(u64),
    /// More queued events than [`KernelLimits::max_queue`].
    QueueFull(usize),
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KernelError::TooManyEvents(n) => write!(f, "the run exceeded its limit of {n} events"),
            KernelError::QueueFull(n) => write!(f, "more than {n} events were queued at once"),
        }
    }
}

impl<P: Process, N: LinkPolicy, C> Kernel<P, N, C> {
    /// A kernel with no processes, at time zero.
    pub fn new(seed: u64, links: N, limits: KernelLimits) -> Self {
        Kernel {
            now: SimTime::ZERO,
            seq: 0,
            queue: EventQueue::default(),
            last_key: None,
            pending_messages: 0,
            slab: Vec::new(),
            free: Vec::new(),
            slots: Vec::new(),
            links,
            held: BTreeMap::new(),
            effects: Vec::new(),
            notes: Vec::new(),
            trace: TraceHasher::default(),
            streams: RngStreams::new(seed),
            delivered: 0,
            limits,
            overflowed: false,
        }
    }

    /// Adds a process whose random stream is named `label`; it starts at the next [`Kernel::start`].
    pub fn add(&mut self, label: &str, process: P) -> ProcessId {
        let id = ProcessId(u32::try_from(self.slots.len()).expect("fewer than 2^32 processes"));
        self.slots.push(Slot {
            process,
            state: ProcessState::Running,
            incarnation: 0,
            clock: Clock::default(),
            rng: self.streams.stream(label),
            deferred: Vec::new(),
            refuses: false,
            busy: false,
        });
        id
    }

    /// Calls `on_start` of every process in id order, except those crashed before the start
    /// (machines that are off until a [`Kernel::restart`]).
    pub fn start(&mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].state == ProcessState::Crashed {
                continue;
            }
            self.dispatch(ProcessId(i as u32), |p, ctx| p.on_start(ctx));
        }
    }

    /// The current global time.
    pub fn now(&self) -> SimTime {
        self.now
    }
    /// Events delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    /// The trace hash so far.
    pub fn trace(&self) -> &TraceHasher {
        &self.trace
    }
    /// Notes recorded so far, in order.
    pub fn notes(&self) -> &[Note<<P::Msg as Vocabulary>::Fact>] {
        &self.notes
    }
    /// The number of processes.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    /// Whether there are no processes.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
    /// A process's state machine.
    pub fn process(&self, id: ProcessId) -> &P {
        &self.slots[id.index()].process
    }
    /// A process's state machine, mutably (for the world's fault actions).
    pub fn process_mut(&mut self, id: ProcessId) -> &mut P {
        &mut self.slots[id.index()].process
    }
    /// Whether a process runs, is paused or crashed.
    pub fn state(&self, id: ProcessId) -> ProcessState {
        self.slots[id.index()].state
    }
    /// The network policy.
    pub fn links(&self) -> &N {
        &self.links
    }
    /// The network policy, mutably (faults change it; call [`Kernel::release_held`] after a heal).
    pub fn links_mut(&mut self) -> &mut N {
        &mut self.links
    }
    /// A named random stream of this run (for the world: faults, nemesis).
    pub fn stream(&self, label: &str) -> SimRng {
        self.streams.stream(label)
    }

    /// Records a fact observed by the world (faults and other actions), folded into the trace.
    pub fn note(&mut self, fact: <P::Msg as Vocabulary>::Fact) {
        let note = Note {
            time: self.now,
            process: u32::MAX,
            fact,
        };
        self.trace.fold_note(&note);
        self.notes.push(note);
    }

    /// Schedules a control event at `at` (clamped to now).
    pub fn schedule_control(&mut self, at: SimTime, control: C) -> Result<(), KernelError> {
        let at = at.max(self.now);
        self.push(at, Payload::Control(control))
    }

    #[inline(always)]
    fn push(&mut self, at: SimTime, payload: Payload<P::Msg, C>) -> Result<(), KernelError> {
        if self.queue.len() >= self.limits.max_queue {
            return Err(KernelError::QueueFull(self.limits.max_queue));
        }
        let slot = self.store(payload)?;
        self.enqueue(at.0, slot);
        Ok(())
    }

    /// Queues the event in `slot` at `time_ns` with the next sequence number.
    #[inline]
    fn enqueue(&mut self, time_ns: u64, slot: u32) {
        self.seq += 1;
        let key = Key::new(time_ns, self.seq, slot);
        debug_assert_eq!(
            (key.time_ns(), key.seq(), key.slot()),
            (time_ns, self.seq, slot)
        );
        self.queue.push(key);
    }

    /// The time of the next queued event.
    pub fn next_time(&self) -> Option<SimTime> {
        self.queue.peek().map(|k| SimTime(k.time_ns()))
    }

    /// Handles the next event if it is due no later than `horizon`.
    pub fn step(&mut self, horizon: SimTime) -> Result<Step<C>, KernelError> {
        let Some(key) = self.queue.pop_due(horizon.0) else {
            return Ok(if self.queue.len() == 0 {
                Step::Idle
            } else {
                Step::Horizon
            });
        };
        assert!(
            self.last_key < Some(key),
            "events leave the queue in strictly increasing (time, sequence) order"
        );
        assert!(key.time_ns() >= self.now.0, "time never goes backwards");
        self.last_key = Some(key);
        self.now = SimTime(key.time_ns());
        let slot = key.slot();
        self.free.push(slot);
        let Some(payload) = self.slab[slot as usize].take() else {
            // A message pulled off a link when it was cut (see `hold_in_flight`).
            return Ok(Step::Handled);
        };
        let outcome = self.handle(payload)?;
        if matches!(outcome, Step::Control(..)) {
            return Ok(outcome);
        }
        if self.overflowed {
            return Err(KernelError::QueueFull(self.limits.max_queue));
        }
        if self.delivered > self.limits.max_events {
            return Err(KernelError::TooManyEvents(self.limits.max_events));
        }
        Ok(outcome)
    }

    /// Handles one due payload (the queue's top, already taken).
    #[inline]
    fn handle(&mut self, payload: Payload<P::Msg, C>) -> Result<Step<C>, KernelError> {
        match payload {
            Payload::Control(c) => {
                self.trace.fold(self.now, u32::MAX, KIND_CONTROL, 0);
                return Ok(Step::Control(self.now, c));
            }
            Payload::Timer {
                to,
                tag,
                incarnation,
            } => self.on_timer_due(to, tag, incarnation)?,
            Payload::Deliver {
                from,
                to,
                msg,
                size,
                seq,
            } => self.on_message_due(from, to, msg, size, seq)?,
        }
        Ok(Step::Handled)
    }

    fn on_timer_due(
        &mut self,
        to: ProcessId,
        tag: u64,
        incarnation: u32,
    ) -> Result<(), KernelError> {
        let s = &self.slots[to.index()];
        if s.incarnation != incarnation || s.state == ProcessState::Crashed {
            return Ok(());
        }
        if tag == TAG_BUSY_END {
            self.trace.fold(self.now, to.0, KIND_TIMER, tag);
            let slot = &mut self.slots[to.index()];
            slot.busy = false;
            if slot.state == ProcessState::Running {
                let deferred = std::mem::take(&mut slot.deferred);
                for i in deferred {
                    self.enqueue(self.now.0, i);
                }
            }
            return Ok(());
        }
        if s.waits() {
            let payload = Payload::Timer {
                to,
                tag,
                incarnation,
            };
            return self.defer(to, payload);
        }
        self.delivered += 1;
        self.trace.fold(self.now, to.0, KIND_TIMER, tag);
        self.dispatch(to, |p, ctx| p.on_timer(ctx, tag));
        Ok(())
    }

    fn on_message_due(
        &mut self,
        from: ProcessId,
        to: ProcessId,
        msg: P::Msg,
        size: u64,
        seq: u64,
    ) -> Result<(), KernelError> {
        if self.slots[to.index()].state == ProcessState::Crashed {
            self.link_dequeued(from, to, size);
            self.refuse(to, from, &msg);
            return Ok(());
        }
        if !self.links.is_open(from, to) {
            self.held
                .entry((from, to))
                .or_default()
                .insert(seq, (msg, size));
            return Ok(());
        }
        if self.slots[to.index()].waits() {
            let payload = Payload::Deliver {
                from,
                to,
                msg,
                size,
                seq,
            };
            return self.defer(to, payload);
        }
        self.link_dequeued(from, to, size);
        self.delivered += 1;
        self.trace.fold(
            self.now,
            to.0,
            KIND_MESSAGE,
            msg.trace_word() ^ u64::from(from.0),
        );
        self.dispatch(to, |p, ctx| p.on_message(ctx, from, msg));
        Ok(())
    }

    /// Puts a payload into a free slab slot and returns the slot.
    #[inline(always)]
    fn store(&mut self, payload: Payload<P::Msg, C>) -> Result<u32, KernelError> {
        match self.free.pop() {
            Some(i) => {
                debug_assert!(self.slab[i as usize].is_none(), "a free slot is empty");
                self.slab[i as usize] = Some(payload);
                Ok(i)
            }
            None if self.slab.len() < MAX_SLOTS => {
                self.slab.push(Some(payload));
                Ok((self.slab.len() - 1) as u32)
            }
            None => Err(KernelError::QueueFull(MAX_SLOTS)),
        }
    }

    fn defer(&mut self, to: ProcessId, payload: Payload<P::Msg, C>) -> Result<(), KernelError> {
        let slot = self.store(payload)?;
        self.slots[to.index()].deferred.push(slot);
        Ok(())
    }

    /// Tells the links a message was queued, and counts it.
    fn link_queued(&mut self, from: ProcessId, to: ProcessId, size: u64) {
        self.links.queued(from, to, size);
        self.pending_messages += 1;
    }

    /// Tells the links a queued message left (delivered or discarded), and counts it.
    fn link_dequeued(&mut self, from: ProcessId, to: ProcessId, size: u64) {
        self.links.dequeued(from, to, size);
        self.pending_messages = self
            .pending_messages
            .checked_sub(1)
            .expect("a message leaves a link only once, after it was queued");
    }

    fn dispatch(&mut self, id: ProcessId, f: impl FnOnce(&mut P, &mut Ctx<'_, P::Msg>)) {
        let slot = &mut self.slots[id.index()];
        let local_now = slot.clock.local(self.now);
        let notes_before = self.notes.len();
        let mut ctx = Ctx {
            now: self.now,
            local_now,
            me: id,
            rng: &mut slot.rng,
            effects: &mut self.effects,
            notes: &mut self.notes,
            links: &self.links,
        };
        f(&mut slot.process, &mut ctx);
        for note in &self.notes[notes_before..] {
            self.trace.fold_note(note);
        }
        let clock = slot.clock;
        let incarnation = slot.incarnation;
        let mut effects = std::mem::take(&mut self.effects);
        let mut exit = None;
        for effect in effects.drain(..) {
            match effect {
                Effect::Send(to, msg) => self.send(id, to, msg),
                Effect::Block(ns) => {
                    self.slots[id.index()].busy = true;
                    let at = self.now.plus(clock.global_delay(ns));
                    let payload = Payload::Timer {
                        to: id,
                        tag: TAG_BUSY_END,
                        incarnation,
                    };
                    if self.push(at, payload).is_err() {
                        self.overflowed = true;
                    }
                }
                Effect::Exit(closes) => exit = Some(closes),
                Effect::Timer(after, tag) => {
                    let at = self.now.plus(clock.global_delay(after));
                    let payload = Payload::Timer {
                        to: id,
                        tag,
                        incarnation,
                    };
                    // A full queue cannot be returned from inside a handler; `step` reports it.
                    if self.push(at, payload).is_err() {
                        self.overflowed = true;
                    }
                }
            }
        }
        self.effects = effects;
        if let Some(closes) = exit {
            self.kill(id, closes);
        }
    }

    fn send(&mut self, from: ProcessId, to: ProcessId, msg: P::Msg) {
        let size = msg.wire_size();
        self.link_queued(from, to, size);
        self.seq += 1;
        let seq = self.seq;
        match self.links.transmit(self.now, from, to, size) {
            Some(at) => {
                let payload = Payload::Deliver {
                    from,
                    to,
                    msg,
                    size,
                    seq,
                };
                if self.push(at, payload).is_err() {
                    self.overflowed = true;
                }
            }
            None => {
                self.held
                    .entry((from, to))
                    .or_default()
                    .insert(seq, (msg, size));
            }
        }
    }

    /// Re-sends every held message whose link is open again, in original send order per link.
    pub fn release_held(&mut self) -> Result<(), KernelError> {
        let keys: Vec<(ProcessId, ProcessId)> = self
            .held
            .keys()
            .copied()
            .filter(|(a, b)| self.links.is_open(*a, *b))
            .collect();
        for key in keys {
            let Some(msgs) = self.held.remove(&key) else {
                continue;
            };
            for (seq, (msg, size)) in msgs {
                match self.links.transmit(self.now, key.0, key.1, size) {
                    Some(at) => {
                        let payload = Payload::Deliver {
                            from: key.0,
                            to: key.1,
                            msg,
                            size,
                            seq,
                        };
                        self.push(at, payload)?;
                    }
                    None => {
                        self.held.entry(key).or_default().insert(seq, (msg, size));
                    }
                }
            }
        }
        self.check_consistency();
        Ok(())
    }

    /// Delivers `msg` to `to` at `at` as if from `from`, outside the network (an operator's
    /// console: it crosses no link and no partition). Dropped if `to` is down then.
    pub fn inject(
        &mut self,
        at: SimTime,
        from: ProcessId,
        to: ProcessId,
        msg: P::Msg,
    ) -> Result<(), KernelError> {
        let size = msg.wire_size();
        self.link_queued(from, to, size);
        self.seq += 1;
        let seq = self.seq;
        self.push(
            at.max(self.now),
            Payload::Deliver {
                from,
                to,
                msg,
                size,
                seq,
            },
        )
    }

    /// Moves every message in flight on these links into the held queues, so that nothing
    /// crosses a link after it is cut and everything crosses in send order after it heals (TCP
    /// retransmits what the cut swallowed). Call right after cutting the links.
    pub fn hold_in_flight(&mut self, links: &std::collections::BTreeSet<(ProcessId, ProcessId)>) {
        if links.is_empty() {
            return;
        }
        let in_flight: Vec<u32> = self
            .queue
            .iter()
            .map(Key::slot)
            .filter(|&s| {
                matches!(&self.slab[s as usize], Some(Payload::Deliver { from, to, .. }) if links.contains(&(*from, *to)))
            })
            .collect();
        for s in in_flight {
            if let Some(Payload::Deliver {
                from,
                to,
                msg,
                size,
                seq,
            }) = self.slab[s as usize].take()
            {
                // The heap still points at the slot; it is freed when popped.
                self.held
                    .entry((from, to))
                    .or_default()
                    .insert(seq, (msg, size));
            }
        }
        self.check_consistency();
    }

    /// Number of messages currently held on cut links.
    pub fn held_count(&self) -> usize {
        self.held.values().map(HeldQueue::len).sum()
    }

    /// Asserts the kernel's bookkeeping: every slab slot is exactly one of queued, deferred or
    /// free; free slots are empty; only a paused process has deferred events, all addressed to
    /// it; every message the links were told is queued is in flight, deferred or held. One pass
    /// over the queue and the slab, so the kernel runs it after each fault action, not per event.
    pub fn check_consistency(&self) {
        let deferred: usize = self.slots.iter().map(|s| s.deferred.len()).sum();
        assert_eq!(
            self.queue.len() + deferred + self.free.len(),
            self.slab.len(),
            "every slab slot is queued, deferred or free"
        );
        assert!(
            self.free.iter().all(|&i| self.slab[i as usize].is_none()),
            "free slots are empty"
        );
        for (id, s) in self.slots.iter().enumerate() {
            assert!(
                s.deferred.is_empty() || s.waits(),
                "only a paused or busy process has deferred events"
            );
            for &i in &s.deferred {
                let to = match &self.slab[i as usize] {
                    Some(Payload::Deliver { to, .. } | Payload::Timer { to, .. }) => *to,
                    _ => panic!("a deferred slot holds a message or a timer"),
                };
                assert_eq!(to.index(), id, "deferred events wait at their addressee");
            }
        }
        let in_slab = self.slab.iter();
        let in_slab = in_slab.filter(|p| matches!(p, Some(Payload::Deliver { .. })));
        assert_eq!(
            self.pending_messages,
            (in_slab.count() + self.held_count()) as u64,
            "every queued message is in flight, deferred or held, once"
        );
        assert!(
            self.held.values().all(|m| !m.is_empty()),
            "no empty held queue is kept"
        );
    }

    /// Crashes a process: its pending timers die with it and messages to it are discarded until
    /// [`Kernel::restart`].
    pub fn crash(&mut self, id: ProcessId) {
        let slot = &mut self.slots[id.index()];
        slot.state = ProcessState::Crashed;
        slot.busy = false;
        // Its machine is down: nothing answers for it.
        slot.refuses = false;
        slot.incarnation += 1;
        let deferred = std::mem::take(&mut slot.deferred);
        for i in deferred {
            if let Some(Payload::Deliver { from, to, size, .. }) = self.slab[i as usize].take() {
                self.link_dequeued(from, to, size);
            }
            self.free.push(i);
        }
        // Messages held towards a crashed process are lost with its sockets.
        let keys: Vec<_> = self.held.keys().copied().filter(|k| k.1 == id).collect();
        for key in keys {
            if let Some(msgs) = self.held.remove(&key) {
                for (_, (_, size)) in msgs {
                    self.link_dequeued(key.0, key.1, size);
                }
            }
        }
        self.check_consistency();
    }

    /// Kills a process while its machine stays up (`kill -9`): like [`Kernel::crash`], but the
    /// OS closes its sockets, so each of `closes` goes out at once (the FIN its peers read as a
    /// closed connection), and every message that reaches it until [`Kernel::restart`] is
    /// answered with its [`Message::refusal`]: those waiting at it (paused, or held on a cut
    /// link) now, those in flight when they arrive.
    pub fn kill(&mut self, id: ProcessId, closes: Vec<(ProcessId, P::Msg)>) {
        let slot = &mut self.slots[id.index()];
        let deferred = std::mem::take(&mut slot.deferred);
        let mut waiting: Vec<(ProcessId, P::Msg)> = Vec::new();
        for i in deferred {
            if let Some(Payload::Deliver {
                from,
                to,
                msg,
                size,
                ..
            }) = self.slab[i as usize].take()
            {
                self.link_dequeued(from, to, size);
                waiting.push((from, msg));
            }
            self.free.push(i);
        }
        let keys: Vec<_> = self.held.keys().copied().filter(|k| k.1 == id).collect();
        for key in keys {
            for (_, (msg, size)) in self.held.remove(&key).unwrap_or_default() {
                self.link_dequeued(key.0, key.1, size);
                waiting.push((key.0, msg));
            }
        }
        self.crash(id);
        self.slots[id.index()].refuses = true;
        for (to, msg) in closes {
            self.send(id, to, msg);
        }
        for (from, msg) in waiting {
            self.refuse(id, from, &msg);
        }
        self.check_consistency();
    }

    /// The OS of killed process `dead` answers `msg` from `from`, if it calls for an answer.
    fn refuse(&mut self, dead: ProcessId, from: ProcessId, msg: &P::Msg) {
        if !self.slots[dead.index()].refuses {
            return;
        }
        if let Some(answer) = msg.refusal() {
            self.send(dead, from, answer);
        }
    }

    /// Restarts a crashed process with a fresh state machine and calls its `on_start`.
    pub fn restart(&mut self, id: ProcessId, process: P) {
        let slot = &mut self.slots[id.index()];
        assert_eq!(
            slot.state,
            ProcessState::Crashed,
            "only a crashed process restarts"
        );
        slot.process = process;
        slot.state = ProcessState::Running;
        slot.refuses = false;
        self.dispatch(id, |p, ctx| p.on_start(ctx));
        self.check_consistency();
    }

    /// Pauses a process (SIGSTOP): its timers and messages wait.
    pub fn pause(&mut self, id: ProcessId) {
        let slot = &mut self.slots[id.index()];
        if slot.state == ProcessState::Running {
            slot.state = ProcessState::Paused;
        }
        self.check_consistency();
    }

    /// Resumes a paused process (SIGCONT): what waited is handled now, in arrival order.
    pub fn resume(&mut self, id: ProcessId) -> Result<(), KernelError> {
        let slot = &mut self.slots[id.index()];
        if slot.state != ProcessState::Paused {
            return Ok(());
        }
        slot.state = ProcessState::Running;
        if slot.busy {
            return Ok(()); // what waited runs when the blocking command ends
        }
        let deferred = std::mem::take(&mut slot.deferred);
        for i in deferred {
            self.enqueue(self.now.0, i);
        }
        self.check_consistency();
        Ok(())
    }

    /// Shifts a process's local clock by `jump_ns` (may be negative) and sets its drift.
    pub fn set_clock(&mut self, id: ProcessId, jump_ns: i64, drift_ppm: i64) {
        let slot = &mut self.slots[id.index()];
        let local = slot.clock.local(self.now).0 as i64;
        slot.clock = Clock::new(self.now, (local + jump_ns).max(0) as u64, drift_ppm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Open;
    impl LinkPolicy for Open {
        fn transmit(
            &mut self,
            now: SimTime,
            _: ProcessId,
            _: ProcessId,
            _: u64,
        ) -> Option<SimTime> {
            Some(now.plus(1000))
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

    struct Ticker {
        fired: Vec<u64>,
    }
    struct Tick;
    impl Message for Tick {
        fn wire_size(&self) -> u64 {
            1
        }
        fn trace_word(&self) -> u64 {
            7
        }
    }
    impl Vocabulary for Tick {
        type Fact = crate::sim::NoFacts;
    }
    impl Process for Ticker {
        type Msg = Tick;
        fn on_start(&mut self, ctx: &mut Ctx<'_, Tick>) {
            ctx.set_timer(10, 1);
            ctx.set_timer(10, 2);
        }
        fn on_message(&mut self, _: &mut Ctx<'_, Tick>, _: ProcessId, _: Tick) {}
        fn on_timer(&mut self, ctx: &mut Ctx<'_, Tick>, tag: u64) {
            self.fired.push(ctx.now().0);
            self.fired.push(tag);
        }
    }

    #[test]
    fn equal_times_fire_in_insertion_order() {
        let mut k: Kernel<Ticker, Open, ()> = Kernel::new(1, Open, KernelLimits::default());
        let id = k.add("t", Ticker { fired: vec![] });
        k.start();
        while let Step::Handled = k.step(SimTime(u64::MAX)).unwrap() {}
        assert_eq!(k.process(id).fired, vec![10, 1, 10, 2]);
        assert_eq!(k.delivered(), 2);
    }

    #[test]
    fn paused_process_fires_no_timer_until_resumed() {
        let mut k: Kernel<Ticker, Open, ()> = Kernel::new(1, Open, KernelLimits::default());
        let id = k.add("t", Ticker { fired: vec![] });
        k.start();
        k.pause(id);
        while let Step::Handled = k.step(SimTime(1_000)).unwrap() {}
        assert!(k.process(id).fired.is_empty());
        k.schedule_control(SimTime(500), ()).unwrap();
        assert!(matches!(k.step(SimTime(1_000)).unwrap(), Step::Control(..)));
        k.resume(id).unwrap();
        while let Step::Handled = k.step(SimTime(1_000)).unwrap() {}
        assert_eq!(k.process(id).fired, vec![500, 1, 500, 2]);
    }

    #[test]
    fn crashed_process_loses_its_timers() {
        let mut k: Kernel<Ticker, Open, ()> = Kernel::new(1, Open, KernelLimits::default());
        let id = k.add("t", Ticker { fired: vec![] });
        k.start();
        k.crash(id);
        while let Step::Handled = k.step(SimTime(1_000)).unwrap() {}
        assert!(k.process(id).fired.is_empty());
    }

    #[test]
    fn limits_become_errors_not_hangs() {
        let tight = KernelLimits {
            max_events: 1,
            max_queue: 100,
        };
        let mut k: Kernel<Ticker, Open, ()> = Kernel::new(1, Open, tight);
        k.add("t", Ticker { fired: vec![] });
        k.start();
        let mut result = Ok(Step::Idle);
        for _ in 0..10 {
            result = k.step(SimTime(u64::MAX));
            if result.is_err() {
                break;
            }
        }
        assert!(
            matches!(result, Err(KernelError::TooManyEvents(1))),
            "two timers exceed a limit of one event: {result:?}"
        );
        let full = KernelLimits {
            max_events: 1_000,
            max_queue: 1,
        };
        let mut k: Kernel<Ticker, Open, ()> = Kernel::new(1, Open, full);
        k.add("t", Ticker { fired: vec![] });
        k.start();
        let mut saw_full = false;
        for _ in 0..10 {
            if let Err(e) = k.step(SimTime(u64::MAX)) {
                saw_full = e == KernelError::QueueFull(1);
                break;
            }
        }
        assert!(saw_full, "two timers in a queue of one is an error");
    }

    /// A link policy with one switch: every link is open or every link is cut.
    #[derive(Default)]
    struct Switch {
        cut: bool,
        queued_bytes: u64,
    }
    impl LinkPolicy for Switch {
        fn transmit(
            &mut self,
            now: SimTime,
            _: ProcessId,
            _: ProcessId,
            _: u64,
        ) -> Option<SimTime> {
            (!self.cut).then(|| now.plus(1000))
        }
        fn is_open(&self, _: ProcessId, _: ProcessId) -> bool {
            !self.cut
        }
        fn queued(&mut self, _: ProcessId, _: ProcessId, size: u64) {
            self.queued_bytes += size;
        }
        fn dequeued(&mut self, _: ProcessId, _: ProcessId, size: u64) {
            self.queued_bytes -= size;
        }
        fn queued_bytes(&self, _: ProcessId, _: ProcessId) -> u64 {
            self.queued_bytes
        }
    }

    struct Ping(u64);
    impl Message for Ping {
        fn wire_size(&self) -> u64 {
            10
        }
        fn trace_word(&self) -> u64 {
            self.0
        }
    }
    impl Vocabulary for Ping {
        type Fact = crate::sim::NoFacts;
    }

    /// Process 0 sends pings 1, 2, 3 to process 1, which records `(time, ping)`.
    struct Pinger {
        got: Vec<(u64, u64)>,
    }
    impl Process for Pinger {
        type Msg = Ping;
        fn on_start(&mut self, ctx: &mut Ctx<'_, Ping>) {
            if ctx.me() == ProcessId(0) {
                (1..=3).for_each(|i| ctx.send(ProcessId(1), Ping(i)));
            }
        }
        fn on_message(&mut self, ctx: &mut Ctx<'_, Ping>, _: ProcessId, msg: Ping) {
            self.got.push((ctx.now().0, msg.0));
        }
        fn on_timer(&mut self, _: &mut Ctx<'_, Ping>, _: u64) {}
    }

    fn pingers() -> Kernel<Pinger, Switch, ()> {
        let mut k = Kernel::new(1, Switch::default(), KernelLimits::default());
        k.add("a", Pinger { got: vec![] });
        k.add("b", Pinger { got: vec![] });
        k.start();
        k
    }

    fn run_until(k: &mut Kernel<Pinger, Switch, ()>, horizon: u64) {
        while let Step::Handled = k.step(SimTime(horizon)).unwrap() {}
    }

    #[test]
    fn a_held_queue_keeps_send_order_whatever_the_order_of_holding() {
        let mut q = HeldQueue::default();
        for seq in [5u64, 9, 7, 12, 1, 10] {
            q.insert(seq, (seq * 100, seq));
        }
        assert_eq!(q.len(), 6);
        let got: Vec<(u64, (u64, u64))> = q.into_iter().collect();
        let want: Vec<(u64, (u64, u64))> = [1u64, 5, 7, 9, 10, 12]
            .iter()
            .map(|&s| (s, (s * 100, s)))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn held_then_deferred_messages_arrive_once_in_send_order() {
        let mut k = pingers();
        let (a, b) = (ProcessId(0), ProcessId(1));
        k.links_mut().cut = true;
        k.hold_in_flight(&[(a, b)].into_iter().collect());
        assert_eq!(k.held_count(), 3);
        run_until(&mut k, 5_000);
        assert_eq!(k.delivered(), 0, "nothing crosses a cut link");
        k.pause(b);
        k.links_mut().cut = false;
        k.release_held().unwrap();
        assert_eq!(k.held_count(), 0);
        run_until(&mut k, 10_000);
        assert_eq!(k.delivered(), 0, "a paused process handles nothing");
        assert_eq!(
            k.links().queued_bytes,
            30,
            "deferred messages are still queued"
        );
        k.schedule_control(SimTime(20_000), ()).unwrap();
        assert!(matches!(
            k.step(SimTime(u64::MAX)).unwrap(),
            Step::Control(..)
        ));
        k.resume(b).unwrap();
        run_until(&mut k, u64::MAX);
        let got = &k.process(b).got;
        assert_eq!(got, &vec![(20_000, 1), (20_000, 2), (20_000, 3)]);
        assert_eq!(k.links().queued_bytes, 0);
        k.check_consistency();
    }

    #[test]
    fn a_crash_drops_what_waited_for_the_process() {
        let mut k = pingers();
        let b = ProcessId(1);
        k.pause(b);
        run_until(&mut k, 5_000);
        assert_eq!(k.slots[b.index()].deferred.len(), 3);
        k.crash(b);
        assert_eq!(
            k.links().queued_bytes,
            0,
            "the crash dequeued the deferred messages"
        );
        k.restart(b, Pinger { got: vec![] });
        run_until(&mut k, u64::MAX);
        assert!(k.process(b).got.is_empty());
    }

    #[test]
    #[should_panic(expected = "in flight, deferred or held, once")]
    fn lost_message_bookkeeping_is_caught() {
        let mut k = pingers();
        k.pending_messages += 1;
        k.check_consistency();
    }
}
