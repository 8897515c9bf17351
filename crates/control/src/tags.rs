//! Tag rules shared by CreateTags and every TagSpecification.

use fort_model::{ApiError, ErrorCode, Kind, Tags};

use crate::Tx;

/// Checks one tag as EC2 does: key 1–128 characters not starting with `aws:`, value ≤ 256.
pub fn check_tag(key: &str, value: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.chars().count() > 128 {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValue,
            format!("Tag key must be between 1 and 128 characters: '{key}'"),
        ));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValue,
            "Tag keys starting with 'aws:' are reserved for internal use",
        ));
    }
    if value.chars().count() > 256 {
        return Err(ApiError::new(
            ErrorCode::InvalidParameterValue,
            format!("Tag value exceeds the maximum length of 256 characters for key '{key}'"),
        ));
    }
    Ok(())
}

/// Checks a set of tags a create will give its new resource.
pub fn check_tags(tags: &Tags, limit: usize) -> Result<(), ApiError> {
    for (k, v) in tags {
        check_tag(k, v)?;
    }
    if tags.len() > limit {
        return Err(ApiError::new(
            ErrorCode::TagLimitExceeded,
            format!("The maximum number of tags per resource is {limit}"),
        ));
    }
    Ok(())
}

/// Whether CreateTags/DeleteTags take `id` (of `kind`) as an id at all: a kind of resource
/// that has tags, with a hexadecimal suffix. EC2 answers `InvalidID` otherwise (`ami-blah`,
/// an association id), before looking the resource up.
fn taggable_id(kind: Kind, id: &str) -> bool {
    let untaggable = matches!(
        kind,
        Kind::VpcCidrAssoc
            | Kind::SubnetCidrAssoc
            | Kind::RouteTableAssoc
            | Kind::NetworkAclAssoc
            | Kind::EniAttachment
            | Kind::EipAssociation
            | Kind::IamInstanceProfileAssoc
            | Kind::Reservation
    );
    let suffix = &id[kind.prefix().len().min(id.len())..];
    // Spot requests end in letters and digits (`sir-fmgphj2j`), fleets in a UUID
    let allowed = |b: u8| match kind {
        Kind::SpotInstanceRequest => b.is_ascii_lowercase() || b.is_ascii_digit(),
        Kind::Fleet | Kind::SpotFleetRequest => b.is_ascii_hexdigit() || b == b'-',
        _ => b.is_ascii_hexdigit(),
    };
    let hex = suffix
        .strip_prefix('-')
        .is_some_and(|h| !h.is_empty() && h.bytes().all(allowed));
    !untaggable && hex
}

impl Tx<'_> {
    /// CreateTags: adds or overwrites tags on every resource, all or none.
    pub fn create_tags(&mut self, ids: &[String], tags: &Tags) -> Result<(), ApiError> {
        for (k, v) in tags {
            check_tag(k, v)?;
        }
        let limit = self.config.quotas.tags_per_resource;
        for id in ids {
            let existing = self.tag_target(id)?;
            let mut merged = existing.clone();
            merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            if merged.len() > limit {
                return Err(ApiError::new(
                    ErrorCode::TagLimitExceeded,
                    format!("The maximum number of tags per resource is {limit}"),
                ));
            }
            if merged != *existing {
                *self.tags_mut(id).expect("found above") = merged;
            }
        }
        Ok(())
    }

    /// DeleteTags: a key alone removes it whatever its value; a key with a value only on an
    /// exact match; no tags at all removes every user tag.
    pub fn delete_tags(
        &mut self,
        ids: &[String],
        tags: &[(String, Option<String>)],
    ) -> Result<(), ApiError> {
        for id in ids {
            let existing = self.tag_target(id)?;
            let mut kept = existing.clone();
            if tags.is_empty() {
                kept.clear();
            }
            for (k, v) in tags {
                match v {
                    Some(v) if kept.get(k) != Some(v) => {}
                    _ => {
                        kept.remove(k);
                    }
                }
            }
            if kept != *existing {
                *self.tags_mut(id).expect("found above") = kept;
            }
        }
        Ok(())
    }

    /// The tags of a resource [`Tx::tag_target`] found.
    fn tags_mut(&mut self, id: &str) -> Option<&mut Tags> {
        if id.starts_with("pcx-") {
            return self.global.peerings.get_mut(id).map(|p| &mut p.tags);
        }
        if let Some(c) = self.vpn_of_attachment(id) {
            let c = c.id.clone();
            return self
                .region
                .vpn_connections
                .get_mut(&c)
                .map(|c| &mut c.transit_gateway_attachment_tags);
        }
        // a peering between transit gateways is shared by its two sides, like a VPC peering
        if id.starts_with("tgw-attach-")
            && !self.region.transit_gateway_vpc_attachments.contains(id)
        {
            return self
                .global
                .transit_gateway_peerings
                .get_mut(id)
                .map(|p| &mut p.tags);
        }
        self.region.tags_of_mut(id)
    }

    /// The live VPN connection whose transit gateway attachment is `id`: the attachment's
    /// tags are kept with it.
    fn vpn_of_attachment(&self, id: &str) -> Option<&fort_model::VpnConnection> {
        self.region
            .vpn_connections
            .values()
            .find(|c| c.is_live() && c.transit_gateway_attachment_id.as_deref() == Some(id))
    }

    fn tag_target(&self, id: &str) -> Result<&Tags, ApiError> {
        match fort_model::Kind::of(id).filter(|k| taggable_id(*k, id)) {
            None => Err(ApiError::new(
                ErrorCode::InvalidId,
                format!("The ID '{id}' is not valid"),
            )),
            Some(fort_model::Kind::VpcPeeringConnection) => crate::peering::visible(
                self.global,
                &self.region.account,
                &self.region.name,
                self.now,
            )
            .find(|p| p.id == id)
            .map(|p| &p.tags)
            .ok_or_else(|| fort_model::Kind::VpcPeeringConnection.not_found(id)),
            Some(fort_model::Kind::TransitGatewayAttachment)
                if self.vpn_of_attachment(id).is_some() =>
            {
                Ok(&self
                    .vpn_of_attachment(id)
                    .expect("matched above")
                    .transit_gateway_attachment_tags)
            }
            Some(fort_model::Kind::TransitGatewayAttachment)
                if !self.region.transit_gateway_vpc_attachments.contains(id) =>
            {
                crate::transit_gateway::visible_peerings(
                    self.global,
                    &self.region.account,
                    &self.region.name,
                    self.now,
                )
                .find(|p| p.id == id)
                .map(|p| &p.tags)
                .ok_or_else(|| fort_model::Kind::TransitGatewayAttachment.not_found(id))
            }
            Some(kind) => self.region.tags_of(id).ok_or_else(|| kind.not_found(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taggable_ids_are_a_taggable_kind_with_a_hex_suffix() {
        assert!(taggable_id(Kind::Vpc, "vpc-12345"));
        assert!(taggable_id(Kind::Image, "ami-0abcdef0"));
        assert!(!taggable_id(Kind::Image, "ami-blah"));
        assert!(!taggable_id(Kind::Vpc, "vpc-"));
        assert!(!taggable_id(Kind::RouteTableAssoc, "rtbassoc-0abc"));
        assert!(!taggable_id(Kind::EipAssociation, "eipassoc-0abc"));
        assert!(taggable_id(Kind::SpotInstanceRequest, "sir-fmgphj2j"));
        assert!(taggable_id(
            Kind::Fleet,
            "fleet-5d130460-0c26-bfd9-2c32-0100a098f625"
        ));
    }
}
