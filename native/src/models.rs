//! The models the compiled engine knows, as checkers/linearizable/models.py defines them:
//! register and cas-register (with Knossos' reading of a nil read as an option) and kv.
//!
//! Values are interned: an id per distinct value by Python's own equality (the caller interns
//! through a Python dict), so that a state is a u32 and comparing values is comparing ids.
//! Id 0 is None. kv's states are strings, interned here (appends make new ones).

use rustc_hash::FxHashMap;

pub const NIL: u32 = 0;

/// An operation's function, among those of the models here.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum F {
    Read,
    Write,
    Cas,
    Get,
    Put,
    Append,
}

/// An operation's output as the step sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Out {
    /// Never completed, or `info`: `UNKNOWN` in Python.
    Unknown,
    /// A value (a read's, a get's target string), by id.
    Val(u32),
    /// A cas' result: swapped (True) or found another value (False).
    Swapped(bool),
}

/// One operation: `a` and `b` are its input (write: `a` the value; cas: `a` expected, `b`
/// new; put / append: `a` the value as written, by equality id, `b` the string it adds).
#[derive(Clone, Copy, Debug)]
pub struct Op {
    pub f: F,
    pub a: u32,
    pub b: u32,
    pub out: Out,
}

impl Op {
    /// What makes two info ops identical (Python's `(f, input)`).
    pub fn class_key(&self) -> (F, u32, u32) {
        (self.f, self.a, self.b)
    }
}

/// A test of the states from which a read can never become legal (`Model.dead_end`).
#[derive(Clone, Copy, Debug)]
pub enum Dead {
    /// From every state (a register read whose value no pending op writes).
    Never,
    /// kv: every state that the string `target` does not start with.
    NotPrefix(u32),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Register { knossos: bool },
    Kv,
}

pub struct Model {
    pub kind: Kind,
    strings: Vec<String>,
    string_ids: FxHashMap<String, u32>,
    appended: FxHashMap<(u32, u32), u32>,
}

impl Model {
    pub fn new(kind: Kind) -> Self {
        Model { kind, strings: Vec::new(), string_ids: FxHashMap::default(), appended: FxHashMap::default() }
    }

    /// The id of the kv string `s`.
    pub fn string(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.string_ids.get(s) {
            return id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(s.to_owned());
        self.string_ids.insert(s.to_owned(), id);
        id
    }

    /// The state after `op` in `s`, or None when illegal (`step`).
    #[inline]
    pub fn step(&mut self, s: u32, op: &Op) -> Option<u32> {
        match self.kind {
            Kind::Register { knossos } => match op.f {
                F::Read => match op.out {
                    Out::Unknown => Some(s),
                    Out::Val(v) if v == s || (knossos && v == NIL) => Some(s),
                    _ => None,
                },
                F::Write => Some(op.a),
                F::Cas => match op.out {
                    Out::Swapped(false) => (s != op.a).then_some(s),
                    _ if s == op.a => Some(op.b),
                    Out::Unknown => Some(s),
                    _ => None,
                },
                _ => None,
            },
            Kind::Kv => match op.f {
                F::Get => match op.out {
                    Out::Val(t) if t != s => None,
                    _ => Some(s),
                },
                F::Put => Some(op.b),
                F::Append => Some(self.append(s, op.b)),
                _ => None,
            },
        }
    }

    fn append(&mut self, s: u32, b: u32) -> u32 {
        if let Some(&id) = self.appended.get(&(s, b)) {
            return id;
        }
        let joined = format!("{}{}", self.strings[s as usize], self.strings[b as usize]);
        let id = self.string(&joined);
        self.appended.insert((s, b), id);
        id
    }

    /// Whether `op` never changes the state (`Model.read_only`).
    pub fn read_only(&self, op: &Op) -> bool {
        if op.out == Out::Unknown {
            return false;
        }
        match self.kind {
            Kind::Register { .. } => op.f == F::Read || (op.f == F::Cas && op.out == Out::Swapped(false)),
            Kind::Kv => op.f == F::Get,
        }
    }

    /// `Model.dead_end`: for a read and the ops that may be linearized before it, a test of the
    /// states from which it can never be legal, or None.
    pub fn dead_end(&self, op: &Op, before: &[Op]) -> Option<Dead> {
        match self.kind {
            Kind::Register { .. } => {
                let Out::Val(o) = op.out else { return None };
                if op.f != F::Read {
                    return None;
                }
                let writes = before.iter().any(|p| (p.f == F::Write && p.a == o) || (p.f == F::Cas && p.b == o));
                (!writes).then_some(Dead::Never)
            }
            Kind::Kv => {
                let Out::Val(t) = op.out else { return None };
                if op.f != F::Get {
                    return None;
                }
                let target = &self.strings[t as usize];
                let restarts = before.iter().any(|p| p.f == F::Put && target.starts_with(self.strings[p.b as usize].as_str()));
                (!restarts).then_some(Dead::NotPrefix(t))
            }
        }
    }

    /// Whether `dead` holds of the state `s`.
    #[inline]
    pub fn dead(&self, dead: Dead, s: u32) -> bool {
        match dead {
            Dead::Never => true,
            Dead::NotPrefix(t) => !self.strings[t as usize].starts_with(self.strings[s as usize].as_str()),
        }
    }
}
