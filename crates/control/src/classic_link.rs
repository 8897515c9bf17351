//! ClassicLink: EC2 still answers its calls for every VPC. There is no EC2-Classic in Fort,
//! so a linked VPC carries the flags and nothing else; they never reach a host.

use fort_model::{ApiError, Kind, RouteDestination, RouteTarget};
use ipnet::Ipv4Net;

use crate::Tx;

impl Tx<'_> {
    /// EnableVpcClassicLink: refused (the answer is `false`) for a VPC in 10.0.0.0/8 other
    /// than 10.0.0.0/16 and 10.1.0.0/16, or whose route tables route into 10.0.0.0/8, as EC2's
    /// ClassicLink limitations say. Answers whether the VPC is now enabled.
    pub fn enable_vpc_classic_link(&mut self, id: &str) -> Result<bool, ApiError> {
        let ten: Ipv4Net = "10.0.0.0/8".parse().expect("literal");
        let allowed: [Ipv4Net; 2] = [
            "10.0.0.0/16".parse().expect("literal"),
            "10.1.0.0/16".parse().expect("literal"),
        ];
        let vpc = self.region.vpcs.find(Kind::Vpc, id)?;
        let in_ten = |net: &Ipv4Net| ten.contains(net) && !allowed.iter().any(|a| a.contains(net));
        let blocked = vpc.cidrs().any(|c| in_ten(&c))
            || self.region.route_tables.values().any(|t| {
                t.vpc_id == vpc.id && t.routes.iter().any(|r| {
                    r.target != RouteTarget::Local
                        && matches!(r.destination, RouteDestination::Cidr(c) if ten.contains(&c))
                })
            });
        let vpc = self.region.vpcs.find_mut(Kind::Vpc, id)?;
        if !blocked {
            vpc.classic_link_enabled = true;
        }
        Ok(vpc.classic_link_enabled)
    }

    /// DisableVpcClassicLink; answers whether the VPC is still enabled (never).
    pub fn disable_vpc_classic_link(&mut self, id: &str) -> Result<bool, ApiError> {
        let vpc = self.region.vpcs.find_mut(Kind::Vpc, id)?;
        vpc.classic_link_enabled = false;
        Ok(false)
    }

    /// Enable/DisableVpcClassicLinkDnsSupport; answers the new setting.
    pub fn set_vpc_classic_link_dns_support(
        &mut self,
        id: &str,
        on: bool,
    ) -> Result<bool, ApiError> {
        let vpc = self.region.vpcs.find_mut(Kind::Vpc, id)?;
        vpc.classic_link_dns_supported = on;
        Ok(on)
    }
}
