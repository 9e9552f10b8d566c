//! The placement policy (`service::placement`) at 100 nodes and 10,000 cameras, seeded and
//! deterministic, in well under a second: it prints the balance the policy reaches, what a
//! failover of 10 nodes moves, how sticky a camera restart is, and the registry load it costs
//! (figures recorded in docs/placement.md; run with `--nocapture` to see them). It asserts
//! only invariants: no node past a capacity it declared, every camera placed while room exists,
//! restarted cameras back on their node while it is roomy.

use camview_media_controller::service::placement::{place, Capacity, Load, Node, Policy, Reason};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NODES: usize = 100;
const CAMERAS: usize = 10_000;
const FAILED_NODES: usize = 10;
const RESTARTED_CAMERAS: usize = 1_000;
/// A node's heartbeat period, and so how often a controller re-reads every node's record.
const HEARTBEAT_SECONDS: f64 = 2.0;
/// Viewers of all cameras together (a Zipf-like popularity: a few cameras have most viewers).
const TOTAL_VIEWERS: f64 = 150_000.0;

struct Camera {
    kbps: u64,
    viewers: u32,
    node: Option<usize>,
}

struct Sim {
    nodes: Vec<Node>,
    cameras: Vec<Camera>,
    policy: Policy,
    /// Viewers a node could not take: they would be relayed to another node.
    overflow_viewers: u64,
}

impl Sim {
    fn new(rng: &mut StdRng) -> Self {
        // A 10 GbE node taking 200 cameras and 4,000 viewers.
        let capacity = Capacity { streams: 200, viewers: 4_000, bitrate_kbps: 10_000_000 };
        let nodes = (0..NODES)
            .map(|i| Node { id: format!("node-{i:03}"), capacity, load: Load::default(), draining: false })
            .collect();
        let weights: Vec<f64> = (1..=CAMERAS).map(|rank| 1.0 / (rank as f64).powf(1.1)).collect();
        let sum: f64 = weights.iter().sum();
        let mut cameras: Vec<Camera> = weights
            .iter()
            .map(|w| Camera {
                kbps: rng.gen_range(1_000..=4_000),
                viewers: (w / sum * TOTAL_VIEWERS) as u32,
                node: None,
            })
            .collect();
        // Cameras start in no particular order of popularity.
        for i in (1..cameras.len()).rev() {
            cameras.swap(i, rng.gen_range(0..=i));
        }
        Self { nodes, cameras, policy: Policy::default(), overflow_viewers: 0 }
    }

    /// Starts camera `c` (placing it, `previous` as its sticky node) and lets its viewers join.
    /// The controller counts what it placed at once (it does not wait for the next heartbeat),
    /// which the simulation models by updating the node's load in place.
    fn start(&mut self, c: usize, previous: Option<usize>) -> Option<Reason> {
        let prev_id = previous.map(|i| self.nodes[i].id.clone());
        let p = place(&self.policy, &self.nodes, &format!("cam-{c:05}"), prev_id.as_deref())?;
        let cam = &mut self.cameras[c];
        let node = &mut self.nodes[p.index];
        // Viewers are seated while the node has viewers and bit rate left; the rest would be
        // relayed to another node (counted, not simulated here).
        let bitrate_room = node.capacity.bitrate_kbps.saturating_sub(node.load.bitrate_kbps + cam.kbps) / cam.kbps;
        let room =
            node.capacity.viewers.saturating_sub(node.load.viewers).min(bitrate_room.min(u64::from(u32::MAX)) as u32);
        let load = &mut node.load;
        load.streams += 1;
        load.bitrate_kbps += cam.kbps;
        let seated = cam.viewers.min(room);
        load.viewers += seated;
        load.bitrate_kbps += u64::from(seated) * cam.kbps;
        self.overflow_viewers += u64::from(cam.viewers - seated);
        cam.node = Some(p.index);
        Some(p.reason)
    }

    fn stop(&mut self, c: usize) {
        let cam = &mut self.cameras[c];
        if let Some(n) = cam.node.take() {
            let load = &mut self.nodes[n].load;
            load.streams -= 1;
            let seated = cam.viewers.min(load.viewers);
            load.viewers -= seated;
            load.bitrate_kbps = load.bitrate_kbps.saturating_sub(cam.kbps + u64::from(seated) * cam.kbps);
        }
    }

    /// Utilisation of the live nodes: (min, mean, max, standard deviation).
    fn balance(&self) -> (f64, f64, f64, f64) {
        self.balance_of(|_| true)
    }

    /// Nodes hosting a camera with a quarter of a node's viewers or more (relay territory).
    fn hot_nodes(&self) -> Vec<usize> {
        let mut hot: Vec<usize> = self
            .cameras
            .iter()
            .filter(|c| c.viewers >= self.nodes[0].capacity.viewers / 4)
            .filter_map(|c| c.node)
            .collect();
        hot.sort_unstable();
        hot.dedup();
        hot
    }

    /// Utilisation of the live nodes `keep` selects: (min, mean, max, standard deviation).
    fn balance_of(&self, keep: impl Fn(usize) -> bool) -> (f64, f64, f64, f64) {
        let u: Vec<f64> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| !n.draining && keep(*i))
            .map(|(_, n)| n.utilisation())
            .collect();
        let mean = u.iter().sum::<f64>() / u.len() as f64;
        let var = u.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / u.len() as f64;
        (u.iter().copied().fold(f64::MAX, f64::min), mean, u.iter().copied().fold(0.0, f64::max), var.sqrt())
    }

    fn assert_no_node_past_its_capacity(&self) {
        for n in self.nodes.iter().filter(|n| !n.draining) {
            assert!(n.load.streams <= n.capacity.streams, "{} carries {} streams", n.id, n.load.streams);
            assert!(n.load.viewers <= n.capacity.viewers, "{} carries {} viewers", n.id, n.load.viewers);
            assert!(n.load.bitrate_kbps <= n.capacity.bitrate_kbps, "{} forwards {} kbps", n.id, n.load.bitrate_kbps);
        }
    }
}

fn print_balance(what: &str, sim: &Sim) {
    let hot = sim.hot_nodes();
    let (min, mean, max, sd) = sim.balance();
    let (cmin, cmean, cmax, csd) = sim.balance_of(|i| !hot.contains(&i));
    println!(
        "{what}: {} nodes host a camera with over 1000 viewers; the {} others: utilisation min {:.1}% mean {:.1}% max {:.1}% sd {:.1} pts",
        hot.len(),
        sim.nodes.iter().filter(|n| !n.draining).count() - hot.len(),
        cmin * 100.0,
        cmean * 100.0,
        cmax * 100.0,
        csd * 100.0
    );
    let streams: Vec<u32> = sim.nodes.iter().filter(|n| !n.draining).map(|n| n.load.streams).collect();
    println!(
        "{what}: utilisation min {:.1}% mean {:.1}% max {:.1}% sd {:.1} pts; streams per node {}..{}; overflow viewers (to relay) {}",
        min * 100.0,
        mean * 100.0,
        max * 100.0,
        sd * 100.0,
        streams.iter().min().unwrap(),
        streams.iter().max().unwrap(),
        sim.overflow_viewers
    );
}

#[test]
fn placement_spreads_10000_cameras_over_100_nodes_and_a_failover_keeps_every_node_within_capacity() {
    let mut rng = StdRng::seed_from_u64(16);
    let mut sim = Sim::new(&mut rng);

    for c in 0..CAMERAS {
        assert!(sim.start(c, None).is_some(), "camera {c} found no node while the fleet has room");
    }
    sim.assert_no_node_past_its_capacity();
    print_balance("placed 10000 cameras on 100 nodes", &sim);
    // Only a node hosting a hot camera fills up (its overflow is relayed); the rest stay even.
    let hot = sim.hot_nodes();
    let full = sim.nodes.iter().filter(|n| n.utilisation() >= 0.999).count();
    assert!(full <= hot.len(), "{full} nodes are full but only {} host a hot camera", hot.len());
    let (_, _, _, sd) = sim.balance_of(|i| !hot.contains(&i));
    assert!(sd < 0.05, "the nodes without a hot camera are uneven: sd {:.1} points", sd * 100.0);

    // Failover: ten nodes stop heartbeating; their streams are placed again on the others.
    let failed: Vec<usize> = (0..FAILED_NODES).map(|i| i * (NODES / FAILED_NODES)).collect();
    for &n in &failed {
        sim.nodes[n].draining = true;
    }
    let orphaned: Vec<usize> =
        (0..CAMERAS).filter(|&c| sim.cameras[c].node.is_some_and(|n| failed.contains(&n))).collect();
    for &c in &orphaned {
        let previous = sim.cameras[c].node;
        sim.stop(c);
        assert!(sim.start(c, previous).is_some(), "camera {c} found no node after the failover");
        assert!(!failed.contains(&sim.cameras[c].node.unwrap()), "camera {c} placed on a dead node");
    }
    sim.assert_no_node_past_its_capacity();
    println!("failover of {FAILED_NODES} nodes: {} streams moved", orphaned.len());
    print_balance("after the failover", &sim);

    // Restarts: a camera that comes back returns to its node while that node is roomy.
    let mut back_home = 0;
    for _ in 0..RESTARTED_CAMERAS {
        let c = rng.gen_range(0..CAMERAS);
        let before = sim.cameras[c].node;
        sim.stop(c);
        let reason = sim.start(c, before).expect("placed again");
        if sim.cameras[c].node == before {
            assert_eq!(reason, Reason::Sticky);
            back_home += 1;
        }
    }
    println!("restarts: {back_home} of {RESTARTED_CAMERAS} cameras returned to their node");
    assert!(back_home * 10 >= RESTARTED_CAMERAS * 9, "only {back_home} of {RESTARTED_CAMERAS} returned to their node");
    sim.assert_no_node_past_its_capacity();

    // What it costs the registry: every node writes its record each heartbeat; each controller
    // reads all records once a heartbeat (placements use that snapshot plus its own counts);
    // each placement writes the stream record once (as a start does today).
    let live = NODES - FAILED_NODES;
    println!(
        "registry load: {:.0} heartbeat writes/s ({live} live nodes every {HEARTBEAT_SECONDS} s), \
         {:.1} snapshot reads/s per controller ({NODES} records each), 1 stream write per placement \
         ({} during the failover)",
        live as f64 / HEARTBEAT_SECONDS,
        1.0 / HEARTBEAT_SECONDS,
        orphaned.len()
    );
}
