//! TLS between hosts and the mapping service, with a CA made for the test: a host that
//! trusts the servers' CA is programmed; one with another CA, or plain HTTP, is refused
//! with an error that says why; a server that requires client certificates programs only
//! the hosts that show one signed by its client CA.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fort_control::{Config, Control};
use fort_mapping::server::MappingService;
use fort_proto::mapping::{ProgramUpdate, Role};
use fort_store::{EmbeddedStore, Store};
use fort_sync::client::{
    Cache, ClientTls, Gap, Identity, Programmed, Report, Servers, SessionError, session_with,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

/// A CA and what it signs.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        Ca {
            cert: p.self_signed(&key).unwrap(),
            key,
        }
    }

    fn pem(&self) -> Vec<u8> {
        self.cert.pem().into_bytes()
    }

    /// A leaf certificate for `names` (addresses become IP names) and its key, as PEM.
    fn sign(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (Vec<u8>, Vec<u8>) {
        let mut p =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem().into_bytes(), key.serialize_pem().into_bytes())
    }
}

#[derive(Clone, Default)]
struct Probe(Arc<Mutex<Cache>>);

impl Programmed for Probe {
    fn position(&self) -> (u64, u64) {
        let c = self.0.lock().unwrap();
        (c.epoch, c.generation)
    }
    fn apply(&mut self, u: ProgramUpdate) -> Result<bool, Gap> {
        self.0.lock().unwrap().apply(u)
    }
    fn reset(&mut self) {
        *self.0.lock().unwrap() = Cache::default();
    }
}

fn me(host: &str) -> Identity {
    Identity {
        host_id: host.into(),
        zone: "us-east-1a".into(),
        underlay: "127.0.0.21".parse().unwrap(),
        role: Role::Instance,
    }
}

/// The mapping service over TLS with `identity`, requiring client certificates signed
/// by `client_ca` if given; its `https://` URL.
async fn serve_tls(
    control: Arc<Control>,
    identity: (Vec<u8>, Vec<u8>),
    client_ca: Option<Vec<u8>>,
) -> (Arc<MappingService>, String) {
    let service = MappingService::start(control).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut tls = tonic::transport::ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(identity.0, identity.1));
    if let Some(ca) = client_ca {
        tls = tls.client_ca_root(tonic::transport::Certificate::from_pem(ca));
    }
    let grpc = service.grpc();
    let builder = tonic::transport::Server::builder().tls_config(tls).unwrap();
    tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let mut builder = builder;
        let _ = builder
            .add_service(grpc)
            .serve_with_incoming(incoming)
            .await;
    });
    (service, format!("https://{addr}"))
}

async fn control() -> Arc<Control> {
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory().unwrap());
    let config = Config {
        dataplane: true,
        ..Config::default()
    };
    Control::open(store, config).await.unwrap()
}

/// One session of `host` with `url`, for at most 2 s: how it ended (a session that
/// lasts is cut short and counts as `Ok`).
async fn try_session(
    url: &str,
    tls: Option<ClientTls>,
    host: &str,
    probe: &mut Probe,
) -> Result<(), SessionError> {
    let servers = Servers::new(url, tls);
    let mut report = Report::OnApply;
    match tokio::time::timeout(
        Duration::from_secs(2),
        session_with(&servers, url, &me(host), probe, &mut report),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Ok(()),
    }
}

fn tls(ca: &Ca, identity: Option<(Vec<u8>, Vec<u8>)>) -> ClientTls {
    ClientTls {
        ca: ca.pem(),
        identity,
        domain: None,
    }
}

async fn registered(service: &MappingService, host: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if service.inspect(|p| p.host(host).is_some_and(|h| h.connected)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_that_trust_the_servers_ca_are_programmed_others_are_refused_and_told_why() {
    let ca = Ca::new("Fort test CA");
    let other = Ca::new("Someone else's CA");
    let control = control().await;
    let server_cert = ca.sign(
        &["127.0.0.1", "fort-1.test"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (service, url) = serve_tls(control, server_cert, None).await;

    // The right CA: a session, a snapshot, the host registered.
    let good = Probe::default();
    let servers = Servers::new(&url, Some(tls(&ca, None)));
    let session = tokio::spawn({
        let good = good.clone();
        async move {
            fort_sync::client::run_with(servers, me("h1"), good, Report::OnApply).await;
        }
    });
    assert!(
        registered(&service, "h1").await,
        "a host with the right CA registers"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while good.position().1 == 0 {
        assert!(Instant::now() < deadline, "the program arrives over TLS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    session.abort();

    // Another CA: refused at the handshake, and the error names the certificate.
    let mut probe = Probe::default();
    let err = try_session(&url, Some(tls(&other, None)), "h2", &mut probe)
        .await
        .expect_err("a host with another CA must not get a session");
    let text = err.to_string();
    assert!(matches!(err, SessionError::Connect(_)), "{text}");
    assert!(
        text.contains("UnknownIssuer") && text.contains("not signed by the CA given with --ca"),
        "the error says the server's certificate is not trusted: {text}"
    );
    // A name the certificate does not carry (`--tls-server-name`): refused too.
    let mut wrong_name = tls(&ca, None);
    wrong_name.domain = Some("fort-2.test".into());
    let err = try_session(&url, Some(wrong_name), "h2", &mut probe)
        .await
        .expect_err("a certificate for another name is refused");
    assert!(
        err.to_string()
            .contains("not valid for name \"fort-2.test\""),
        "{err}"
    );
    // The name it carries: accepted.
    let mut right_name = tls(&ca, None);
    right_name.domain = Some("fort-1.test".into());
    try_session(&url, Some(right_name), "h3", &mut Probe::default())
        .await
        .expect("a certificate for the server name given is accepted");
    // Plain HTTP to a TLS server: no session either.
    let plain = url.replace("https://", "http://");
    assert!(
        try_session(&plain, None, "h2", &mut probe).await.is_err(),
        "plain HTTP to a TLS mapping service gets no session"
    );
    // https:// without a CA: said before connecting.
    let no_ca = Servers::new(&url, None).check().unwrap_err();
    assert!(no_ca.contains("--ca"), "{no_ca}");
    assert_eq!(
        probe.position(),
        (0, 0),
        "the refused host received nothing"
    );
    assert!(
        !service.inspect(|p| p.host("h2").is_some_and(|h| h.connected)),
        "the refused host never registered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_requires_client_certificates_programs_only_hosts_that_show_one() {
    let ca = Ca::new("Fort test CA");
    let hosts_ca = Ca::new("Fort hosts CA");
    let other = Ca::new("Someone else's CA");
    let control = control().await;
    let server_cert = ca.sign(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let (service, url) = serve_tls(control, server_cert, Some(hosts_ca.pem())).await;

    // No client certificate: the server ends the handshake; no session, no registration.
    let mut probe = Probe::default();
    let err = try_session(&url, Some(tls(&ca, None)), "h2", &mut probe)
        .await
        .expect_err("a host without a client certificate must not get a session");
    assert!(
        err.to_string().contains("client certificate") && err.to_string().contains("--tls-cert"),
        "the error says a client certificate is needed: {err}"
    );
    // A certificate signed by another CA: refused as well.
    let stranger = other.sign(&["h3.hosts.test"], ExtendedKeyUsagePurpose::ClientAuth);
    let err = try_session(&url, Some(tls(&ca, Some(stranger))), "h3", &mut probe)
        .await
        .expect_err("a host with a client certificate of another CA must not get a session");
    assert!(
        err.to_string().contains("this host's client certificate")
            || err.to_string().contains("may not trust this host's"),
        "{err}"
    );
    assert_eq!(probe.position(), (0, 0));
    for h in ["h2", "h3"] {
        assert!(
            !service.inspect(|p| p.host(h).is_some()),
            "{h} was refused, so it never registered"
        );
    }

    // A certificate signed by the hosts' CA: programmed.
    let mine = hosts_ca.sign(&["h1.hosts.test"], ExtendedKeyUsagePurpose::ClientAuth);
    let good = Probe::default();
    let servers = Servers::new(&url, Some(tls(&ca, Some(mine))));
    let session = tokio::spawn({
        let good = good.clone();
        async move {
            fort_sync::client::run_with(servers, me("h1"), good, Report::OnApply).await;
        }
    });
    assert!(
        registered(&service, "h1").await,
        "a host with a client certificate registers"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while good.position().1 == 0 {
        assert!(Instant::now() < deadline, "the program arrives");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    session.abort();
}
