//! Route tables: the main table of each VPC, local routes, associations, routes.

use fort_model::*;

use crate::Tx;

impl Tx<'_> {
    /// A new table of a VPC holding a local route per associated block; the main table
    /// also gets the main association.
    pub(crate) fn new_route_table(&mut self, vpc_id: &str, main: bool) -> String {
        let vpc = self
            .region
            .vpcs
            .get(vpc_id)
            .expect("caller checked the VPC");
        let routes = vpc
            .cidrs()
            .map(|c| Route {
                destination: RouteDestination::Cidr(c),
                target: RouteTarget::Local,
                origin: "CreateRouteTable".into(),
            })
            .collect();
        let associations = if main {
            vec![RouteTableAssociation {
                id: Kind::RouteTableAssoc.new_id(),
                subnet_id: None,
                gateway_id: None,
                main: true,
            }]
        } else {
            Vec::new()
        };
        let table = RouteTable {
            id: Kind::RouteTable.new_id(),
            vpc_id: vpc_id.to_owned(),
            routes,
            associations,
            propagating_vgws: Vec::new(),
            tags: Tags::new(),
        };
        let id = table.id.clone();
        self.region.route_tables.insert(table);
        id
    }
}
