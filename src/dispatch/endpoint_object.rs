//! The Durable Object that owns one subscription's flow state ([`super::endpoint`]): one
//! object per subscription id (binding `ENDPOINTS`, class `SubscriptionEndpoint`, SQLite
//! storage), so its rate limit, in-flight slots, breaker and pauses hold across every
//! isolate and location. It decides nothing itself: each request loads the state, calls
//! the pure [`Endpoint`] and stores it back. The runtime's input gate keeps other requests
//! out while the storage is read and written, so each request sees the last one's state.
//!
//! `POST /admit {flow, key, lease_ms, place?}` → [`Admission`]; `POST /settle {flow, key,
//! report, done?}` → `{"changes":[…]}`; `POST /enqueue {places}` (ordered results, at
//! publish); `POST /reset` (re-enabled by an operator); `GET /state`.

use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{
    DurableObject, Env, Method, Request, RequestInit, Response, State, wasm_bindgen::JsValue,
};

use super::endpoint::{Admission, Change, Endpoint, Flow, Place, Report};
use crate::error::{BindingError, During};

/// The binding of the namespace.
pub const BINDING: &str = "ENDPOINTS";

const KEY: &str = "endpoint";

/// `POST /admit`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdmitRequest {
    /// The subscription's settings.
    pub flow: Flow,
    /// [`super::endpoint::lease_key`].
    pub key: String,
    /// How long the slot is held if never settled.
    pub lease_ms: u64,
    /// Its place in its ordering key's line, when the subscription orders by key.
    #[serde(default)]
    pub place: Option<Place>,
}

/// `POST /enqueue`: results lined up under their ordering keys, in publish order.
#[derive(Debug, Serialize, Deserialize)]
pub struct EnqueueRequest {
    /// The places, in publish order.
    pub places: Vec<Place>,
}

/// `POST /settle`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SettleRequest {
    /// The subscription's settings.
    pub flow: Flow,
    /// The attempt's lease key.
    pub key: String,
    /// What the attempt told about the endpoint.
    pub report: Report,
    /// No further attempt follows: the delivery leaves its ordering key's line.
    #[serde(default)]
    pub done: Option<Place>,
}

/// `POST /settle`'s answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Settled {
    /// The breaker and pause changes this settlement caused, for the consumer to act on.
    pub changes: Vec<Change>,
}

pub use object::SubscriptionEndpoint;

/// The class alone, so the `durable_object` macro's generated glue (the JS class and its
/// methods, which carry no docs) is excused without excusing the rest of this file.
#[allow(missing_docs)]
mod object {
    use worker::{State, durable_object};

    /// One subscription's flow state.
    #[durable_object]
    pub struct SubscriptionEndpoint {
        pub(super) state: State,
    }
}

impl SubscriptionEndpoint {
    async fn load(&self) -> worker::Result<Endpoint> {
        Ok(self
            .state
            .storage()
            .get::<String>(KEY)
            .await?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    async fn save(&self, endpoint: &Endpoint) -> worker::Result<()> {
        let text =
            serde_json::to_string(endpoint).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.state.storage().put(KEY, text).await
    }
}

impl DurableObject for SubscriptionEndpoint {
    fn new(state: State, _env: Env) -> Self {
        SubscriptionEndpoint { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let path = req.path();
        let method = req.method();
        // The body is read before the state: between loading and storing it the object
        // awaits nothing but its storage, so the input gate keeps other requests out and
        // no two see the same state (reading a body would let them in).
        let body = match method {
            Method::Post => req.text().await?,
            _ => String::new(),
        };
        let parse = |what: &str| worker::Error::RustError(format!("{what}: unreadable request"));
        let mut endpoint = self.load().await?;
        let now_ms = worker::Date::now().as_millis();
        let answer = match (method, path.as_str()) {
            (Method::Post, "/admit") => {
                let r: AdmitRequest = serde_json::from_str(&body).map_err(|_| parse("admit"))?;
                let admission =
                    endpoint.admit(&r.flow, &r.key, r.place.as_ref(), now_ms, r.lease_ms);
                // A wait changes nothing, unless it lined a new result up.
                if matches!(admission, Admission::Go { .. }) || r.place.is_some() {
                    self.save(&endpoint).await?;
                }
                json!(admission)
            }
            (Method::Post, "/settle") => {
                let r: SettleRequest = serde_json::from_str(&body).map_err(|_| parse("settle"))?;
                let changes = endpoint.settle(&r.flow, &r.key, r.report, r.done.as_ref(), now_ms);
                self.save(&endpoint).await?;
                json!(Settled { changes })
            }
            (Method::Post, "/enqueue") => {
                let r: EnqueueRequest =
                    serde_json::from_str(&body).map_err(|_| parse("enqueue"))?;
                endpoint.enqueue(&r.places);
                self.save(&endpoint).await?;
                json!({"lined_up": r.places.len()})
            }
            (Method::Post, "/reset") => {
                endpoint.reset();
                self.save(&endpoint).await?;
                json!(endpoint)
            }
            (Method::Get, "/state") => json!(endpoint),
            _ => return Response::error("no such endpoint operation", 404),
        };
        Response::from_json(&answer)
    }
}

/// Calls the object of subscription `id`: `body` POSTed to `path` (GET without one).
pub async fn call<T: serde::de::DeserializeOwned>(
    env: &Env,
    id: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<T, BindingError> {
    let namespace = env.durable_object(BINDING).during(BINDING)?;
    let stub = namespace
        .id_from_name(id)
        .and_then(|o| o.get_stub())
        .during("the endpoint object's stub")?;
    let mut init = RequestInit::new();
    match &body {
        Some(b) => init
            .with_method(Method::Post)
            .with_body(Some(JsValue::from_str(&b.to_string()))),
        None => init.with_method(Method::Get),
    };
    let req =
        Request::new_with_init(&format!("https://endpoint{path}"), &init).during("request")?;
    let mut resp = stub
        .fetch_with_request(req)
        .await
        .during("the endpoint object failed")?;
    if resp.status_code() != 200 {
        return Err(BindingError::Failed(format!(
            "the endpoint object answered {}",
            resp.status_code()
        )));
    }
    resp.json().await.during("the endpoint object's answer")
}
