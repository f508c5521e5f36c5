//! Channel ids: a slab index plus a generation, so that an id (and a poller
//! key) of a closed channel never names the channel that reuses its slot.

use std::fmt;

/// Bits of a poller key that hold the slab index; the rest hold the
/// generation.
const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;

/// Identifies a channel in a [`Map`](crate::Map).
///
/// Ids are never confused across time: when a channel closes its slot gets a
/// new generation, so the id of a closed channel does not name the channel
/// that later reuses the slot (or the fd). Python keyed its map by fd, and an
/// event for a closed channel could reach a new one on the same fd
/// (bpo-30931).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId {
    /// Slot in the map's slab.
    pub(crate) index: u32,
    /// Generation of the slot when the channel was added.
    pub(crate) generation: u32,
}

/// A poller key no channel has (its index part is above
/// [`ChannelId::MAX_INDEX`]): the loop's own timer for suspects (see
/// `event_loop::edge`).
pub(crate) const TICK_KEY: usize = INDEX_MASK;

impl ChannelId {
    /// The poller key for this id. Never `usize::MAX`, which `polling`
    /// reserves: the index part is always below its mask.
    pub(crate) fn key(self) -> usize {
        let generation = (self.generation as usize) & INDEX_MASK;
        (generation << INDEX_BITS) | (self.index as usize & INDEX_MASK)
    }

    /// The slab index and the (possibly truncated) generation of a key.
    pub(crate) fn from_key(key: usize) -> (u32, usize) {
        ((key & INDEX_MASK) as u32, key >> INDEX_BITS)
    }

    /// Whether `generation` matches a truncated generation from a key.
    pub(crate) fn generation_matches(generation: u32, from_key: usize) -> bool {
        (generation as usize) & INDEX_MASK == from_key
    }

    /// The largest slab index a key can carry.
    pub(crate) const MAX_INDEX: usize = INDEX_MASK - 1;
}

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelId({}v{})", self.index, self.generation)
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}v{}", self.index, self.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_and_never_reserved() {
        let id = ChannelId {
            index: 7,
            generation: 3,
        };
        let (index, generation) = ChannelId::from_key(id.key());
        assert_eq!(index, 7);
        assert!(ChannelId::generation_matches(3, generation));
        assert!(!ChannelId::generation_matches(4, generation));
        let top = ChannelId {
            index: ChannelId::MAX_INDEX as u32,
            generation: u32::MAX,
        };
        assert_ne!(top.key(), usize::MAX);
        assert_ne!(ChannelId::from_key(top.key()).0 as usize, TICK_KEY);
        assert!(ChannelId::from_key(TICK_KEY).0 as usize > ChannelId::MAX_INDEX);
    }
}
