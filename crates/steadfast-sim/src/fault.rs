//! Faults the simulator injects at scheduled instants.

use std::time::Duration;

use steadfast_core::NodeId;

use crate::Network;

/// A fault (or a repair) applied at a scheduled instant of true time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use steadfast_core::NodeId;
/// use steadfast_sim::Fault;
///
/// let schedule = vec![
///     (Duration::from_secs(10), Fault::Partition(vec![vec![NodeId::new(0), NodeId::new(1)]])),
///     (Duration::from_secs(20), Fault::Heal),
///     (Duration::from_secs(30), Fault::Crash(NodeId::new(2))),
///     (Duration::from_secs(40), Fault::Restart(NodeId::new(2))),
/// ];
/// assert_eq!(schedule.len(), 4);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// The node stops: it receives nothing, its timers are discarded, and
    /// [`Process::on_crash`](crate::Process::on_crash) lets it drop volatile state.
    Crash(NodeId),
    /// A crashed node starts again ([`Process::on_start`](crate::Process::on_start) runs).
    Restart(NodeId),
    /// The node stops running for `duration` (a GC pause, a stopped VM): its
    /// messages and timers wait until it resumes, while its clock keeps going.
    Pause {
        /// The paused node.
        node: NodeId,
        /// How long it is paused, in true time.
        duration: Duration,
    },
    /// Splits the cluster: each inner list is one side; nodes not listed form
    /// one more side together. Messages between sides are dropped, including
    /// those already in flight. Replaces any earlier partition.
    Partition(Vec<Vec<NodeId>>),
    /// Ends any partition.
    Heal,
    /// Steps a node's clock by `nanos` (negative: backwards).
    ClockJump {
        /// The node whose clock jumps.
        node: NodeId,
        /// The step in nanoseconds.
        nanos: i64,
    },
    /// Replaces the network model (a latency step, a loss spell).
    Network(Network),
}
