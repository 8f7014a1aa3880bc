//! Chaos: 20 clients in one class send commands with ids through a TCP proxy that cuts
//! their connections about a thousand times, while the server process is killed
//! (SIGKILL) and started again three times. Every client replays its outbox after each
//! welcome. At the end every client's log equals the server's, and every command was
//! applied exactly once. Bounded: about two minutes of chaos, then a bounded wait.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 20;
/// Commands per client: one item placed, then moves of one unit each, so the item's
/// final position counts how many moves were applied.
const COMMANDS: usize = 60;
const CHAOS: Duration = Duration::from_secs(60);
const CUT_EVERY: Duration = Duration::from_millis(55);
const RESTARTS: usize = 3;
/// Commands a client sends at once.
const BURST: usize = 6;

struct ServerProc {
    child: Child,
    ready: Value,
}

fn start_server(dir: &std::path::Path, listen: &str) -> ServerProc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aula-server"))
        .env("AULA_LISTEN", listen)
        .env("AULA_MEDIA_LISTEN", "127.0.0.1:0")
        .env("AULA_DATA_DIR", dir)
        .env("AULA_UI_DIR", dir.join("no-ui"))
        .env("AULA_RATE_PER_SEC", "2000")
        .env("AULA_RATE_BURST", "4000")
        .env("AULA_DISCONNECT_GRACE_SECS", "3600")
        .env("AULA_JOIN_RATE_PER_MIN_ADDR", "10000")
        .env("AULA_JOIN_BURST_ADDR", "10000")
        // Restarts then load from a checkpoint and a tail, not only from the whole log.
        .env("AULA_CHECKPOINT_EVERY_EVENTS", "97")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting aula-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = loop {
        let line = lines
            .next()
            .expect("aula-server printed AULA_READY")
            .expect("reading stdout");
        if let Some(json) = line.strip_prefix("AULA_READY ") {
            break serde_json::from_str::<Value>(json).expect("AULA_READY is JSON");
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    ServerProc { child, ready }
}

/// A TCP proxy whose connections the driver can cut one at a time.
#[derive(Default)]
struct Proxy {
    links: Mutex<Vec<tokio::task::AbortHandle>>,
    upstream: Mutex<String>,
}

impl Proxy {
    async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                continue;
            };
            let target = self.upstream.lock().unwrap().clone();
            let link = tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut a, mut b) = (client, server);
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
            });
            let mut links = self.links.lock().unwrap();
            links.retain(|l| !l.is_finished());
            links.push(link.abort_handle());
        }
    }

    /// Cuts one live link at random; whether there was one.
    fn cut_one(&self, pick: u64) -> bool {
        let mut links = self.links.lock().unwrap();
        links.retain(|l| !l.is_finished());
        if links.is_empty() {
            return false;
        }
        let i = (pick as usize) % links.len();
        links.swap_remove(i).abort();
        true
    }
}

#[derive(Default)]
struct Counts {
    connects: AtomicU64,
    welcomes: AtomicU64,
    replays: AtomicU64,
    acks: AtomicU64,
    duplicate_acks: AtomicU64,
    own_drops: AtomicU64,
    events: AtomicU64,
}

/// What a client ends with.
struct ClientLog {
    member: String,
    /// The snapshot's seq of its first welcome; its log holds every event after it.
    base: u64,
    events: Vec<Value>,
    refused: Vec<Value>,
    broken: Vec<String>,
}

fn place(member: &str) -> Value {
    json!({"kind": "place_item", "item": format!("{member}/box"), "page": "p1", "tool": "rect",
           "color": 0, "width": 2, "points": [0, 0, 0, 10, 10, 0]})
}

fn nudge(member: &str) -> Value {
    json!({"kind": "move_items", "items": [format!("{member}/box")], "dx": 1, "dy": 0})
}

async fn client(
    k: usize,
    token: String,
    proxy_url: String,
    counts: Arc<Counts>,
    chaos_over: Arc<AtomicBool>,
    quiet_seq: Arc<AtomicU64>,
) -> ClientLog {
    let mut outbox: VecDeque<(String, Value)> = VecDeque::new();
    let mut issued = 0usize;
    let mut member = String::new();
    let mut base: Option<u64> = None;
    let mut events: Vec<Value> = Vec::new();
    let mut refused = Vec::new();
    let mut broken = Vec::new();
    let deadline = Instant::now() + CHAOS + Duration::from_secs(90);
    let mut next_issue = Instant::now();
    let mut bursts = 0usize;
    'connect: while Instant::now() < deadline {
        let done = issued == COMMANDS && outbox.is_empty();
        let last = base.map(|b| b + events.len() as u64);
        if done && chaos_over.load(Relaxed) && last.is_some_and(|l| l >= quiet_seq.load(Relaxed)) {
            break;
        }
        counts.connects.fetch_add(1, Relaxed);
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(3),
            tokio_tungstenite::connect_async(format!("{proxy_url}/ws")),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(50 + (k as u64 * 7) % 100)).await;
            continue;
        };
        let hello = json!({"type": "hello", "v": 1, "token": token, "resume_from": last});
        if ws.send(Message::text(hello.to_string())).await.is_err() {
            continue;
        }
        let mut welcomed = false;
        loop {
            // Issue commands in bursts while connected. Every third burst the client
            // drops its own link right after sending, before any ack can arrive: the
            // commands may or may not have been applied, and the outbox replays them.
            if welcomed && issued < COMMANDS && Instant::now() >= next_issue {
                next_issue = Instant::now() + Duration::from_millis(350);
                for _ in 0..BURST.min(COMMANDS - issued) {
                    let cmd = if issued == 0 {
                        place(&member)
                    } else {
                        nudge(&member)
                    };
                    let id = format!("{member}-{issued}");
                    issued += 1;
                    outbox.push_back((id.clone(), cmd.clone()));
                    let frame = json!({"type": "command", "id": id, "command": cmd});
                    if ws.send(Message::text(frame.to_string())).await.is_err() {
                        continue 'connect;
                    }
                }
                bursts += 1;
                if bursts % 3 == (k % 3) {
                    counts.own_drops.fetch_add(1, Relaxed);
                    continue 'connect;
                }
            }
            let done = issued == COMMANDS && outbox.is_empty();
            let last = base.map(|b| b + events.len() as u64);
            if welcomed
                && done
                && chaos_over.load(Relaxed)
                && last.is_some_and(|l| l >= quiet_seq.load(Relaxed))
            {
                break 'connect;
            }
            let msg = match tokio::time::timeout(Duration::from_millis(50), ws.next()).await {
                Err(_) => continue,
                Ok(Some(Ok(Message::Text(t)))) => t,
                Ok(Some(Ok(_))) => continue,
                Ok(None) | Ok(Some(Err(_))) => continue 'connect,
            };
            let m: Value = serde_json::from_str(&msg).expect("the server sends JSON");
            match m["type"].as_str().unwrap_or("") {
                "welcome" => {
                    counts.welcomes.fetch_add(1, Relaxed);
                    member = m["you"]["id"].as_str().unwrap().to_owned();
                    match (&m["snapshot"], base) {
                        (Value::Null, Some(_)) => {}
                        (snap, None) if !snap.is_null() => {
                            base = Some(snap["seq"].as_u64().unwrap());
                        }
                        (_, _) => broken.push(format!(
                            "unexpected welcome: resumed_from {}",
                            m["resumed_from"]
                        )),
                    }
                    welcomed = true;
                    // The outbox replays, in order, on every welcome.
                    for (id, cmd) in &outbox {
                        counts.replays.fetch_add(1, Relaxed);
                        let frame = json!({"type": "command", "id": id, "command": cmd});
                        if ws.send(Message::text(frame.to_string())).await.is_err() {
                            continue 'connect;
                        }
                    }
                }
                "event" => {
                    counts.events.fetch_add(1, Relaxed);
                    let seq = m["seq"].as_u64().unwrap();
                    let want = base.unwrap_or(0) + events.len() as u64 + 1;
                    if seq == want {
                        events.push(m);
                    } else {
                        broken.push(format!("got seq {seq}, expected {want}"));
                        continue 'connect;
                    }
                }
                "ack" => {
                    counts.acks.fetch_add(1, Relaxed);
                    if m["duplicate"] == true {
                        counts.duplicate_acks.fetch_add(1, Relaxed);
                    }
                    outbox.retain(|(id, _)| m["id"] != *id);
                }
                "error" if m["id"].is_string() => {
                    refused.push(m.clone());
                    outbox.retain(|(id, _)| m["id"] != *id);
                }
                _ => {}
            }
        }
    }
    ClientLog {
        member,
        base: base.unwrap_or(0),
        events,
        refused,
        broken,
    }
}

fn stored_events(dir: &std::path::Path, class: &str) -> Vec<Value> {
    use aula_server::storage::{SqliteStorage, Storage};
    let db = SqliteStorage::open(&dir.join("aula.db")).unwrap();
    db.events(class)
        .unwrap()
        .into_iter()
        .map(|e| serde_json::to_value(aula_proto::ServerMsg::Event(e)).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_keeps_every_log_whole_and_every_command_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = start_server(dir.path(), "127.0.0.1:0");
    let http = srv.ready["http"].as_str().unwrap().to_owned();
    let class = srv.ready["class_id"].as_str().unwrap().to_owned();
    let teacher = srv.ready["teacher_token"].as_str().unwrap().to_owned();
    let invite = srv.ready["student_link"]
        .as_str()
        .unwrap()
        .split("invite=")
        .nth(1)
        .unwrap()
        .to_owned();

    // Before the chaos: everyone may draw, and 19 students have tokens.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/ws"))
        .await
        .unwrap();
    ws.send(Message::text(
        json!({"type": "hello", "v": 1, "token": teacher}).to_string(),
    ))
    .await
    .unwrap();
    let policy = json!({"type": "command", "id": "policy", "command": {"kind": "set_draw_policy", "draw": "everyone", "allowed": []}});
    ws.send(Message::text(policy.to_string())).await.unwrap();
    loop {
        let m: Value = match ws.next().await {
            Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("teacher socket closed: {other:?}"),
        };
        if m["type"] == "ack" {
            break;
        }
    }
    drop(ws);
    let rest = reqwest::Client::new();
    let mut tokens = vec![teacher];
    for k in 1..CLIENTS {
        let r: Value = rest
            .post(format!("http://{http}/api/join"))
            .json(&json!({"invite": invite, "name": format!("Student {k}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(r["token"].as_str().expect("a join token").to_owned());
    }

    let proxy = Arc::new(Proxy::default());
    *proxy.upstream.lock().unwrap() = http.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(proxy.clone().serve(listener));

    let counts = Arc::new(Counts::default());
    let chaos_over = Arc::new(AtomicBool::new(false));
    let quiet_seq = Arc::new(AtomicU64::new(u64::MAX));
    let clients: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(k, t)| {
            tokio::spawn(client(
                k,
                t,
                proxy_url.clone(),
                counts.clone(),
                chaos_over.clone(),
                quiet_seq.clone(),
            ))
        })
        .collect();

    // The driver: cut a random link every CUT_EVERY; kill and restart the server at
    // evenly spread moments. A small LCG keeps it reproducible.
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        rng >> 33
    };
    let started = Instant::now();
    let restart_at: Vec<Duration> = (1..=RESTARTS)
        .map(|i| CHAOS * i as u32 / (RESTARTS as u32 + 1))
        .collect();
    let (mut cuts, mut restarts) = (0u64, 0usize);
    while started.elapsed() < CHAOS {
        tokio::time::sleep(CUT_EVERY).await;
        if proxy.cut_one(next()) {
            cuts += 1;
        }
        if restarts < RESTARTS && started.elapsed() >= restart_at[restarts] {
            srv.child.kill().expect("SIGKILL the server");
            srv.child.wait().unwrap();
            tokio::time::sleep(Duration::from_millis(200 + next() % 500)).await;
            srv = start_server(dir.path(), &http);
            restarts += 1;
        }
    }
    chaos_over.store(true, Relaxed);

    // Quiet: wait until the stored log stops growing (everyone back, outboxes empty),
    // then let every client catch up to its end.
    let mut last_len = 0;
    let mut still = 0;
    let quiet_by = Instant::now() + Duration::from_secs(60);
    while Instant::now() < quiet_by {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let len = stored_events(dir.path(), &class).len();
        if len == last_len {
            still += 1;
            if still >= 6 {
                break;
            }
        } else {
            still = 0;
            last_len = len;
        }
    }
    let server_log = stored_events(dir.path(), &class);
    let last_seq = server_log.len() as u64;
    quiet_seq.store(last_seq, Relaxed);
    let mut logs = Vec::new();
    for c in clients {
        logs.push(c.await.unwrap());
    }
    srv.child.kill().unwrap();
    srv.child.wait().unwrap();
    // Clients that finished first went away: their departures follow the quiet point in
    // the log, and the clients still running saw some of them.
    let server_log = stored_events(dir.path(), &class);

    println!(
        "chaos: {cuts} cuts by the proxy, {} links dropped by clients right after a burst, {restarts} restarts (SIGKILL), {} connects, {} welcomes, {} commands replayed, {} acks ({} duplicates), {} events received, server log {last_seq} events at the quiet point",
        counts.own_drops.load(Relaxed),
        counts.connects.load(Relaxed),
        counts.welcomes.load(Relaxed),
        counts.replays.load(Relaxed),
        counts.acks.load(Relaxed),
        counts.duplicate_acks.load(Relaxed),
        counts.events.load(Relaxed),
    );
    assert_eq!(restarts, RESTARTS);
    assert!(cuts >= 900, "{cuts} cuts");
    // The replay path was exercised: commands were sent again, and some of them had
    // been applied before (their retries were recognised).
    assert!(counts.replays.load(Relaxed) > 0);
    assert!(counts.duplicate_acks.load(Relaxed) > 0);

    // Every client's log equals the server's from where it started.
    for c in &logs {
        assert!(c.broken.is_empty(), "{}: {:?}", c.member, c.broken);
        assert!(
            c.refused.is_empty(),
            "{}: commands refused: {:?}",
            c.member,
            c.refused
        );
        assert!(
            c.base + c.events.len() as u64 >= last_seq,
            "{} did not reach the end of the log ({} of {last_seq})",
            c.member,
            c.base + c.events.len() as u64
        );
        for (i, ev) in c.events.iter().enumerate() {
            let seq = c.base as usize + i + 1;
            assert_eq!(
                ev,
                &server_log[seq - 1],
                "{} differs at seq {seq}",
                c.member
            );
        }
    }
    // Every command applied exactly once: one placement per client, and exactly
    // COMMANDS - 1 one-unit moves of its item.
    let mut placed: HashMap<String, usize> = HashMap::new();
    let mut moved: HashMap<String, usize> = HashMap::new();
    for ev in &server_log {
        let e = &ev["event"];
        match e["kind"].as_str() {
            Some("item_placed") => {
                *placed
                    .entry(e["item"]["author"].as_str().unwrap().to_owned())
                    .or_default() += 1
            }
            Some("items_moved") => {
                for item in e["items"].as_array().unwrap() {
                    let author = item.as_str().unwrap().split('/').next().unwrap().to_owned();
                    *moved.entry(author).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    for c in &logs {
        assert_eq!(placed.get(&c.member), Some(&1), "{} placed once", c.member);
        assert_eq!(
            moved.get(&c.member),
            Some(&(COMMANDS - 1)),
            "{} moved exactly {} times",
            c.member,
            COMMANDS - 1
        );
    }
    println!(
        "chaos: {} clients x {COMMANDS} commands, each applied exactly once; every log equals the server's",
        logs.len()
    );
    // The restarts loaded the class from a checkpoint and the events after it.
    let db = aula_server::storage::SqliteStorage::open(&dir.path().join("aula.db")).unwrap();
    let (at, _) = aula_server::storage::Storage::checkpoint(&db, &class)
        .unwrap()
        .expect("a checkpoint was stored");
    println!("chaos: newest checkpoint at seq {} (every 97 events)", at.0);
    assert!(at.0 >= 97);
}
