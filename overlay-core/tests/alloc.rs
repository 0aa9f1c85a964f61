//! A counting global allocator proves the receive path (frame → MAC check → dispatch →
//! event, plus the flow-control re-grants it triggers) makes no heap allocation per
//! TRANSACTION or SCP_MESSAGE frame in steady state.

#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use overlay_core::wire::{MessageType, StellarMessage};
use overlay_core::{
    AcceptAll, Event, Instant, LocalNode, NetworkId, NodeKey, Peer, PeerConfig, PeerSetup, Role,
    WallClock,
};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts calls made on this thread while
// counting is on.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

fn node(seed: u8) -> Arc<LocalNode> {
    Arc::new(LocalNode::new(
        NodeKey::from_seed([seed; 32]),
        NetworkId::from_passphrase("alloc"),
        [seed; 32],
    ))
}

fn peer(role: Role, n: &Arc<LocalNode>) -> Peer {
    Peer::new(
        PeerSetup {
            role,
            local: Arc::clone(n),
            cert: n.issue_cert(1_750_000_000),
            nonce: [role as u8; 32],
            remote_address: Some(([127, 0, 0, 1], 1).into()),
            config: PeerConfig::default(),
            clock: WallClock::new(Instant::ZERO, 1_750_000_000),
        },
        Instant::ZERO,
    )
}

/// Moves bytes both ways until quiet, reusing the transfer buffers.
fn pump(a: &mut Peer, b: &mut Peer, bufs: &mut [Vec<u8>; 2]) {
    loop {
        while a.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
        while b.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
        for buf in bufs.iter_mut() {
            buf.clear();
        }
        a.poll_transmit(Instant::ZERO, &mut bufs[0]);
        b.poll_transmit(Instant::ZERO, &mut bufs[1]);
        if bufs[0].is_empty() && bufs[1].is_empty() {
            return;
        }
        b.handle_input(Instant::ZERO, &bufs[0]);
        a.handle_input(Instant::ZERO, &bufs[1]);
    }
}

fn message(ty: MessageType, i: u32, len: usize) -> Arc<[u8]> {
    let mut v = Vec::from((ty as i32).to_be_bytes());
    if ty == MessageType::ScpMessage {
        // A minimal NOMINATE envelope: node, slot, type, qset hash, no votes, signature.
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&[7; 32]);
        v.extend_from_slice(&u64::from(i).to_be_bytes());
        v.extend_from_slice(&3i32.to_be_bytes());
        v.extend_from_slice(&[0; 32]);
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&64u32.to_be_bytes());
        v.extend_from_slice(&[1; 64]);
    } else {
        v.extend_from_slice(&i.to_be_bytes());
        v.resize(len, 0x5a);
    }
    v.into()
}

#[test]
fn the_counter_counts() {
    let n = allocations_during(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(10))));
    assert_eq!(n, 1);
}

#[test]
fn receive_path_allocates_nothing_in_steady_state() {
    let (na, nb) = (node(1), node(2));
    let (mut a, mut b) = (peer(Role::Initiator, &na), peer(Role::Acceptor, &nb));
    let mut bufs = [Vec::with_capacity(1 << 20), Vec::with_capacity(1 << 20)];
    pump(&mut a, &mut b, &mut bufs);
    assert!(a.is_authenticated() && b.is_authenticated());

    for ty in [MessageType::Transaction, MessageType::ScpMessage] {
        // Warm up: buffers reach their working size.
        for round in 0..3 {
            for i in 0..150 {
                a.send_shared(Instant::ZERO, message(ty, round * 1000 + i, 300))
                    .unwrap();
            }
            pump(&mut a, &mut b, &mut bufs);
        }
        // Rounds of 150 frames: A encodes them and B's grants flow back outside the
        // measurement; only B's receive path is measured.
        let (mut delivered, mut allocs) = (0u64, 0u64);
        let mut frames = Vec::with_capacity(1 << 20);
        let mut grants = Vec::with_capacity(1 << 16);
        for round in 0..20u32 {
            for i in 0..150 {
                a.send_shared(Instant::ZERO, message(ty, 10_000 + round * 150 + i, 300))
                    .unwrap();
            }
            frames.clear();
            a.poll_transmit(Instant::ZERO, &mut frames);
            allocs += allocations_during(|| {
                let mut data = &frames[..];
                while !data.is_empty() {
                    let chunk = &data[..data.len().min(16 * 1024)];
                    let took = b.handle_input(Instant::ZERO, chunk);
                    data = &data[took..];
                    while let Some(ev) = b.poll(Instant::ZERO, &mut AcceptAll) {
                        if let Event::Message(m) = ev
                            && matches!(
                                m.message,
                                StellarMessage::Transaction(_) | StellarMessage::ScpMessage(_)
                            )
                        {
                            delivered += 1;
                        }
                    }
                    b.poll_transmit(Instant::ZERO, &mut grants);
                }
            });
            a.handle_input(Instant::ZERO, &grants);
            grants.clear();
            while a.poll(Instant::ZERO, &mut AcceptAll).is_some() {}
        }
        assert!(delivered >= 1000, "{ty}: only {delivered} frames measured");
        assert_eq!(
            allocs, 0,
            "{ty}: {allocs} allocations while receiving {delivered} frames"
        );
        assert!(!b.is_closed());
        pump(&mut a, &mut b, &mut bufs);
    }
}
