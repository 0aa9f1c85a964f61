//! The SQLite peer book and ban list: stellar-core's table shapes, the `MemoryPeerStore`
//! semantics (differential), restarts, and durability under `kill -9`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use host_native::db::{
    Database, MAX_TIMESTAMP, SCHEMA_VERSION, SqlitePeerStore, timestamp_from_text,
    timestamp_to_text,
};
use overlay_core::NodeId;
use overlay_core::peers::{
    DEFAULT_PEER_STORE_CAPACITY, MemoryPeerStore, PeerBook, PeerQuery, PeerRecord, PeerStore,
    PeerType, PeerTypeFilter,
};
use overlay_core::rng::Rng;
use overlay_core::wire::PeerAddress;

const NOW: u64 = 1_704_164_645; // 2024-01-02 03:04:05 UTC

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "host-native-db-{tag}-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn addr(s: &str) -> SocketAddrV4 {
    s.parse().expect("address")
}

fn rec(a: &str, peer_type: PeerType, num_failures: u32, next_attempt: u64) -> PeerRecord {
    PeerRecord {
        address: addr(a),
        next_attempt,
        num_failures,
        peer_type,
    }
}

fn node(i: u8) -> NodeId {
    NodeId([i; 32])
}

fn all_query(peer_type: PeerTypeFilter) -> PeerQuery {
    PeerQuery {
        next_attempt_at_most: None,
        max_failures: None,
        peer_type,
    }
}

// --- timestamps -------------------------------------------------------------------------

#[test]
fn timestamps_are_written_as_core_writes_them() {
    assert_eq!(timestamp_to_text(0), "1970-01-01 00:00:00");
    assert_eq!(timestamp_to_text(NOW), "2024-01-02 03:04:05");
    assert_eq!(timestamp_to_text(951_782_400), "2000-02-29 00:00:00");
    assert_eq!(timestamp_to_text(4_107_585_600), "2100-03-01 12:00:00");
    assert_eq!(timestamp_to_text(MAX_TIMESTAMP), "9999-12-31 23:59:59");
    assert_eq!(timestamp_to_text(u64::MAX), "9999-12-31 23:59:59");

    assert_eq!(timestamp_from_text("2024-01-02 03:04:05"), Some(NOW));
    assert_eq!(timestamp_from_text("2024-01-02T03:04:05Z"), Some(NOW));
    assert_eq!(timestamp_from_text("2024-01-02 03:04:05.25"), Some(NOW));
    assert_eq!(
        timestamp_from_text("2024-01-02"),
        Some(NOW - 3 * 3600 - 4 * 60 - 5)
    );
    assert_eq!(timestamp_from_text("1960-05-05 00:00:00"), Some(0));
    for bad in [
        "",
        "now",
        "2024-13-01 00:00:00",
        "2024-01-02 03:04",
        "2024-01-32",
    ] {
        assert_eq!(timestamp_from_text(bad), None, "{bad:?}");
    }

    // Round trip, and text order is time order (the SQL compares the text).
    let mut rng = Rng::from_u64(5);
    let mut prev = (0u64, timestamp_to_text(0));
    for _ in 0..20_000 {
        let t = rng.below(MAX_TIMESTAMP + 1);
        let text = timestamp_to_text(t);
        assert_eq!(text.len(), 19);
        assert_eq!(timestamp_from_text(&text), Some(t), "{text}");
        assert_eq!(t.cmp(&prev.0), text.cmp(&prev.1), "{t} {text} vs {prev:?}");
        prev = (t, text);
    }
}

// --- schema -----------------------------------------------------------------------------

#[test]
fn schema_matches_stellar_core_and_rows_are_interchangeable() {
    let dir = TempDir::new("schema");
    let path = dir.path().join("node.db");
    let db = Database::open(&path).expect("open");
    assert_eq!(db.schema_version().expect("version"), SCHEMA_VERSION);
    let mut store = db.peer_store();
    assert!(store.put(rec("1.2.3.4:11625", PeerType::Outbound, 3, NOW)));
    assert!(db.ban(&node(7)));

    let raw = rusqlite::Connection::open(&path).expect("raw open");
    let sql_of = |name: &str| -> String {
        raw.query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get(0),
        )
        .expect("table exists")
    };
    let squash = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        squash(sql_of("peers")),
        "CREATE TABLE peers (ip VARCHAR(15) NOT NULL,\
         port INT DEFAULT 0 CHECK (port > 0 AND port <= 65535) NOT NULL,\
         nextattempt TIMESTAMP NOT NULL,\
         numfailures INT DEFAULT 0 CHECK (numfailures >= 0) NOT NULL,\
         type INT NOT NULL,PRIMARY KEY (ip, port))"
    );
    assert_eq!(
        squash(sql_of("ban")),
        "CREATE TABLE ban (nodeid CHARACTER(56) NOT NULL PRIMARY KEY)"
    );
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    let version: i32 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, SCHEMA_VERSION);

    // Our row, as stellar-core would read it.
    let row: (String, i64, String, String, i64, i64) = raw
        .query_row(
            "SELECT ip, port, nextattempt, typeof(nextattempt), numfailures, type FROM peers",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .expect("row");
    assert_eq!(
        row,
        (
            "1.2.3.4".into(),
            11625,
            "2024-01-02 03:04:05".into(),
            "text".into(),
            3,
            1
        )
    );
    let banned: String = raw
        .query_row("SELECT nodeid FROM ban", [], |r| r.get(0))
        .expect("ban row");
    assert_eq!(banned, node(7).to_string());
    assert!(banned.starts_with('G') && banned.len() == 56);

    // Rows as stellar-core writes them (soci binds every value as text), and rubbish.
    raw.execute_batch(
        "INSERT INTO peers VALUES ('5.6.7.8', '11626', '2024-01-02 03:04:15', '120', '2');\
         INSERT INTO peers VALUES ('not an ip', 1, '2024-01-02 03:04:15', 0, 0);\
         INSERT INTO peers VALUES ('9.9.9.9', 1, 'garbage', 0, 7);\
         INSERT INTO ban VALUES ('GNOTAKEY');",
    )
    .expect("raw inserts");
    drop(raw);
    assert_eq!(
        store.get(addr("5.6.7.8:11626")),
        Some(rec("5.6.7.8:11626", PeerType::Preferred, 120, NOW + 10))
    );
    assert_eq!(store.get(addr("9.9.9.9:1")), None); // unknown type 7
    assert_eq!(store.len(), 4);
    assert_eq!(
        store.records(),
        vec![
            rec("1.2.3.4:11625", PeerType::Outbound, 3, NOW),
            rec("5.6.7.8:11626", PeerType::Preferred, 120, NOW + 10),
        ]
    );
    assert_eq!(db.bans(), vec![node(7)]);
    assert_eq!(store.remove_with_many_failures(120, None), 1);
    db.integrity_check().expect("integrity");

    // Port 0 violates the CHECK: refused, not a panic.
    assert!(!store.put(rec("1.1.1.1:0", PeerType::Inbound, 0, NOW)));
    // Failures beyond INT are clamped.
    assert!(store.put(rec("1.1.1.1:1", PeerType::Inbound, u32::MAX, NOW)));
    assert_eq!(
        store.get(addr("1.1.1.1:1")).map(|r| r.num_failures),
        Some(i32::MAX as u32)
    );
    // Far-future attempts are clamped to the last representable second.
    assert!(store.put(rec("1.1.1.1:2", PeerType::Inbound, 0, u64::MAX)));
    assert_eq!(
        store.get(addr("1.1.1.1:2")).map(|r| r.next_attempt),
        Some(MAX_TIMESTAMP)
    );
}

#[test]
fn newer_schema_is_refused() {
    let dir = TempDir::new("newer");
    let path = dir.path().join("node.db");
    drop(Database::open(&path).expect("open"));
    let raw = rusqlite::Connection::open(&path).expect("raw open");
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    drop(raw);
    let err = Database::open(&path).expect_err("newer schema must be refused");
    assert!(format!("{err:#}").contains("newer"), "{err:#}");
}

#[test]
fn stores_are_send() {
    fn send<T: Send + 'static>() {}
    send::<Database>();
    send::<SqlitePeerStore>();
    send::<PeerBook<SqlitePeerStore>>();
}

// --- peer store semantics ---------------------------------------------------------------

#[test]
fn peer_store_basics() {
    let db = Database::open_in_memory().expect("open");
    let mut s = db.peer_store();
    assert!(s.is_empty());
    assert_eq!(s.capacity(), DEFAULT_PEER_STORE_CAPACITY);
    let rows = [
        rec("10.0.0.1:1", PeerType::Inbound, 0, NOW),
        rec("9.0.0.1:2", PeerType::Outbound, 5, NOW + 5),
        rec("9.0.0.1:1", PeerType::Preferred, 121, NOW - 5),
        rec("100.0.0.1:1", PeerType::Inbound, 11, NOW + 1),
        rec("2.0.0.1:7", PeerType::Outbound, 120, NOW),
    ];
    for r in rows {
        assert!(s.put(r));
    }
    assert_eq!(s.len(), 5);
    assert_eq!(s.get(addr("9.0.0.1:2")), Some(rows[1]));
    assert_eq!(s.get(addr("9.0.0.1:3")), None);

    // Numeric address order, as the memory store.
    let every = s.load(&all_query(PeerTypeFilter::AnyOutbound), 0, usize::MAX);
    assert_eq!(
        every,
        [addr("2.0.0.1:7"), addr("9.0.0.1:1"), addr("9.0.0.1:2")]
    );
    let inbound = s.load(&all_query(PeerTypeFilter::Only(PeerType::Inbound)), 0, 10);
    assert_eq!(inbound, [addr("10.0.0.1:1"), addr("100.0.0.1:1")]);
    assert_eq!(
        s.load(&all_query(PeerTypeFilter::AnyOutbound), 1, 1),
        [addr("9.0.0.1:1")]
    );
    assert!(
        s.load(&all_query(PeerTypeFilter::AnyOutbound), 3, 10)
            .is_empty()
    );
    assert!(
        s.load(&all_query(PeerTypeFilter::AnyOutbound), 0, 0)
            .is_empty()
    );

    let due = PeerQuery {
        next_attempt_at_most: Some(NOW),
        max_failures: Some(120),
        peer_type: PeerTypeFilter::AnyOutbound,
    };
    assert_eq!(s.count(&due), 1);
    assert_eq!(s.load(&due, 0, 10), [addr("2.0.0.1:7")]);

    // Replacing keeps one row.
    let updated = rec("9.0.0.1:2", PeerType::Inbound, 0, NOW);
    assert!(s.put(updated));
    assert_eq!(s.len(), 5);
    assert_eq!(s.get(updated.address), Some(updated));

    // Purge by failures, for one IP and then for all.
    assert_eq!(
        s.remove_with_many_failures(120, Some(Ipv4Addr::new(2, 0, 0, 2))),
        0
    );
    assert_eq!(
        s.remove_with_many_failures(120, Some(Ipv4Addr::new(9, 0, 0, 1))),
        1
    );
    assert_eq!(s.remove_with_many_failures(10, None), 2);
    assert_eq!(s.len(), 2);
    assert!(s.remove(addr("10.0.0.1:1")));
    assert!(!s.remove(addr("10.0.0.1:1")));
    assert_eq!(s.records(), vec![updated]);
}

#[test]
fn capacity_evicts_like_the_memory_store() {
    let db = Database::open_in_memory().expect("open");
    let mut s = db.peer_store_with_capacity(2);
    let mut m = MemoryPeerStore::with_capacity(2);
    let ops = [
        rec("1.0.0.1:1", PeerType::Outbound, 0, NOW),
        rec("1.0.0.2:1", PeerType::Inbound, 3, NOW),
        rec("1.0.0.3:1", PeerType::Inbound, 3, NOW), // refused: not more useful
        rec("1.0.0.3:1", PeerType::Inbound, 2, NOW), // evicts 1.0.0.2
        rec("1.0.0.3:1", PeerType::Preferred, 9, NOW), // update, always fine
        rec("1.0.0.4:1", PeerType::Outbound, 0, NOW), // evicts 1.0.0.1 (fewer failures)
    ];
    for r in ops {
        assert_eq!(s.put(r), m.put(r), "{r:?}");
        assert_eq!(s.records(), m.iter().copied().collect::<Vec<_>>());
    }
    assert_eq!(s.len(), 2);
    let empty = Database::open_in_memory().expect("open");
    let mut none = empty.peer_store_with_capacity(0);
    assert!(!none.put(rec("1.0.0.9:1", PeerType::Preferred, 0, NOW)));
}

/// Addresses that sort differently as text and as numbers, plus ports around the edges.
const IPS: [[u8; 4]; 14] = [
    [1, 2, 3, 4],
    [1, 2, 3, 40],
    [1, 2, 3, 5],
    [2, 0, 0, 1],
    [9, 0, 0, 1],
    [9, 26, 0, 1],
    [9, 255, 0, 1],
    [10, 0, 0, 1],
    [100, 0, 0, 1],
    [127, 0, 0, 1],
    [200, 1, 1, 1],
    [0, 0, 0, 0],
    [255, 255, 255, 255],
    [99, 9, 99, 9],
];
const PORTS: [u16; 8] = [1, 2, 9, 10, 80, 100, 11625, 65535];

fn random_ip(rng: &mut Rng) -> Ipv4Addr {
    if rng.below(10) < 8 {
        Ipv4Addr::from(IPS[rng.index(IPS.len())])
    } else {
        Ipv4Addr::from(rng.next_u32())
    }
}

fn random_address(rng: &mut Rng) -> SocketAddrV4 {
    SocketAddrV4::new(random_ip(rng), PORTS[rng.index(PORTS.len())])
}

fn random_type(rng: &mut Rng) -> PeerType {
    [PeerType::Inbound, PeerType::Outbound, PeerType::Preferred][rng.index(3)]
}

fn random_record(rng: &mut Rng) -> PeerRecord {
    PeerRecord {
        address: random_address(rng),
        next_attempt: NOW - 100 + rng.below(200),
        num_failures: if rng.below(4) == 0 {
            110 + rng.below(20) as u32
        } else {
            rng.below(15) as u32
        },
        peer_type: random_type(rng),
    }
}

fn random_query(rng: &mut Rng) -> PeerQuery {
    PeerQuery {
        next_attempt_at_most: (rng.below(2) == 0).then(|| NOW - 100 + rng.below(200)),
        max_failures: (rng.below(2) == 0).then(|| rng.below(130) as u32),
        peer_type: if rng.below(3) == 0 {
            PeerTypeFilter::AnyOutbound
        } else {
            PeerTypeFilter::Only(random_type(rng))
        },
    }
}

fn differential(seed: u64, capacity: usize, ops: usize) {
    let db = Database::open_in_memory().expect("open");
    let mut sql = db.peer_store_with_capacity(capacity);
    let mut mem = MemoryPeerStore::with_capacity(capacity);
    let mut rng = Rng::from_u64(seed);
    let mut evictions_or_refusals = 0;
    for op in 0..ops {
        let ctx = format!("seed {seed} capacity {capacity} op {op}");
        match rng.below(100) {
            0..40 => {
                let r = random_record(&mut rng);
                let stored = mem.put(r);
                assert_eq!(sql.put(r), stored, "{ctx}: put {r:?}");
                if !stored || mem.len() == capacity {
                    evictions_or_refusals += 1;
                }
            }
            40..50 => {
                let a = random_address(&mut rng);
                assert_eq!(sql.remove(a), mem.remove(a), "{ctx}: remove {a}");
            }
            50..65 => {
                let a = random_address(&mut rng);
                assert_eq!(sql.get(a), mem.get(a), "{ctx}: get {a}");
            }
            65..75 => {
                let q = random_query(&mut rng);
                assert_eq!(sql.count(&q), mem.count(&q), "{ctx}: count {q:?}");
            }
            75..90 => {
                let q = random_query(&mut rng);
                let n = mem.len() as u64 + 3;
                let offset = rng.below(n) as usize;
                let limit = if rng.below(8) == 0 {
                    usize::MAX
                } else {
                    rng.below(n) as usize
                };
                assert_eq!(
                    sql.load(&q, offset, limit),
                    mem.load(&q, offset, limit),
                    "{ctx}: load {q:?} offset {offset} limit {limit}"
                );
            }
            90..95 => {
                let min = if rng.below(5) == 0 {
                    rng.below(131) as u32
                } else {
                    110 + rng.below(21) as u32
                };
                let ip = (rng.below(2) == 0).then(|| random_ip(&mut rng));
                assert_eq!(
                    sql.remove_with_many_failures(min, ip),
                    mem.remove_with_many_failures(min, ip),
                    "{ctx}: purge {min} {ip:?}"
                );
            }
            _ => {
                assert_eq!(sql.len(), mem.len(), "{ctx}: len");
                assert_eq!(sql.is_empty(), mem.is_empty(), "{ctx}: is_empty");
            }
        }
        if op % 250 == 0 {
            assert_eq!(
                sql.records(),
                mem.iter().copied().collect::<Vec<_>>(),
                "{ctx}: contents"
            );
        }
    }
    assert_eq!(sql.records(), mem.iter().copied().collect::<Vec<_>>());
    assert_eq!(sql.len(), mem.len());
    assert!(mem.len() > 10, "the run should build up a book");
    if capacity < 100 {
        assert!(evictions_or_refusals > 50, "eviction was not exercised");
    }
    db.integrity_check().expect("integrity");
}

#[test]
fn differential_against_memory_store() {
    differential(0x5eed_0001, DEFAULT_PEER_STORE_CAPACITY, 4000);
}

#[test]
fn differential_against_memory_store_when_full() {
    differential(0x5eed_0002, 40, 3000);
}

#[test]
fn peer_book_makes_the_same_choices_on_both_stores() {
    let db = Database::open_in_memory().expect("open");
    let mut sql = PeerBook::new(db.peer_store());
    let mut mem = PeerBook::new(MemoryPeerStore::new());
    let mut rng_sql = Rng::from_u64(77);
    let mut rng_mem = Rng::from_u64(77);
    let mut gen_rng = Rng::from_u64(78);
    let sender = IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8));
    for step in 0..40u64 {
        let now = NOW + step * 7;
        let entries: Vec<PeerAddress> = (0..60)
            .map(|_| {
                let a = random_address(&mut gen_rng);
                PeerAddress {
                    ip: IpAddr::V4(*a.ip()),
                    port: u32::from(a.port()),
                    num_failures: 0,
                }
            })
            .collect();
        assert_eq!(
            sql.recv_peers(entries.clone(), sender, 11625, now),
            mem.recv_peers(entries, sender, 11625, now)
        );
        let config = [random_address(&mut gen_rng), random_address(&mut gen_rng)];
        assert_eq!(
            sql.store_config_peers(&config, step % 2 == 0, step == 0, now),
            mem.store_config_peers(&config, step % 2 == 0, step == 0, now)
        );
        for t in [PeerType::Preferred, PeerType::Outbound, PeerType::Inbound] {
            let a = sql.dial_candidates(t, 5, now, &mut rng_sql, |_| true);
            let b = mem.dial_candidates(t, 5, now, &mut rng_mem, |_| true);
            assert_eq!(a, b, "step {step} {t:?}");
            for x in a {
                assert_eq!(
                    sql.dialing(x, now, &mut rng_sql),
                    mem.dialing(x, now, &mut rng_mem)
                );
                if x.port() % 2 == 0 {
                    sql.outbound_authenticated(x, now, &mut rng_sql);
                    mem.outbound_authenticated(x, now, &mut rng_mem);
                }
            }
        }
        let recipient = SocketAddr::V4(random_address(&mut gen_rng));
        assert_eq!(
            sql.peers_to_send(recipient, &mut rng_sql),
            mem.peers_to_send(recipient, &mut rng_mem)
        );
        let gone = random_address(&mut gen_rng);
        assert_eq!(sql.peer_removed(gone), mem.peer_removed(gone));
    }
    assert_eq!(sql.purge_dead_peers(), mem.purge_dead_peers());
    assert_eq!(
        sql.store().records(),
        mem.store().iter().copied().collect::<Vec<_>>()
    );
}

// --- persistence ------------------------------------------------------------------------

#[test]
fn restart_remembers_peers_bans_and_back_off() {
    let dir = TempDir::new("restart");
    let path = dir.path().join("node.db");
    let dialled = addr("3.3.3.3:11625");
    let (records, next_attempt) = {
        let db = Database::open(&path).expect("open");
        let mut book = PeerBook::new(db.peer_store());
        let known = [dialled, addr("4.4.4.4:11625")];
        assert_eq!(book.store_config_peers(&known, false, true, NOW), 2);
        assert_eq!(
            book.store_config_peers(&[addr("5.5.5.5:1")], true, true, NOW),
            1
        );
        let mut rng = Rng::from_u64(3);
        assert!(book.dialing(dialled, NOW, &mut rng));
        assert!(book.dialing(dialled, NOW, &mut rng));
        for i in 1..=3 {
            assert!(db.ban(&node(i)));
        }
        assert!(db.ban(&node(2))); // already banned: still true, still one row
        assert!(db.unban(&node(3)));
        assert!(!db.unban(&node(3)));
        let r = book.get(dialled).expect("dialled row");
        assert_eq!(r.num_failures, 2);
        assert!(r.next_attempt > NOW);
        (book.store().records(), r.next_attempt)
    };
    assert_eq!(records.len(), 3);

    let db = Database::open(&path).expect("reopen");
    db.integrity_check().expect("integrity");
    assert_eq!(db.bans(), vec![node(1), node(2)]);
    assert!(db.is_banned(&node(1)));
    assert!(!db.is_banned(&node(3)));
    let mut book = PeerBook::new(db.peer_store());
    assert_eq!(book.store().records(), records);
    assert_eq!(book.purge_dead_peers(), 0);
    let mut rng = Rng::from_u64(4);
    // Still backing off after the restart...
    let due = book.dial_candidates(PeerType::Outbound, 10, NOW, &mut rng, |_| true);
    assert_eq!(due, vec![addr("4.4.4.4:11625")]);
    // ...and due again once nextattempt passes.
    let mut book = PeerBook::new(db.peer_store());
    let due = book.dial_candidates(PeerType::Outbound, 10, next_attempt, &mut rng, |_| true);
    assert_eq!(
        due.iter().copied().collect::<BTreeSet<_>>(),
        [dialled, addr("4.4.4.4:11625")].into_iter().collect()
    );
    // A completed handshake resets, and that persists too.
    assert!(book.outbound_authenticated(dialled, next_attempt, &mut rng));
    drop(book);
    drop(db);
    let db = Database::open(&path).expect("reopen again");
    assert_eq!(
        db.peer_store().get(dialled).map(|r| r.num_failures),
        Some(0)
    );
}

#[test]
fn two_connections_see_each_others_rows() {
    let dir = TempDir::new("shared");
    let path = dir.path().join("node.db");
    let a = Database::open(&path).expect("open a");
    let b = Database::open(&path).expect("open b");
    let mut sa = a.peer_store_with_capacity(3);
    let mut sb = b.peer_store_with_capacity(3);
    assert_eq!(sa.len(), 0);
    assert_eq!(sb.len(), 0);
    assert!(sb.put(rec("1.0.0.1:1", PeerType::Outbound, 0, NOW)));
    assert!(sb.put(rec("1.0.0.2:1", PeerType::Outbound, 0, NOW)));
    assert_eq!(sa.len(), 2); // the cached count notices b's commits
    assert!(sa.put(rec("1.0.0.3:1", PeerType::Outbound, 0, NOW)));
    // Full now, from a's point of view too: an INBOUND newcomer is refused.
    assert!(!sa.put(rec("1.0.0.4:1", PeerType::Inbound, 0, NOW)));
    assert!(sb.remove(addr("1.0.0.1:1")));
    assert!(sa.put(rec("1.0.0.4:1", PeerType::Inbound, 0, NOW)));
    assert_eq!(sb.len(), 3);
    assert!(b.ban(&node(9)));
    assert_eq!(a.bans(), vec![node(9)]);
}

// --- kill -9 ----------------------------------------------------------------------------

const WRITER_PATH_ENV: &str = "DB_WRITER_PATH";
const WRITER_RUN_ENV: &str = "DB_WRITER_RUN";

fn writer_peer(run: u32, i: u32) -> PeerRecord {
    PeerRecord {
        address: SocketAddrV4::new(
            Ipv4Addr::from(0x0100_0000 | (run << 20) | (i & 0x000F_FFFF)),
            1 + (i % 60_000) as u16,
        ),
        next_attempt: NOW + u64::from(i),
        num_failures: i % 100,
        peer_type: [PeerType::Inbound, PeerType::Outbound, PeerType::Preferred][i as usize % 3],
    }
}

fn writer_node(run: u32, i: u32) -> NodeId {
    let mut id = [0xA5u8; 32];
    id[..4].copy_from_slice(&run.to_be_bytes());
    id[4..8].copy_from_slice(&i.to_be_bytes());
    NodeId(id)
}

/// Not a test on its own: when `DB_WRITER_PATH` is set (by
/// `kill_9_loses_no_committed_write`), writes peers and bans until killed, printing
/// "committed N" after each committed write (even N: peer N/2, odd N: ban N/2).
#[test]
fn writer_child_process() {
    let Ok(path) = std::env::var(WRITER_PATH_ENV) else {
        return;
    };
    let run: u32 = std::env::var(WRITER_RUN_ENV)
        .expect("run number")
        .parse()
        .expect("run number");
    let db = Database::open(&path).expect("open");
    let mut store = db.peer_store();
    let mut out = std::io::stdout();
    for i in 0..0x0010_0000u32 {
        assert!(store.put(writer_peer(run, i)));
        writeln!(out, "committed {}", 2 * u64::from(i)).expect("stdout");
        out.flush().expect("stdout");
        assert!(db.ban(&writer_node(run, i)));
        writeln!(out, "committed {}", 2 * u64::from(i) + 1).expect("stdout");
        out.flush().expect("stdout");
    }
}

#[test]
fn kill_9_loses_no_committed_write() {
    let dir = TempDir::new("kill9");
    let path = dir.path().join("node.db");
    let exe = std::env::current_exe().expect("test executable");
    let mut rng = Rng::from_u64(0x6b11);
    // The highest write each run reported as committed.
    let mut reported: Vec<Option<u64>> = Vec::new();
    for run in 0..20u32 {
        let mut child = Command::new(&exe)
            .args([
                "writer_child_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_PATH_ENV, &path)
            .env(WRITER_RUN_ENV, run.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn writer");
        let stdout = child.stdout.take().expect("child stdout");
        let reader = std::thread::spawn(move || {
            let mut last = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line
                    .strip_prefix("committed ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                {
                    last = Some(n);
                }
            }
            last
        });
        std::thread::sleep(Duration::from_millis(10 + rng.below(191)));
        child.kill().expect("SIGKILL"); // std sends SIGKILL on Unix
        let status = child.wait().expect("wait");
        assert_eq!(
            status.signal(),
            Some(9),
            "run {run}: the writer was not SIGKILLed"
        );
        reported.push(reader.join().expect("reader thread"));

        let db = Database::open(&path).expect("reopen after kill");
        db.integrity_check().expect("integrity after kill");
        let store = db.peer_store();
        let bans: BTreeSet<NodeId> = db.bans().into_iter().collect();
        for (r, last) in reported.iter().enumerate() {
            let Some(last) = *last else { continue };
            let r = r as u32;
            for n in 0..=last {
                let i = (n / 2) as u32;
                if n % 2 == 0 {
                    let want = writer_peer(r, i);
                    assert_eq!(
                        store.get(want.address),
                        Some(want),
                        "run {run}: peer write {n} of run {r} lost"
                    );
                } else {
                    assert!(
                        bans.contains(&writer_node(r, i)),
                        "run {run}: ban write {n} of run {r} lost"
                    );
                }
            }
        }
    }
    let total: u64 = reported.iter().flatten().map(|n| n + 1).sum();
    let runs_with_writes = reported.iter().filter(|r| r.is_some()).count();
    eprintln!("kill -9: {total} committed writes over {runs_with_writes}/20 runs");
    assert!(
        runs_with_writes >= 10,
        "too few runs got to write: {reported:?}"
    );
}
