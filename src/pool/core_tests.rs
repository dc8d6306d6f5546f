//! The pool's decisions on plain numbers: connections are `u32`, keys `&str`, time explicit.

use super::*;

fn limits(max_size: usize) -> Limits {
    Limits {
        max_size,
        min_idle: 0,
        idle_timeout: None,
        max_lifetime: None,
    }
}

fn dial<C: std::fmt::Debug>(a: Acquire<C>) {
    assert!(
        matches!(a, Acquire::Now(Grant::Dial { evicted: None })),
        "expected a dial, got {a:?}"
    );
}

#[test]
fn dials_up_to_max_size_then_queues_waiters_in_order() {
    let t = Instant::now();
    let mut core: Core<&str, u32> = Core::new(limits(2));
    let mut close = Vec::new();
    dial(core.acquire(&"a", t, &mut close));
    dial(core.acquire(&"a", t, &mut close));
    assert_eq!(core.acquire(&"a", t, &mut close), Acquire::Wait(0));
    assert_eq!(core.acquire(&"a", t, &mut close), Acquire::Wait(1));
    assert_eq!(
        core.stats(),
        Stats {
            open: 2,
            idle: 0,
            waiting: 2
        }
    );
    // The first connection back goes to the first waiter, as it is.
    let d = core.release("a", 10, t, true, t);
    assert_eq!(
        d.grants,
        vec![(
            0,
            Grant::Ready {
                conn: 10,
                born: t,
                idle_for: Duration::ZERO
            }
        )]
    );
    assert!(d.close.is_empty());
    // A connection that failed: its place goes to the next waiter, who dials.
    let d = core.closed(t);
    assert_eq!(d.grants, vec![(1, Grant::Dial { evicted: None })]);
    assert_eq!(core.stats().open, 2, "never more than max_size");
}

#[test]
fn an_idle_connection_is_reused_only_under_its_own_key() {
    let t = Instant::now();
    let mut core: Core<&str, u32> = Core::new(limits(4));
    let mut close = Vec::new();
    dial(core.acquire(&"alice", t, &mut close));
    assert!(core.release("alice", 1, t, true, t).grants.is_empty());
    // bob never gets alice's connection: he dials his own.
    dial(core.acquire(&"bob", t, &mut close));
    let later = t + Duration::from_secs(3);
    match core.acquire(&"alice", later, &mut close) {
        Acquire::Now(Grant::Ready { conn, idle_for, .. }) => {
            assert_eq!(conn, 1);
            assert_eq!(idle_for, Duration::from_secs(3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_full_pool_evicts_another_keys_idle_connection_rather_than_switching_identity() {
    let t = Instant::now();
    let mut core: Core<&str, u32> = Core::new(limits(1));
    let mut close = Vec::new();
    dial(core.acquire(&"alice", t, &mut close));
    core.release("alice", 1, t, true, t);
    assert_eq!(
        core.acquire(&"bob", t, &mut close),
        Acquire::Now(Grant::Dial { evicted: Some(1) })
    );
    assert_eq!(core.stats().open, 1);
}

#[test]
fn a_released_connection_goes_to_a_waiter_of_its_key_else_is_closed_for_the_first_waiter() {
    let t = Instant::now();
    let mut core: Core<&str, u32> = Core::new(limits(1));
    let mut close = Vec::new();
    dial(core.acquire(&"alice", t, &mut close));
    assert_eq!(core.acquire(&"bob", t, &mut close), Acquire::Wait(0));
    assert_eq!(core.acquire(&"alice", t, &mut close), Acquire::Wait(1));
    // alice's connection comes back: the alice waiter gets it (no reconnect).
    let d = core.release("alice", 1, t, true, t);
    assert_eq!(d.grants.len(), 1);
    assert_eq!(d.grants[0].0, 1);
    // It comes back again: bob is first, so it is evicted for him to dial his own.
    let d = core.release("alice", 1, t, true, t);
    assert_eq!(d.grants, vec![(0, Grant::Dial { evicted: Some(1) })]);
    assert_eq!(core.stats().waiting, 0);
}

#[test]
fn a_connection_that_is_not_reusable_or_too_old_is_closed_on_release() {
    let t = Instant::now();
    let mut core: Core<&str, u32> = Core::new(Limits {
        max_lifetime: Some(Duration::from_secs(60)),
        ..limits(2)
    });
    let mut close = Vec::new();
    dial(core.acquire(&"a", t, &mut close));
    dial(core.acquire(&"a", t, &mut close));
    let d = core.release("a", 1, t, false, t);
    assert_eq!(d.close, vec![1]);
    let d = core.release("a", 2, t, true, t + Duration::from_secs(61));
    assert_eq!(d.close, vec![2]);
    assert_eq!(
        core.stats().open,
        2,
        "counted until the server has seen them close"
    );
    core.closed(t);
    core.closed(t);
    assert_eq!(core.stats().open, 0);
}

#[test]
fn idle_connections_expire_beyond_min_idle_and_by_lifetime() {
    let t = Instant::now();
    let mut core: Core<&str, u32> = Core::new(Limits {
        max_size: 8,
        min_idle: 1,
        idle_timeout: Some(Duration::from_secs(10)),
        max_lifetime: Some(Duration::from_secs(100)),
    });
    let mut close = Vec::new();
    for _ in 0..3 {
        dial(core.acquire(&"a", t, &mut close));
    }
    core.release("a", 1, t, true, t);
    core.release("a", 2, t, true, t + Duration::from_secs(1));
    core.release("a", 3, t, true, t + Duration::from_secs(2));
    // 11 s later: 1 and 2 idle past 10 s; 3 is the one min_idle keeps (most recently used).
    let d = core.reap(t + Duration::from_secs(12));
    assert_eq!(d.close, vec![1, 2]);
    assert_eq!(core.stats().idle, 1);
    core.closed(t);
    core.closed(t);
    // Past max_lifetime even min_idle does not keep it.
    let d = core.reap(t + Duration::from_secs(100));
    assert_eq!(d.close, vec![3]);
    core.closed(t);
    assert_eq!(core.stats().open, 0);
}

#[test]
fn a_waiter_that_gave_up_is_skipped_and_a_late_grant_is_reported() {
    let t = Instant::now();
    let mut core: Core<&str, u32> = Core::new(limits(1));
    let mut close = Vec::new();
    dial(core.acquire(&"a", t, &mut close));
    let Acquire::Wait(w) = core.acquire(&"a", t, &mut close) else {
        panic!()
    };
    assert!(core.cancel(w));
    assert!(!core.cancel(w), "not waiting any more");
    let d = core.release("a", 1, t, true, t);
    assert!(d.grants.is_empty(), "nobody waits: it goes idle");
    assert_eq!(core.stats().idle, 1);
}

#[test]
fn a_failed_dial_gives_its_place_back() {
    let t = Instant::now();
    let mut core: Core<&str, u32> = Core::new(limits(1));
    let mut close = Vec::new();
    dial(core.acquire(&"a", t, &mut close));
    let Acquire::Wait(w) = core.acquire(&"b", t, &mut close) else {
        panic!()
    };
    let d = core.closed(t);
    assert_eq!(d.grants, vec![(w, Grant::Dial { evicted: None })]);
    assert_eq!(core.stats().open, 1);
}

#[test]
fn take_idle_empties_the_pool_for_a_drain() {
    let t = Instant::now();
    let mut core: Core<&str, u32> = Core::new(limits(3));
    let mut close = Vec::new();
    dial(core.acquire(&"a", t, &mut close));
    dial(core.acquire(&"b", t, &mut close));
    core.release("a", 1, t, true, t);
    assert_eq!(core.take_idle(), vec![1]);
    core.closed(t);
    assert_eq!(core.stats().open, 1, "the lent one is still counted");
}

#[test]
fn a_place_is_only_given_again_once_its_connection_is_closed() {
    let t = Instant::now();
    let mut core: Core<&str, u32> = Core::new(limits(1));
    let mut close = Vec::new();
    dial(core.acquire(&"a", t, &mut close));
    let Acquire::Wait(w) = core.acquire(&"a", t, &mut close) else {
        panic!()
    };
    let d = core.release("a", 1, t, false, t);
    assert_eq!(d.close, vec![1]);
    assert!(
        d.grants.is_empty(),
        "not before the server has seen it close"
    );
    let d = core.closed(t);
    assert_eq!(d.grants, vec![(w, Grant::Dial { evicted: None })]);
}
