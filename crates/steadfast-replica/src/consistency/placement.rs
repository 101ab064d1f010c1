//! Where replicas live: datacentres, racks, and a token ring walked the way
//! Cassandra's `NetworkTopologyStrategy` walks it.

use std::collections::{BTreeMap, BTreeSet};

use steadfast_core::{ConfigError, NodeId};

use crate::merkle::hash64;

/// One replica of a key: its node, datacentre and rack (or zone).
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::Replica;
///
/// let r = Replica::new(NodeId::new(1), "eu-west", "zone-a");
/// assert_eq!(r.datacenter(), "eu-west");
/// assert_eq!(r.rack(), "zone-a");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Replica {
    node: NodeId,
    datacenter: String,
    rack: String,
}

impl Replica {
    /// A replica on `node` in `datacenter`, rack (or availability zone) `rack`.
    #[must_use]
    pub fn new(node: NodeId, datacenter: impl Into<String>, rack: impl Into<String>) -> Replica {
        Replica {
            node,
            datacenter: datacenter.into(),
            rack: rack.into(),
        }
    }

    /// The node holding the replica.
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Its datacentre.
    #[must_use]
    pub fn datacenter(&self) -> &str {
        &self.datacenter
    }

    /// Its rack or availability zone.
    #[must_use]
    pub fn rack(&self) -> &str {
        &self.rack
    }
}

/// The replicas of one key, each with its datacentre and rack.
///
/// Built by [`NetworkTopology::place`] or directly from known replicas.
/// Consistency levels turn into required acknowledgements against a
/// placement ([`ConsistencyLevel::requirement`](crate::ConsistencyLevel::requirement)).
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{Placement, Replica};
///
/// let placement = Placement::new([
///     Replica::new(NodeId::new(1), "dc1", "r1"),
///     Replica::new(NodeId::new(2), "dc1", "r2"),
///     Replica::new(NodeId::new(3), "dc2", "r1"),
/// ])?;
/// assert_eq!(placement.len(), 3);
/// assert_eq!(placement.count_in("dc1"), 2);
/// assert_eq!(placement.datacenters(), ["dc1", "dc2"]);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    replicas: Vec<Replica>,
    datacenters: Vec<String>,
}

impl Placement {
    /// A placement of `replicas`, kept in the given order (the first is the
    /// primary replica).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there are no replicas, a node appears twice, or
    /// a datacentre name is empty.
    pub fn new(replicas: impl IntoIterator<Item = Replica>) -> Result<Placement, ConfigError> {
        let replicas: Vec<Replica> = replicas.into_iter().collect();
        ConfigError::ensure(
            !replicas.is_empty(),
            "replicas",
            "none",
            "at least one replica",
        )?;
        let mut nodes: Vec<NodeId> = replicas.iter().map(Replica::node).collect();
        nodes.sort_unstable();
        if let Some(w) = nodes.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::new(
                "replicas",
                format_args!("node {} twice", w[0]),
                "one replica per node",
            ));
        }
        if replicas.iter().any(|r| r.datacenter.is_empty()) {
            return Err(ConfigError::new(
                "replicas.datacenter",
                "\"\"",
                "a non-empty name",
            ));
        }
        let datacenters: BTreeSet<&str> = replicas.iter().map(Replica::datacenter).collect();
        let datacenters = datacenters.into_iter().map(str::to_owned).collect();
        Ok(Placement {
            replicas,
            datacenters,
        })
    }

    /// The replicas, primary first.
    #[must_use]
    pub fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    /// The number of replicas, `N`.
    #[must_use]
    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    /// Always `false`: a placement has at least one replica.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// The datacentres holding replicas, sorted by name.
    #[must_use]
    pub fn datacenters(&self) -> &[String] {
        &self.datacenters
    }

    /// The replicas in `datacenter`.
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_replica::{Placement, Replica};
    ///
    /// let p = Placement::new([
    ///     Replica::new(NodeId::new(1), "dc1", "a"),
    ///     Replica::new(NodeId::new(2), "dc2", "a"),
    /// ])?;
    /// let dc2: Vec<_> = p.replicas_in("dc2").map(Replica::node).collect();
    /// assert_eq!(dc2, [NodeId::new(2)]);
    /// assert_eq!(p.replica(NodeId::new(1)).map(Replica::datacenter), Some("dc1"));
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    pub fn replicas_in<'a>(&'a self, datacenter: &'a str) -> impl Iterator<Item = &'a Replica> {
        self.replicas
            .iter()
            .filter(move |r| r.datacenter == datacenter)
    }

    /// The number of replicas in `datacenter`.
    #[must_use]
    pub fn count_in(&self, datacenter: &str) -> usize {
        self.replicas_in(datacenter).count()
    }

    /// The number of distinct racks holding replicas in `datacenter`.
    #[must_use]
    pub fn racks_in(&self, datacenter: &str) -> usize {
        self.replicas_in(datacenter)
            .map(Replica::rack)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The replica on `node`, if `node` holds one.
    #[must_use]
    pub fn replica(&self, node: NodeId) -> Option<&Replica> {
        self.replicas.iter().find(|r| r.node == node)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct RingNode {
    replica: Replica,
}

/// The nodes of a cluster: each node's datacentre, rack and tokens on a
/// 64-bit ring.
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::Topology;
///
/// let topology = Topology::builder()
///     .node(NodeId::new(1), "dc1", "a")
///     .node_with_tokens(NodeId::new(2), "dc1", "b", [10, 1 << 63])
///     .build()?;
/// assert_eq!(topology.len(), 2);
/// assert_eq!(topology.nodes_in("dc1"), 2);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    nodes: Vec<RingNode>,
    // (token, index into nodes), sorted by token.
    ring: Vec<(u64, usize)>,
}

/// Builds a [`Topology`]; validation happens in [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::Topology;
///
/// let err = Topology::builder()
///     .node(NodeId::new(1), "dc1", "a")
///     .node(NodeId::new(1), "dc1", "b")
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "nodes");
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until build() is called"]
pub struct TopologyBuilder {
    nodes: Vec<(Replica, Vec<u64>)>,
}

impl TopologyBuilder {
    /// Adds a node with one token: [`hash64`] of its id's little-endian bytes.
    pub fn node(
        self,
        id: NodeId,
        datacenter: impl Into<String>,
        rack: impl Into<String>,
    ) -> TopologyBuilder {
        let token = hash64(&id.get().to_le_bytes());
        self.node_with_tokens(id, datacenter, rack, [token])
    }

    /// Adds a node owning the given tokens (virtual nodes).
    pub fn node_with_tokens(
        mut self,
        id: NodeId,
        datacenter: impl Into<String>,
        rack: impl Into<String>,
        tokens: impl IntoIterator<Item = u64>,
    ) -> TopologyBuilder {
        self.nodes.push((
            Replica::new(id, datacenter, rack),
            tokens.into_iter().collect(),
        ));
        self
    }

    /// Validates and builds the topology.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there are no nodes, a node id repeats, a node
    /// has no token, two nodes share a token, or a datacentre name is empty.
    pub fn build(self) -> Result<Topology, ConfigError> {
        ConfigError::ensure(!self.nodes.is_empty(), "nodes", "none", "at least one node")?;
        let mut ids: Vec<NodeId> = self.nodes.iter().map(|(r, _)| r.node).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(ConfigError::new(
                "nodes",
                format_args!("node {} twice", w[0]),
                "distinct node ids",
            ));
        }
        let mut ring = Vec::new();
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for (i, (replica, tokens)) in self.nodes.into_iter().enumerate() {
            ConfigError::ensure(
                !tokens.is_empty(),
                "nodes.tokens",
                format_args!("none for node {}", replica.node),
                "at least one token per node",
            )?;
            ConfigError::ensure(
                !replica.datacenter.is_empty(),
                "nodes.datacenter",
                "\"\"",
                "a non-empty name",
            )?;
            ring.extend(tokens.into_iter().map(|t| (t, i)));
            nodes.push(RingNode { replica });
        }
        ring.sort_unstable();
        if let Some(w) = ring.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ConfigError::new(
                "nodes.tokens",
                format_args!("token {} twice", w[0].0),
                "distinct tokens",
            ));
        }
        Ok(Topology { nodes, ring })
    }
}

impl Topology {
    /// A builder for a topology.
    pub fn builder() -> TopologyBuilder {
        TopologyBuilder::default()
    }

    /// The number of nodes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always `false`: a built topology has at least one node.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The number of nodes in `datacenter`.
    #[must_use]
    pub fn nodes_in(&self, datacenter: &str) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.replica.datacenter == datacenter)
            .count()
    }

    /// The number of distinct racks in `datacenter`.
    #[must_use]
    pub fn racks_in(&self, datacenter: &str) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.replica.datacenter == datacenter)
            .map(|n| n.replica.rack.as_str())
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Every node with its location, in the order they were added.
    pub fn nodes(&self) -> impl Iterator<Item = &Replica> {
        self.nodes.iter().map(|n| &n.replica)
    }
}

/// Rack-aware replica placement over a [`Topology`] with a replication
/// factor per datacentre, as Cassandra's `NetworkTopologyStrategy` places
/// them.
///
/// To place a key, walk the ring clockwise from the key's token. In each
/// datacentre, take a node from a rack not used yet; take a node from an
/// already used rack only while the datacentre has fewer racks than replicas
/// to fill. So the `rf` replicas of a datacentre span `min(rf, racks)`
/// racks, and never two replicas on one node. The walk is deterministic: the
/// same topology and token always give the same placement.
///
/// Unlike Cassandra, which silently stores fewer copies, asking a datacentre
/// for more replicas than it has nodes is a [`ConfigError`].
///
/// # Examples
///
/// ```
/// use steadfast_core::NodeId;
/// use steadfast_replica::{NetworkTopology, Topology};
///
/// // Two datacentres of six nodes over three racks each.
/// let mut builder = Topology::builder();
/// for i in 0..12u64 {
///     let dc = if i < 6 { "dc1" } else { "dc2" };
///     builder = builder.node(NodeId::new(i), dc, format!("rack{}", i % 3));
/// }
/// let strategy = NetworkTopology::new(builder.build()?, [("dc1", 3), ("dc2", 3)])?;
/// let placement = strategy.place(42);
/// assert_eq!(placement.len(), 6);
/// assert_eq!(placement.racks_in("dc1"), 3);
/// assert_eq!(placement.racks_in("dc2"), 3);
/// # Ok::<(), steadfast_core::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkTopology {
    topology: Topology,
    factors: BTreeMap<String, usize>,
}

impl NetworkTopology {
    /// A strategy placing `factors` (datacentre, replication factor) replicas
    /// on `topology`. A factor of zero keeps no replica in that datacentre.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when no datacentre has a replica, a datacentre is
    /// named twice, or a datacentre is asked for more replicas than it has
    /// nodes (including a datacentre with no nodes).
    pub fn new<S: Into<String>>(
        topology: Topology,
        factors: impl IntoIterator<Item = (S, usize)>,
    ) -> Result<NetworkTopology, ConfigError> {
        let mut map = BTreeMap::new();
        for (dc, rf) in factors {
            let dc = dc.into();
            let nodes = topology.nodes_in(&dc);
            ConfigError::ensure(
                rf <= nodes,
                format!("replication_factor.{dc}"),
                rf,
                format!("at most the nodes in the datacentre ({nodes})"),
            )?;
            if map.insert(dc.clone(), rf).is_some() {
                return Err(ConfigError::new(
                    "replication_factor",
                    format_args!("{dc} twice"),
                    "one factor per datacentre",
                ));
            }
        }
        let total: usize = map.values().sum();
        ConfigError::ensure(
            total > 0,
            "replication_factor",
            total,
            "at least one replica in total",
        )?;
        Ok(NetworkTopology {
            topology,
            factors: map,
        })
    }

    /// The topology placed on.
    #[must_use]
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The replication factor of `datacenter` (zero if not replicated there).
    #[must_use]
    pub fn replication_factor(&self, datacenter: &str) -> usize {
        self.factors.get(datacenter).copied().unwrap_or(0)
    }

    /// The total replication factor, `N`.
    #[must_use]
    pub fn total_replicas(&self) -> usize {
        self.factors.values().sum()
    }

    /// The replicas of the key whose token is `token`, primary first.
    ///
    /// ```
    /// use steadfast_core::NodeId;
    /// use steadfast_replica::{NetworkTopology, Topology, hash64};
    ///
    /// let topology = Topology::builder()
    ///     .node_with_tokens(NodeId::new(1), "dc1", "a", [100])
    ///     .node_with_tokens(NodeId::new(2), "dc1", "a", [200])
    ///     .node_with_tokens(NodeId::new(3), "dc1", "b", [300])
    ///     .build()?;
    /// let strategy = NetworkTopology::new(topology, [("dc1", 2)])?;
    /// // From token 50: node 1, then node 3, skipping node 2 (rack a again).
    /// let nodes: Vec<u64> = strategy.place(50).replicas().iter().map(|r| r.node().get()).collect();
    /// assert_eq!(nodes, [1, 3]);
    /// let _placement = strategy.place(hash64(b"user:42"));
    /// # Ok::<(), steadfast_core::ConfigError>(())
    /// ```
    #[must_use]
    pub fn place(&self, token: u64) -> Placement {
        struct Fill<'a> {
            left: usize,
            rack_repeats: usize,
            racks: BTreeSet<&'a str>,
        }
        let mut fills: BTreeMap<&str, Fill<'_>> = self
            .factors
            .iter()
            .filter(|(_, rf)| **rf > 0)
            .map(|(dc, rf)| {
                let racks = self.topology.racks_in(dc);
                let fill = Fill {
                    left: *rf,
                    rack_repeats: rf.saturating_sub(racks),
                    racks: BTreeSet::new(),
                };
                (dc.as_str(), fill)
            })
            .collect();
        let mut to_fill = fills.len();
        let mut taken = vec![false; self.topology.nodes.len()];
        let mut replicas = Vec::with_capacity(self.total_replicas());
        let start = self.topology.ring.partition_point(|(t, _)| *t < token);
        let ring = &self.topology.ring;
        for &(_, i) in ring[start..].iter().chain(&ring[..start]) {
            if to_fill == 0 {
                break;
            }
            let replica = &self.topology.nodes[i].replica;
            let Some(fill) = fills.get_mut(replica.datacenter.as_str()) else {
                continue;
            };
            if fill.left == 0 || taken[i] {
                continue;
            }
            if fill.racks.insert(replica.rack.as_str()) {
                // A rack this datacentre has no replica in yet.
            } else if fill.rack_repeats > 0 {
                fill.rack_repeats -= 1;
            } else {
                continue;
            }
            taken[i] = true;
            fill.left -= 1;
            replicas.push(replica.clone());
            if fill.left == 0 {
                to_fill -= 1;
            }
        }
        // Every factor is at most its datacentre's node count (checked in
        // `new`) and the walk visits every node, so every datacentre fills.
        let datacenters: BTreeSet<&str> = replicas.iter().map(Replica::datacenter).collect();
        let datacenters = datacenters.into_iter().map(str::to_owned).collect();
        Placement {
            replicas,
            datacenters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(spec: &[(&str, &str)]) -> Topology {
        let mut b = Topology::builder();
        for (i, (dc, rack)) in spec.iter().enumerate() {
            b = b.node_with_tokens(NodeId::new(i as u64), *dc, *rack, [i as u64 * 100]);
        }
        b.build().unwrap()
    }

    #[test]
    fn walks_the_ring_skipping_used_racks() {
        // Ring order: n0 (a), n1 (a), n2 (b), n3 (b), n4 (c).
        let t = topology(&[
            ("dc", "a"),
            ("dc", "a"),
            ("dc", "b"),
            ("dc", "b"),
            ("dc", "c"),
        ]);
        let s = NetworkTopology::new(t, [("dc", 3)]).unwrap();
        let p = s.place(0);
        let nodes: Vec<u64> = p.replicas().iter().map(|r| r.node().get()).collect();
        assert_eq!(nodes, [0, 2, 4]);
        // Starting past the last token wraps around to the first.
        assert_eq!(s.place(401).replicas()[0].node().get(), 0);
        assert_eq!(s.place(150).replicas()[0].node().get(), 2);
    }

    #[test]
    fn repeats_racks_only_when_short_of_racks() {
        let t = topology(&[("dc", "a"), ("dc", "a"), ("dc", "a"), ("dc", "b")]);
        let s = NetworkTopology::new(t, [("dc", 3)]).unwrap();
        let p = s.place(0);
        assert_eq!(p.len(), 3);
        assert_eq!(p.racks_in("dc"), 2);
    }

    #[test]
    fn rejects_more_replicas_than_nodes() {
        let t = topology(&[("dc1", "a"), ("dc1", "b"), ("dc2", "a")]);
        let err = NetworkTopology::new(t.clone(), [("dc2", 2)]).unwrap_err();
        assert_eq!(err.field(), "replication_factor.dc2");
        assert_eq!(err.value(), "2");
        let err = NetworkTopology::new(t.clone(), [("dc3", 1)]).unwrap_err();
        assert_eq!(err.field(), "replication_factor.dc3");
        let err = NetworkTopology::new(t.clone(), [("dc1", 0)]).unwrap_err();
        assert_eq!(err.field(), "replication_factor");
        let err = NetworkTopology::new(t, [("dc1", 1), ("dc1", 1)]).unwrap_err();
        assert_eq!(err.value(), "dc1 twice");
    }

    #[test]
    fn topology_validation() {
        assert_eq!(Topology::builder().build().unwrap_err().field(), "nodes");
        let err = Topology::builder()
            .node_with_tokens(NodeId::new(1), "dc", "a", [5])
            .node_with_tokens(NodeId::new(2), "dc", "a", [5])
            .build()
            .unwrap_err();
        assert_eq!(err.value(), "token 5 twice");
        let err = Topology::builder()
            .node_with_tokens(NodeId::new(1), "dc", "a", [])
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "nodes.tokens");
        let err = Topology::builder()
            .node(NodeId::new(1), "", "a")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "nodes.datacenter");
        let err = Placement::new([]).unwrap_err();
        assert_eq!(err.field(), "replicas");
        let r = Replica::new(NodeId::new(1), "dc", "a");
        assert_eq!(
            Placement::new([r.clone(), r]).unwrap_err().value(),
            "node 1 twice"
        );
    }

    #[test]
    fn virtual_nodes_never_double_a_replica() {
        let t = Topology::builder()
            .node_with_tokens(NodeId::new(1), "dc", "a", [0, 10, 20])
            .node_with_tokens(NodeId::new(2), "dc", "b", [30])
            .build()
            .unwrap();
        let s = NetworkTopology::new(t, [("dc", 2)]).unwrap();
        let p = s.place(0);
        assert_eq!(p.len(), 2);
        assert!(p.replica(NodeId::new(2)).is_some());
    }
}
