//! The search for a linearization of one partition: a line-by-line port of
//! checkers/linearizable/_search.py (`search`, `_push`, `_completions`, `_next_read_test`),
//! without the paths (an invalid result is explained by the Python engine, which searches
//! again). Same nodes, same order, same counts: the tests compare steps and nodes.

use std::time::Instant;

use rustc_hash::FxHashSet;

use crate::models::{Dead, Model, Op, F};

const CHECK_EVERY: u64 = 256;
const LOOKAHEAD: usize = 64;
const MIN_PENDING: usize = 3;

pub type Mask = u128;
pub const MAX_SLOTS: usize = 128;

/// One operation to linearize (`_prepare.Entry`): its interval as history positions.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub op: Op,
    pub call: usize,
    pub ret: Option<usize>,
}

/// The ways to order the search (`STRATEGIES`): (take in legal reads at once?, children by
/// invocation order rather than completing-first-newest?).
pub const STRATEGIES: [(bool, bool); 3] = [(true, false), (false, false), (true, true)];

pub enum Verdict {
    Valid,
    Invalid,
    Unknown { reason: String, limited: bool },
}

pub struct Outcome {
    pub verdict: Verdict,
    pub steps: u64,
    pub nodes: u64,
}

#[derive(Clone, Copy)]
struct Child {
    slots: Mask,
    op: Op,
    id: u32,
    completing: bool,
}

#[derive(Clone, Copy)]
struct DeadTest {
    dead: Dead,
    /// Asked only of states where this read is not legal already (`_unless_legal`).
    unless: Option<Op>,
}

/// What the search needs at one completion; `children`, `reads` and `classes` are ranges of
/// the flat vectors of `Described` (one allocation each, not three per completion).
struct Completion {
    bit: Mask,
    op: Op,
    read: bool,
    children: (u32, u32),
    reads: (u32, u32),
    read_bits: Mask,
    plain: bool,
    classes: (u32, u32),
    dead: Option<DeadTest>,
    dead_bit: Mask,
}

struct Described {
    comps: Vec<Completion>,
    children: Vec<Child>,
    reads: Vec<(Mask, Op)>,
    classes: Vec<Mask>,
}

fn span<T>(v: &[T], start: usize) -> (u32, u32) {
    (start as u32, v.len() as u32)
}

/// The slots a partition needs: the most ops that complete pending at once, plus one per
/// op that never completes. Above `MAX_SLOTS` the compiled engine declines.
pub fn slots_needed(entries: &[Entry]) -> usize {
    let mut events: Vec<(usize, bool)> = Vec::with_capacity(entries.len() * 2);
    let mut info = 0;
    for e in entries {
        match e.ret {
            Some(r) => {
                events.push((e.call, false));
                events.push((r, true));
            }
            None => info += 1,
        }
    }
    events.sort_unstable();
    let (mut n, mut peak) = (0usize, 0usize);
    for (_, ret) in events {
        if ret {
            n -= 1
        } else {
            n += 1;
            peak = peak.max(n)
        }
    }
    peak + info
}

fn completions(model: &Model, entries: &[Entry], strategy: usize) -> Described {
    let (absorb, invocation_order) = STRATEGIES[strategy];
    let mut events: Vec<(usize, bool, u32)> = Vec::with_capacity(entries.len() * 2);
    for (id, e) in entries.iter().enumerate() {
        events.push((e.call, false, id as u32));
        if let Some(r) = e.ret {
            events.push((r, true, id as u32));
        }
    }
    events.sort_unstable();
    let mut next_info = {
        let (mut n, mut peak) = (0usize, 0usize);
        for &(_, ret, id) in &events {
            if entries[id as usize].ret.is_some() {
                if ret {
                    n -= 1
                } else {
                    n += 1;
                    peak = peak.max(n)
                }
            }
        }
        peak
    };
    let mut slot_of: Vec<usize> = vec![0; entries.len()];
    let mut free: Vec<usize> = Vec::new();
    let mut next_slot = 0usize;
    let mut pending: Vec<Child> = Vec::new(); // ops that complete, in invocation order
    let mut reads: Vec<(Mask, Op, u32)> = Vec::new(); // pending reads, in invocation order
    let mut read_bits: Mask = 0;
    let mut classes: Vec<((F, u32, u32), Child)> = Vec::new();
    let mut info_bits: Mask = 0;
    let mut out: Vec<Completion> = Vec::with_capacity(entries.len() + 1);
    let mut all_children: Vec<Child> = Vec::with_capacity(entries.len() * 4);
    let mut all_reads: Vec<(Mask, Op)> = Vec::new();
    let mut all_classes: Vec<Mask> = Vec::new();
    let mut others: Vec<Child> = Vec::new();
    for (q, &(_, is_return, id)) in events.iter().enumerate() {
        let e = &entries[id as usize];
        if !is_return {
            let slot = if e.ret.is_none() {
                next_info += 1;
                next_info - 1
            } else if let Some(s) = free.pop() {
                s
            } else {
                next_slot += 1;
                next_slot - 1
            };
            slot_of[id as usize] = slot;
            let bit: Mask = 1 << slot;
            if absorb && model.read_only(&e.op) {
                reads.push((bit, e.op, id));
                read_bits |= bit;
            } else if e.ret.is_none() {
                info_bits |= bit;
                let k = e.op.class_key();
                if let Some((_, c)) = classes.iter_mut().find(|(ck, _)| *ck == k) {
                    c.slots |= bit;
                } else {
                    classes.push((k, Child { slots: bit, op: e.op, id, completing: false }));
                }
            } else {
                pending.push(Child { slots: bit, op: e.op, id, completing: false });
            }
            continue;
        }
        let read = match reads.iter().position(|r| r.2 == id) {
            Some(p) => {
                reads.remove(p);
                true
            }
            None => false,
        };
        let bit: Mask = 1 << slot_of[id as usize];
        if !read {
            let p = pending.iter().position(|c| c.id == id).expect("a pending op completes");
            pending.remove(p);
        }
        let me = Child { slots: bit, op: e.op, id, completing: true };
        others.clear();
        others.extend(pending.iter().copied().chain(classes.iter().map(|c| c.1)));
        let (mut dead, mut dead_bit) = (None, 0);
        if absorb && others.len() >= MIN_PENDING {
            (dead, dead_bit) = next_read_test(model, entries, &events, q, &others, &reads, if read { bit } else { 0 });
        }
        let start = all_children.len();
        let c = &mut all_children;
        if read {
            c.extend(others.iter());
        } else if invocation_order {
            c.extend(others.iter().filter(|p| p.id < id));
            c.push(me);
            c.extend(others.iter().filter(|p| p.id > id));
        } else {
            c.push(me);
            c.extend(others.iter().rev());
        }
        let children = span(&all_children, start);
        let start = all_reads.len();
        all_reads.extend(reads.iter().map(|r| (r.0, r.1)));
        let reads_span = span(&all_reads, start);
        let start = all_classes.len();
        all_classes.extend(classes.iter().map(|c| c.1.slots));
        out.push(Completion {
            bit,
            op: e.op,
            read,
            children,
            reads: reads_span,
            read_bits,
            plain: (info_bits | read_bits) != 0,
            classes: span(&all_classes, start),
            dead,
            dead_bit,
        });
        if read {
            read_bits ^= bit;
        }
        free.push(slot_of[id as usize]);
    }
    out.push(Completion {
        bit: 0,
        op: Op { f: F::Read, a: 0, b: 0, out: crate::models::Out::Unknown },
        read: false,
        children: (0, 0),
        reads: (0, 0),
        read_bits: 0,
        plain: false,
        classes: (0, 0),
        dead: None,
        dead_bit: 0,
    });
    Described { comps: out, children: all_children, reads: all_reads, classes: all_classes }
}

fn next_read_test(
    model: &Model,
    entries: &[Entry],
    events: &[(usize, bool, u32)],
    q: usize,
    others: &[Child],
    reads: &[(Mask, Op, u32)],
    read_bit: Mask,
) -> (Option<DeadTest>, Mask) {
    let e = &entries[events[q].2 as usize];
    let mut before: Vec<Op> = others.iter().map(|c| c.op).collect();
    if read_bit != 0 {
        return (model.dead_end(&e.op, &before).map(|d| DeadTest { dead: d, unless: None }), read_bit);
    }
    before.push(e.op);
    let end = (q + 1 + LOOKAHEAD).min(events.len());
    for &(_, is_return, rid) in &events[q + 1..end] {
        let r = &entries[rid as usize];
        if !is_return {
            before.push(r.op);
        } else if model.read_only(&r.op) {
            let Some(test) = model.dead_end(&r.op, &before) else { return (None, 0) };
            let bit = reads.iter().find(|x| x.2 == rid).map_or(0, |x| x.0);
            return (Some(DeadTest { dead: test, unless: Some(r.op) }), bit);
        }
    }
    (None, 0)
}

struct Frame {
    j: usize,
    s: u32,
    m: Mask,
    next: usize,
}

struct Searcher<'a> {
    model: &'a mut Model,
    d: Described,
    /// Every node met, as (completion, state, linearized): one set for the search.
    memo: FxHashSet<(u32, u32, Mask)>,
    stack: Vec<Frame>,
}

impl Searcher<'_> {
    /// `_push`: the node (j, s, m), its legal pending reads taken in, unless a node met covers it.
    fn push(&mut self, j: usize, s: u32, mut m: Mask) -> u64 {
        let c = &self.d.comps[j];
        for &(b, op) in &self.d.reads[c.reads.0 as usize..c.reads.1 as usize] {
            if m & b == 0 && self.model.step(s, &op).is_some() {
                m |= b;
            }
        }
        if c.read && m & c.bit == 0 && self.model.step(s, &c.op).is_some() {
            m |= c.bit;
        }
        let memo = &mut self.memo;
        let jj = j as u32;
        if memo.contains(&(jj, s, m)) {
            return 0;
        }
        if c.plain {
            for &cm in &self.d.classes[c.classes.0 as usize..c.classes.1 as usize] {
                let used = m & cm;
                if used != 0 && memo.contains(&(jj, s, m ^ (1 << (127 - used.leading_zeros())))) {
                    return 0;
                }
            }
            let mut reads = c.read_bits & !m;
            while reads != 0 {
                let low = reads & reads.wrapping_neg();
                if memo.contains(&(jj, s, m | low)) {
                    return 0;
                }
                reads ^= low;
            }
        }
        memo.insert((jj, s, m));
        self.stack.push(Frame { j, s, m, next: 0 });
        1
    }
}

/// `search` for one partition with one strategy; `max_steps` None: no step limit.
pub fn search(
    model: &mut Model,
    entries: &[Entry],
    s0: u32,
    deadline: Option<Instant>,
    max_nodes: u64,
    max_steps: Option<u64>,
    strategy: usize,
) -> Outcome {
    let d = completions(model, entries, strategy);
    let total = entries.iter().filter(|e| e.ret.is_some()).count();
    let mut memo = FxHashSet::default();
    memo.reserve(2 * entries.len());
    let mut se = Searcher { model, d, memo, stack: Vec::with_capacity(64) };
    let mut nodes = se.push(0, s0, 0);
    let mut visits: u64 = 0;
    let unknown = |reason: String, limited: bool, visits: u64, nodes: u64| Outcome {
        verdict: Verdict::Unknown { reason, limited },
        steps: visits,
        nodes,
    };
    while let Some(frame) = se.stack.last() {
        let (j, s, m, mut nxt) = (frame.j, frame.s, frame.m, frame.next);
        if nxt == 0 {
            if j == total {
                return Outcome { verdict: Verdict::Valid, steps: visits, nodes };
            }
            visits += 1;
            if nodes > max_nodes {
                let reason = format!("memory bound: more than {max_nodes} search nodes memoised");
                return unknown(reason, false, visits, nodes);
            }
            if visits % CHECK_EVERY == 0 {
                if let Some(limit) = max_steps {
                    if visits >= limit {
                        return unknown(format!("step limit {limit}"), true, visits, nodes);
                    }
                }
                if deadline.is_some_and(|d| Instant::now() > d) {
                    let reason = format!("time budget exhausted after {visits} search steps");
                    return unknown(reason, false, visits, nodes);
                }
            }
            let c = &se.d.comps[j];
            if m & c.bit != 0 {
                let bit = c.bit;
                se.stack.pop();
                nodes += se.push(j + 1, s, m ^ bit);
                continue;
            }
            if let Some(d) = c.dead {
                if m & c.dead_bit == 0 {
                    let legal = d.unless.is_some_and(|r| se.model.step(s, &r).is_some());
                    if !legal && se.model.dead(d.dead, s) {
                        se.stack.pop();
                        continue;
                    }
                }
            }
        }
        let (first, end) = se.d.comps[j].children;
        let n = (end - first) as usize;
        let mut pushed = 0;
        while nxt < n {
            let child = se.d.children[first as usize + nxt];
            nxt += 1;
            let free = child.slots & !m;
            if free == 0 {
                continue;
            }
            let b = free & free.wrapping_neg();
            let Some(s2) = se.model.step(s, &child.op) else { continue };
            let (cj, m2) = if child.completing { (j + 1, m) } else { (j, m | b) };
            pushed += se.push(cj, s2, m2);
            if pushed != 0 {
                break;
            }
        }
        if pushed != 0 {
            // the frame explored is below the one just pushed
            let at = se.stack.len() - 2;
            se.stack[at].next = nxt;
            nodes += pushed;
        } else {
            se.stack.pop();
        }
    }
    Outcome { verdict: Verdict::Invalid, steps: visits, nodes }
}
