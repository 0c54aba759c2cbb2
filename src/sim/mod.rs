//! The deterministic simulation kernel: virtual time, named random streams, an event queue totally
//! ordered by `(time, sequence)`, processes as plain state machines, and the trace hash.
//!
//! Architecture Invariant: `sim` knows nothing about Redis, TOML, files or the terminal. It never
//! reads the wall clock and never iterates a hash-ordered collection.

mod clock;
mod fast_hash;
mod ids;
mod kernel;
mod queue;
mod rng;
mod time;
mod trace;

pub use fast_hash::{FastHash, FastHasher};
pub use ids::ProcessIds;
pub use kernel::{
    Ctx, Kernel, KernelError, KernelLimits, LinkPolicy, Message, Process, ProcessId, ProcessState,
    Step, Vocabulary,
};
pub use rng::{RngStreams, SimRng, fnv1a, splitmix64};
pub use time::SimTime;
pub use trace::{NoFacts, Note, Observation, TraceHasher};
