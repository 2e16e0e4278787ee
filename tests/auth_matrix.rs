//! Who may call what, against the real server with a key: every route behind the key, each
//! credential that must not open it (none, a wrong key, an ephemeral `ek_` secret where only the
//! key works, an expired secret, and headers a client can forge: `Origin`, `Referer`,
//! `Sec-Fetch-*`, `Host`, `X-Forwarded-*`), each answered with OpenAI's 401 shape; the key itself
//! opens every route (so each refusal is about the credential, not the request).

mod common;

use std::time::Duration;

use common::{KEY, Server, fixture, next_event, ws_connect_with};
use reqwest::Method;
use serde_json::{Value, json};

/// A route behind the key and a request that succeeds on it with the key.
struct Route {
    method: Method,
    path: &'static str,
    body: fn() -> Body,
}

enum Body {
    None,
    Json(Value),
    Audio,
}

fn routes() -> Vec<Route> {
    vec![
        Route {
            method: Method::GET,
            path: "/v1/models",
            body: || Body::None,
        },
        Route {
            method: Method::GET,
            path: "/metrics",
            body: || Body::None,
        },
        Route {
            method: Method::POST,
            path: "/v1/audio/transcriptions",
            body: || Body::Audio,
        },
        Route {
            method: Method::POST,
            path: "/v1/audio/translations",
            body: || Body::Audio,
        },
        Route {
            method: Method::POST,
            path: "/v1/realtime/client_secrets",
            body: || Body::Json(json!({"expires_after": {"anchor": "created_at", "seconds": 60}})),
        },
        Route {
            method: Method::POST,
            path: "/v1/realtime/transcription_sessions",
            body: || Body::Json(json!({})),
        },
        Route {
            method: Method::GET,
            path: "/v1/meetings",
            body: || Body::None,
        },
        Route {
            method: Method::POST,
            path: "/v1/meetings",
            body: || Body::Audio,
        },
    ]
}

/// The routes of one meeting job: with the key they answer (404 for an unknown job), without
/// it, with a wrong key or with forged browser headers only 401, whether or not the job exists.
#[tokio::test(flavor = "multi_thread")]
async fn meeting_job_routes_take_the_key_and_nothing_else() {
    let s = Server::start("", &[]);
    let wav = std::fs::read(fixture("en_jfk.wav")).unwrap();
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(wav).file_name("jfk.wav"));
    let job: Value = reqwest::Client::new()
        .post(format!("{}/v1/meetings", s.base))
        .bearer_auth(KEY)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = job["id"].as_str().expect("a job id").to_string();
    for job in [id.as_str(), "mtg_unknown"] {
        for (method, path) in [
            (Method::GET, format!("/v1/meetings/{job}")),
            (Method::GET, format!("/v1/meetings/{job}/outputs/transcript.md")),
            (Method::DELETE, format!("/v1/meetings/{job}")),
        ] {
            let name = format!("{method} {path}");
            let send = |headers: Vec<(&'static str, String)>| {
                let mut req = reqwest::Client::new().request(method.clone(), format!("{}{path}", s.base));
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                req.send()
            };
            assert_401(send(vec![]).await.unwrap(), &format!("{name} without a key")).await;
            assert_401(
                send(vec![("Authorization", "Bearer sk-wrong".into())]).await.unwrap(),
                &format!("{name} with a wrong key"),
            )
            .await;
            assert_401(
                send(forged(&s)).await.unwrap(),
                &format!("{name} with forged browser headers"),
            )
            .await;
        }
    }
    // the refused calls changed nothing: the job is still there
    let r = reqwest::Client::new()
        .get(format!("{}/v1/meetings/{id}", s.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = reqwest::Client::new()
        .delete(format!("{}/v1/meetings/{id}", s.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "the key deletes it");
}

async fn call(s: &Server, r: &Route, headers: &[(&str, String)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(r.method.clone(), format!("{}{}", s.base, r.path));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req = match (r.body)() {
        Body::None => req,
        Body::Json(v) => req.header("content-type", "application/json").body(v.to_string()),
        Body::Audio => {
            let wav = std::fs::read(fixture("en_jfk.wav")).unwrap();
            let model = if r.path.ends_with("translations") {
                "whisper-base"
            } else {
                "auto"
            };
            let form = reqwest::multipart::Form::new()
                .part("file", reqwest::multipart::Part::bytes(wav).file_name("jfk.wav"))
                .text("model", model);
            req.multipart(form)
        }
    };
    req.send().await.unwrap()
}

/// Headers a browser sends from a page of this server, which any other client can send too.
fn forged(s: &Server) -> Vec<(&'static str, String)> {
    let origin = format!("http://127.0.0.1:{}", s.port);
    vec![
        ("Origin", origin.clone()),
        ("Referer", format!("{origin}/demo/")),
        ("Sec-Fetch-Site", "same-origin".into()),
        ("Sec-Fetch-Mode", "cors".into()),
        ("Sec-Fetch-Dest", "empty".into()),
        ("Host", format!("127.0.0.1:{}", s.port)),
        ("X-Forwarded-For", "127.0.0.1".into()),
        ("X-Real-IP", "127.0.0.1".into()),
    ]
}

async fn assert_401(resp: reqwest::Response, what: &str) {
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 401, "{what}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: not JSON: {body}"));
    let e = &v["error"];
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {v}");
    assert_eq!(e["type"], "invalid_request_error", "{what}: {v}");
    assert_eq!(e["code"], "invalid_api_key", "{what}: {v}");
    assert!(e.get("param").is_some(), "{what}: param must be present (null): {v}");
}

/// Mints an ephemeral secret with the key.
async fn mint(s: &Server, seconds: u64) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/realtime/client_secrets", s.base))
        .bearer_auth(KEY)
        .json(&json!({"expires_after": {"anchor": "created_at", "seconds": seconds}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["value"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn rest_routes_take_the_key_and_nothing_else() {
    let s = Server::start("", &[]);
    let secret = mint(&s, 600).await;
    let expired = mint(&s, 10).await;
    let bearer = |t: &str| ("Authorization", format!("Bearer {t}"));
    for r in routes() {
        let name = format!("{} {}", r.method, r.path);
        let ok = call(&s, &r, &[bearer(KEY)]).await;
        assert!(ok.status().is_success(), "{name} with the key: {}", ok.status());
        let ok = call(&s, &r, &[("X-API-Key", KEY.to_string())]).await;
        assert!(ok.status().is_success(), "{name} with X-API-Key: {}", ok.status());

        assert_401(call(&s, &r, &[]).await, &format!("{name} without a key")).await;
        assert_401(
            call(&s, &r, &[bearer("sk-wrong")]).await,
            &format!("{name} with a wrong key"),
        )
        .await;
        let almost = &KEY[..KEY.len() - 1];
        assert_401(
            call(&s, &r, &[bearer(almost)]).await,
            &format!("{name} with a key prefix"),
        )
        .await;
        assert_401(
            call(&s, &r, &[bearer(&secret)]).await,
            &format!("{name} with an ek_ secret"),
        )
        .await;
        assert_401(
            call(&s, &r, &forged(&s)).await,
            &format!("{name} with forged browser headers"),
        )
        .await;
        let mut forged_wrong = forged(&s);
        forged_wrong.push(bearer("sk-wrong"));
        assert_401(
            call(&s, &r, &forged_wrong).await,
            &format!("{name} with forged headers and a wrong key"),
        )
        .await;
    }
    // the secret expires: afterwards it opens nothing, realtime included
    tokio::time::sleep(Duration::from_secs(11)).await;
    for r in routes() {
        let name = format!("{} {}", r.method, r.path);
        assert_401(
            call(&s, &r, &[bearer(&expired)]).await,
            &format!("{name} with an expired secret"),
        )
        .await;
    }
    let refused = ws_connect_with(&s, &[("Authorization", &format!("Bearer {expired}"))]).await;
    assert_handshake_401(refused, "realtime with an expired secret").await;
}

async fn assert_handshake_401(r: Result<common::Ws, tokio_tungstenite::tungstenite::Error>, what: &str) {
    use tokio_tungstenite::tungstenite::Error;
    match r {
        Err(Error::Http(resp)) => {
            assert_eq!(resp.status(), 401, "{what}");
            let body = resp.body().as_deref().unwrap_or_default();
            let v: Value = serde_json::from_slice(body).unwrap_or_else(|_| panic!("{what}: not JSON"));
            assert_eq!(v["error"]["code"], "invalid_api_key", "{what}: {v}");
            assert_eq!(v["error"]["type"], "invalid_request_error", "{what}: {v}");
        }
        Err(e) => panic!("{what}: expected HTTP 401, got {e}"),
        Ok(_) => panic!("{what}: the session opened"),
    }
}

#[tokio::test]
async fn realtime_opens_with_the_key_or_a_live_secret_only() {
    let s = Server::start("", &[]);
    let secret = mint(&s, 600).await;
    let forged = forged(&s);
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();

    for (what, headers) in [
        ("no credential", vec![]),
        ("a wrong key", vec![("Authorization", "Bearer sk-wrong")]),
        (
            "a forged ek_ secret",
            vec![("Authorization", "Bearer ek_forgedforgedforged")],
        ),
        (
            "a wrong key in the browser subprotocol",
            vec![("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.sk-wrong")],
        ),
        ("forged browser headers", forged.clone()),
    ] {
        assert_handshake_401(ws_connect_with(&s, &headers).await, &format!("realtime with {what}")).await;
    }

    // what does open it: the key, the key in the browser subprotocol, and a live secret
    let key_header = format!("Bearer {KEY}");
    let secret_header = format!("Bearer {secret}");
    let secret_protocol = format!("realtime, openai-insecure-api-key.{secret}");
    for (what, headers) in [
        ("the key", vec![("Authorization", key_header.as_str())]),
        ("a live secret", vec![("Authorization", secret_header.as_str())]),
        (
            "a live secret in the subprotocol",
            vec![("Sec-WebSocket-Protocol", secret_protocol.as_str())],
        ),
    ] {
        let mut ws = ws_connect_with(&s, &headers)
            .await
            .unwrap_or_else(|e| panic!("realtime with {what}: {e}"));
        let first = next_event(&mut ws, Duration::from_secs(20)).await.unwrap();
        assert_eq!(first["type"], "session.created", "realtime with {what}");
    }
}

#[tokio::test]
async fn a_keyless_client_cannot_mint_a_secret_from_the_demo_origin() {
    // the reported bypass: POST client_secrets with Origin naming the server itself
    let s = Server::start("", &[]);
    let r = Route {
        method: Method::POST,
        path: "/v1/realtime/client_secrets",
        body: || Body::Json(json!({})),
    };
    let origin = format!("http://127.0.0.1:{}", s.port);
    assert_401(
        call(&s, &r, &[("Origin", origin)]).await,
        "client_secrets with Origin = Host",
    )
    .await;
    // the demo page itself stays public (it asks its user for the key)
    let page = reqwest::get(format!("{}/demo/", s.base)).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"api-key\""));
}
