use proptest::prelude::*;

use super::*;

fn node(id: &str, streams: u32, viewers: u32) -> Node {
    Node {
        id: id.into(),
        capacity: Capacity { streams: 100, viewers: 1000, bitrate_kbps: 0 },
        load: Load { streams, viewers, ..Load::default() },
        draining: false,
    }
}

#[test]
fn a_new_camera_goes_to_the_node_with_the_most_headroom_in_its_busiest_resource() {
    // b has fewer streams than a but far more viewers: its busiest resource decides.
    let nodes = [node("a", 50, 100), node("b", 10, 900), node("c", 30, 200)];
    let p = place(&Policy::default(), &nodes, "cam-1", None).unwrap();
    assert_eq!(nodes[p.index].id, "c");
    assert_eq!(p.reason, Reason::MostHeadroom);
}

#[test]
fn a_camera_returns_to_its_previous_node_while_that_node_is_roomy_enough() {
    let nodes = [node("a", 10, 100), node("b", 60, 100)];
    let p = place(&Policy::default(), &nodes, "cam-1", Some("b")).unwrap();
    assert_eq!((nodes[p.index].id.as_str(), p.reason), ("b", Reason::Sticky));
    // Past the sticky threshold (80% used), it moves to the roomiest node.
    let nodes = [node("a", 10, 100), node("b", 85, 100)];
    let p = place(&Policy::default(), &nodes, "cam-1", Some("b")).unwrap();
    assert_eq!((nodes[p.index].id.as_str(), p.reason), ("a", Reason::MostHeadroom));
}

#[test]
fn full_and_draining_nodes_take_nothing_and_no_room_anywhere_is_none() {
    let mut draining = node("d", 0, 0);
    draining.draining = true;
    let full = node("f", 100, 10);
    let busy_cpu = Node { load: Load { cpu: 1.0, ..Load::default() }, ..node("c", 0, 0) };
    let nodes = [draining.clone(), full.clone(), busy_cpu.clone(), node("ok", 99, 999)];
    let p = place(&Policy::default(), &nodes, "cam", Some("d")).unwrap();
    assert_eq!(nodes[p.index].id, "ok");
    assert_eq!(place(&Policy::default(), &[draining, full, busy_cpu], "cam", None), None);
}

#[test]
fn equal_nodes_share_a_burst_of_new_cameras_instead_of_the_first_taking_all() {
    let nodes: Vec<Node> = (0..4).map(|i| node(&format!("n{i}"), 0, 0)).collect();
    let mut per_node = [0u32; 4];
    for c in 0..400 {
        per_node[place(&Policy::default(), &nodes, &format!("cam-{c}"), None).unwrap().index] += 1;
    }
    assert!(per_node.iter().all(|&n| n > 60), "{per_node:?}");
    // ...and the same camera always picks the same one of equal nodes.
    let first = place(&Policy::default(), &nodes, "cam-7", None);
    assert_eq!(place(&Policy::default(), &nodes, "cam-7", None), first);
}

proptest! {
    #[test]
    fn the_chosen_node_is_always_eligible_and_at_least_as_roomy_as_any_other_within_the_margin(
        loads in prop::collection::vec((0u32..120, 0u32..1200, any::<bool>()), 1..20),
        previous in prop::option::of(0usize..20),
    ) {
        let nodes: Vec<Node> = loads.iter().enumerate().map(|(i, &(s, v, d))| Node {
            draining: d,
            ..node(&format!("n{i}"), s, v)
        }).collect();
        let policy = Policy::default();
        let prev = previous.map(|i| format!("n{i}"));
        match place(&policy, &nodes, "cam", prev.as_deref()) {
            None => prop_assert!(nodes.iter().all(|n| !n.is_eligible())),
            Some(p) => {
                let chosen = &nodes[p.index];
                prop_assert!(chosen.is_eligible());
                if p.reason == Reason::MostHeadroom {
                    let best = nodes.iter().filter(|n| n.is_eligible()).map(Node::headroom).fold(f64::MIN, f64::max);
                    prop_assert!(chosen.headroom() >= best - policy.tie_margin);
                } else {
                    prop_assert_eq!(Some(chosen.id.clone()), prev);
                    prop_assert!(chosen.headroom() >= policy.sticky_min_headroom);
                }
            }
        }
    }
}
