//! A table of one kind of resource, with the undo log that makes a change all-or-nothing.
//!
//! Handlers mutate tables freely and may fail half-way: the first touch of a row within a
//! change saves its previous state, so a failed change is rolled back exactly, and a
//! successful one yields precisely the rows to write to the store.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

use fort_model::{ApiError, Kind, Tags, TypedId};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A stored resource: identified by its id, tagged by its user.
pub trait Resource: Clone + Serialize + DeserializeOwned {
    /// The id's type: the kind's id type, or `String` for internal records.
    type Id: Clone + Ord + Borrow<str> + fmt::Display + fmt::Debug;
    fn id(&self) -> &Self::Id;
    /// `None` for internal records that carry no user tags.
    fn tags(&self) -> Option<&Tags>;
    fn tags_mut(&mut self) -> Option<&mut Tags>;
}

macro_rules! tagged {
    ($($t:ty => $id:ty),* $(,)?) => {$(
        impl Resource for $t {
            type Id = $id;
            fn id(&self) -> &$id { &self.id }
            fn tags(&self) -> Option<&Tags> { Some(&self.tags) }
            fn tags_mut(&mut self) -> Option<&mut Tags> { Some(&mut self.tags) }
        }
    )*};
}

tagged!(
    fort_model::Vpc => fort_model::VpcId,
    fort_model::Subnet => fort_model::SubnetId,
    fort_model::SubnetCidrReservation => fort_model::SubnetCidrReservationId,
    fort_model::RouteTable => fort_model::RouteTableId,
    fort_model::InternetGateway => fort_model::InternetGatewayId,
    fort_model::EgressOnlyInternetGateway => fort_model::EgressOnlyInternetGatewayId,
    fort_model::CarrierGateway => fort_model::CarrierGatewayId,
    fort_model::NatGateway => fort_model::NatGatewayId,
    fort_model::NetworkAcl => fort_model::NetworkAclId,
    fort_model::SecurityGroup => fort_model::SecurityGroupId,
    fort_model::DhcpOptions => fort_model::DhcpOptionsId,
    fort_model::NetworkInterface => fort_model::NetworkInterfaceId,
    fort_model::Instance => fort_model::InstanceId,
    fort_model::SpotInstanceRequest => fort_model::SpotInstanceRequestId,
    fort_model::Fleet => fort_model::FleetId,
    fort_model::SpotFleetRequest => fort_model::SpotFleetRequestId,
    fort_model::DedicatedHost => fort_model::DedicatedHostId,
    fort_model::KeyPair => fort_model::KeyPairId,
    fort_model::PlacementGroup => fort_model::PlacementGroupId,
    fort_model::CapacityReservation => fort_model::CapacityReservationId,
    fort_model::Image => fort_model::ImageId,
    fort_model::LaunchTemplate => fort_model::LaunchTemplateId,
    fort_model::Volume => fort_model::VolumeId,
    fort_model::Snapshot => fort_model::SnapshotId,
    fort_model::VpcPeeringConnection => fort_model::VpcPeeringConnectionId,
    fort_model::ManagedPrefixList => fort_model::PrefixListId,
    fort_model::VpcEndpoint => fort_model::VpcEndpointId,
    fort_model::TransitGateway => fort_model::TransitGatewayId,
    fort_model::TransitGatewayVpcAttachment => fort_model::TransitGatewayAttachmentId,
    fort_model::TransitGatewayRouteTable => fort_model::TransitGatewayRouteTableId,
    fort_model::TransitGatewayPeeringAttachment => fort_model::TransitGatewayAttachmentId,
    fort_model::FlowLog => fort_model::FlowLogId,
    fort_model::TrafficMirrorFilter => fort_model::TrafficMirrorFilterId,
    fort_model::TrafficMirrorFilterRule => fort_model::TrafficMirrorFilterRuleId,
    fort_model::TrafficMirrorTarget => fort_model::TrafficMirrorTargetId,
    fort_model::TrafficMirrorSession => fort_model::TrafficMirrorSessionId,
    fort_model::VpcBlockPublicAccessExclusion => fort_model::VpcBlockPublicAccessExclusionId,
    fort_model::VpnGateway => fort_model::VpnGatewayId,
    fort_model::CustomerGateway => fort_model::CustomerGatewayId,
    fort_model::VpnConnection => fort_model::VpnConnectionId,
);

impl Resource for fort_model::Address {
    type Id = fort_model::AllocationId;
    fn id(&self) -> &fort_model::AllocationId {
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
pub struct Table<T: Resource> {
    rows: BTreeMap<T::Id, T>,
    /// Rows touched by the change in progress, with their state before it.
    undo: BTreeMap<T::Id, Option<T>>,
}

impl<T: Resource> Default for Table<T> {
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

    /// The row named by an id already checked for form: EC2's not-found error otherwise.
    pub fn lookup<I: TypedId>(&self, id: &I) -> Result<&T, ApiError> {
        self.rows
            .get(id.as_ref())
            .ok_or_else(|| I::KIND.not_found(id.as_ref()))
    }

    /// [`Table::lookup`], to change the row.
    pub fn lookup_mut<I: TypedId>(&mut self, id: &I) -> Result<&mut T, ApiError> {
        self.get_mut(id.as_ref())
            .ok_or_else(|| I::KIND.not_found(id.as_ref()))
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
        let key = self.rows.get_key_value(id)?.0.clone();
        self.save(&key);
        self.rows.get_mut(id)
    }

    pub fn insert(&mut self, row: T) {
        let id = row.id().clone();
        self.save(&id);
        self.rows.insert(id, row);
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        let key = self.rows.get_key_value(id)?.0.clone();
        self.save(&key);
        self.rows.remove(id)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.rows.values()
    }

    /// Ids of the rows that satisfy `f`, for changing them one by one.
    pub fn ids_where(&self, f: impl Fn(&T) -> bool) -> Vec<T::Id> {
        self.rows
            .values()
            .filter(|r| f(r))
            .map(|r| r.id().clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn save(&mut self, id: &T::Id) {
        if !self.undo.contains_key(id.borrow()) {
            self.undo
                .insert(id.clone(), self.rows.get(id.borrow()).cloned());
        }
    }

    /// Loads a row read from the store (not a change).
    pub(crate) fn load(&mut self, row: T) {
        self.rows.insert(row.id().clone(), row);
    }

    /// Forgets a row the store deleted (not a change: another server made it).
    pub(crate) fn unload(&mut self, id: &str) {
        self.rows.remove(id);
    }

    /// Puts every touched row back as it was before the change.
    pub(crate) fn rollback(&mut self) {
        for (id, old) in std::mem::take(&mut self.undo) {
            match old {
                Some(row) => self.rows.insert(id, row),
                None => self.rows.remove::<T::Id>(&id),
            };
        }
    }

    /// The rows the change touched, as they are now (`None`: deleted); ends the change.
    pub(crate) fn take_changes(&mut self) -> Vec<(T::Id, Option<&T>)> {
        let undo = std::mem::take(&mut self.undo);
        undo.into_keys()
            .map(|id| {
                let row = self.rows.get::<T::Id>(&id);
                (id, row)
            })
            .collect()
    }
}
