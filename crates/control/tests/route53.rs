//! Route 53 through the control plane: what the data plane will read (the private zones of
//! a VPC), the change feed that says when to read it again, and persistence.

use std::sync::Arc;

use fort_control::route53::{Change, ChangeAction, CreateHostedZone, VpcInput};
use fort_control::vpc::CreateVpc;
use fort_control::{Config, Control, Scope};
use fort_model::hosted_zone::{RecordSet, RrType};
use fort_store::EmbeddedStore;

const ACCOUNT: &str = "123456789012";

fn scope(region: &str) -> Scope {
    Scope {
        account: ACCOUNT.into(),
        region: region.into(),
    }
}

async fn vpc(control: &Control, region: &str, cidr: &str) -> String {
    control
        .write(&scope(region), |tx| {
            tx.create_vpc(CreateVpc {
                cidr_block: cidr.into(),
                ..Default::default()
            })
            .map(|v| v.id.to_string())
        })
        .await
        .unwrap()
}

fn in_vpc(region: &str, vpc_id: &str) -> VpcInput {
    VpcInput {
        region: Some(region.into()),
        vpc_id: Some(vpc_id.into()),
    }
}

#[tokio::test]
async fn a_vpcs_private_zones_and_their_changes() {
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    let control = Control::open(store.clone(), Config::default())
        .await
        .unwrap();
    let east = vpc(&control, "us-east-1", "10.0.0.0/16").await;
    let west = vpc(&control, "us-west-2", "10.1.0.0/16").await;
    let mut feed = control.subscribe();

    let ((zone, _), _) = control
        .route53(ACCOUNT, |r| {
            r.create_hosted_zone(CreateHostedZone {
                name: "corp.internal".into(),
                caller_reference: "one".into(),
                vpc: Some(in_vpc("us-east-1", &east)),
                ..Default::default()
            })
        })
        .await
        .unwrap();
    let change = feed.recv().await.unwrap();
    let key = format!("g/route53-zone/{}", zone.id);
    assert!(change.keys.contains(&key), "{:?}", change.keys);

    control
        .route53(ACCOUNT, |r| {
            r.change_record_sets(
                &zone.id,
                vec![Change {
                    action: ChangeAction::Create,
                    record_set: RecordSet::simple(
                        "db.corp.internal",
                        RrType::A,
                        60,
                        vec!["10.0.0.10".into()],
                    ),
                }],
                None,
            )
        })
        .await
        .unwrap();
    assert!(feed.recv().await.unwrap().keys.contains(&key));

    let zones = control
        .private_zones_for_vpc(ACCOUNT, "us-east-1", &east)
        .await;
    assert_eq!(zones.len(), 1);
    assert_eq!(zones[0].name, "corp.internal.");
    let db = zones[0]
        .record("db.corp.internal.", RrType::A, None)
        .unwrap();
    assert_eq!(db.records, ["10.0.0.10"]);
    // a VPC of another region, and another account, see nothing
    assert!(
        control
            .private_zones_for_vpc(ACCOUNT, "us-west-2", &west)
            .await
            .is_empty()
    );
    assert!(
        control
            .private_zones_for_vpc("210987654321", "us-east-1", &east)
            .await
            .is_empty()
    );

    // a VPC of another region joins the zone
    control
        .route53(ACCOUNT, |r| {
            r.associate_vpc(&zone.id, &in_vpc("us-west-2", &west), None)
        })
        .await
        .unwrap();
    assert!(feed.recv().await.unwrap().keys.contains(&key));
    assert_eq!(
        control
            .private_zones_for_vpc(ACCOUNT, "us-west-2", &west)
            .await
            .len(),
        1
    );

    // all survives a restart
    let before = control.dump().await.unwrap();
    drop(control);
    let reloaded = Control::open(store, Config::default()).await.unwrap();
    assert_eq!(reloaded.dump().await.unwrap(), before);
    assert_eq!(
        reloaded
            .private_zones_for_vpc(ACCOUNT, "us-west-2", &west)
            .await[0]
            .records
            .len(),
        3
    );
}
