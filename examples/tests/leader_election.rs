//! The leader_election example, run in process: the frozen leader's late
//! write must be refused and the log must only ever see growing tokens.

#[allow(dead_code)]
#[path = "../leader_election.rs"]
mod example;

#[test]
fn frozen_leader_is_fenced_off_in_process() {
    let outcome = example::run(None);
    assert_eq!(
        outcome.refused.len(),
        1,
        "exactly the frozen leader's late write is refused"
    );
    let (late_writer, late_token) = &outcome.refused[0];
    assert!(outcome.log.windows(2).all(|w| w[0].1 <= w[1].1));
    let highest = outcome
        .log
        .iter()
        .map(|(_, t)| *t)
        .max()
        .expect("writes happened");
    assert!(
        *late_token < highest,
        "the refused token is older than the newest leader's"
    );
    let writers: std::collections::BTreeSet<&str> =
        outcome.log.iter().map(|(w, _)| w.as_str()).collect();
    assert!(writers.len() >= 2, "leadership changed hands: {writers:?}");
    assert!(writers.contains(late_writer.as_str()));
}
