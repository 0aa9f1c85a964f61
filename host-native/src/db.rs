//! SQLite storage for the peer book and the ban list, in stellar-core's table shapes
//! (PROTOCOL.md §6.2, §6.8).
//!
//! # Tables
//! The DDL is the one stellar-core v25.2.0 creates (`PeerManager::kSQLCreateStatement`,
//! used by `PeerManager::maybeDropAndCreateNew`; `BanManager::maybeDropAndCreateNew` in
//! `BanManagerImpl.cpp`), with `IF NOT EXISTS` so an existing file is kept:
//!
//! - `peers(ip, port, nextattempt, numfailures, type)` keyed by `(ip, port)`; `ip` is the
//!   dotted IPv4 text, `type` the [`PeerType`] integer;
//! - `ban(nodeid)` holding `G…` strkeys.
//!
//! One index is ours, not core's: `peers_eviction (type, numfailures DESC, nextattempt
//! DESC)`, so the capacity bound below stays cheap when the table is full. The tables keep
//! core's shapes.
//!
//! The schema version lives in `PRAGMA user_version` ([`SCHEMA_VERSION`]); a file written
//! by a newer build is refused rather than misread.
//!
//! # `nextattempt`
//! Core binds a `std::tm` (from `gmtime_r`) through soci, whose SQLite backend writes it as
//! the text `"%d-%02d-%02d %02d:%02d:%02d"`, i.e. `"2024-01-02 03:04:05"` in UTC, and reads
//! it back by parsing the numbers. The column is declared `TIMESTAMP` (NUMERIC affinity),
//! which leaves such text as TEXT, so `nextattempt <= :t` is a string comparison — correct
//! because the format is fixed-width. We store the same text ([`timestamp_to_text`]) and
//! convert to and from UNIX seconds at the boundary; instants past
//! `9999-12-31 23:59:59` ([`MAX_TIMESTAMP`]) are clamped to it, which keeps the SQL
//! comparison consistent with the clamped value read back.
//!
//! # Semantics
//! [`SqlitePeerStore`] behaves like [`MemoryPeerStore`](overlay_core::peers::MemoryPeerStore),
//! including its bound: at most `capacity` rows, with the same eviction rule (a new address
//! replaces the least useful row only if it is strictly more useful). `load` returns rows in
//! address order (numeric IP, then port) — the memory store's order — so a [`PeerBook`]
//! makes the same choices from the same seed on either store.
//!
//! Every write is one transaction (a single autocommit statement, or an `IMMEDIATE`
//! transaction where a put reads before it writes), the journal is WAL with
//! `synchronous=FULL`: a committed write survives `kill -9` and power loss, and a crash at
//! any moment leaves a consistent file. Database errors are logged with `tracing::warn!`
//! and reported through the [`PeerStore`] return values, never as panics.
//!
//! [`PeerBook`]: overlay_core::peers::PeerBook

use std::cmp::Reverse;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use overlay_core::NodeId;
use overlay_core::peers::{
    DEFAULT_PEER_STORE_CAPACITY, PeerQuery, PeerRecord, PeerStore, PeerType, PeerTypeFilter,
};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};
use tracing::warn;

/// The schema this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i32 = 1;

/// How long a statement waits for another connection's lock (core's `busy_timeout`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The latest instant `nextattempt` can hold: `9999-12-31 23:59:59` UTC.
pub const MAX_TIMESTAMP: u64 = 253_402_300_799;

/// Prepared statements kept per connection (the peer queries have 8 shapes each for
/// `count` and `load`).
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// `peers` as stellar-core creates it (`PeerManager::kSQLCreateStatement`).
const CREATE_PEERS: &str = "CREATE TABLE IF NOT EXISTS peers (\
    ip            VARCHAR(15) NOT NULL,\
    port          INT DEFAULT 0 CHECK (port > 0 AND port <= 65535) NOT NULL,\
    nextattempt   TIMESTAMP NOT NULL,\
    numfailures   INT DEFAULT 0 CHECK (numfailures >= 0) NOT NULL,\
    type          INT NOT NULL,\
    PRIMARY KEY (ip, port)\
    )";

/// `ban` as stellar-core creates it (`BanManager::maybeDropAndCreateNew`).
const CREATE_BAN: &str = "CREATE TABLE IF NOT EXISTS ban (\
    nodeid      CHARACTER(56) NOT NULL PRIMARY KEY\
    )";

/// Not in stellar-core: the eviction order's leading columns, so finding the least useful
/// row in a full table is an index walk, not a sort of the whole table. The table's own
/// shape is untouched.
const CREATE_EVICTION_INDEX: &str = "CREATE INDEX IF NOT EXISTS peers_eviction \
    ON peers (type, numfailures DESC, nextattempt DESC)";

/// Address order: the four octets as numbers, then the port (`ip, port` last, so the order
/// is total even for text that is not a dotted quad). `CAST(text AS INTEGER)` takes the
/// longest integer prefix; `r1` and `r2` are the text after the first and second dot.
const ADDRESS_ORDER: &str = "CAST(ip AS INTEGER), CAST(r1 AS INTEGER), CAST(r2 AS INTEGER), \
    CAST(substr(r2, instr(r2, '.') + 1) AS INTEGER), port, ip";

/// Wraps a `SELECT … FROM peers WHERE …` so [`ADDRESS_ORDER`] can name `r1`, `r2`.
fn with_octets(columns: &str, where_clause: &str) -> String {
    format!(
        "SELECT {columns} FROM \
         (SELECT {columns}, r1, substr(r1, instr(r1, '.') + 1) AS r2 FROM \
         (SELECT {columns}, substr(ip, instr(ip, '.') + 1) AS r1 FROM peers{where_clause}))"
    )
}

// ---------------------------------------------------------------------------------------
// Timestamps

/// Days since 1970-01-01 of a proleptic Gregorian date (valid for years ≥ 0).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01 (non-negative).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// UNIX seconds as stellar-core stores a `TIMESTAMP` in SQLite: `"YYYY-MM-DD HH:MM:SS"`
/// UTC. Instants after [`MAX_TIMESTAMP`] are clamped to it.
pub fn timestamp_to_text(unix_seconds: u64) -> String {
    let t = unix_seconds.min(MAX_TIMESTAMP) as i64; // ≤ MAX_TIMESTAMP fits
    let (days, secs) = (t / 86_400, t % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses a stored `TIMESTAMP` back to UNIX seconds: `"YYYY-MM-DD HH:MM:SS"` (any single
/// separators, as soci accepts), or a bare date at midnight. Instants before 1970 give 0.
/// `None` if it is not a date.
pub fn timestamp_from_text(text: &str) -> Option<u64> {
    let mut fields = [0i64; 6];
    let mut n = 0;
    for part in text
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
    {
        if n == fields.len() {
            break; // fractions of a second or a zone suffix: ignored
        }
        fields[n] = part.parse().ok()?;
        n += 1;
    }
    if n != 3 && n != 6 {
        return None;
    }
    let [year, month, day, hour, minute, second] = fields;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(0..=9999).contains(&year)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let t = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(u64::try_from(t).unwrap_or(0))
}

/// Reads a `nextattempt` value: core's text, or (tolerated) a number of UNIX seconds.
fn next_attempt_from_value(v: ValueRef<'_>, address: SocketAddrV4) -> u64 {
    let parsed = match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(timestamp_from_text),
        ValueRef::Integer(i) => Some(u64::try_from(i).unwrap_or(0)),
        ValueRef::Real(f) if f.is_finite() => Some(f.max(0.0) as u64),
        _ => None,
    };
    parsed.unwrap_or_else(|| {
        warn!(%address, value = ?v, "peers: unreadable nextattempt, treating it as due");
        0
    })
}

/// `numfailures` as stored: clamped to the `INT` range.
fn failures_to_db(n: u32) -> i64 {
    i64::from(n.min(i32::MAX as u32))
}

fn failures_from_db(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------------------
// The connection

#[derive(Debug)]
struct Inner {
    conn: Connection,
    /// `(rows in peers, PRAGMA data_version)` when last known; stale once another
    /// connection commits (the data version then differs).
    peer_count: Option<(usize, i64)>,
}

/// One SQLite connection, shared by the [`SqlitePeerStore`]s made from it and the ban
/// methods. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct Database {
    inner: Arc<Mutex<Inner>>,
}

impl Database {
    /// Opens (creating if needed) the database file at `path`: WAL journal,
    /// `synchronous=FULL`, [`BUSY_TIMEOUT`], no foreign keys; creates the tables if missing.
    pub fn open(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let conn = Connection::open(path)
            .with_context(|| format!("opening database {}", path.display()))?;
        Self::setup(conn, true).with_context(|| format!("setting up database {}", path.display()))
    }

    /// A private in-memory database (tests, localnets): same tables, nothing persists.
    pub fn open_in_memory() -> anyhow::Result<Self> {
        let conn = Connection::open_in_memory().context("opening in-memory database")?;
        Self::setup(conn, false).context("setting up in-memory database")
    }

    fn setup(mut conn: Connection, file: bool) -> anyhow::Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if file && !mode.eq_ignore_ascii_case("wal") {
            bail!("could not switch to WAL journal mode (got {mode})");
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", false)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            bail!(
                "database schema version {version} is newer than this build supports \
                 ({SCHEMA_VERSION})"
            );
        }
        tx.execute_batch(&format!(
            "{CREATE_PEERS};{CREATE_BAN};{CREATE_EVICTION_INDEX};"
        ))?;
        // Migrations from `version` to SCHEMA_VERSION go here.
        if version != SCHEMA_VERSION {
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        }
        tx.commit()?;
        Ok(Database {
            inner: Arc::new(Mutex::new(Inner {
                conn,
                peer_count: None,
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Writes are single transactions, so a panic elsewhere cannot leave half a write.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> anyhow::Result<i32> {
        let inner = self.lock();
        Ok(inner
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check`: `Ok` when SQLite answers `ok`, else the problems it lists.
    pub fn integrity_check(&self) -> anyhow::Result<()> {
        let inner = self.lock();
        let mut stmt = inner.conn.prepare("PRAGMA integrity_check")?;
        let problems = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if problems.len() == 1 && problems[0] == "ok" {
            Ok(())
        } else {
            bail!("integrity check failed: {}", problems.join("; "))
        }
    }

    /// A peer store over this connection holding at most
    /// [`DEFAULT_PEER_STORE_CAPACITY`] rows.
    pub fn peer_store(&self) -> SqlitePeerStore {
        self.peer_store_with_capacity(DEFAULT_PEER_STORE_CAPACITY)
    }

    /// A peer store over this connection holding at most `capacity` rows (as
    /// [`MemoryPeerStore::with_capacity`](overlay_core::peers::MemoryPeerStore::with_capacity)).
    pub fn peer_store_with_capacity(&self, capacity: usize) -> SqlitePeerStore {
        SqlitePeerStore {
            db: self.clone(),
            capacity,
        }
    }

    // --- bans ----------------------------------------------------------------------------

    /// Every banned node, in strkey order. Rows that are not `G…` strkeys are skipped with
    /// a warning; an error gives an empty list (logged).
    pub fn bans(&self) -> Vec<NodeId> {
        let rows = ban_rows(&self.lock().conn).unwrap_or_else(|e| {
            warn!(error = %e, "ban: loading bans failed");
            Vec::new()
        });
        rows.into_iter()
            .filter_map(|v| {
                let parsed = match &v {
                    Value::Text(s) => s.trim().parse::<NodeId>().ok(),
                    _ => None,
                };
                if parsed.is_none() {
                    warn!(value = ?v, "ban: skipping a row that is not a node ID");
                }
                parsed
            })
            .collect()
    }

    /// Whether `node` is banned (`false` on error, logged).
    pub fn is_banned(&self, node: &NodeId) -> bool {
        let inner = self.lock();
        let r = inner
            .conn
            .prepare_cached("SELECT 1 FROM ban WHERE nodeid = ?1")
            .and_then(|mut s| s.exists([node.to_string()]));
        r.unwrap_or_else(|e| {
            warn!(node = %node, error = %e, "ban: lookup failed");
            false
        })
    }

    /// Records a ban (`INSERT OR IGNORE`). `true` when the node is banned in the table
    /// afterwards (new or already there), `false` if it could not be stored (logged).
    pub fn ban(&self, node: &NodeId) -> bool {
        let inner = self.lock();
        let r = inner
            .conn
            .prepare_cached("INSERT OR IGNORE INTO ban (nodeid) VALUES (?1)")
            .and_then(|mut s| s.execute([node.to_string()]));
        match r {
            Ok(_) => true,
            Err(e) => {
                warn!(node = %node, error = %e, "ban: storing failed");
                false
            }
        }
    }

    /// Lifts a ban. `true` if there was one; `false` if not or on error (logged).
    pub fn unban(&self, node: &NodeId) -> bool {
        let inner = self.lock();
        let r = inner
            .conn
            .prepare_cached("DELETE FROM ban WHERE nodeid = ?1")
            .and_then(|mut s| s.execute([node.to_string()]));
        match r {
            Ok(n) => n > 0,
            Err(e) => {
                warn!(node = %node, error = %e, "ban: removing failed");
                false
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The peer store

/// stellar-core's `peers` table as an [`overlay_core::peers::PeerStore`]: `Send`, bounded
/// like [`MemoryPeerStore`](overlay_core::peers::MemoryPeerStore), durable per write.
#[derive(Debug, Clone)]
pub struct SqlitePeerStore {
    db: Database,
    capacity: usize,
}

/// The key of the least useful row: [`MemoryPeerStore`](overlay_core::peers::MemoryPeerStore)'s
/// eviction order is (type, most failures, latest `nextattempt`, address); this takes the
/// first three from `peers_eviction`.
const VICTIM_KEY_SQL: &str = "SELECT type, numfailures, nextattempt FROM peers \
    ORDER BY type, numfailures DESC, nextattempt DESC LIMIT 1";

/// The lowest address among the rows sharing the victim's key (an index lookup, then a
/// sort of only those rows).
fn victim_address_sql() -> String {
    format!(
        "{} ORDER BY {ADDRESS_ORDER} LIMIT 1",
        with_octets(
            "ip, port",
            " WHERE type = ?1 AND numfailures = ?2 AND nextattempt = ?3"
        )
    )
}

/// The `WHERE` clause of a query, with its positional parameters, as core builds it in
/// `PeerManager::loadRandomPeers`.
fn where_clause(query: &PeerQuery) -> (String, Vec<Value>) {
    let mut conditions = Vec::with_capacity(3);
    let mut params = Vec::with_capacity(5);
    if let Some(t) = query.next_attempt_at_most {
        conditions.push("nextattempt <= ?");
        params.push(Value::Text(timestamp_to_text(t)));
    }
    if let Some(n) = query.max_failures {
        conditions.push("numfailures <= ?");
        params.push(Value::Integer(i64::from(n)));
    }
    match query.peer_type {
        PeerTypeFilter::AnyOutbound => {
            conditions.push("type != ?");
            params.push(Value::Integer(PeerType::Inbound.as_db().into()));
        }
        PeerTypeFilter::Only(t) => {
            conditions.push("type = ?");
            params.push(Value::Integer(t.as_db().into()));
        }
    }
    (format!(" WHERE {}", conditions.join(" AND ")), params)
}

fn address_of(ip: &str, port: i64) -> Option<SocketAddrV4> {
    let ip: Ipv4Addr = ip.parse().ok()?;
    let port = u16::try_from(port).ok().filter(|p| *p != 0)?;
    Some(SocketAddrV4::new(ip, port))
}

/// Rows in `peers`, from the cache when no other connection has committed since.
fn count_peers(conn: &Connection, cache: &mut Option<(usize, i64)>) -> rusqlite::Result<usize> {
    let version: i64 = conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?;
    if let Some((n, v)) = *cache
        && v == version
    {
        return Ok(n);
    }
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM peers")?
        .query_row([], |r| r.get(0))?;
    let n = usize::try_from(n).unwrap_or(0);
    *cache = Some((n, version));
    Ok(n)
}

/// Adjusts the cached row count after a committed write of our own.
fn adjust_count(cache: &mut Option<(usize, i64)>, added: usize, removed: usize) {
    if let Some((n, _)) = cache {
        *n = n.saturating_add(added).saturating_sub(removed);
    }
}

impl SqlitePeerStore {
    /// The most rows this store keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The database it writes to.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Every readable row, in address order (as `MemoryPeerStore::iter`). Rows that do not
    /// parse (bad IP, port or type) are skipped with a warning.
    pub fn records(&self) -> Vec<PeerRecord> {
        all_records(&self.db.lock().conn).unwrap_or_else(|e| {
            warn!(error = %e, "peers: loading all rows failed");
            Vec::new()
        })
    }

    fn put_inner(inner: &mut Inner, capacity: usize, r: &PeerRecord) -> rusqlite::Result<bool> {
        let Inner { conn, peer_count } = inner;
        let ip = r.address.ip().to_string();
        let port = i64::from(r.address.port());
        let failures = failures_to_db(r.num_failures);
        let peer_type = i64::from(r.peer_type.as_db());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists = tx
            .prepare_cached("SELECT 1 FROM peers WHERE ip = ?1 AND port = ?2")?
            .exists(params![ip, port])?;
        let mut evicted = 0;
        if !exists && count_peers(&tx, peer_count)? >= capacity {
            let victim = tx
                .prepare_cached(VICTIM_KEY_SQL)?
                .query_row([], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, Value>(2)?,
                    ))
                })
                .optional()?;
            let Some((victim_type, victim_failures, victim_next_attempt)) = victim else {
                return Ok(false); // capacity 0
            };
            if (peer_type, Reverse(failures)) <= (victim_type, Reverse(victim_failures)) {
                return Ok(false);
            }
            let (victim_ip, victim_port) = tx.prepare_cached(&victim_address_sql())?.query_row(
                params![victim_type, victim_failures, victim_next_attempt],
                |row| Ok((row.get::<_, Value>(0)?, row.get::<_, Value>(1)?)),
            )?;
            evicted = tx
                .prepare_cached("DELETE FROM peers WHERE ip = ?1 AND port = ?2")?
                .execute(params![victim_ip, victim_port])?;
        }
        tx.prepare_cached(
            "INSERT INTO peers (ip, port, nextattempt, numfailures, type) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (ip, port) DO UPDATE SET nextattempt = excluded.nextattempt, \
             numfailures = excluded.numfailures, type = excluded.type",
        )?
        .execute(params![
            ip,
            port,
            timestamp_to_text(r.next_attempt),
            failures,
            peer_type
        ])?;
        tx.commit()?;
        adjust_count(peer_count, usize::from(!exists), evicted);
        Ok(true)
    }

    /// Runs a single-statement delete and keeps the row count in step.
    fn delete(&self, sql: &str, params: &[Value], what: &str) -> usize {
        let mut inner = self.db.lock();
        let Inner { conn, peer_count } = &mut *inner;
        let r = conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params_from_iter(params)));
        match r {
            Ok(n) => {
                adjust_count(peer_count, 0, n);
                n
            }
            Err(e) => {
                *peer_count = None;
                warn!(error = %e, "peers: {what} failed");
                0
            }
        }
    }
}

fn ban_rows(conn: &Connection) -> rusqlite::Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached("SELECT nodeid FROM ban ORDER BY nodeid")?;
    stmt.query_map([], |r| r.get::<_, Value>(0))?.collect()
}

fn get_record(conn: &Connection, address: SocketAddrV4) -> rusqlite::Result<Option<PeerRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT nextattempt, numfailures, type FROM peers WHERE ip = ?1 AND port = ?2",
    )?;
    let mut rows = stmt.query(params![address.ip().to_string(), i64::from(address.port())])?;
    match rows.next()? {
        Some(row) => record_from_row(address, row, 0),
        None => Ok(None),
    }
}

fn all_records(conn: &Connection) -> rusqlite::Result<Vec<PeerRecord>> {
    let sql = format!(
        "{} ORDER BY {ADDRESS_ORDER}",
        with_octets("ip, port, nextattempt, numfailures, type", "")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let Some(address) = address_from_row(row)? else {
            continue;
        };
        if let Some(rec) = record_from_row(address, row, 2)? {
            out.push(rec);
        }
    }
    Ok(out)
}

fn load_addresses(
    conn: &Connection,
    sql: &str,
    params: &[Value],
) -> rusqlite::Result<Vec<SocketAddrV4>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.extend(address_from_row(row)?);
    }
    Ok(out)
}

/// The address in columns 0 (`ip`) and 1 (`port`); `None` (with a warning) if it is not
/// an IPv4 address with a port in 1..=65535.
fn address_from_row(row: &Row<'_>) -> rusqlite::Result<Option<SocketAddrV4>> {
    let ip: Value = row.get(0)?;
    let port: Value = row.get(1)?;
    let address = match (&ip, &port) {
        (Value::Text(ip), Value::Integer(port)) => address_of(ip, *port),
        _ => None,
    };
    if address.is_none() {
        warn!(?ip, ?port, "peers: skipping a row with a bad address");
    }
    Ok(address)
}

/// Builds a record from `nextattempt, numfailures, type` at column `first`; `None` (with a
/// warning) for a type core never writes.
fn record_from_row(
    address: SocketAddrV4,
    row: &Row<'_>,
    first: usize,
) -> rusqlite::Result<Option<PeerRecord>> {
    let next_attempt = next_attempt_from_value(row.get_ref(first)?, address);
    let num_failures = failures_from_db(row.get(first + 1)?);
    let raw_type: i64 = row.get(first + 2)?;
    let Some(peer_type) = PeerType::from_db(raw_type) else {
        warn!(%address, raw_type, "peers: ignoring a row of unknown type");
        return Ok(None);
    };
    Ok(Some(PeerRecord {
        address,
        next_attempt,
        num_failures,
        peer_type,
    }))
}

impl PeerStore for SqlitePeerStore {
    fn get(&self, address: SocketAddrV4) -> Option<PeerRecord> {
        get_record(&self.db.lock().conn, address).unwrap_or_else(|e| {
            warn!(%address, error = %e, "peers: get failed");
            None
        })
    }

    fn put(&mut self, record: PeerRecord) -> bool {
        let mut inner = self.db.lock();
        match Self::put_inner(&mut inner, self.capacity, &record) {
            Ok(stored) => stored,
            Err(e) => {
                inner.peer_count = None;
                warn!(address = %record.address, error = %e, "peers: put failed");
                false
            }
        }
    }

    fn remove(&mut self, address: SocketAddrV4) -> bool {
        let params = [
            Value::Text(address.ip().to_string()),
            Value::Integer(address.port().into()),
        ];
        self.delete(
            "DELETE FROM peers WHERE ip = ?1 AND port = ?2",
            &params,
            "remove",
        ) > 0
    }

    fn len(&self) -> usize {
        let mut inner = self.db.lock();
        let Inner { conn, peer_count } = &mut *inner;
        count_peers(conn, peer_count).unwrap_or_else(|e| {
            warn!(error = %e, "peers: counting rows failed");
            0
        })
    }

    fn count(&self, query: &PeerQuery) -> usize {
        let (where_sql, params) = where_clause(query);
        let sql = format!("SELECT COUNT(*) FROM peers{where_sql}");
        let inner = self.db.lock();
        let r = inner
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.query_row(params_from_iter(&params), |r| r.get::<_, i64>(0)));
        match r {
            Ok(n) => usize::try_from(n).unwrap_or(0),
            Err(e) => {
                warn!(?query, error = %e, "peers: count failed");
                0
            }
        }
    }

    fn load(&self, query: &PeerQuery, offset: usize, limit: usize) -> Vec<SocketAddrV4> {
        if limit == 0 {
            return Vec::new();
        }
        let (where_sql, mut params) = where_clause(query);
        let sql = format!(
            "{} ORDER BY {ADDRESS_ORDER} LIMIT ? OFFSET ?",
            with_octets("ip, port", &where_sql)
        );
        params.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        params.push(Value::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
        load_addresses(&self.db.lock().conn, &sql, &params).unwrap_or_else(|e| {
            warn!(?query, error = %e, "peers: load failed");
            Vec::new()
        })
    }

    fn remove_with_many_failures(&mut self, min_failures: u32, ip: Option<Ipv4Addr>) -> usize {
        let mut params = vec![Value::Integer(i64::from(min_failures))];
        let sql = match ip {
            Some(ip) => {
                params.push(Value::Text(ip.to_string()));
                "DELETE FROM peers WHERE numfailures >= ?1 AND ip = ?2"
            }
            None => "DELETE FROM peers WHERE numfailures >= ?1",
        };
        self.delete(sql, &params, "purge by failures")
    }
}
