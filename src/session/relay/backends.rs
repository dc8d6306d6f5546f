//! The session's upstream connections by id, in the order they were opened.
//!
//! A session has one (Direct) or a few (Cluster, Pool), and the loop looks them up or walks
//! them several times per forwarded message. A vector searched from the front does that in a
//! few compares, where a hash table hashed the id each time (1.2% of boltgate's instructions
//! per `RETURN 1`, callgrind) and started with room for several entries. The ids are the
//! session's own counter, so each is unique and they arrive in increasing order.

use std::ops::Index;

use super::backend::Backend;

/// Boxed: a `Backend` is several hundred bytes and changes hands with the pool.
#[derive(Default)]
pub(super) struct Backends(Vec<(u64, Box<Backend>)>);

impl Backends {
    fn position(&self, id: u64) -> Option<usize> {
        self.0.iter().position(|(i, _)| *i == id)
    }

    pub(super) fn get(&self, id: &u64) -> Option<&Backend> {
        self.0.iter().find(|(i, _)| i == id).map(|(_, b)| &**b)
    }

    pub(super) fn get_mut(&mut self, id: &u64) -> Option<&mut Backend> {
        self.0
            .iter_mut()
            .find(|(i, _)| i == id)
            .map(|(_, b)| &mut **b)
    }

    pub(super) fn contains_key(&self, id: &u64) -> bool {
        self.position(*id).is_some()
    }

    /// `id` is new (the session's counter), so it goes last and the order stays by id.
    pub(super) fn insert(&mut self, id: u64, backend: Box<Backend>) {
        debug_assert!(self.0.last().is_none_or(|(last, _)| *last < id));
        self.0.push((id, backend));
    }

    pub(super) fn remove(&mut self, id: &u64) -> Option<Box<Backend>> {
        self.position(*id).map(|at| self.0.remove(at).1)
    }

    pub(super) fn retain(&mut self, mut keep: impl FnMut(&u64, &mut Backend) -> bool) {
        self.0.retain_mut(|(id, b)| keep(id, b));
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Backend> {
        self.0.iter().map(|(_, b)| &**b)
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Backend> {
        self.0.iter_mut().map(|(_, b)| &mut **b)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&u64, &Backend)> {
        self.0.iter().map(|(id, b)| (id, &**b))
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&u64, &mut Backend)> {
        self.0.iter_mut().map(|(id, b)| (&*id, &mut **b))
    }
}

impl Index<&u64> for Backends {
    type Output = Backend;

    fn index(&self, id: &u64) -> &Backend {
        self.get(id).expect("no backend with this id")
    }
}
