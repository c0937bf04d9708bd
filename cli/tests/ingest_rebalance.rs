//! Rebalance under load: `abacus ingest` processes (at most three at a time) join and leave one
//! consumer group at random, seeded moments while 500,000 events flow into a topic of the local
//! stack's Apache Kafka: members join, one is `kill -9`ed, two are stopped with SIGTERM (which
//! must flush, commit and exit 0). The end state must be exactly the unique valid events and
//! the malformed messages, and no member may exit on its own.
//!
//! It runs once per consumer group protocol librdkafka offers: `classic` (ingest's default;
//! eager rebalances, client-side session timeout) and KIP-848's `consumer` (incremental
//! assignment computed by the broker, broker-side session timeout: 10 s in the local stack).
//! The first join also checks which protocol is really in use: under `classic` the running
//! member gives up all its partitions and gets half of them back; under `consumer` it only
//! gives up the half that moves.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use abacus_testkit::kafka::{create_topic, delete_topic, TestProducer};
use abacus_testkit::{kafka_brokers, unique_name, TestDatabase};
use rand::{Rng, SeedableRng};
use support::{assert_exact, corpus, Ingest, Target};

const PARTITIONS: i32 = 6;
const CHUNKS: usize = 50;
/// The last chunks are held back until every action is done, so that events flow during all
/// of them.
const HELD_BACK: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Protocol {
    Classic,
    Consumer,
}

impl Protocol {
    fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            // 6 s is the broker's group.min.session.timeout.ms.
            Self::Classic => &[
                ("ABACUS_KAFKA_CLIENT_SESSION_TIMEOUT_MS", "6000"),
                ("ABACUS_KAFKA_CLIENT_HEARTBEAT_INTERVAL_MS", "1000"),
            ],
            // Session and heartbeat are the broker's (group.consumer.*).
            Self::Consumer => &[("ABACUS_KAFKA_CLIENT_GROUP_PROTOCOL", "consumer")],
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Join,
    Kill,
    Terminate,
}

/// Members in the group, named in joining order.
struct Members {
    running: Vec<(usize, Ingest)>,
    joined: usize,
}

impl Members {
    /// Fails when a member exited without being told to.
    fn check_alive(&mut self) {
        for (name, ingest) in &mut self.running {
            if let Some(status) = ingest.child.try_wait().unwrap() {
                panic!(
                    "member {name} exited on its own ({status}); log:\n{}",
                    ingest.tail()
                );
            }
        }
    }
}

impl Members {
    /// A random member among those that own partitions now (waiting up to a minute for one:
    /// during an eager rebalance nobody does), so that each leave moves work.
    async fn pick_owner(&mut self, rng: &mut impl Rng) -> usize {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.check_alive();
            let owners: Vec<usize> = (0..self.running.len())
                .filter(|&i| assigned(&self.running[i].1) > revoked(&self.running[i].1))
                .collect();
            if !owners.is_empty() {
                return owners[rng.random_range(0..owners.len())];
            }
            assert!(
                Instant::now() < deadline,
                "no member owned partitions for 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn assigned(ingest: &Ingest) -> usize {
    ingest.log().matches("partition assigned").count()
}

fn revoked(ingest: &Ingest) -> usize {
    ingest.log().matches("partition revoked").count()
}

async fn joins_and_leaves_under_load(protocol: Protocol, seed: u64) {
    let db = TestDatabase::create(&format!("rebalance_{protocol:?}")).await;
    let topic = create_topic(&format!("rebalance_{protocol:?}"), PARTITIONS).await;
    let brokers = kafka_brokers();
    let group = unique_name("rebalance");
    let url = abacus_testkit::clickhouse_url();
    let target = Target {
        clickhouse_url: &url,
        database: db.name(),
        brokers: &brokers,
        topic: &topic,
        group: &group,
    };
    let spawn = || Ingest::spawn(&target, false, protocol.settings());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // The first member owns every partition before the events start.
    let mut members = Members {
        running: vec![(0, spawn())],
        joined: 1,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while assigned(&members.running[0].1) < PARTITIONS as usize {
        members.check_alive();
        assert!(
            Instant::now() < deadline,
            "the first member got no partitions in 60 s; log:\n{}",
            members.running[0].1.tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let corpus = Arc::new(corpus(500_000, seed));
    let sent = Arc::new(AtomicUsize::new(0));
    let actions_done = Arc::new(AtomicBool::new(false));
    let producer = {
        let (corpus, sent, done) = (corpus.clone(), sent.clone(), actions_done.clone());
        let (brokers, topic) = (brokers.clone(), topic.clone());
        std::thread::spawn(move || {
            let producer = TestProducer::new(&brokers);
            let size = corpus.messages.len().div_ceil(CHUNKS);
            for (i, chunk) in corpus.messages.chunks(size).enumerate() {
                while i >= CHUNKS - HELD_BACK && !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                producer.send_all(&topic, chunk);
                sent.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };

    // Seven actions at random chunks of the flow; at most three members at a time.
    let schedule = [
        Action::Join,
        Action::Join,
        Action::Kill,
        Action::Join,
        Action::Terminate,
        Action::Join,
        Action::Terminate,
    ];
    let mut moments: Vec<usize> = (0..schedule.len())
        .map(|_| rng.random_range(1..CHUNKS - HELD_BACK))
        .collect();
    moments.sort_unstable();
    for (action, moment) in schedule.into_iter().zip(moments) {
        while sent.load(Ordering::Relaxed) < moment {
            members.check_alive();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stored = db.count("SELECT count() FROM events").await;
        match action {
            Action::Join => {
                let name = members.joined;
                members.joined += 1;
                members.running.push((name, spawn()));
                eprintln!("{protocol:?}: chunk {moment}, {stored} stored: member {name} joins");
                if name == 1 {
                    check_protocol(protocol, &mut members).await;
                }
            }
            Action::Kill | Action::Terminate => {
                let index = members.pick_owner(&mut rng).await;
                let (name, mut ingest) = members.running.remove(index);
                if matches!(action, Action::Kill) {
                    ingest.kill();
                    eprintln!(
                        "{protocol:?}: chunk {moment}, {stored} stored: member {name} kill -9"
                    );
                } else {
                    let status = ingest.terminate();
                    eprintln!(
                        "{protocol:?}: chunk {moment}, {stored} stored: member {name} SIGTERM"
                    );
                    assert!(
                        status.success(),
                        "member {name} after SIGTERM: {status}; log:\n{}",
                        ingest.tail()
                    );
                }
            }
        }
    }
    actions_done.store(true, Ordering::Relaxed);
    while !producer.is_finished() {
        members.check_alive();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    producer.join().unwrap();

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        members.check_alive();
        let n = db.count("SELECT count() FROM events").await;
        if n >= corpus.unique {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{protocol:?}: only {n} of {} events after 180 s; logs:\n{}",
            corpus.unique,
            members
                .running
                .iter()
                .map(|(name, i)| format!("member {name}:\n{}", i.tail()))
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Quarantine rows are written right after their batch's events.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (name, ingest) in &mut members.running {
        let status = ingest.terminate();
        assert!(
            status.success(),
            "member {name} after SIGTERM: {status}; log:\n{}",
            ingest.tail()
        );
    }
    assert_exact(&db, &corpus).await;
    db.drop().await;
    delete_topic(&brokers, &topic).await;
}

/// After the second member joined: under `classic` (eager) the first member gave up all its
/// partitions and got some back; under `consumer` (incremental) it gave up only those that
/// moved and kept the others without a new assignment.
async fn check_protocol(protocol: Protocol, members: &mut Members) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while assigned(&members.running[1].1) == 0 {
        members.check_alive();
        assert!(
            Instant::now() < deadline,
            "the second member got no partitions in 60 s; log:\n{}",
            members.running[1].1.tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = &members.running[0].1;
    let settle = Instant::now() + Duration::from_secs(5);
    while protocol == Protocol::Classic
        && assigned(first) == PARTITIONS as usize
        && Instant::now() < settle
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (kept, gave_up) = (assigned(first), revoked(first));
    eprintln!("{protocol:?}: after the second join the first member logged {kept} assignments and {gave_up} revocations");
    match protocol {
        Protocol::Classic => assert!(
            gave_up == PARTITIONS as usize && kept > PARTITIONS as usize,
            "classic (eager) rebalance expected; log:\n{}",
            first.tail()
        ),
        Protocol::Consumer => assert!(
            gave_up > 0 && gave_up < PARTITIONS as usize && kept == PARTITIONS as usize,
            "KIP-848 (incremental) rebalance expected; log:\n{}",
            first.tail()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_and_leave_under_load_with_the_classic_protocol() {
    joins_and_leaves_under_load(Protocol::Classic, 21).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_and_leave_under_load_with_the_kip848_consumer_protocol() {
    joins_and_leaves_under_load(Protocol::Consumer, 23).await;
}
