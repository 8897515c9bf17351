//! A table of one kind of resource, with the undo log that makes a change all-or-nothing.
//!
//! Handlers mutate tables freely and may fail half-way: the first touch of a row within a
//! change saves its previous state, so a failed change is rolled back exactly, and a
//! successful one yields precisely the rows to write to the store.

use std::collections::BTreeMap;

use fort_model::{ApiError, Kind, Tags};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A stored resource: identified by its id, tagged by its user.
pub trait Resource: Clone + Serialize + DeserializeOwned {
    fn id(&self) -> &str;
    /// `None` for internal records that carry no user tags.
    fn tags(&self) -> Option<&Tags>;
    fn tags_mut(&mut self) -> Option<&mut Tags>;
}

macro_rules! tagged {
    ($($t:ty),*) => {$(
        impl Resource for $t {
            fn id(&self) -> &str { &self.id }
            fn tags(&self) -> Option<&Tags> { Some(&self.tags) }
            fn tags_mut(&mut self) -> Option<&mut Tags> { Some(&mut self.tags) }
        }
    )*};
}

tagged!(
    fort_model::Vpc,
    fort_model::Subnet,
    fort_model::RouteTable,
    fort_model::InternetGateway,
    fort_model::EgressOnlyInternetGateway,
    fort_model::NatGateway,
    fort_model::NetworkAcl,
    fort_model::SecurityGroup,
    fort_model::DhcpOptions,
    fort_model::NetworkInterface,
    fort_model::Instance,
    fort_model::KeyPair,
    fort_model::LaunchTemplate,
    fort_model::Volume,
    fort_model::VpcPeeringConnection
);

impl Resource for fort_model::Address {
    fn id(&self) -> &str {
        &self.allocation_id
    }
    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }
    fn tags_mut(&mut self) -> Option<&mut Tags> {
        Some(&mut self.tags)
    }
}

/// Rows of one resource kind, ordered by id.
#[derive(Debug, Clone)]
pub struct Table<T> {
    rows: BTreeMap<String, T>,
    /// Rows touched by the change in progress, with their state before it.
    undo: BTreeMap<String, Option<T>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            rows: BTreeMap::new(),
            undo: BTreeMap::new(),
        }
    }
}

impl<T: Resource> Table<T> {
    pub fn get(&self, id: &str) -> Option<&T> {
        self.rows.get(id)
    }

    /// The row named by a user-given id: EC2's malformed or not-found error otherwise.
    pub fn find(&self, kind: Kind, id: &str) -> Result<&T, ApiError> {
        kind.check(id)?;
        self.rows.get(id).ok_or_else(|| kind.not_found(id))
    }

    /// [`Table::find`], to change the row.
    pub fn find_mut(&mut self, kind: Kind, id: &str) -> Result<&mut T, ApiError> {
        kind.check(id)?;
        self.get_mut(id).ok_or_else(|| kind.not_found(id))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.rows.contains_key(id)
    }

    /// A row to change; the change is recorded.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        if !self.rows.contains_key(id) {
            return None;
        }
        self.save(id);
        self.rows.get_mut(id)
    }

    pub fn insert(&mut self, row: T) {
        let id = row.id().to_owned();
        self.save(&id);
        self.rows.insert(id, row);
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        if !self.rows.contains_key(id) {
            return None;
        }
        self.save(id);
        self.rows.remove(id)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.rows.values()
    }

    /// Ids of the rows that satisfy `f`, for changing them one by one.
    pub fn ids_where(&self, f: impl Fn(&T) -> bool) -> Vec<String> {
        self.rows
            .values()
            .filter(|r| f(r))
            .map(|r| r.id().to_owned())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn save(&mut self, id: &str) {
        if !self.undo.contains_key(id) {
            self.undo.insert(id.to_owned(), self.rows.get(id).cloned());
        }
    }

    /// Loads a row read from the store (not a change).
    pub(crate) fn load(&mut self, row: T) {
        self.rows.insert(row.id().to_owned(), row);
    }

    /// Puts every touched row back as it was before the change.
    pub(crate) fn rollback(&mut self) {
        for (id, old) in std::mem::take(&mut self.undo) {
            match old {
                Some(row) => self.rows.insert(id, row),
                None => self.rows.remove(&id),
            };
        }
    }

    /// The rows the change touched, as they are now (`None`: deleted); ends the change.
    pub(crate) fn take_changes(&mut self) -> Vec<(String, Option<&T>)> {
        let undo = std::mem::take(&mut self.undo);
        undo.into_keys()
            .map(|id| {
                let row = self.rows.get(&id);
                (id, row)
            })
            .collect()
    }
}
