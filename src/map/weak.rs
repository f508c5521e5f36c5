//! A weak map handle, for objects a map's own tasks or timers hold: a strong
//! one would keep the map (and every socket in it) alive in a cycle.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use super::{Inner, Map};
use crate::error::{Error, Result};

/// A map handle that does not keep the map alive.
#[derive(Clone, Debug)]
pub(crate) struct WeakMap(Weak<RefCell<Inner>>);

impl WeakMap {
    pub(crate) fn new(map: &Map) -> WeakMap {
        WeakMap(Rc::downgrade(&map.inner))
    }

    /// The map, if it still exists.
    pub(crate) fn upgrade(&self) -> Result<Map> {
        self.0
            .upgrade()
            .map(|inner| Map { inner })
            .ok_or(Error::MapGone)
    }
}
