use super::*;

fn datagram(i: u32) -> Vec<u8> {
    i.to_be_bytes().to_vec()
}

fn index(d: &[u8]) -> u32 {
    u32::from_be_bytes(d.try_into().expect("a test datagram is 4 bytes"))
}

/// Feeds `n` datagrams 1 ms apart, draining what is due after each; then drains the rest.
/// Returns the indices in the order they came out.
fn run(imp: &mut Impairer, n: u32) -> Vec<u32> {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut now = start;
    for i in 0..n {
        now = start + Duration::from_millis(u64::from(i));
        imp.input(now, datagram(i));
        while let Some(d) = imp.poll(now) {
            out.push(index(&d));
        }
    }
    while let Some(due) = imp.next_due() {
        now = now.max(due);
        while let Some(d) = imp.poll(now) {
            out.push(index(&d));
        }
    }
    out
}

#[test]
fn a_perfect_network_forwards_everything_at_once_in_order() {
    let mut imp = Impairer::new(Impairment::default(), 1);
    let out = run(&mut imp, 1000);
    assert_eq!(out, (0..1000).collect::<Vec<_>>());
    assert_eq!(imp.counters(), ImpairCounters { received: 1000, forwarded: 1000, ..ImpairCounters::default() });
}

#[test]
fn ten_percent_loss_over_ten_thousand_datagrams_drops_about_a_thousand_and_keeps_the_rest_in_order() {
    let mut imp = Impairer::new(Impairment { loss_percent: 10.0, ..Impairment::default() }, 7);
    let out = run(&mut imp, 10_000);
    let c = imp.counters();
    assert!((800..=1200).contains(&c.dropped), "dropped {}", c.dropped);
    assert_eq!(out.len() as u64, 10_000 - c.dropped);
    assert!(out.windows(2).all(|w| w[0] < w[1]), "loss alone never reorders");
}

#[test]
fn the_same_seed_replays_the_same_decisions_and_another_seed_does_not() {
    let config =
        Impairment { loss_percent: 20.0, duplicate_percent: 5.0, reorder_percent: 10.0, ..Impairment::default() };
    let a = run(&mut Impairer::new(config, 42), 2000);
    let b = run(&mut Impairer::new(config, 42), 2000);
    let c = run(&mut Impairer::new(config, 43), 2000);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn reordering_loses_and_repeats_nothing_but_changes_the_order() {
    let mut imp = Impairer::new(Impairment { reorder_percent: 30.0, ..Impairment::default() }, 3);
    let out = run(&mut imp, 5000);
    let mut sorted = out.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..5000).collect::<Vec<_>>(), "every datagram exactly once");
    let inversions = out.windows(2).filter(|w| w[0] > w[1]).count() as u64;
    let c = imp.counters();
    assert!(c.reordered > 1000, "reordered {}", c.reordered);
    // A held datagram comes right after the one that overtook it: one inversion each, but
    // for a last one held with nothing behind it (released by the hold limit).
    assert!(c.reordered - inversions <= 1, "{inversions} inversions for {} held back", c.reordered);
}

#[test]
fn a_held_datagram_with_nothing_behind_it_goes_out_after_the_hold_limit() {
    let mut imp = Impairer::new(Impairment { reorder_percent: 100.0, ..Impairment::default() }, 5);
    let t0 = Instant::now();
    imp.input(t0, datagram(9));
    assert_eq!(imp.poll(t0), None);
    assert_eq!(imp.next_due(), Some(t0 + HOLD_LIMIT));
    assert_eq!(imp.poll(t0 + HOLD_LIMIT).as_deref().map(index), Some(9));
    assert_eq!(imp.in_flight(), 0);
}

#[test]
fn duplicates_add_copies_and_lose_nothing() {
    let mut imp = Impairer::new(Impairment { duplicate_percent: 5.0, ..Impairment::default() }, 11);
    let out = run(&mut imp, 10_000);
    let c = imp.counters();
    assert!((300..=700).contains(&c.duplicated), "duplicated {}", c.duplicated);
    assert_eq!(out.len() as u64, 10_000 + c.duplicated);
    assert_eq!(c.forwarded, out.len() as u64);
    let mut unique = out.clone();
    unique.dedup();
    assert_eq!(unique, (0..10_000).collect::<Vec<_>>(), "copies follow their original, nothing missing");
}

#[test]
fn delay_and_jitter_hold_every_datagram_within_the_window() {
    let config =
        Impairment { delay: Duration::from_millis(50), jitter: Duration::from_millis(10), ..Impairment::default() };
    let mut imp = Impairer::new(config, 13);
    let t0 = Instant::now();
    for i in 0..100 {
        imp.input(t0, datagram(i));
    }
    assert_eq!(imp.poll(t0 + Duration::from_millis(49)), None, "nothing before the delay");
    assert!(imp.next_due().is_some_and(|d| d >= t0 + Duration::from_millis(50)));
    let mut out = 0;
    while imp.poll(t0 + Duration::from_millis(60)).is_some() {
        out += 1;
    }
    assert_eq!(out, 100, "everything by delay + jitter");
}

#[test]
fn a_blackout_drops_everything_and_lifting_it_restores_the_flow() {
    let mut imp = Impairer::new(Impairment::blackout(), 17);
    let t0 = Instant::now();
    for i in 0..100 {
        imp.input(t0, datagram(i));
    }
    assert_eq!((imp.counters().dropped, imp.poll(t0)), (100, None));
    imp.set(Impairment::default());
    imp.input(t0, datagram(100));
    assert_eq!(imp.poll(t0).as_deref().map(index), Some(100));
}
