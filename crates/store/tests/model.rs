//! Seeded randomized model test: the same random operations applied to the memory
//! (reference) backend and the SQLite backend must give identical results.

use natter_store::prelude::*;
use natter_store::{
    Anchor, ConvId, MemoryStore, MsgKind, NewGroup, NewMessage, Order, Page, Role, SqliteStore,
    UserId,
};

/// splitmix64: a tiny deterministic generator, enough for picking operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &["ann", "Ann", "BOB", "bob", "Cy", "dee", "Émile", "émile"];
const GROUPS: &[&str] = &["dev", "DEV", "ops", "Straße", "music"];

/// One random operation (ids may not exist: errors must match too).
#[derive(Debug)]
enum Op {
    CreateUser(&'static str),
    Direct(UserId, UserId),
    CreateGroup(&'static str, bool, UserId, Vec<UserId>),
    AddMember(ConvId, UserId, Role, u64),
    RemoveMember(ConvId, UserId, u64),
    SetRole(ConvId, UserId, Role),
    Append(Vec<NewMessage>),
    History(ConvId, Page),
    Range(ConvId, u64, u64, u32),
    SetDelivered(UserId, ConvId, u64),
    SetRead(UserId, ConvId, u64),
    Session(u8, UserId),
    DeleteSessionsOf(UserId, Option<u8>),
    Lookup(&'static str, UserId, ConvId),
}

fn user(r: &mut Rng) -> UserId {
    UserId(r.below(8) as i64 + 1)
}

fn conv(r: &mut Rng) -> ConvId {
    ConvId(r.below(8) as i64 + 1)
}

fn role(r: &mut Rng) -> Role {
    r.pick(&[Role::Owner, Role::Admin, Role::Member])
}

fn message(r: &mut Rng) -> NewMessage {
    let sender = (r.below(5) > 0).then(|| user(r));
    let mut client_id = [0; 16];
    client_id[0] = r.below(6) as u8;
    NewMessage {
        conv: conv(r),
        sender,
        client_id,
        kind: if sender.is_some() {
            MsgKind::Text
        } else {
            MsgKind::System
        },
        body: format!("b{}", r.below(100)),
        ts_ms: r.below(1_000) as i64,
    }
}

fn page(r: &mut Rng) -> Page {
    let anchor = match r.below(3) {
        0 => Anchor::Latest,
        1 => Anchor::Before(r.below(14)),
        _ => Anchor::After(r.below(14)),
    };
    let order = r.pick(&[Order::NewestFirst, Order::OldestFirst]);
    Page {
        anchor,
        limit: r.below(6) as u32,
        order,
    }
}

fn random_op(r: &mut Rng) -> Op {
    match r.below(15) {
        0 | 1 => Op::CreateUser(r.pick(NAMES)),
        2 => Op::Direct(user(r), user(r)),
        3 => {
            let members = (0..r.below(3)).map(|_| user(r)).collect();
            Op::CreateGroup(r.pick(GROUPS), r.below(2) == 0, user(r), members)
        }
        4 => Op::AddMember(conv(r), user(r), role(r), r.below(10)),
        5 => Op::RemoveMember(conv(r), user(r), r.below(10)),
        6 => Op::SetRole(conv(r), user(r), role(r)),
        7 | 8 => Op::Append((0..r.below(4) + 1).map(|_| message(r)).collect()),
        9 => Op::History(conv(r), page(r)),
        10 => Op::Range(conv(r), r.below(10), r.below(14), r.below(5) as u32),
        11 => Op::SetDelivered(user(r), conv(r), r.below(14)),
        12 => Op::SetRead(user(r), conv(r), r.below(14)),
        13 => match r.below(2) {
            0 => Op::Session(r.below(4) as u8, user(r)),
            _ => Op::DeleteSessionsOf(user(r), (r.below(2) == 0).then(|| r.below(4) as u8)),
        },
        _ => Op::Lookup(r.pick(GROUPS), user(r), conv(r)),
    }
}

/// Applies `op` and renders the result (errors included) for comparison.
fn apply(s: &dyn Store, op: &Op) -> String {
    match op {
        Op::CreateUser(name) => format!("{:?}", s.create_user(name, "h", 1)),
        Op::Direct(a, b) => format!("{:?}", s.direct(*a, *b, 2)),
        Op::CreateGroup(name, public, owner, members) => {
            let g = NewGroup {
                name: (*name).into(),
                public: *public,
                owner: *owner,
                members: members.clone(),
            };
            format!("{:?}", s.create_group(g, 3))
        }
        Op::AddMember(c, u, role, seq) => format!("{:?}", s.add_member(*c, *u, *role, *seq)),
        Op::RemoveMember(c, u, seq) => format!("{:?}", s.remove_member(*c, *u, *seq)),
        Op::SetRole(c, u, role) => format!("{:?}", s.set_role(*c, *u, *role)),
        Op::Append(batch) => format!("{:?}", s.append(batch)),
        Op::History(c, page) => format!("{:?}", s.history(*c, *page)),
        Op::Range(c, after, upto, limit) => format!("{:?}", s.range(*c, *after, *upto, *limit)),
        Op::SetDelivered(u, c, seq) => format!("{:?}", s.set_delivered(*u, *c, *seq)),
        Op::SetRead(u, c, seq) => format!("{:?}", s.set_read(*u, *c, *seq)),
        Op::Session(t, u) => sessions(s, *t, *u),
        Op::DeleteSessionsOf(u, except) => {
            format!("{:?}", s.delete_sessions_of(*u, except.map(|t| [t; 32])))
        }
        Op::Lookup(name, u, c) => lookup(s, name, *u, *c),
    }
}

fn sessions(s: &dyn Store, t: u8, u: UserId) -> String {
    let new = natter_store::NewSession {
        token_hash: [t; 32],
        user: u,
        addr: None,
        max_per_user: 2,
    };
    let created = s.create_session(&new, 4);
    let owner = s.session_user([t; 32]);
    let touched = s.touch_session([t; 32], Some("a"), 5, 1);
    let listed = s.sessions_of(u);
    let deleted = t.is_multiple_of(2).then(|| s.delete_session([t; 32]));
    format!("{created:?} {owner:?} {touched:?} {listed:?} {deleted:?}")
}

fn lookup(s: &dyn Store, name: &str, u: UserId, c: ConvId) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        s.group_by_name(name),
        s.user(u),
        s.conversation(c),
        s.conversations_of(u),
        s.public_groups(),
        s.member(c, u),
        s.members(c),
        s.cursors_of(u),
        s.delivered_cursors(c),
        s.last_seq(c),
    )
}

/// Everything observable, for a final comparison.
fn dump(s: &dyn Store) -> String {
    let mut out = format!("{:?}\n", s.list_users());
    for c in 1..=10 {
        let all = Page {
            anchor: Anchor::Latest,
            limit: 500,
            order: Order::OldestFirst,
        };
        out += &format!(
            "{:?} {:?} {:?}\n",
            s.history(ConvId(c), all),
            s.members(ConvId(c)),
            s.delivered_cursors(ConvId(c))
        );
    }
    out
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let reference = MemoryStore::new();
    let sqlite = SqliteStore::open_in_memory().expect("open sqlite");
    for step in 0..steps {
        let op = random_op(&mut rng);
        let want = apply(&reference, &op);
        let got = apply(&sqlite, &op);
        assert_eq!(got, want, "seed {seed} step {step}: {op:?}");
    }
    assert_eq!(dump(&sqlite), dump(&reference), "seed {seed}: final state");
}

#[test]
fn sqlite_matches_the_memory_reference() {
    for seed in 0..40 {
        run(seed, 400);
    }
}
