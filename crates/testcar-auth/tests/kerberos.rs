//! Kerberos/SPNEGO and chaining against a throw-away MIT realm (krb5kdc on a loopback
//! port) and Apache httpd with mod_auth_gssapi on 127.0.0.1:
//! - keytab login, then `Authorization: Negotiate` accepted by Apache (`HTTP@localhost`);
//! - a keytab without the principal's keys, an unknown principal and an unknown service
//!   principal each fail with the KDC's reason, naming the step;
//! - chaining: a token endpoint behind mod_auth_gssapi issues a bearer for the Kerberos
//!   principal; the service accepts only that bearer (not Negotiate);
//! - no issued token or Negotiate token in logs, errors or Debug output.
//!
//! The realm's krb5.conf must be in `KRB5_CONFIG` before libkrb5 starts, and the process
//! environment cannot be changed safely once threads run, so this test (harness = false)
//! builds the realm and then re-runs itself as a child with that environment.

mod support;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{assert_no_secrets, capture_logs, captured_logs, free_port, put, send, which};
use testcar_auth::{RequestParts, parse_config, start};

const REALM: &str = "TESTCAR.TEST";
const CHILD_DIR: &str = "TESTCAR_KRB5_REALM_DIR";
const CHILD_PORT: &str = "TESTCAR_KRB5_HTTP_PORT";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        // test listers (IDEs, nextest) must not start a realm
        println!("kerberos: test");
        return;
    }
    if let (Ok(dir), Ok(port)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_PORT)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(scenarios(Path::new(&dir), port.parse().unwrap()));
        println!("kerberos: all scenarios passed");
        return;
    }
    let Some(realm) = Realm::start() else {
        return;
    };
    let status = Command::new(std::env::current_exe().unwrap())
        .env("KRB5_CONFIG", realm.dir.join("krb5.conf"))
        .env_remove("KRB5CCNAME")
        .env_remove("KRB5_CLIENT_KTNAME")
        .env(CHILD_DIR, &realm.dir)
        .env(CHILD_PORT, realm.http_port.to_string())
        .status()
        .unwrap();
    if !status.success() {
        for log in ["kdc.log", "error.log"] {
            let text = std::fs::read_to_string(realm.dir.join(log)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            eprintln!("--- {log} (last lines, newest first)\n{}", tail.join("\n"));
        }
        panic!("kerberos scenarios failed: {status}");
    }
}

/// A realm with a KDC and an Apache in a temp dir; both stopped on drop.
struct Realm {
    dir: PathBuf,
    http_port: u16,
    _tmp: tempfile::TempDir,
    _kdc: support::ChildGuard,
    apache: std::process::Child,
}

impl Drop for Realm {
    fn drop(&mut self) {
        // SIGTERM lets Apache stop its worker processes too
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.apache.id().to_string())
            .status();
        let _ = self.apache.wait();
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Realm {
    fn start() -> Option<Realm> {
        let mut tools = Vec::new();
        for t in ["krb5kdc", "kdb5_util", "kadmin.local", "kinit", "apache2"] {
            match which(t) {
                Some(p) => tools.push(p),
                None => {
                    support::missing(&format!("{t} (scripts/setup.d/50-kerberos.sh)"));
                    return None;
                }
            }
        }
        let modules = Path::new("/usr/lib/apache2/modules");
        if !modules.join("mod_auth_gssapi.so").is_file() {
            support::missing("mod_auth_gssapi (libapache2-mod-auth-gssapi)");
            return None;
        }
        let python = Path::new("/usr/bin/python3");
        if !python.is_file() {
            support::missing("/usr/bin/python3 (for the CGI token service)");
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        set_mode(&dir, 0o755); // Apache's workers (www-data) read the keytab and CGIs
        let kdc_port = free_port();
        let http_port = free_port();
        let d = dir.display();
        put(
            &dir,
            "krb5.conf",
            &format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_realm = false\n dns_lookup_kdc = false\n rdns = false\n dns_canonicalize_hostname = false\n udp_preference_limit = 1\n default_ccache_name = FILE:{d}/ccache\n ticket_lifetime = 1h\n\n[realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{kdc_port}\n }}\n\n[domain_realm]\n localhost = {REALM}\n"
            ),
        );
        put(
            &dir,
            "kdc.conf",
            &format!(
                "[kdcdefaults]\n kdc_ports = {kdc_port}\n kdc_tcp_ports = {kdc_port}\n\n[realms]\n {REALM} = {{\n  database_name = {d}/principal\n  key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n  kdc_ports = {kdc_port}\n  kdc_tcp_ports = {kdc_port}\n }}\n\n[logging]\n kdc = FILE:{d}/kdc.log\n"
            ),
        );
        put(&dir, "kadm5.acl", "");
        let krb = |bin: &str| {
            let mut c = Command::new(bin);
            c.env("KRB5_CONFIG", dir.join("krb5.conf"))
                .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"));
            c
        };
        run(
            krb("kdb5_util").args(["create", "-s", "-r", REALM, "-P", "master-pw-for-tests"]),
            "kdb5_util create",
        );
        let kadmin = |q: &str| run(krb("kadmin.local").args(["-r", REALM, "-q", q]), q);
        for p in ["HTTP/localhost", "svc-testcar", "other", "ghost"] {
            kadmin(&format!("addprinc -randkey {p}"));
        }
        for (p, kt) in [
            ("HTTP/localhost", "http.keytab"),
            ("svc-testcar", "client.keytab"),
            ("other", "other.keytab"),
            ("ghost", "ghost.keytab"),
        ] {
            kadmin(&format!("ktadd -k {d}/{kt} {p}"));
        }
        // ghost's keytab outlives its principal: the KDC will not know it
        kadmin("delprinc -force ghost");
        set_mode(&dir.join("http.keytab"), 0o644);
        let kdc = krb("krb5kdc")
            .args(["-n", "-r", REALM, "-P"])
            .arg(dir.join("kdc.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let kdc = support::ChildGuard(kdc);
        support::wait_for_port(kdc_port, "krb5kdc");

        write_cgis(&dir);
        let m = modules.display();
        put(
            &dir,
            "httpd.conf",
            &format!(
                r#"ServerRoot "{d}"
ServerName localhost
Listen 127.0.0.1:{http_port}
PidFile {d}/httpd.pid
DefaultRuntimeDir {d}
Mutex file:{d}
ErrorLog {d}/error.log
LogLevel warn auth_gssapi:debug
User www-data
Group www-data
LoadModule mpm_prefork_module {m}/mod_mpm_prefork.so
LoadModule authn_core_module {m}/mod_authn_core.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule authz_user_module {m}/mod_authz_user.so
LoadModule auth_gssapi_module {m}/mod_auth_gssapi.so
LoadModule alias_module {m}/mod_alias.so
LoadModule env_module {m}/mod_env.so
LoadModule cgi_module {m}/mod_cgi.so
StartServers 2
DocumentRoot {d}/cgi
SetEnv TOKENS_DIR {d}/tokens
ScriptAlias /protected/whoami {d}/cgi/whoami.py
ScriptAlias /sso/token {d}/cgi/token.py
ScriptAlias /api/whoami {d}/cgi/service.py
<Directory {d}/cgi>
  Options +ExecCGI
  CGIPassAuth On
  Require all granted
</Directory>
<LocationMatch "^/(protected|sso)/">
  AuthType GSSAPI
  AuthName "Testcar test realm"
  GssapiCredStore keytab:{d}/http.keytab
  GssapiAllowedMech krb5
  Require valid-user
</LocationMatch>
"#
            ),
        );
        std::fs::create_dir(dir.join("rcache")).unwrap();
        set_mode(&dir.join("rcache"), 0o1777);
        // its own process group: on shutdown Apache signals its whole group
        let apache = Command::new("apache2")
            .process_group(0)
            .args(["-DFOREGROUND", "-f"])
            .arg(dir.join("httpd.conf"))
            .env("KRB5_CONFIG", dir.join("krb5.conf"))
            .env("KRB5RCACHEDIR", dir.join("rcache"))
            .env("APACHE_RUN_DIR", &dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let realm = Realm {
            dir,
            http_port,
            _tmp: tmp,
            _kdc: kdc,
            apache,
        };
        support::wait_for_port(http_port, "apache2");
        Some(realm)
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Three CGIs: who Apache authenticated, a token endpoint issuing bearers for the
/// Kerberos principal, and a service that accepts only those bearers.
fn write_cgis(dir: &Path) {
    let cgi = dir.join("cgi");
    std::fs::create_dir(&cgi).unwrap();
    set_mode(&cgi, 0o755);
    std::fs::create_dir(dir.join("tokens")).unwrap();
    set_mode(&dir.join("tokens"), 0o1777);
    let scripts = [
        (
            "whoami.py",
            r#"import os
print("Content-Type: text/plain\n")
print(os.environ.get("REMOTE_USER", ""), end="")
"#,
        ),
        (
            "token.py",
            r#"import json, os, secrets, sys, urllib.parse
body = sys.stdin.read(int(os.environ.get("CONTENT_LENGTH") or 0))
form = urllib.parse.parse_qs(body)
if form.get("grant_type") != ["client_credentials"]:
    print("Status: 400 Bad Request\nContent-Type: application/json\n")
    print(json.dumps({"error": "unsupported_grant_type", "error_description": "only client_credentials"}))
    sys.exit(0)
token = secrets.token_urlsafe(24)
with open(os.path.join(os.environ["TOKENS_DIR"], token), "w") as f:
    f.write(os.environ["REMOTE_USER"])
print("Content-Type: application/json\n")
print(json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
"#,
        ),
        (
            "service.py",
            r#"import os
auth = os.environ.get("HTTP_AUTHORIZATION", "")
token = auth[7:] if auth.startswith("Bearer ") else ""
path = os.path.join(os.environ["TOKENS_DIR"], token)
if token and "/" not in token and os.path.isfile(path):
    print("Content-Type: text/plain\n")
    print("hello " + open(path).read(), end="")
else:
    print("Status: 401 Unauthorized\nWWW-Authenticate: Bearer\nContent-Type: text/plain\n")
    print("bearer required", end="")
"#,
        ),
    ];
    for (name, body) in scripts {
        let p = put(&cgi, name, &format!("#!/usr/bin/python3\n{body}"));
        set_mode(&p, 0o755);
    }
}

fn mk_kerberos(principal: &str, keytab: &str, extra: &str) -> String {
    format!(
        "steps:\n  - kerberos:\n      name: corp-kerberos\n      principal: {principal}\n      keytabFile: {keytab}\n{extra}"
    )
}

async fn scenarios(dir: &Path, port: u16) {
    capture_logs();
    let client = support::http_client(None);
    let base = format!("http://localhost:{port}");
    let mut leaked: Vec<String> = Vec::new();
    let mut texts: Vec<String> = Vec::new();

    // Apache really demands Kerberos
    let resp = client
        .get(format!("{base}/protected/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Negotiate")
    );

    // wrong keytab: it holds another principal's keys
    let yaml = mk_kerberos(&format!("svc-testcar@{REALM}"), "other.keytab", "");
    let err = start(parse_config(&yaml, "auth.yaml").unwrap(), dir)
        .await
        .unwrap_err();
    assert_eq!(err.step, "corp-kerberos");
    assert!(
        err.message
            .contains("keytab login as `svc-testcar@TESTCAR.TEST`"),
        "{err}"
    );
    assert!(err.message.contains("no suitable keys"), "{err}");
    println!("wrong keytab: {err}");
    texts.push(err.to_string());

    // a principal the KDC does not know
    let yaml = mk_kerberos(&format!("ghost@{REALM}"), "ghost.keytab", "");
    let err = start(parse_config(&yaml, "auth.yaml").unwrap(), dir)
        .await
        .unwrap_err();
    assert!(
        err.message.contains("not found in Kerberos database"),
        "{err}"
    );
    println!("unknown principal: {err}");
    texts.push(err.to_string());

    // a service principal the KDC does not know (checked at start when configured)
    let yaml = mk_kerberos(
        &format!("svc-testcar@{REALM}"),
        "client.keytab",
        "      servicePrincipal: HTTP@nohost.testcar.test\n",
    );
    let err = start(parse_config(&yaml, "auth.yaml").unwrap(), dir)
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("cannot get a ticket for service `HTTP@nohost.testcar.test`"),
        "{err}"
    );
    assert!(
        err.message.contains("not found in Kerberos database"),
        "{err}"
    );
    println!("unknown service: {err}");
    texts.push(err.to_string());

    // keytab login works: Negotiate for HTTP@localhost, Apache names the principal
    let yaml = mk_kerberos(&format!("svc-testcar@{REALM}"), "client.keytab", "");
    let chain = start(parse_config(&yaml, "auth.yaml").unwrap(), dir)
        .await
        .unwrap();
    let auth = chain.request_auth();
    for _ in 0..3 {
        let (status, body) = send(
            &client,
            auth.as_ref(),
            "GET",
            &format!("{base}/protected/whoami"),
            b"",
        )
        .await;
        assert_eq!((status, body.as_str()), (200, "svc-testcar@TESTCAR.TEST"));
    }
    let negotiate = auth
        .headers(RequestParts {
            method: "GET",
            url: &format!("{base}/protected/whoami"),
            body: b"",
        })
        .await
        .unwrap();
    assert!(negotiate[0].1.starts_with("Negotiate "));
    leaked.push(negotiate[0].1["Negotiate ".len()..].to_string());
    assert!(
        auth.refresh().await.unwrap(),
        "a keytab login can be renewed"
    );
    texts.push(format!("{chain:?}"));

    // the service accepts only the token service's bearer, not Negotiate
    let (status, _) = send(
        &client,
        auth.as_ref(),
        "GET",
        &format!("{base}/api/whoami"),
        b"",
    )
    .await;
    assert_eq!(status, 401);

    // chaining: the token request is made with Negotiate, its bearer is used on the service
    let yaml = format!(
        "{}  - oauth2:\n      tokenUrl: {base}/sso/token\n      clientId: testcar\n      authMethod: none\n      authenticateWith: corp-kerberos\n",
        mk_kerberos(&format!("svc-testcar@{REALM}"), "client.keytab", "")
    );
    let chain = start(parse_config(&yaml, "auth.yaml").unwrap(), dir)
        .await
        .unwrap();
    assert_eq!(chain.applied_steps(), ["oauth2"]);
    let auth = chain.request_auth();
    let (status, body) = send(
        &client,
        auth.as_ref(),
        "GET",
        &format!("{base}/api/whoami"),
        b"",
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "hello svc-testcar@TESTCAR.TEST")
    );
    let h = auth
        .headers(RequestParts {
            method: "GET",
            url: &format!("{base}/api/whoami"),
            body: b"",
        })
        .await
        .unwrap();
    assert_eq!(h.len(), 1, "only the bearer goes to the service");
    let bearer = h[0].1.strip_prefix("Bearer ").unwrap().to_string();
    assert!(auth.refresh().await.unwrap());
    let h2 = auth
        .headers(RequestParts {
            method: "GET",
            url: &format!("{base}/api/whoami"),
            body: b"",
        })
        .await
        .unwrap();
    assert_ne!(
        h2[0].1, h[0].1,
        "refresh asked the Kerberos-protected endpoint again"
    );
    leaked.push(bearer);
    leaked.push(h2[0].1["Bearer ".len()..].to_string());
    let vars = chain.exec_env(&dir.join("exec")).unwrap();
    texts.push(format!("{chain:?} {vars:?}"));

    // without authenticateWith the token endpoint refuses: the error says it wants Negotiate
    put(dir, "client-secret", "some-client-secret-1");
    let yaml = format!(
        "steps:\n  - oauth2:\n      name: sso\n      tokenUrl: {base}/sso/token\n      clientId: testcar\n      clientSecretFile: client-secret\n"
    );
    let err = start(parse_config(&yaml, "auth.yaml").unwrap(), dir)
        .await
        .unwrap_err();
    assert_eq!(err.step, "sso");
    assert!(
        err.message
            .contains("answered 401 Unauthorized asking for Negotiate authentication"),
        "{err}"
    );
    println!("token endpoint without Kerberos: {err}");
    texts.push(err.to_string());

    texts.push(captured_logs());
    assert!(captured_logs().contains("kerberos credentials acquired"));
    let labelled: Vec<(&str, &str)> = texts
        .iter()
        .map(|t| ("captured output", t.as_str()))
        .collect();
    let secrets: Vec<&str> = leaked
        .iter()
        .map(String::as_str)
        .chain(["some-client-secret-1"])
        .collect();
    assert_no_secrets(&labelled, &secrets);
}
