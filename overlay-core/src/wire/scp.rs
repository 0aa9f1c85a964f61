//! A zero-copy view of `SCPEnvelope`: enough of SCP for the overlay to key, trim, fetch
//! for and verify envelopes it floods without running consensus.
//!
//! ```text
//! SCPEnvelope  { SCPStatement statement; Signature signature; }
//! SCPStatement { NodeID nodeID; uint64 slotIndex; union pledges switch (SCPStatementType) {
//!   PREPARE:     { Hash quorumSetHash; SCPBallot ballot; SCPBallot* prepared;
//!                  SCPBallot* preparedPrime; uint32 nC; uint32 nH; }
//!   CONFIRM:     { SCPBallot ballot; uint32 nPrepared; uint32 nCommit; uint32 nH;
//!                  Hash quorumSetHash; }
//!   EXTERNALIZE: { SCPBallot commit; uint32 nH; Hash commitQuorumSetHash; }
//!   NOMINATE:    { Hash quorumSetHash; Value votes<>; Value accepted<>; } } }
//! SCPBallot    { uint32 counter; Value value; }      Value = opaque<>
//! ```

use core::cmp::Ordering;

use super::messages::SIGNATURE_MAX;
use super::xdr::Reader;
use super::{DecodeError, Hash};

/// SCP statement kinds (`SCPStatementType`), ordered as the ballot protocol orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScpStatementType {
    Prepare = 0,
    Confirm = 1,
    Externalize = 2,
    Nominate = 3,
}

impl ScpStatementType {
    pub fn from_i32(v: i32) -> Result<Self, DecodeError> {
        Ok(match v {
            0 => ScpStatementType::Prepare,
            1 => ScpStatementType::Confirm,
            2 => ScpStatementType::Externalize,
            3 => ScpStatementType::Nominate,
            _ => {
                return Err(DecodeError::UnknownDiscriminant {
                    what: "SCPStatementType",
                    value: v,
                });
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ScpStatementType::Prepare => "PREPARE",
            ScpStatementType::Confirm => "CONFIRM",
            ScpStatementType::Externalize => "EXTERNALIZE",
            ScpStatementType::Nominate => "NOMINATE",
        }
    }
}

/// `SCPBallot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ballot<'a> {
    pub counter: u32,
    pub value: &'a [u8],
}

impl<'a> Ballot<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Ballot {
            counter: r.u32()?,
            value: r.var_opaque(u32::MAX)?,
        })
    }

    fn decode_optional(r: &mut Reader<'a>) -> Result<Option<Self>, DecodeError> {
        match r.u32()? {
            0 => Ok(None),
            1 => Ok(Some(Ballot::decode(r)?)),
            v => Err(DecodeError::UnknownDiscriminant {
                what: "optional",
                value: v as i32,
            }),
        }
    }

    /// stellar-core's `compareBallots`: by counter, then value bytes.
    fn cmp(&self, other: &Ballot<'_>) -> Ordering {
        self.counter
            .cmp(&other.counter)
            .then_with(|| self.value.cmp(other.value))
    }
}

/// Optional ballots order absent first.
fn cmp_optional(a: &Option<Ballot<'_>>, b: &Option<Ballot<'_>>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => a.cmp(b),
    }
}

/// A `Value values<>` list, kept as validated XDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Values<'a> {
    count: usize,
    raw: &'a [u8],
}

impl<'a> Values<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let count = r.count(u32::MAX, 4)?;
        let start = r.rest();
        let before = r.remaining();
        for _ in 0..count {
            r.var_opaque(u32::MAX)?;
        }
        Ok(Values {
            count,
            raw: &start[..before - r.remaining()],
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let mut r = Reader::new(self.raw);
        core::iter::from_fn(move || r.var_opaque(u32::MAX).ok())
    }

    /// `std::includes` over two sorted lists: every value of `self` is in `other`.
    fn is_subset_of(&self, other: &Values<'_>) -> bool {
        let mut theirs = other.iter();
        'mine: for v in self.iter() {
            for t in theirs.by_ref() {
                match t.cmp(v) {
                    Ordering::Less => continue,
                    Ordering::Equal => continue 'mine,
                    Ordering::Greater => return false,
                }
            }
            return false;
        }
        true
    }
}

/// `SCPStatement.pledges`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pledges<'a> {
    Prepare {
        quorum_set_hash: &'a Hash,
        ballot: Ballot<'a>,
        prepared: Option<Ballot<'a>>,
        prepared_prime: Option<Ballot<'a>>,
        n_c: u32,
        n_h: u32,
    },
    Confirm {
        ballot: Ballot<'a>,
        n_prepared: u32,
        n_commit: u32,
        n_h: u32,
        quorum_set_hash: &'a Hash,
    },
    Externalize {
        commit: Ballot<'a>,
        n_h: u32,
        commit_quorum_set_hash: &'a Hash,
    },
    Nominate {
        quorum_set_hash: &'a Hash,
        votes: Values<'a>,
        accepted: Values<'a>,
    },
}

/// A decoded `SCPEnvelope`, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScpEnvelope<'a> {
    /// The whole envelope XDR.
    pub bytes: &'a [u8],
    /// The `SCPStatement` XDR: what the signature covers, after the network ID and
    /// `ENVELOPE_TYPE_SCP`.
    pub statement_bytes: &'a [u8],
    pub node_id: &'a [u8; 32],
    pub slot_index: u64,
    pub pledges: Pledges<'a>,
    pub signature: &'a [u8],
}

impl<'a> ScpEnvelope<'a> {
    /// Decodes a whole envelope; trailing bytes are an error.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let env = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(env)
    }

    pub(super) fn decode_from(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let all = r.rest();
        let start = r.position();
        let node_id = r.node_id()?;
        let slot_index = r.u64()?;
        let pledges = match ScpStatementType::from_i32(r.i32()?)? {
            ScpStatementType::Prepare => Pledges::Prepare {
                quorum_set_hash: r.array()?,
                ballot: Ballot::decode(r)?,
                prepared: Ballot::decode_optional(r)?,
                prepared_prime: Ballot::decode_optional(r)?,
                n_c: r.u32()?,
                n_h: r.u32()?,
            },
            ScpStatementType::Confirm => Pledges::Confirm {
                ballot: Ballot::decode(r)?,
                n_prepared: r.u32()?,
                n_commit: r.u32()?,
                n_h: r.u32()?,
                quorum_set_hash: r.array()?,
            },
            ScpStatementType::Externalize => Pledges::Externalize {
                commit: Ballot::decode(r)?,
                n_h: r.u32()?,
                commit_quorum_set_hash: r.array()?,
            },
            ScpStatementType::Nominate => Pledges::Nominate {
                quorum_set_hash: r.array()?,
                votes: Values::decode(r)?,
                accepted: Values::decode(r)?,
            },
        };
        let statement_len = r.position() - start;
        let signature = r.var_opaque(SIGNATURE_MAX as u32)?;
        let len = r.position() - start;
        Ok(ScpEnvelope {
            bytes: &all[..len],
            statement_bytes: &all[..statement_len],
            node_id,
            slot_index,
            pledges,
            signature,
        })
    }

    pub fn statement_type(&self) -> ScpStatementType {
        match self.pledges {
            Pledges::Prepare { .. } => ScpStatementType::Prepare,
            Pledges::Confirm { .. } => ScpStatementType::Confirm,
            Pledges::Externalize { .. } => ScpStatementType::Externalize,
            Pledges::Nominate { .. } => ScpStatementType::Nominate,
        }
    }

    /// The quorum set the statement depends on.
    pub fn quorum_set_hash(&self) -> &'a Hash {
        match self.pledges {
            Pledges::Prepare {
                quorum_set_hash, ..
            }
            | Pledges::Confirm {
                quorum_set_hash, ..
            }
            | Pledges::Nominate {
                quorum_set_hash, ..
            } => quorum_set_hash,
            Pledges::Externalize {
                commit_quorum_set_hash,
                ..
            } => commit_quorum_set_hash,
        }
    }

    /// The values the statement carries (each a `StellarValue` naming a tx set): the
    /// ballot's value, or the nominated and accepted values.
    pub fn values(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let (ballot, prepared, lists) = match self.pledges {
            Pledges::Prepare {
                ballot,
                prepared,
                prepared_prime,
                ..
            } => (
                Some(ballot.value),
                prepared.map(|b| b.value),
                [prepared_prime.map(|b| b.value), None],
            ),
            Pledges::Confirm { ballot, .. } => (Some(ballot.value), None, [None, None]),
            Pledges::Externalize { commit, .. } => (Some(commit.value), None, [None, None]),
            Pledges::Nominate { .. } => (None, None, [None, None]),
        };
        let (votes, accepted) = match self.pledges {
            Pledges::Nominate {
                votes, accepted, ..
            } => (Some(votes), Some(accepted)),
            _ => (None, None),
        };
        ballot
            .into_iter()
            .chain(prepared)
            .chain(lists.into_iter().flatten())
            .chain(votes.into_iter().flat_map(|v: Values<'a>| v.iter()))
            .chain(accepted.into_iter().flat_map(|v: Values<'a>| v.iter()))
    }

    /// stellar-core's `isNewerNominationOrBallotSt(self, newer)`: whether `newer`, from the
    /// same node and slot, supersedes this statement.
    pub fn is_superseded_by(&self, newer: &ScpEnvelope<'_>) -> bool {
        if self.slot_index != newer.slot_index || self.node_id != newer.node_id {
            return false;
        }
        match (&self.pledges, &newer.pledges) {
            (
                Pledges::Nominate {
                    votes: ov,
                    accepted: oa,
                    ..
                },
                Pledges::Nominate {
                    votes: nv,
                    accepted: na,
                    ..
                },
            ) => {
                // Newer only if both sets include the old ones and one of them grew.
                ov.is_subset_of(nv)
                    && oa.is_subset_of(na)
                    && (ov.len() != nv.len() || oa.len() != na.len())
            }
            (Pledges::Nominate { .. }, _) | (_, Pledges::Nominate { .. }) => false,
            (old, new) => {
                let (ot, nt) = (self.statement_type(), newer.statement_type());
                if ot != nt {
                    return ot < nt;
                }
                match (old, new) {
                    (
                        Pledges::Confirm {
                            ballot: ob,
                            n_prepared: op,
                            n_h: oh,
                            ..
                        },
                        Pledges::Confirm {
                            ballot: nb,
                            n_prepared: np,
                            n_h: nh,
                            ..
                        },
                    ) => ob.cmp(nb).then(op.cmp(np)).then(oh.cmp(nh)) == Ordering::Less,
                    (
                        Pledges::Prepare {
                            ballot: ob,
                            prepared: op,
                            prepared_prime: opp,
                            n_h: oh,
                            ..
                        },
                        Pledges::Prepare {
                            ballot: nb,
                            prepared: np,
                            prepared_prime: npp,
                            n_h: nh,
                            ..
                        },
                    ) => {
                        ob.cmp(nb)
                            .then_with(|| cmp_optional(op, np))
                            .then_with(|| cmp_optional(opp, npp))
                            .then(oh.cmp(nh))
                            == Ordering::Less
                    }
                    // Two EXTERNALIZE statements never supersede each other.
                    _ => false,
                }
            }
        }
    }
}
